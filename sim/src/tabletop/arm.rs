//! The tabletop arm: its geometry and limits read from its URDF
//! (`robots/tabletop.urdf`), analytic forward and inverse kinematics, and
//! the rapier multibody that simulates it, built by the URDF loader.
//!
//! Four revolute joints: base yaw about z at the table; shoulder, elbow and
//! wrist pitch about the horizontal axis of the arm's plane (positive angles
//! raise the link). With zero angles every link points along +x. The suction
//! cup sits at the tip of the wrist link, on a fixed joint; the wrist is kept
//! so that the cup points straight down (`q1 + q2 + q3 = −π/2`, see
//! [`ArmGeometry::level_wrist_velocity`]). The links are gravity-compensated
//! (gravity scale 0, as a servo with feed-forward would be) and only the cup
//! has a collider, a sensor: only it and the held block touch the world, so
//! the arm cannot knock blocks over.
//!
//! The code keeps no link length or limit: a URDF with another geometry of
//! the same yaw–pitch–pitch–pitch chain builds another arm
//! ([`TabletopArm::load`]); one with another chain is refused, naming the
//! joint that does not fit.

use std::path::Path;
use std::sync::OnceLock;

use rapier3d::prelude::*;

use crate::urdf::{self, JointDrive, UrdfModel, UrdfRig, urdf_rs::JointType};

/// The home pose: arm raised over the middle of the workspace, cup down.
pub const HOME: [f32; 4] = [0.0, 1.2, -2.0, -std::f32::consts::FRAC_PI_2 - 1.2 + 2.0];
/// Joint names of the shipped arm, in joint order (a loaded URDF's own
/// names are in [`TabletopArm::joints`]).
pub const JOINTS: [&str; 4] = ["base", "shoulder", "elbow", "wrist"];
/// Where the shipped arm's URDF lives, relative to the repository root.
pub const SHIPPED_URDF: &str = "robots/tabletop.urdf";

/// Gain of each joint's velocity servo (1/s): how fast it reaches its speed
/// command. Stiff, so that the wrist keeps the cup level under a held
/// block's weight (at 40/s it sagged 0.4 rad and placed blocks off-centre).
const MOTOR_GAIN: f32 = 200.0;

/// The arm's kinematics and limits, as its URDF gives them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ArmGeometry {
    /// Shoulder axis height above the table (m).
    pub shoulder_height: f32,
    /// Shoulder to elbow, elbow to wrist, wrist to the cup's face (m).
    pub upper_arm: f32,
    pub forearm: f32,
    pub tool: f32,
    /// Radius of the cup's contact sensor (m).
    pub cup_radius: f32,
    /// Joint position limits (rad): the rapier joints stop here.
    pub limits: [[f32; 2]; 4],
    /// Largest speed a command may ask of base, shoulder and elbow (rad/s):
    /// the smallest of their URDF velocity limits.
    pub max_speed: f32,
    /// The wrist's velocity limit (rad/s): the levelling servo's bound.
    pub wrist_speed: f32,
}

impl ArmGeometry {
    /// Cup position (m, world frame) for joint angles `q`, with the wrist at
    /// whatever angle `q[3]` says.
    pub fn tool_position(&self, q: &[f32; 4]) -> [f32; 3] {
        let (s0, c0) = q[0].sin_cos();
        let a1 = q[1];
        let a2 = q[1] + q[2];
        let a3 = a2 + q[3];
        let r = self.upper_arm * a1.cos() + self.forearm * a2.cos() + self.tool * a3.cos();
        let z = self.shoulder_height
            + self.upper_arm * a1.sin()
            + self.forearm * a2.sin()
            + self.tool * a3.sin();
        [r * c0, r * s0, z]
    }

