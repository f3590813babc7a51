//! The tabletop world: a table, the arm, coloured blocks (dynamic cubes) and
//! bowls (fixed), and the suction gripper. One `step` advances the physics by
//! one control period with the joint speed commands and the suction command
//! held. What the runtime sees is exact simulator state (joint states, object
//! poses, what the cup holds): there is no perception model here.

use rapier3d::prelude::*;

use super::arm::{self, ArmGeometry, ArmRig, TabletopArm};
use super::scene::{BLOCK_SIZE, BOWL_FLOOR, BOWL_RADIUS, BOWL_WALL, SceneSpec};
use super::state::TabletopState;

/// Seconds per control period, and physics steps per period.
pub const CONTROL_PERIOD: f32 = 0.04;
const SUBSTEPS: usize = 4;
/// The cup seals on a block's top face when its axis is within this
/// distance (m) of the face's centre.
pub const SEAL_RADIUS: f32 = 0.012;

/// A block or bowl and its rapier body.
#[derive(Clone, Debug)]
pub struct Object {
    pub color: String,
    pub body: RigidBodyHandle,
    pub collider: ColliderHandle,
}

pub struct TabletopWorld {
    pub physics: PhysicsWorld,
    pub arm: ArmRig,
    /// The arm's kinematics and limits, from its URDF.
    pub geometry: ArmGeometry,
    pub blocks: Vec<Object>,
    pub bowls: Vec<Object>,
    /// The block the cup holds, and the joint holding it.
    held: Option<(usize, ImpulseJointHandle)>,
    suction: bool,
    time: f64,
}

impl TabletopWorld {
    /// Builds `scene` with positions from `seed`, the shipped arm at home
    /// (or holding the scene's held block under the cup).
    pub fn new(scene: &SceneSpec, seed: u64) -> TabletopWorld {
        TabletopWorld::with_arm(scene, seed, TabletopArm::shipped())
    }

    /// [`TabletopWorld::new`] with the arm of another URDF.
    pub fn with_arm(scene: &SceneSpec, seed: u64, arm_model: &TabletopArm) -> TabletopWorld {
        let layout = scene.layout(seed);
        let mut physics = PhysicsWorld::new();
        physics.gravity = Vector::new(0.0, 0.0, -9.81);
        physics.integration_parameters.dt = CONTROL_PERIOD / SUBSTEPS as f32;
        let table = physics
            .insert_body(RigidBodyBuilder::fixed().translation(Vector::new(0.25, 0.0, -0.02)));
        physics.insert_collider(
            ColliderBuilder::cuboid(0.6, 0.7, 0.02).friction(0.8),
            Some(table),
        );
        let arm = arm::build_arm(&mut physics, arm_model, arm::HOME);
        let h = BLOCK_SIZE * 0.5;
        let blocks = scene
            .blocks
            .iter()
            .zip(&layout.blocks)
            .map(|(color, p)| {
                let body = physics.insert_body(
                    RigidBodyBuilder::dynamic()
                        .translation(Vector::new(p[0], p[1], p[2]))
                        .ccd_enabled(true),
                );
                let collider = physics.insert_collider(
                    ColliderBuilder::cuboid(h, h, h)
                        .density(0.05 / (BLOCK_SIZE * BLOCK_SIZE * BLOCK_SIZE))
                        .friction(0.8),
                    Some(body),
                );
                Object {
                    color: color.clone(),
                    body,
                    collider,
                }
            })
            .collect();
        let bowls = scene
            .bowls
            .iter()
            .zip(&layout.bowls)
            .map(|(color, p)| {
                let body = physics.insert_body(
                    RigidBodyBuilder::fixed().translation(Vector::new(p[0], p[1], 0.0)),
                );
                let collider = physics.insert_collider(
                    ColliderBuilder::cylinder(BOWL_FLOOR * 0.5, BOWL_RADIUS + 0.006)
                        .rotation(Vector::new(std::f32::consts::FRAC_PI_2, 0.0, 0.0))
                        .translation(Vector::new(0.0, 0.0, BOWL_FLOOR * 0.5))
                        .friction(0.8),
                    Some(body),
                );
                // The wall: 12 staves around the floor.
                for k in 0..12 {
                    let a = k as f32 * std::f32::consts::TAU / 12.0;
                    let r = BOWL_RADIUS + 0.003;
                    physics.insert_collider(
                        ColliderBuilder::cuboid(0.003, 0.018, BOWL_WALL * 0.5)
                            .translation(Vector::new(r * a.cos(), r * a.sin(), BOWL_WALL * 0.5))
                            .rotation(Vector::new(0.0, 0.0, a))
                            .friction(0.5),
                        Some(body),
                    );
                }
                Object {
                    color: color.clone(),
                    body,
                    collider,
                }
            })
            .collect();
        let mut world = TabletopWorld {
            physics,
            arm,
            geometry: arm_model.geometry,
            blocks,
            bowls,
            held: None,
            suction: false,
            time: 0.0,
        };
        if let Some(i) = layout.held {
            let cup = world.cup_position();
            let body = world.blocks[i].body;
            world.physics.bodies[body].set_translation(
                Vector::new(cup[0], cup[1], cup[2] - BLOCK_SIZE * 0.5 - 0.002),
                true,
            );
            world.attach(i);
            world.suction = true;
        }
        world
    }

    pub fn time(&self) -> f64 {
        self.time
    }

    pub fn joint_angles(&self) -> [f32; 4] {
        arm::joint_angles(&self.physics, &self.arm)
    }

