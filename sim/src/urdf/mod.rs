//! URDF robots: read a URDF file, check it (every problem with its file,
//! line and element: a joint naming a link that is not there, a limit with
//! lower above upper, a negative mass, a loop), describe it for `ganglion
//! urdf inspect`, and build it into a rapier world (`rig`).
//!
//! Parsing is `urdf-rs` through `rapier3d-urdf` (rapier's own loader); the
//! checks here run first, because that loader indexes by name and would
//! panic on a dangling reference.

pub mod chain;
pub mod plant;
pub mod reach;
pub mod rig;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

pub use chain::Chain;
pub use plant::UrdfPlant;
pub use rapier3d_urdf::urdf_rs;
pub use reach::{DriveKind, UrdfReach};
pub use rig::{JointDrive, UrdfRig};

use urdf_rs::{Geometry, JointType, Robot};

/// The joint kinds a ganglion robot may use.
pub const JOINT_TYPES: [&str; 4] = ["revolute", "continuous", "prismatic", "fixed"];

/// A problem with a URDF file: where, which element, what.
#[derive(Clone, Debug, PartialEq)]
pub struct UrdfError {
    pub file: PathBuf,
    /// 1-based line of the element, when it can be found in the text.
    pub line: Option<usize>,
    /// The element, e.g. `joint "elbow"` or `link "bob"`; empty for the file.
    pub element: String,
    pub message: String,
}

impl fmt::Display for UrdfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.element.is_empty() {
            write!(f, ": {}", self.element)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for UrdfError {}

/// A checked URDF robot.
#[derive(Clone, Debug)]
pub struct UrdfModel {
    pub file: PathBuf,
    pub robot: Robot,
    /// The movable joints (revolute, continuous, prismatic) from the root
    /// outwards, parents before children: the order of a rig's joint vector.
    pub actuated: Vec<String>,
    /// What the model leaves out (a collision mesh this build does not load).
    pub warnings: Vec<String>,
}

/// One link as `inspect` reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkInfo {
    pub name: String,
    pub mass: f64,
    /// Centre of mass in the link frame (m).
    pub com: [f64; 3],
    /// Collision shapes, e.g. `sphere r=0.02`.
    pub collision: Vec<String>,
}

/// One joint as `inspect` reports it. Limits the type has no use for are
/// `None` (a continuous joint has no position limits, a fixed joint none).
#[derive(Clone, Debug, PartialEq)]
pub struct JointInfo {
    pub name: String,
    pub kind: &'static str,
    pub parent: String,
    pub child: String,
    pub axis: [f64; 3],
    pub origin: [f64; 3],
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    pub velocity: Option<f64>,
    pub effort: Option<f64>,
}

pub fn joint_kind(t: &JointType) -> &'static str {
    match t {
        JointType::Revolute => "revolute",
        JointType::Continuous => "continuous",
        JointType::Prismatic => "prismatic",
        JointType::Fixed => "fixed",
        JointType::Floating => "floating",
        JointType::Planar => "planar",
        JointType::Spherical => "spherical",
    }
}

/// Reads and checks the URDF at `path`.
pub fn load(path: &Path) -> Result<UrdfModel, UrdfError> {
    let text = std::fs::read_to_string(path).map_err(|e| UrdfError {
        file: path.to_path_buf(),
        line: None,
        element: String::new(),
        message: format!("cannot read: {e}"),
    })?;
    parse(path, &text)
}

