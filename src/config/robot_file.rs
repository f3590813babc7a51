//! The robot's own description in its config: `plant.urdf`, the URDF a
//! simulated plant is built from; `[safety.joint_limits]`, position limits
//! per joint, checked against the URDF's when there is one; and
//! `[safety.workspace]`, a box the tool link stays in (its forward
//! kinematics from the URDF). Every
//! problem names the config's file, line and field; a problem inside the
//! URDF also names the URDF's file, line and element.

use std::path::{Path, PathBuf};

use ganglion_sim::Plant;
use ganglion_sim::tabletop::arm::TabletopArm;
use ganglion_sim::urdf::urdf_rs::JointType;
use ganglion_sim::urdf::{Chain, DriveKind, UrdfModel, UrdfPlant};

use super::policy::path_value;
use super::reader::{Reporter, Table};
use super::types::{JointLimit, PlantConfig, WorkspaceBox, WorkspaceJoint};
use super::validate::{Signature, floats};
use crate::record::tick::{MAX_ACT, MAX_SENSORS};

/// The plant kinds this build can build from a URDF.
pub const URDF_PLANTS: &[&str] = &["sim:tabletop", URDF_ARM];

/// The plant kind of any URDF arm (`ganglion_sim::urdf::UrdfPlant`).
pub const URDF_ARM: &str = "sim:urdf";

/// `[plant] kind = "sim:urdf"`: `urdf` (required), `drive` (velocity,
/// position or effort; default velocity), `seed`, `pace`. The signature
/// comes from the URDF's joints.
pub(crate) fn urdf_arm_plant(
    rep: &mut Reporter,
    t: &Table<'_>,
    base: &Path,
) -> (
    Option<PlantConfig>,
    Option<Signature>,
    Option<Option<PlantUrdf>>,
) {
    t.check_keys(rep, &["kind", "seed", "pace", "urdf", "drive"]);
    let (seed, pace) = super::validate::seed_and_pace(rep, t);
    let drive = match t.get("drive") {
        None => Some(DriveKind::Velocity),
        Some(item) => item.str(rep).and_then(|s| {
            let d = DriveKind::parse(s);
            if d.is_none() {
                let known = DriveKind::NAMES.join(", ");
                item.report(rep, format!("unknown drive {s:?} (known: {known})"));
            }
            d
        }),
    };
    let urdf = t.require(rep, "urdf");
    let path = urdf.as_ref().and_then(|item| {
        let p = path_value(rep, item, base)?;
        match ganglion_sim::urdf::load(&p) {
            Ok(model) => Some((p, model, item.clone())),
            Err(e) => {
                item.report(rep, e.to_string());
                None
            }
        }
    });
    let (Some((path, model, item)), Some(drive), Some(seed), Some(pace)) =
        (path, drive, seed, pace)
    else {
        return (None, None, Some(None));
    };
    // Built once here, so what `run` would refuse (no single chain to the
    // tool, a joint without a velocity limit) is reported at `plant.urdf`.
    let plant = match UrdfPlant::from_model(&model, drive) {
        Ok(p) => p,
        Err(e) => {
            item.report(rep, e);
            return (None, None, Some(None));
        }
    };
    let (sensors, actuators) = (plant.sensor_names(), plant.actuator_names());
    if sensors.len() > MAX_SENSORS || actuators.len() > MAX_ACT {
        let msg = format!(
            "this URDF gives {} sensors and {} actuators, more than this build supports \
             ({MAX_SENSORS} and {MAX_ACT})",
            sensors.len(),
            actuators.len()
        );
        item.report(rep, msg);
        return (None, None, Some(None));
    }
    let sig = Signature {
        kind: URDF_ARM.to_string(),
        sensors,
        actuators,
    };
    let config = PlantConfig::Sim {
        kind: URDF_ARM.to_string(),
        seed,
        pace,
        urdf: Some(path.clone()),
        drive: Some(drive),
    };
    (
        Some(config),
        Some(sig),
        Some(Some(PlantUrdf { path, model })),
    )
}

/// A plant's URDF: where it is, and the model read from it.
#[derive(Clone, Debug)]
pub(crate) struct PlantUrdf {
    pub(crate) path: PathBuf,
    pub(crate) model: UrdfModel,
}

impl PlantUrdf {
    /// Position limits of joint `name` (`None`: no such joint, or one
    /// that turns without end).
    fn limits(&self, name: &str) -> Option<[f32; 2]> {
        let j = self.model.robot.joints.iter().find(|j| j.name == name)?;
        matches!(j.joint_type, JointType::Revolute | JointType::Prismatic)
            .then(|| [j.limit.lower as f32, j.limit.upper as f32])
    }
}

/// `plant.urdf` of a `kind` plant: `None` when absent, `Some(None)` after
/// reporting a problem.
pub(crate) fn plant_urdf(
    rep: &mut Reporter,
    t: &Table<'_>,
    kind: Option<&str>,
    base: &Path,
) -> Option<Option<PlantUrdf>> {
    let item = t.get("urdf")?;
    let path = path_value(rep, &item, base);
    let kind = kind?;
    if !URDF_PLANTS.contains(&kind) {
        item.report(
            rep,
            format!(
                "plant kind `{kind}` is not built from a URDF (this build reads one for: {})",
                URDF_PLANTS.join(", ")
            ),
        );
        return Some(None);
    }
    let path = path?;
    match TabletopArm::load(&path) {
        Ok(arm) => Some(Some(PlantUrdf {
            path,
            model: arm.model,
        })),
        Err(e) => {
            item.report(rep, e);
            Some(None)
        }
    }
}

