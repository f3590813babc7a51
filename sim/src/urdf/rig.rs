//! A URDF robot in a rapier world: its links as rigid bodies, its joints as
//! one multibody (reduced coordinates, the way robot dynamics are written),
//! the root fixed to the world, gravity along −z (URDF is z-up). Each
//! movable joint is driven as the robot file says: a position servo, a
//! velocity servo, or raw effort (torque or force). The servos are
//! acceleration-based, as the tabletop arm's (their gains do not depend on
//! the links' inertia); speed commands are clamped to the URDF velocity
//! limit, effort commands to its effort limit.

use rapier3d::prelude::*;
use rapier3d_urdf::{UrdfLoaderOptions, UrdfMultibodyOptions, UrdfRobot};

use super::UrdfModel;

/// How one joint is driven.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum JointDrive {
    /// A command is a target position (rad or m), tracked by a spring of
    /// `stiffness` and a damper of `damping`.
    Position { stiffness: f32, damping: f32 },
    /// A command is a target speed (rad/s or m/s), reached at `gain` (1/s).
    Velocity { gain: f32 },
    /// A command is a torque (N·m) or force (N), clamped to the effort limit.
    Effort,
}

/// One movable joint of a rig.
#[derive(Clone, Debug)]
pub struct RigJoint {
    pub name: String,
    pub prismatic: bool,
    pub drive: JointDrive,
    /// The URDF effort limit (N·m or N; 0: none given): effort commands
    /// are clamped to it.
    pub effort: f32,
    /// The URDF velocity limit (rad/s or m/s; 0: none given): speed
    /// commands are clamped to it.
    pub velocity: f32,
    handle: MultibodyJointHandle,
    parent: RigidBodyHandle,
    child: RigidBodyHandle,
}

impl RigJoint {
    fn axis(&self) -> JointAxis {
        if self.prismatic {
            JointAxis::LinX
        } else {
            JointAxis::AngX
        }
    }
}

/// A URDF robot inserted into a `PhysicsWorld`.
#[derive(Clone, Debug)]
pub struct UrdfRig {
    /// The movable joints, in `UrdfModel::actuated` order.
    pub joints: Vec<RigJoint>,
    /// Every link's body, by URDF link name (links the loader merged away,
    /// frames with nothing in them, are absent).
    pub links: Vec<(String, RigidBodyHandle)>,
}