/// Parses and checks URDF `text`; `file` names it in errors.
pub fn parse(file: &Path, text: &str) -> Result<UrdfModel, UrdfError> {
    let err = |element: String, message: String| UrdfError {
        file: file.to_path_buf(),
        line: element_line(text, &element),
        element,
        message,
    };
    let robot = urdf_rs::read_from_string(text)
        .map_err(|e| err(String::new(), format!("not a valid URDF: {e}")))?;
    let mut links = BTreeSet::new();
    for l in &robot.links {
        let el = format!("link \"{}\"", l.name);
        if !links.insert(l.name.as_str()) {
            return Err(err(el, "a second link with this name".into()));
        }
        let m = l.inertial.mass.value;
        if !m.is_finite() || m < 0.0 {
            return Err(err(el, format!("mass {m} must be finite and >= 0")));
        }
        let i = &l.inertial.inertia;
        let diag = [i.ixx, i.iyy, i.izz];
        let all = [i.ixx, i.iyy, i.izz, i.ixy, i.ixz, i.iyz];
        if all.iter().any(|v| !v.is_finite()) || diag.iter().any(|v| *v < 0.0) {
            return Err(err(
                el,
                "inertia must be finite with ixx, iyy, izz >= 0".into(),
            ));
        }
        if l.inertial.origin.xyz.iter().any(|v| !v.is_finite()) {
            return Err(err(el, "inertial origin is not finite".into()));
        }
    }
    if links.is_empty() {
        return Err(err(String::new(), "the robot has no <link>".into()));
    }
    let mut parent_of: BTreeMap<&str, &str> = BTreeMap::new();
    let mut joints = BTreeSet::new();
    for j in &robot.joints {
        let el = format!("joint \"{}\"", j.name);
        if !joints.insert(j.name.as_str()) {
            return Err(err(el, "a second joint with this name".into()));
        }
        let kind = joint_kind(&j.joint_type);
        if !JOINT_TYPES.contains(&kind) {
            return Err(err(
                el,
                format!(
                    "type \"{kind}\" is not supported (supported: {})",
                    JOINT_TYPES.join(", ")
                ),
            ));
        }
        for (role, link) in [("parent", &j.parent.link), ("child", &j.child.link)] {
            if !links.contains(link.as_str()) {
                return Err(err(
                    el,
                    format!("{role} link \"{link}\" is not in the file"),
                ));
            }
        }
        if j.parent.link == j.child.link {
            return Err(err(el, "parent and child are the same link".into()));
        }
        if let Some(other) = parent_of.insert(&j.child.link, &j.name) {
            return Err(err(
                el,
                format!(
                    "link \"{}\" already has a parent joint, \"{other}\"",
                    j.child.link
                ),
            ));
        }
        let finite = j
            .origin
            .xyz
            .iter()
            .chain(j.origin.rpy.iter())
            .all(|v| v.is_finite());
        if !finite {
            return Err(err(el, "origin is not finite".into()));
        }
        if kind != "fixed" {
            let a = j.axis.xyz;
            let norm = (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt();
            if !norm.is_finite() || norm < 1e-9 {
                return Err(err(el, format!("axis {a:?} has no direction")));
            }
        }
        if let Some(d) = &j.dynamics
            && !(d.damping.is_finite()
                && d.damping >= 0.0
                && d.friction.is_finite()
                && d.friction >= 0.0)
        {
            return Err(err(
                el,
                format!(
                    "<dynamics> damping {} and friction {} must be finite and >= 0",
                    d.damping, d.friction
                ),
            ));
        }
        let l = &j.limit;
        if matches!(kind, "revolute" | "prismatic")
            && (!(l.lower.is_finite() && l.upper.is_finite()) || l.lower >= l.upper)
        {
            return Err(err(
                el,
                format!(
                    "<limit> lower {} must be below upper {} (a {kind} joint needs both)",
                    l.lower, l.upper
                ),
            ));
        }
        if !(l.velocity.is_finite() && l.velocity >= 0.0 && l.effort.is_finite() && l.effort >= 0.0)
        {
            return Err(err(
                el,
                format!(
                    "<limit> velocity {} and effort {} must be finite and >= 0",
                    l.velocity, l.effort
                ),
            ));
        }
    }
    let roots: Vec<&str> = links
        .iter()
        .copied()
        .filter(|l| !parent_of.contains_key(l))
        .collect();
    let root = match roots.as_slice() {
        [one] => one.to_string(),
        [] => {
            return Err(err(
                String::new(),
                "the joints form a loop: no root link".into(),
            ));
        }
        many => {
            return Err(err(
                String::new(),
                format!(
                    "{} root links ({}): a robot is one tree",
                    many.len(),
                    many.join(", ")
                ),
            ));
        }
    };
    // Walk from the root: every link reached once, joints parents first.
    let mut actuated = Vec::new();
    let mut reached = BTreeSet::from([root.clone()]);
    let mut frontier = vec![root];
    while let Some(link) = frontier.pop() {
        for j in robot.joints.iter().filter(|j| j.parent.link == link) {
            if reached.insert(j.child.link.clone()) {
                frontier.insert(0, j.child.link.clone());
            }
            if joint_kind(&j.joint_type) != "fixed" {
                actuated.push(j.name.clone());
            }
        }
    }
    if reached.len() != links.len() {
        let lost: Vec<&str> = links
            .iter()
            .copied()
            .filter(|l| !reached.contains(*l))
            .collect();
        return Err(err(
            String::new(),
            format!(
                "links {} are in a loop, not reachable from the root",
                lost.join(", ")
            ),
        ));
    }
    let warnings = robot
        .links
        .iter()
        .flat_map(|l| {
            l.collision.iter().filter_map(move |c| match &c.geometry {
                Geometry::Mesh { filename, .. } => Some(format!(
                    "link \"{}\": collision mesh {filename} is not loaded (this build reads boxes, cylinders, capsules and spheres)",
                    l.name
                )),
                _ => None,
            })
        })
        .collect();
    Ok(UrdfModel {
        file: file.to_path_buf(),
        robot,
        actuated,
        warnings,
    })
}

/// The line of `<link name="x"` / `<joint name="x"` for an element named
/// `link "x"` / `joint "x"`.
fn element_line(text: &str, element: &str) -> Option<usize> {
    let (tag, name) = element.split_once(' ')?;
    let name = name.trim_matches('"');
    let mut offset = 0;
    while let Some(i) = text[offset..].find(&format!("<{tag}")) {
        let at = offset + i;
        let end = text[at..].find('>').map_or(text.len(), |e| at + e);
        let head = &text[at..end];
        if head.contains(&format!("name=\"{name}\"")) || head.contains(&format!("name='{name}'")) {
            return Some(text[..at].matches('\n').count() + 1);
        }
        offset = at + 1;
    }
    None
}

fn shape(g: &Geometry) -> String {
    match g {
        Geometry::Box { size } => format!("box {}x{}x{}", size[0], size[1], size[2]),
        Geometry::Cylinder { radius, length } => format!("cylinder r={radius} l={length}"),
        Geometry::Capsule { radius, length } => format!("capsule r={radius} l={length}"),
        Geometry::Sphere { radius } => format!("sphere r={radius}"),
        Geometry::Mesh { filename, .. } => format!("mesh {filename}"),
    }
}

impl UrdfModel {
    /// The robot's name in the file.
    pub fn name(&self) -> &str {
        &self.robot.name
    }

    /// Links in file order.
    pub fn links(&self) -> Vec<LinkInfo> {
        self.robot
            .links
            .iter()
            .map(|l| LinkInfo {
                name: l.name.clone(),
                mass: l.inertial.mass.value,
                com: l.inertial.origin.xyz.0,
                collision: l.collision.iter().map(|c| shape(&c.geometry)).collect(),
            })
            .collect()
    }

    /// Joints in file order.
    pub fn joints(&self) -> Vec<JointInfo> {
        self.robot
            .joints
            .iter()
            .map(|j| {
                let kind = joint_kind(&j.joint_type);
                let bounded = matches!(kind, "revolute" | "prismatic");
                let moves = kind != "fixed";
                JointInfo {
                    name: j.name.clone(),
                    kind,
                    parent: j.parent.link.clone(),
                    child: j.child.link.clone(),
                    axis: if moves { j.axis.xyz.0 } else { [0.0; 3] },
                    origin: j.origin.xyz.0,
                    lower: bounded.then_some(j.limit.lower),
                    upper: bounded.then_some(j.limit.upper),
                    velocity: moves.then_some(j.limit.velocity),
                    effort: moves.then_some(j.limit.effort),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
