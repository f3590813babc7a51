//! The tabletop arm: geometry, joint limits, analytic forward kinematics, and
//! the rapier multibody that simulates it.
//!
//! Four revolute joints: base yaw about z at the table; shoulder, elbow and
//! wrist pitch about the horizontal axis of the arm's plane (positive angles
//! raise the link). With zero angles every link points along +x. The suction
//! cup sits at the tip of the wrist link; the wrist is kept so that the cup
//! points straight down (`q1 + q2 + q3 = −π/2`, see [`level_wrist_velocity`]).
//! The links are gravity-compensated (gravity scale 0, as a servo with
//! feed-forward would be) and have no colliders: only the cup's sensor and the
//! held block touch the world, so the arm cannot knock blocks over.

use rapier3d::prelude::*;

/// Shoulder height above the table (m), and link lengths (m).
pub const SHOULDER_HEIGHT: f32 = 0.20;
pub const UPPER_ARM: f32 = 0.32;
pub const FOREARM: f32 = 0.30;
/// Wrist joint to the suction cup's face (m).
pub const TOOL: f32 = 0.10;

/// Joint names, in joint order.
pub const JOINTS: [&str; 4] = ["base", "shoulder", "elbow", "wrist"];
/// Joint limits (rad): the rapier joints stop here.
pub const JOINT_LIMITS: [[f32; 2]; 4] = [[-2.6, 2.6], [-0.5, 2.2], [-2.8, 0.0], [-3.0, 1.0]];
/// Largest joint speed a command may ask for (rad/s).
pub const MAX_JOINT_SPEED: f32 = 1.5;
/// The home pose: arm raised over the middle of the workspace.
pub const HOME: [f32; 4] = [0.0, 1.2, -2.0, -std::f32::consts::FRAC_PI_2 - 1.2 + 2.0];

/// Cup position (m, world frame) for joint angles `q`, with the wrist at
/// whatever angle `q[3]` says.
pub fn tool_position(q: &[f32; 4]) -> [f32; 3] {
    let (s0, c0) = q[0].sin_cos();
    let a1 = q[1];
    let a2 = q[1] + q[2];
    let a3 = a2 + q[3];
    let r = UPPER_ARM * a1.cos() + FOREARM * a2.cos() + TOOL * a3.cos();
    let z = SHOULDER_HEIGHT + UPPER_ARM * a1.sin() + FOREARM * a2.sin() + TOOL * a3.sin();
    [r * c0, r * s0, z]
}

/// Inverse kinematics for a cup position with the cup pointing down, elbow
/// up; `None` when out of reach or outside the joint limits.
pub fn inverse_kinematics(p: [f32; 3]) -> Option<[f32; 4]> {
    let q0 = p[1].atan2(p[0]);
    let r = p[0].hypot(p[1]);
    let wz = p[2] + TOOL - SHOULDER_HEIGHT;
    let d2 = r * r + wz * wz;
    let c2 = (d2 - UPPER_ARM * UPPER_ARM - FOREARM * FOREARM) / (2.0 * UPPER_ARM * FOREARM);
    if !(-1.0..=1.0).contains(&c2) {
        return None;
    }
    let q2 = -c2.acos();
    let q1 = wz.atan2(r) - (FOREARM * q2.sin()).atan2(UPPER_ARM + FOREARM * q2.cos());
    let q3 = -std::f32::consts::FRAC_PI_2 - q1 - q2;
    let q = [q0, q1, q2, q3];
    let inside = q
        .iter()
        .zip(JOINT_LIMITS.iter())
        .all(|(v, [lo, hi])| *v >= lo + 0.02 && *v <= hi - 0.02);
    inside.then_some(q)
}

/// Wrist speed command (rad/s) that keeps the cup pointing down: a
/// proportional servo on the levelling error, feed-forward of the shoulder
/// and elbow speeds.
pub fn level_wrist_velocity(q: &[f32; 4], v_shoulder: f32, v_elbow: f32) -> f32 {
    let err = -std::f32::consts::FRAC_PI_2 - q[1] - q[2] - q[3];
    (15.0 * err - v_shoulder - v_elbow).clamp(-MAX_JOINT_SPEED * 2.0, MAX_JOINT_SPEED * 2.0)
}