    /// Base, shoulder, elbow, wrist and cup positions (m) for joint angles
    /// `q`: the points the renderers draw the links between.
    pub fn joint_points(&self, q: &[f32; 4]) -> [[f32; 3]; 5] {
        let (s0, c0) = q[0].sin_cos();
        let along = |a: f32, len: f32, from: [f32; 3]| -> [f32; 3] {
            [
                from[0] + len * a.cos() * c0,
                from[1] + len * a.cos() * s0,
                from[2] + len * a.sin(),
            ]
        };
        let shoulder = [0.0, 0.0, self.shoulder_height];
        let elbow = along(q[1], self.upper_arm, shoulder);
        let wrist = along(q[1] + q[2], self.forearm, elbow);
        let cup = along(q[1] + q[2] + q[3], self.tool, wrist);
        [[0.0; 3], shoulder, elbow, wrist, cup]
    }

    /// Inverse kinematics for a cup position with the cup pointing down,
    /// elbow up; `None` when out of reach or within 0.02 rad of a joint
    /// limit.
    pub fn inverse_kinematics(&self, p: [f32; 3]) -> Option<[f32; 4]> {
        let (l1, l2) = (self.upper_arm, self.forearm);
        let q0 = p[1].atan2(p[0]);
        let r = p[0].hypot(p[1]);
        let wz = p[2] + self.tool - self.shoulder_height;
        let d2 = r * r + wz * wz;
        let c2 = (d2 - l1 * l1 - l2 * l2) / (2.0 * l1 * l2);
        if !(-1.0..=1.0).contains(&c2) {
            return None;
        }
        let q2 = -c2.acos();
        let q1 = wz.atan2(r) - (l2 * q2.sin()).atan2(l1 + l2 * q2.cos());
        let q3 = -std::f32::consts::FRAC_PI_2 - q1 - q2;
        let q = [q0, q1, q2, q3];
        let inside = q
            .iter()
            .zip(self.limits.iter())
            .all(|(v, [lo, hi])| *v >= lo + 0.02 && *v <= hi - 0.02);
        inside.then_some(q)
    }

    /// Wrist speed command (rad/s) that keeps the cup pointing down: a
    /// proportional servo on the levelling error, feed-forward of the
    /// shoulder and elbow speeds.
    pub fn level_wrist_velocity(&self, q: &[f32; 4], v_shoulder: f32, v_elbow: f32) -> f32 {
        let err = -std::f32::consts::FRAC_PI_2 - q[1] - q[2] - q[3];
        (15.0 * err - v_shoulder - v_elbow).clamp(-self.wrist_speed, self.wrist_speed)
    }
}

/// A tabletop arm: its checked URDF and the geometry read from it.
#[derive(Clone, Debug)]
pub struct TabletopArm {
    pub model: UrdfModel,
    pub geometry: ArmGeometry,
    /// The URDF's names of the four joints, in joint order.
    pub joints: [String; 4],
}

impl TabletopArm {
    /// The shipped arm, `robots/tabletop.urdf` (compiled in, so the sim
    /// needs no file at run time; `tests` check it against the file).
    pub fn shipped() -> &'static TabletopArm {
        static ARM: OnceLock<TabletopArm> = OnceLock::new();
        ARM.get_or_init(|| {
            let text = include_str!("../../../robots/tabletop.urdf");
            let model = urdf::parse(Path::new(SHIPPED_URDF), text)
                .unwrap_or_else(|e| panic!("the shipped arm's URDF: {e}"));
            TabletopArm::from_model(model).unwrap_or_else(|e| panic!("the shipped arm's URDF: {e}"))
        })
    }

    /// Reads and checks the arm in the URDF at `path`.
    pub fn load(path: &Path) -> Result<TabletopArm, String> {
        let model = urdf::load(path).map_err(|e| e.to_string())?;
        TabletopArm::from_model(model)
    }

    /// Reads the arm's geometry from a checked URDF: a yaw joint about z,
    /// three pitch joints about −y along +x, and a fixed joint to a cup link
    /// with a collision sphere. Errors name the file, line and joint.
    pub fn from_model(model: UrdfModel) -> Result<TabletopArm, String> {
        let geometry = read_geometry(&model)?;
        let joints = model.actuated.clone();
        let joints: [String; 4] = joints
            .try_into()
            .map_err(|_| format!("{}: not four movable joints", model.file.display()))?;
        let arm = TabletopArm {
            model,
            geometry,
            joints,
        };
        // Build it once in a scratch world, so that `build_arm` cannot fail.
        UrdfRig::build(&mut PhysicsWorld::new(), &arm.model, &[drive()])
            .map_err(|e| format!("{}: {e}", arm.model.file.display()))?;
        if arm
            .geometry
            .inverse_kinematics(arm.geometry.tool_position(&HOME))
            .is_none()
        {
            return Err(format!(
                "{}: the home pose {HOME:?} is outside the joint limits",
                arm.model.file.display()
            ));
        }
        Ok(arm)
    }
}