    pub fn joint_velocities(&self) -> [f32; 4] {
        arm::joint_velocities(&self.physics, &self.arm)
    }

    pub fn cup_position(&self) -> [f32; 3] {
        arm::cup_position(&self.physics, &self.arm)
    }

    /// Index of the held block.
    pub fn held(&self) -> Option<usize> {
        self.held.map(|(i, _)| i)
    }

    pub fn suction(&self) -> bool {
        self.suction
    }

    pub fn block_position(&self, i: usize) -> [f32; 3] {
        let t = self.physics.bodies[self.blocks[i].body].translation();
        [t.x, t.y, t.z]
    }

    pub fn bowl_position(&self, i: usize) -> [f32; 3] {
        let t = self.physics.bodies[self.bowls[i].body].translation();
        [t.x, t.y, t.z]
    }

    /// Advances one control period with joint speed commands `v` (rad/s)
    /// and the suction on or off. Suction switched on while the cup touches
    /// a block picks up the topmost block it touches; switched off, it lets
    /// go.
    pub fn step(&mut self, v: [f32; 4], suction: bool) {
        arm::command_velocities(&mut self.physics, &self.arm, v);
        self.suction = suction;
        for _ in 0..SUBSTEPS {
            self.physics.step();
            self.update_gripper();
        }
        self.time += CONTROL_PERIOD as f64;
    }

    fn update_gripper(&mut self) {
        match (self.suction, self.held) {
            (true, None) => {
                if let Some(i) = self.touched_block() {
                    self.attach(i);
                }
            }
            (false, Some((_, joint))) => {
                self.physics.remove_impulse_joint(joint);
                self.held = None;
            }
            _ => {}
        }
    }

    /// The topmost block whose collider the cup's sensor intersects, if the
    /// cup is over the middle of its top face: a suction cup seals only on a
    /// face, not on an edge or a corner.
    fn touched_block(&self) -> Option<usize> {
        let cup = self.arm.cup;
        let c = self.cup_position();
        let mut best: Option<(usize, f32)> = None;
        for (i, b) in self.blocks.iter().enumerate() {
            if self.physics.intersection_pair(cup, b.collider) == Some(true) {
                let p = self.block_position(i);
                let centred = (p[0] - c[0]).hypot(p[1] - c[1]) < SEAL_RADIUS;
                if centred && best.is_none_or(|(_, bz)| p[2] > bz) {
                    best = Some((i, p[2]));
                }
            }
        }
        best.map(|(i, _)| i)
    }

    fn attach(&mut self, i: usize) {
        let wrist = self.arm.wrist;
        let body = self.blocks[i].body;
        let rel =
            self.physics.bodies[wrist].position().inverse() * *self.physics.bodies[body].position();
        let joint = FixedJointBuilder::new()
            .local_frame1(rel)
            .local_frame2(Pose::IDENTITY)
            .contacts_enabled(false);
        let h = self.physics.insert_impulse_joint(wrist, body, joint);
        self.held = Some((i, h));
    }

    /// The exact state of the arm and the objects.
    pub fn state(&self) -> TabletopState {
        TabletopState {
            q: self.joint_angles(),
            v: self.joint_velocities(),
            cup: self.cup_position(),
            suction: self.suction,
            held: self.held(),
            blocks: (0..self.blocks.len())
                .map(|i| self.block_position(i))
                .collect(),
            bowls: (0..self.bowls.len())
                .map(|i| self.bowl_position(i))
                .collect(),
        }
    }

    /// Whether every block is at rest (for settling after a release).
    pub fn at_rest(&self) -> bool {
        self.blocks.iter().enumerate().all(|(i, b)| {
            self.held() == Some(i) || {
                let rb = &self.physics.bodies[b.body];
                rb.linvel().length() < 0.01 && rb.angvel().length() < 0.1
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settle(w: &mut TabletopWorld, steps: usize) {
        let q = w.joint_angles();
        for _ in 0..steps {
            let v2 = w.geometry.level_wrist_velocity(&q, 0.0, 0.0);
            w.step([0.0, 0.0, 0.0, v2], w.suction());
        }
    }

    #[test]
    fn objects_rest_where_the_scene_says() {
        let scene = SceneSpec::parse(
            "blocks=red,green,blue,yellow; bowls=green,yellow; stacked=red/blue; in=green/yellow",
        )
        .unwrap();
        let mut w = TabletopWorld::new(&scene, 3);
        settle(&mut w, 50);
        let places = w.state().places(&scene);
        let get = |name: &str| places.iter().find(|(n, _)| n == name).unwrap().1.clone();
        assert_eq!(get("red block"), "on blue block");
        assert_eq!(get("green block"), "yellow bowl");
        assert_eq!(get("blue block"), "table");
        assert_eq!(get("yellow block"), "table");
        assert_eq!(get("green bowl"), "table");
    }

    #[test]
    fn held_block_stays_in_the_gripper_until_released() {
        let scene = SceneSpec::parse("blocks=red,green; bowls=blue; holding=green").unwrap();
        let mut w = TabletopWorld::new(&scene, 1);
        settle(&mut w, 25);
        assert_eq!(w.state().block_place(&scene, 1), "gripper");
        let cup = w.cup_position();
        let b = w.block_position(1);
        assert!(
            (cup[2] - b[2] - BLOCK_SIZE * 0.5).abs() < 0.01,
            "{cup:?} {b:?}"
        );
        w.step([0.0; 4], false);
        settle(&mut w, 40);
        assert_eq!(w.state().block_place(&scene, 1), "table");
    }
}
