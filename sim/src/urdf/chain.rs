//! Forward kinematics of a URDF chain: where a link's origin is, in the
//! root link's frame, for a vector of joint positions. Read once from the
//! file, then evaluated without allocation: the safety filter's workspace
//! box runs it every tick on the command's predicted joint positions.

use super::UrdfModel;
use super::urdf_rs::JointType;

type M3 = [[f64; 3]; 3];

/// How one joint on the chain moves its child.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Motion {
    Fixed,
    /// Rotation about the unit `axis` by joint `index`'s position (rad).
    Revolute {
        axis: [f64; 3],
        index: usize,
    },
    /// Translation along the unit `axis` by joint `index`'s position (m).
    Prismatic {
        axis: [f64; 3],
        index: usize,
    },
}

/// One joint: its origin (a fixed transform from the parent link's frame)
/// and then its motion.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Step {
    rotation: M3,
    translation: [f64; 3],
    motion: Motion,
}

/// The joints from the root link to one link.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    link: String,
    steps: Vec<Step>,
}

impl Chain {
    /// The chain from `model`'s root to `link`; joint positions are indexed
    /// like `model.actuated`. An error names a link that is not in the file.
    pub fn new(model: &UrdfModel, link: &str) -> Result<Chain, String> {
        if !model.robot.links.iter().any(|l| l.name == link) {
            let names: Vec<&str> = model.robot.links.iter().map(|l| l.name.as_str()).collect();
            return Err(format!(
                "link \"{link}\" is not in {} (links: {})",
                model.file.display(),
                names.join(", ")
            ));
        }
        let mut steps = Vec::new();
        let mut at = link.to_string();
        // `parse` checked that the joints form a tree: each link has at most
        // one parent joint, and walking up ends at the root.
        while let Some(j) = model.robot.joints.iter().find(|j| j.child.link == at) {
            let axis = unit(*j.axis.xyz);
            let index = model.actuated.iter().position(|n| *n == j.name);
            let motion = match (&j.joint_type, index) {
                (JointType::Revolute | JointType::Continuous, Some(index)) => {
                    Motion::Revolute { axis, index }
                }
                (JointType::Prismatic, Some(index)) => Motion::Prismatic { axis, index },
                _ => Motion::Fixed,
            };
            let rpy = *j.origin.rpy;
            steps.push(Step {
                rotation: rpy_matrix(rpy[0], rpy[1], rpy[2]),
                translation: *j.origin.xyz,
                motion,
            });
            at = j.parent.link.clone();
        }
        steps.reverse();
        Ok(Chain {
            link: link.to_string(),
            steps,
        })
    }

    pub fn link(&self) -> &str {
        &self.link
    }

    /// Indices (into the joint vector) of the movable joints on the chain,
    /// root first.
    pub fn joints(&self) -> impl Iterator<Item = usize> + '_ {
        self.steps.iter().filter_map(|s| match s.motion {
            Motion::Fixed => None,
            Motion::Revolute { index, .. } | Motion::Prismatic { index, .. } => Some(index),
        })
    }

    /// The link's origin (m, root frame) at joint positions `q` (a missing
    /// or non-finite entry counts as 0; the caller checks its inputs).
    pub fn position(&self, q: &[f32]) -> [f32; 3] {
        let mut r: M3 = IDENTITY;
        let mut p = [0.0f64; 3];
        let at = |i: usize| {
            let v = q.get(i).copied().unwrap_or(0.0) as f64;
            if v.is_finite() { v } else { 0.0 }
        };
        for s in &self.steps {
            let t = apply(&r, s.translation);
            p = [p[0] + t[0], p[1] + t[1], p[2] + t[2]];
            r = mul(&r, &s.rotation);
            match s.motion {
                Motion::Fixed => {}
                Motion::Revolute { axis, index } => r = mul(&r, &axis_angle(axis, at(index))),
                Motion::Prismatic { axis, index } => {
                    let t = apply(&r, axis.map(|a| a * at(index)));
                    p = [p[0] + t[0], p[1] + t[1], p[2] + t[2]];
                }
            }
        }
        p.map(|v| v as f32)
    }
}

const IDENTITY: M3 = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

fn unit(a: [f64; 3]) -> [f64; 3] {
    let n = (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt();
    if n > 0.0 && n.is_finite() {
        a.map(|v| v / n)
    } else {
        [1.0, 0.0, 0.0]
    }
}

fn mul(a: &M3, b: &M3) -> M3 {
    let mut c = [[0.0; 3]; 3];
    for (i, row) in c.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    c
}

fn apply(a: &M3, v: [f64; 3]) -> [f64; 3] {
    [0, 1, 2].map(|i| a[i][0] * v[0] + a[i][1] * v[1] + a[i][2] * v[2])
}

/// Rotation by `angle` about the unit `axis` (Rodrigues).
fn axis_angle(axis: [f64; 3], angle: f64) -> M3 {
    let (s, c) = angle.sin_cos();
    let t = 1.0 - c;
    let [x, y, z] = axis;
    [
        [t * x * x + c, t * x * y - s * z, t * x * z + s * y],
        [t * x * y + s * z, t * y * y + c, t * y * z - s * x],
        [t * x * z - s * y, t * y * z + s * x, t * z * z + c],
    ]
}

/// URDF's fixed-axis roll, pitch, yaw: `Rz(yaw)·Ry(pitch)·Rx(roll)`.
fn rpy_matrix(roll: f64, pitch: f64, yaw: f64) -> M3 {
    let rx = axis_angle([1.0, 0.0, 0.0], roll);
    let ry = axis_angle([0.0, 1.0, 0.0], pitch);
    let rz = axis_angle([0.0, 0.0, 1.0], yaw);
    mul(&rz, &mul(&ry, &rx))
}