fn drive() -> JointDrive {
    JointDrive::Velocity { gain: MOTOR_GAIN }
}

/// The geometry of a URDF that has the tabletop arm's chain.
fn read_geometry(model: &UrdfModel) -> Result<ArmGeometry, String> {
    let file = model.file.display();
    let joint = |name: &str| model.robot.joints.iter().find(|j| j.name == name);
    let err = |name: &str, what: String| format!("{file}: joint \"{name}\": {what}");
    if model.actuated.len() != 4 {
        return Err(format!(
            "{file}: the tabletop arm has 4 movable joints (yaw, then three pitch), this file {} ({})",
            model.actuated.len(),
            model.actuated.join(", ")
        ));
    }
    let close = |a: [f64; 3], b: [f64; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
    let mut chain: Vec<&urdf::urdf_rs::Joint> = Vec::with_capacity(4);
    for (k, name) in model.actuated.iter().enumerate() {
        let j = joint(name).ok_or_else(|| err(name, "not in the file".into()))?;
        if !matches!(j.joint_type, JointType::Revolute) {
            return Err(err(name, "must be revolute (with limits)".into()));
        }
        if let Some(prev) = chain.last().map(|p| &p.child.link)
            && &j.parent.link != prev
        {
            return Err(err(
                name,
                format!("must be the child of link \"{prev}\" (a serial chain)"),
            ));
        }
        let axis = if k == 0 {
            [0.0, 0.0, 1.0]
        } else {
            [0.0, -1.0, 0.0]
        };
        if !close(*j.axis.xyz, axis) {
            return Err(err(
                name,
                format!("axis must be {axis:?}, not {:?}", *j.axis.xyz),
            ));
        }
        if !close(*j.origin.rpy, [0.0; 3]) {
            return Err(err(name, "origin rpy must be 0 0 0".into()));
        }
        let o = *j.origin.xyz;
        let along = match k {
            0 | 1 => [0.0, 0.0, o[2]],
            _ => [o[0], 0.0, 0.0],
        };
        if !close(o, along) || o.iter().any(|v| !v.is_finite()) {
            let what = if k < 2 {
                "straight above its parent"
            } else {
                "along its parent's x"
            };
            return Err(err(name, format!("origin {o:?} must be {what}")));
        }
        if j.limit.velocity.is_nan() || j.limit.velocity <= 0.0 {
            return Err(err(name, "needs a velocity limit above 0".into()));
        }
        chain.push(j);
    }
    let wrist_link = &chain[3].child.link;
    let mount = model
        .robot
        .joints
        .iter()
        .find(|j| &j.parent.link == wrist_link && matches!(j.joint_type, JointType::Fixed))
        .ok_or_else(|| {
            format!("{file}: link \"{wrist_link}\" needs a fixed joint to the cup link")
        })?;
    let o = *mount.origin.xyz;
    if !close(o, [o[0], 0.0, 0.0]) || o[0] <= 0.0 {
        return Err(err(
            &mount.name,
            format!("origin {o:?} must be along the wrist's +x"),
        ));
    }
    let cup_radius = model
        .robot
        .links
        .iter()
        .find(|l| l.name == mount.child.link)
        .and_then(|l| {
            l.collision.iter().find_map(|c| match c.geometry {
                urdf::urdf_rs::Geometry::Sphere { radius } => Some(radius),
                _ => None,
            })
        })
        .ok_or_else(|| {
            format!(
                "{file}: link \"{}\" (the cup) needs a <collision> sphere",
                mount.child.link
            )
        })?;
    let limits: Vec<[f32; 2]> = chain
        .iter()
        .map(|j| [j.limit.lower as f32, j.limit.upper as f32])
        .collect();
    let speed = |k: usize| chain[k].limit.velocity as f32;
    Ok(ArmGeometry {
        shoulder_height: (chain[0].origin.xyz[2] + chain[1].origin.xyz[2]) as f32,
        upper_arm: chain[2].origin.xyz[0] as f32,
        forearm: chain[3].origin.xyz[0] as f32,
        tool: o[0] as f32,
        cup_radius: cup_radius as f32,
        limits: [limits[0], limits[1], limits[2], limits[3]],
        max_speed: speed(0).min(speed(1)).min(speed(2)),
        wrist_speed: speed(3),
    })
}

/// Handles of the arm's bodies and joints in a `PhysicsWorld`.
pub struct ArmRig {
    /// The URDF rig: the four joints and every link's body.
    pub rig: UrdfRig,
    /// The wrist link (a held block is fixed to it).
    pub wrist: RigidBodyHandle,
    /// The cup link: its origin is the centre of the cup's face.
    pub cup_link: RigidBodyHandle,
    /// The cup's sensor collider.
    pub cup: ColliderHandle,
}

/// Builds `arm` at joint angles `q` in `world` (the world's gravity is kept:
/// the arm's links are compensated, the rest of the world is not).
pub fn build_arm(world: &mut PhysicsWorld, arm: &TabletopArm, q: [f32; 4]) -> ArmRig {
    let gravity = world.gravity;
    let rig = UrdfRig::build(world, &arm.model, &[drive()])
        .expect("TabletopArm::from_model built this URDF once already");
    world.gravity = gravity;
    let body = |name: &str| {
        rig.links
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| *b)
            .expect("TabletopArm::from_model found the wrist and cup links")
    };
    let wrist_name = &arm.model.robot.joints[joint_index(arm, 3)].child.link;
    let wrist = body(wrist_name);
    let cup_name = arm
        .model
        .robot
        .joints
        .iter()
        .find(|j| &j.parent.link == wrist_name && matches!(j.joint_type, JointType::Fixed))
        .map(|j| j.child.link.clone())
        .unwrap_or_default();
    let cup_link = body(&cup_name);
    for (_, b) in &rig.links {
        if let Some(rb) = world.bodies.get_mut(*b) {
            rb.set_gravity_scale(0.0, true);
        }
    }
    let cup = world.bodies[cup_link]
        .colliders()
        .first()
        .copied()
        .expect("TabletopArm::from_model found the cup's sphere");
    if let Some(c) = world.colliders.get_mut(cup) {
        c.set_sensor(true);
    }
    let arm_rig = ArmRig {
        rig,
        wrist,
        cup_link,
        cup,
    };
    set_joint_angles(world, &arm_rig, q);
    arm_rig
}