impl UrdfRig {
    /// Inserts `model` into `world` with one drive per movable joint (or one
    /// for all). Sets the world's gravity to −9.81 m/s² along z.
    pub fn build(
        world: &mut PhysicsWorld,
        model: &UrdfModel,
        drives: &[JointDrive],
    ) -> Result<UrdfRig, String> {
        let n = model.actuated.len();
        if drives.len() != n && drives.len() != 1 {
            return Err(format!(
                "{} drives for {n} movable joints ({})",
                drives.len(),
                model.actuated.join(", ")
            ));
        }
        let options = UrdfLoaderOptions {
            make_roots_fixed: true,
            ..UrdfLoaderOptions::default()
        };
        let mesh_dir = model
            .file
            .parent()
            .unwrap_or_else(|| std::path::Path::new("."));
        let robot = UrdfRobot::from_robot(&model.robot, options, mesh_dir);
        let link_names: Vec<String> = robot
            .links
            .iter()
            .map(|l| model.robot.links[l.urdf_link_index].name.clone())
            .collect();
        let joint_names: Vec<String> = robot
            .joints
            .iter()
            .map(|j| model.robot.joints[j.source_urdf_joint_index()].name.clone())
            .collect();
        let handles = robot.insert_using_multibody_joints(
            &mut world.bodies,
            &mut world.colliders,
            &mut world.multibody_joints,
            UrdfMultibodyOptions::DISABLE_SELF_CONTACTS,
        );
        world.gravity = Vector::Z * -9.81;
        let mut joints = Vec::with_capacity(n);
        for (k, name) in model.actuated.iter().enumerate() {
            let i = joint_names
                .iter()
                .position(|j| j == name)
                .ok_or_else(|| format!("joint \"{name}\" was merged away by the loader"))?;
            let h = &handles.joints[i];
            let handle = h
                .joint
                .ok_or_else(|| format!("joint \"{name}\" could not join the multibody"))?;
            let info = model
                .robot
                .joints
                .iter()
                .find(|j| &j.name == name)
                .ok_or_else(|| format!("joint \"{name}\" is not in the model"))?;
            let joint = RigJoint {
                name: name.clone(),
                prismatic: matches!(info.joint_type, super::urdf_rs::JointType::Prismatic),
                drive: drives[if drives.len() == 1 { 0 } else { k }],
                effort: info.limit.effort as f32,
                velocity: info.limit.velocity as f32,
                handle,
                parent: h.link1,
                child: h.link2,
            };
            configure(world, &joint);
            // The URDF's viscous damping (N·m·s/rad or N·s/m; none: 0), in
            // place of rapier's default 0.1 on angular joints.
            let damping = info.dynamics.as_ref().map_or(0.0, |d| d.damping) as f32;
            if let Some((mb, id)) = world.multibody_joints.get_mut(handle)
                && let Some(dof) = mb.link(id).map(|l| l.assembly_id())
                && let Some(slot) = mb.damping_mut().get_mut(dof)
            {
                *slot = if damping.is_finite() {
                    damping.max(0.0)
                } else {
                    0.0
                };
            }
            joints.push(joint);
        }
        for b in handles.links.iter().map(|l| l.body) {
            if let Some(rb) = world.bodies.get_mut(b) {
                rb.set_linear_damping(0.0);
                rb.set_angular_damping(0.0);
                // A robot's links never sleep: a servo may start them at any tick.
                rb.activation_mut().normalized_linear_threshold = -1.0;
                rb.recompute_mass_properties_from_colliders(&world.colliders);
            }
        }
        let links = link_names
            .into_iter()
            .zip(handles.links.iter().map(|l| l.body))
            .collect();
        Ok(UrdfRig { joints, links })
    }

    /// Joint positions (rad or m), in joint order, into `out`.
    pub fn positions(&self, world: &PhysicsWorld, out: &mut [f32]) {
        for (j, o) in self.joints.iter().zip(out.iter_mut()) {
            *o = position_of(world, j);
        }
    }

    /// Joint speeds (rad/s or m/s), in joint order, into `out`.
    pub fn velocities(&self, world: &PhysicsWorld, out: &mut [f32]) {
        for (j, o) in self.joints.iter().zip(out.iter_mut()) {
            if let Some((mb, id)) = world.multibody_joints.get(j.handle)
                && let Some(link) = mb.link(id)
            {
                *o = mb
                    .joint_velocity(link)
                    .iter()
                    .next()
                    .copied()
                    .unwrap_or(0.0);
            }
        }
    }

    /// Applies one command per joint, each as its drive reads it (a
    /// non-finite command holds: speed 0, no effort, or the current position).
    pub fn command(&self, world: &mut PhysicsWorld, commands: &[f32]) {
        if self.joints.iter().any(|j| j.drive == JointDrive::Effort) {
            // Efforts add up on a link (its own joint, its children's
            // reactions): clear last tick's first.
            for (_, b) in &self.links {
                if let Some(rb) = world.bodies.get_mut(*b) {
                    rb.reset_forces(false);
                    rb.reset_torques(false);
                }
            }
        }
        for (j, &c) in self.joints.iter().zip(commands) {
            match j.drive {
                JointDrive::Effort => apply_effort(world, j, c),
                JointDrive::Velocity { gain } => {
                    let v = match (c.is_finite(), j.velocity > 0.0) {
                        (false, _) => 0.0,
                        (true, true) => c.clamp(-j.velocity, j.velocity),
                        (true, false) => c,
                    };
                    if let Some(data) = joint_data(world, j) {
                        data.set_motor_velocity(j.axis(), v, gain);
                    }
                }
                JointDrive::Position { stiffness, damping } => {
                    let target = if c.is_finite() {
                        c
                    } else {
                        position_of(world, j)
                    };
                    if let Some(data) = joint_data(world, j) {
                        data.set_motor_position(j.axis(), target, stiffness, damping);
                    }
                }
            }
        }
    }