/// `[safety.joint_limits]`: `joint = [min, max]` (rad or m) for each
/// speed-commanded joint: the actuator `joint.velocity` and the sensor
/// `joint.position`. Within the URDF's limits when the plant has one.
/// `Some(empty)` when absent, `None` after reporting a problem.
pub(crate) fn joint_limits(
    rep: &mut Reporter,
    safety: &Table<'_>,
    actuators: Option<&[String]>,
    sig: Option<&Signature>,
    urdf: Option<&PlantUrdf>,
) -> Option<Vec<JointLimit>> {
    let Some(item) = safety.get("joint_limits") else {
        return Some(Vec::new());
    };
    let table = item.table(rep)?;
    let (actuators, sig) = (actuators?, sig?);
    let mut ok = true;
    let mut limits = Vec::new();
    for (joint, item) in table.entries() {
        let Some(values) = floats(rep, &item, Some((2, "[min, max]"))) else {
            ok = false;
            continue;
        };
        let [min, max] = [values.values[0], values.values[1]];
        if min >= max {
            item.report(rep, format!("min {min} must be below max {max}"));
            ok = false;
            continue;
        }
        let actuator_name = format!("{joint}.velocity");
        let sensor_name = format!("{joint}.position");
        let Some(actuator) = actuators.iter().position(|a| *a == actuator_name) else {
            item.report(
                rep,
                format!(
                    "no actuator `{actuator_name}` in action.actuators (joint limits bound a \
                     joint's speed command)"
                ),
            );
            ok = false;
            continue;
        };
        let Some(sensor) = sig.sensors.iter().position(|s| *s == sensor_name) else {
            item.report(
                rep,
                format!("plant kind `{}` has no sensor `{sensor_name}`", sig.kind),
            );
            ok = false;
            continue;
        };
        if let Some(urdf) = urdf
            && let Some([lo, hi]) = urdf.limits(joint)
            && (min < lo || max > hi)
        {
            item.report(
                rep,
                format!(
                    "[{min}, {max}] goes past the URDF's limits [{lo}, {hi}] for joint \
                     \"{joint}\" ({})",
                    urdf.path.display()
                ),
            );
            ok = false;
            continue;
        }
        limits.push(JointLimit {
            actuator,
            sensor,
            min,
            max,
            margin: 0.0,
        });
    }
    ok.then_some(limits)
}

/// `[safety.workspace]`: `link` (a URDF link, the tool), `min` and `max`
/// (m, the URDF root's frame). Needs `plant.urdf`; every movable joint on
/// the chain needs a `joint.position` sensor. `Some(None)` when absent,
/// `None` after reporting a problem.
pub(crate) fn workspace(
    rep: &mut Reporter,
    safety: &Table<'_>,
    actuators: Option<&[String]>,
    sig: Option<&Signature>,
    urdf: Option<&Option<PlantUrdf>>,
) -> Option<Option<WorkspaceBox>> {
    let Some(item) = safety.get("workspace") else {
        return Some(None);
    };
    let t = item.table(rep)?;
    t.check_keys(rep, &["link", "min", "max"]);
    let link = t
        .require(rep, "link")
        .and_then(|i| i.str(rep).map(|s| (s, i)));
    let corner = |rep: &mut Reporter, key: &str| {
        t.require(rep, key)
            .and_then(|i| floats(rep, &i, Some((3, "x, y, z in metres"))))
    };
    let (min, max) = (corner(rep, "min"), corner(rep, "max"));
    let urdf = match urdf {
        Some(Some(urdf)) => urdf,
        // Given but broken: reported at plant.urdf.
        Some(None) => return None,
        None => {
            item.report(
                rep,
                "needs plant.urdf (the tool's forward kinematics come from the URDF)",
            );
            return None;
        }
    };
    let ((link, link_item), min, max) = (link?, min?, max?);
    let mut ok = true;
    for k in 0..3 {
        if min.values[k] >= max.values[k] {
            let msg = format!("must be < safety.workspace.max[{k}] ({})", max.values[k]);
            min.items[k].report(rep, msg);
            ok = false;
        }
    }
    let chain = match Chain::new(&urdf.model, link) {
        Ok(c) => c,
        Err(e) => {
            link_item.report(rep, e);
            return None;
        }
    };
    let (actuators, sig) = (actuators?, sig?);
    let mut joints = Vec::new();
    for index in chain.joints() {
        let name = &urdf.model.actuated[index];
        let position = format!("{name}.position");
        let Some(sensor) = sig.sensors.iter().position(|s| *s == position) else {
            link_item.report(
                rep,
                format!(
                    "joint \"{name}\" on the chain to \"{link}\" has no sensor `{position}` in plant kind `{}`",
                    sig.kind
                ),
            );
            ok = false;
            continue;
        };
        let speed = format!("{name}.velocity");
        let actuator = actuators
            .iter()
            .position(|a| *a == speed)
            .map(|a| (a, true))
            .or_else(|| {
                actuators
                    .iter()
                    .position(|a| *a == position)
                    .map(|a| (a, false))
            });
        joints.push(WorkspaceJoint {
            index,
            sensor,
            actuator,
        });
    }
    let corner = |f: &super::validate::Floats<'_>| [f.values[0], f.values[1], f.values[2]];
    ok.then(|| {
        Some(WorkspaceBox {
            min: corner(&min),
            max: corner(&max),
            chain,
            joints,
        })
    })
}