/// Handles of the arm's bodies and joints in a `PhysicsWorld`.
pub struct ArmRig {
    pub base: RigidBodyHandle,
    pub links: [RigidBodyHandle; 4],
    pub joints: [MultibodyJointHandle; 4],
    /// The cup's sensor collider (on the wrist link).
    pub cup: ColliderHandle,
}

/// Gain of each joint's velocity servo (1/s): how fast it reaches its speed
/// command. Stiff, so that the wrist keeps the cup level under a held
/// block's weight (at 40/s it sagged 0.4 rad and placed blocks off-centre).
const MOTOR_GAIN: [f32; 4] = [200.0; 4];
/// Radius of the cup's contact sensor (m).
pub const CUP_RADIUS: f32 = 0.012;

/// Builds the arm at joint angles `q` in `world`.
pub fn build_arm(world: &mut PhysicsWorld, q: [f32; 4]) -> ArmRig {
    let base = world.insert_body(RigidBodyBuilder::fixed());
    let mass = |m: f32, length: f32| {
        let i = m * length * length / 12.0;
        MassProperties::new(
            Vector::new(length * 0.5, 0.0, 0.0),
            m,
            Vector::new(i * 0.1, i, i),
        )
    };
    let link = |world: &mut PhysicsWorld, m: f32, length: f32| {
        world.insert_body(
            RigidBodyBuilder::dynamic()
                .gravity_scale(0.0)
                .can_sleep(false)
                .additional_mass_properties(mass(m, length)),
        )
    };
    let turret = link(world, 1.0, 0.05);
    let upper = link(world, 0.8, UPPER_ARM);
    let fore = link(world, 0.5, FOREARM);
    let wrist = link(world, 0.2, TOOL);
    let cup = world.insert_collider(
        ColliderBuilder::ball(CUP_RADIUS)
            .sensor(true)
            .translation(Vector::new(TOOL, 0.0, 0.0)),
        Some(wrist),
    );
    let servo = |b: RevoluteJointBuilder, lim: [f32; 2], gain: f32| {
        b.limits(lim)
            .contacts_enabled(false)
            .motor_model(MotorModel::AccelerationBased)
            .motor_velocity(0.0, gain)
    };
    let pitch = -Vector::Y;
    let j0 = world
        .insert_multibody_joint(
            base,
            turret,
            servo(
                RevoluteJointBuilder::new(Vector::Z),
                JOINT_LIMITS[0],
                MOTOR_GAIN[0],
            ),
        )
        .expect("a chain of four links is a valid multibody");
    let j1 = world
        .insert_multibody_joint(
            turret,
            upper,
            servo(
                RevoluteJointBuilder::new(pitch).local_anchor1(Vector::new(
                    0.0,
                    0.0,
                    SHOULDER_HEIGHT,
                )),
                JOINT_LIMITS[1],
                MOTOR_GAIN[1],
            ),
        )
        .expect("a chain of four links is a valid multibody");
    let j2 = world
        .insert_multibody_joint(
            upper,
            fore,
            servo(
                RevoluteJointBuilder::new(pitch).local_anchor1(Vector::new(UPPER_ARM, 0.0, 0.0)),
                JOINT_LIMITS[2],
                MOTOR_GAIN[2],
            ),
        )
        .expect("a chain of four links is a valid multibody");
    let j3 = world
        .insert_multibody_joint(
            fore,
            wrist,
            servo(
                RevoluteJointBuilder::new(pitch).local_anchor1(Vector::new(FOREARM, 0.0, 0.0)),
                JOINT_LIMITS[3],
                MOTOR_GAIN[3],
            ),
        )
        .expect("a chain of four links is a valid multibody");
    let rig = ArmRig {
        base,
        links: [turret, upper, fore, wrist],
        joints: [j0, j1, j2, j3],
        cup,
    };
    set_joint_angles(world, &rig, q);
    rig
}