    /// Puts the joints at positions `q`, at rest.
    pub fn set_positions(&self, world: &mut PhysicsWorld, q: &[f32]) {
        let Some(first) = self.joints.first() else {
            return;
        };
        let mut current = vec![0.0; self.joints.len()];
        self.positions(world, &mut current);
        let Some((mb, _)) = world.multibody_joints.get_mut(first.handle) else {
            return;
        };
        mb.forward_kinematics(&world.bodies, true);
        let mut disp = vec![0.0; mb.ndofs()];
        for (k, j) in self.joints.iter().enumerate() {
            if let Some((mb, id)) = world.multibody_joints.get(j.handle)
                && let Some(link) = mb.link(id)
                && let Some(slot) = disp.get_mut(link.assembly_id())
                && let Some(target) = q.get(k)
            {
                *slot = target - current[k];
            }
        }
        let Some((mb, _)) = world.multibody_joints.get_mut(first.handle) else {
            return;
        };
        mb.apply_displacements(&disp);
        mb.generalized_velocity_mut().fill(0.0);
        mb.forward_kinematics(&world.bodies, false);
        mb.update_rigid_bodies(&mut world.bodies, true);
    }
}

/// A joint's free coordinate: the joint frame's x, linear or angular.
fn position_of(world: &PhysicsWorld, j: &RigJoint) -> f32 {
    world
        .multibody_joints
        .get(j.handle)
        .and_then(|(mb, id)| mb.link(id))
        .map_or(0.0, |link| {
            link.joint().coords()[if j.prismatic { 0 } else { 3 }]
        })
}

fn joint_data<'a>(world: &'a mut PhysicsWorld, j: &RigJoint) -> Option<&'a mut GenericJoint> {
    let (mb, id) = world.multibody_joints.get_mut(j.handle)?;
    Some(&mut mb.link_mut(id)?.joint.data)
}

/// Sets up a joint's motor for its drive (none for effort: even a motor
/// with zero gains holds its joint in rapier).
fn configure(world: &mut PhysicsWorld, j: &RigJoint) {
    let axis = j.axis();
    let drive = j.drive;
    if let Some(data) = joint_data(world, j) {
        match drive {
            JointDrive::Effort => {}
            JointDrive::Velocity { gain } => {
                data.set_motor_model(axis, MotorModel::AccelerationBased);
                data.set_motor_velocity(axis, 0.0, gain);
            }
            JointDrive::Position { stiffness, damping } => {
                data.set_motor_model(axis, MotorModel::AccelerationBased);
                data.set_motor_position(axis, 0.0, stiffness, damping);
            }
        }
    }
}

/// Applies torque (or force) `c` about (along) the joint axis: on the child,
/// and the reaction on the parent.
fn apply_effort(world: &mut PhysicsWorld, j: &RigJoint, c: f32) {
    let c = if c.is_finite() { c } else { 0.0 };
    let c = if j.effort > 0.0 {
        c.clamp(-j.effort, j.effort)
    } else {
        c
    };
    let Some(frame) = joint_data(world, j).map(|d| d.local_frame2) else {
        return;
    };
    let Some(child) = world.bodies.get(j.child) else {
        return;
    };
    let axis = (child.position().rotation * frame.rotation) * Vector::X;
    for (body, sign) in [(j.child, 1.0), (j.parent, -1.0)] {
        if let Some(rb) = world.bodies.get_mut(body) {
            if j.prismatic {
                rb.add_force(axis * (sign * c), true);
            } else {
                rb.add_torque(axis * (sign * c), true);
            }
        }
    }
}