fn joint_index(arm: &TabletopArm, k: usize) -> usize {
    arm.model
        .robot
        .joints
        .iter()
        .position(|j| j.name == arm.joints[k])
        .unwrap_or(0)
}

/// Puts the arm at joint angles `q`, at rest.
pub fn set_joint_angles(world: &mut PhysicsWorld, rig: &ArmRig, q: [f32; 4]) {
    rig.rig.set_positions(world, &q);
}

/// Joint angles (rad), in joint order.
pub fn joint_angles(world: &PhysicsWorld, rig: &ArmRig) -> [f32; 4] {
    let mut q = [0.0; 4];
    rig.rig.positions(world, &mut q);
    q
}

/// Joint speeds (rad/s), in joint order.
pub fn joint_velocities(world: &PhysicsWorld, rig: &ArmRig) -> [f32; 4] {
    let mut v = [0.0; 4];
    rig.rig.velocities(world, &mut v);
    v
}

/// Sets each joint's speed target (rad/s; non-finite → 0, clamped to the
/// URDF velocity limit).
pub fn command_velocities(world: &mut PhysicsWorld, rig: &ArmRig, v: [f32; 4]) {
    rig.rig.command(world, &v);
}

/// The cup position (m) read from the simulated cup link.
pub fn cup_position(world: &PhysicsWorld, rig: &ArmRig) -> [f32; 3] {
    let p = world.bodies[rig.cup_link].translation();
    [p.x, p.y, p.z]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry() -> ArmGeometry {
        TabletopArm::shipped().geometry
    }

    #[test]
    fn shipped_urdf_is_the_file_in_robots() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(SHIPPED_URDF);
        let from_file = TabletopArm::load(&path).expect("robots/tabletop.urdf loads");
        let g = geometry();
        assert_eq!(from_file.geometry, g);
        assert_eq!(TabletopArm::shipped().joints, JOINTS.map(String::from));
        assert_eq!(
            g.limits,
            [[-2.6, 2.6], [-0.5, 2.2], [-2.8, 0.0], [-3.0, 1.0]]
        );
        assert_eq!(
            (g.shoulder_height, g.upper_arm, g.forearm, g.tool),
            (0.2, 0.32, 0.3, 0.1)
        );
        assert_eq!((g.max_speed, g.wrist_speed), (1.5, 3.0));
    }

    #[test]
    fn ik_inverts_fk() {
        let g = geometry();
        for p in [[0.35, 0.0, 0.05], [0.3, 0.25, 0.2], [0.45, -0.2, 0.02]] {
            let q = g.inverse_kinematics(p).expect("reachable");
            let back = g.tool_position(&q);
            for k in 0..3 {
                assert!((back[k] - p[k]).abs() < 1e-4, "{p:?} -> {back:?}");
            }
            let drawn = g.joint_points(&q)[4];
            assert!(
                (0..3).all(|k| (drawn[k] - back[k]).abs() < 1e-5),
                "{drawn:?}"
            );
        }
        assert!(g.inverse_kinematics([1.0, 0.0, 0.0]).is_none());
    }

    #[test]
    fn simulated_arm_matches_kinematics() {
        let mut world = PhysicsWorld::new();
        let q = [0.4, 0.9, -1.5, -std::f32::consts::FRAC_PI_2 + 0.6];
        let rig = build_arm(&mut world, TabletopArm::shipped(), q);
        let got = joint_angles(&world, &rig);
        for k in 0..4 {
            assert!((got[k] - q[k]).abs() < 1e-5, "joint {k}: {got:?} vs {q:?}");
        }
        let cup = cup_position(&world, &rig);
        let fk = geometry().tool_position(&q);
        for k in 0..3 {
            assert!((cup[k] - fk[k]).abs() < 1e-4, "cup {cup:?} vs fk {fk:?}");
        }
    }

    #[test]
    fn velocity_servos_track_commands() {
        let mut world = PhysicsWorld::new();
        world.integration_parameters.dt = 0.01;
        let rig = build_arm(&mut world, TabletopArm::shipped(), HOME);
        command_velocities(&mut world, &rig, [0.5, -0.3, 0.2, 0.1]);
        for _ in 0..50 {
            world.step();
        }
        let v = joint_velocities(&world, &rig);
        let q = joint_angles(&world, &rig);
        assert!((v[0] - 0.5).abs() < 0.05, "{v:?}");
        assert!((v[1] + 0.3).abs() < 0.05, "{v:?}");
        assert!((q[0] - HOME[0] - 0.25).abs() < 0.03, "{q:?}");
    }

    #[test]
    fn another_chain_is_refused_naming_the_joint() {
        let text = include_str!("../../../robots/tabletop.urdf").replacen(
            "<axis xyz=\"0 -1 0\"/>",
            "<axis xyz=\"1 0 0\"/>",
            1,
        );
        let model = urdf::parse(Path::new("bent.urdf"), &text).expect("still a valid URDF");
        let e = TabletopArm::from_model(model).expect_err("not the tabletop chain");
        assert!(
            e.contains("bent.urdf") && e.contains("joint \"shoulder\"") && e.contains("axis"),
            "{e}"
        );
        let longer = include_str!("../../../robots/tabletop.urdf").replace("0.32 0 0", "0.40 0 0");
        let model = urdf::parse(Path::new("long.urdf"), &longer).expect("valid");
        let arm = TabletopArm::from_model(model).expect("same chain, longer upper arm");
        assert!((arm.geometry.upper_arm - 0.40).abs() < 1e-6);
    }
}