/// Puts the arm at joint angles `q`, at rest.
pub fn set_joint_angles(world: &mut PhysicsWorld, rig: &ArmRig, q: [f32; 4]) {
    let current = joint_angles(world, rig);
    let Some((mb, _)) = world.multibody_joints.get_mut(rig.joints[0]) else {
        return;
    };
    // Settle the root's type first (a fixed base has no degrees of freedom),
    // so that the links' offsets into the coordinate vector are final.
    mb.forward_kinematics(&world.bodies, true);
    let mut disp = vec![0.0; mb.ndofs()];
    for (k, h) in rig.joints.iter().enumerate() {
        if let Some((mb, id)) = world.multibody_joints.get(*h)
            && let Some(link) = mb.link(id)
            && let Some(slot) = disp.get_mut(link.assembly_id())
        {
            *slot = q[k] - current[k];
        }
    }
    let Some((mb, _)) = world.multibody_joints.get_mut(rig.joints[0]) else {
        return;
    };
    mb.apply_displacements(&disp);
    mb.generalized_velocity_mut().fill(0.0);
    mb.forward_kinematics(&world.bodies, false);
    mb.update_rigid_bodies(&mut world.bodies, true);
}

/// Joint angles (rad), in joint order.
pub fn joint_angles(world: &PhysicsWorld, rig: &ArmRig) -> [f32; 4] {
    let mut q = [0.0; 4];
    for (k, h) in rig.joints.iter().enumerate() {
        if let Some((mb, id)) = world.multibody_joints.get(*h)
            && let Some(link) = mb.link(id)
        {
            // A revolute joint's one free coordinate is its angle about the
            // joint frame's x axis (rapier's AngX).
            q[k] = link.joint().coords()[3];
        }
    }
    q
}

/// Joint speeds (rad/s), in joint order.
pub fn joint_velocities(world: &PhysicsWorld, rig: &ArmRig) -> [f32; 4] {
    let mut v = [0.0; 4];
    for (k, h) in rig.joints.iter().enumerate() {
        if let Some((mb, id)) = world.multibody_joints.get(*h)
            && let Some(link) = mb.link(id)
        {
            let jv = mb.joint_velocity(link);
            if !jv.is_empty() {
                v[k] = jv[0];
            }
        }
    }
    v
}

/// Sets each joint's speed target (rad/s; non-finite → 0, clamped).
pub fn command_velocities(world: &mut PhysicsWorld, rig: &ArmRig, v: [f32; 4]) {
    for (k, h) in rig.joints.iter().enumerate() {
        let target = if v[k].is_finite() {
            v[k].clamp(-2.0 * MAX_JOINT_SPEED, 2.0 * MAX_JOINT_SPEED)
        } else {
            0.0
        };
        if let Some((mb, id)) = world.multibody_joints.get_mut(*h)
            && let Some(link) = mb.link_mut(id)
        {
            link.joint
                .data
                .set_motor_velocity(JointAxis::AngX, target, MOTOR_GAIN[k]);
        }
    }
}

/// The cup position (m) read from the simulated wrist link.
pub fn cup_position(world: &PhysicsWorld, rig: &ArmRig) -> [f32; 3] {
    let p = world.bodies[rig.links[3]].position() * Vector::new(TOOL, 0.0, 0.0);
    [p.x, p.y, p.z]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ik_inverts_fk() {
        for p in [[0.35, 0.0, 0.05], [0.3, 0.25, 0.2], [0.45, -0.2, 0.02]] {
            let q = inverse_kinematics(p).expect("reachable");
            let back = tool_position(&q);
            for k in 0..3 {
                assert!((back[k] - p[k]).abs() < 1e-4, "{p:?} -> {back:?}");
            }
        }
        assert!(inverse_kinematics([1.0, 0.0, 0.0]).is_none());
    }

    #[test]
    fn simulated_arm_matches_kinematics() {
        let mut world = PhysicsWorld::new();
        let q = [0.4, 0.9, -1.5, -std::f32::consts::FRAC_PI_2 + 0.6];
        let rig = build_arm(&mut world, q);
        let got = joint_angles(&world, &rig);
        for k in 0..4 {
            assert!((got[k] - q[k]).abs() < 1e-5, "joint {k}: {got:?} vs {q:?}");
        }
        let cup = cup_position(&world, &rig);
        let fk = tool_position(&q);
        for k in 0..3 {
            assert!((cup[k] - fk[k]).abs() < 1e-4, "cup {cup:?} vs fk {fk:?}");
        }
    }

    #[test]
    fn velocity_servos_track_commands() {
        let mut world = PhysicsWorld::new();
        world.integration_parameters.dt = 0.01;
        let rig = build_arm(&mut world, HOME);
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
}
