//! Every robot is a file: `robots/tabletop.toml` names the arm's URDF and
//! holds its joint limits, speeds and safety; the skills load it; a broken
//! URDF reference, a broken URDF or a joint limit past the URDF's is
//! reported at the config's file, line and field.

use std::path::{Path, PathBuf};

use ganglion::config::{self, ConfigProblem, PlantConfig};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn tabletop_text() -> String {
    let text = std::fs::read_to_string(repo("robots/tabletop.toml")).expect("robots/tabletop.toml");
    // The copy lives elsewhere: point its model at the repository's.
    let models = repo("models");
    text.replace("\"../models/", &format!("\"{}/", models.display()))
}

/// The one problem of `text` (written as `dir/robot.toml`), and the line of
/// the first line of `text` that contains `needle`.
fn only_problem(dir: &Path, text: &str, needle: &str) -> (ConfigProblem, usize) {
    let path = dir.join("robot.toml");
    std::fs::write(&path, text).expect("write the config");
    let errs = config::load(&path).expect_err("the config is broken");
    assert_eq!(errs.problems.len(), 1, "{errs}");
    let line = text
        .lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .expect("needle in text");
    let p = errs.problems[0].clone();
    assert_eq!(p.file, path, "{p}");
    (p, line)
}

#[test]
fn tabletop_file_names_its_urdf_and_limits() {
    let cfg = config::load(&repo("robots/tabletop.toml")).unwrap_or_else(|e| panic!("{e}"));
    let PlantConfig::Sim { kind, urdf, .. } = &cfg.plant else {
        panic!("a sim plant: {:?}", cfg.plant);
    };
    assert_eq!(kind, "sim:tabletop");
    assert!(
        urdf.as_ref()
            .is_some_and(|p| p.ends_with("tabletop.urdf") && p.is_file())
    );
    let mut limits: Vec<(usize, usize, f32, f32)> = cfg
        .safety
        .joint_limits
        .iter()
        .map(|l| (l.actuator, l.sensor, l.min, l.max))
        .collect();
    limits.sort_by_key(|l| l.0);
    assert_eq!(
        limits,
        vec![
            (0, 0, -2.55, 2.55),
            (1, 1, -0.45, 2.15),
            (2, 2, -2.75, -0.05),
            (3, 3, -2.95, 0.95)
        ]
    );
    // The skills run on this file's safety, with their own policy.
    let skill = ganglion::skills::executor::tabletop_config(&repo("models/arm-reach.onnx"), 3)
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(skill.safety, cfg.safety);
    assert!(skill.policy.path.ends_with("arm-reach.onnx"));
    assert!(matches!(skill.plant, PlantConfig::Sim { seed: 3, .. }));
}

/// The one problem of the tabletop file naming `urdf` as its plant's URDF,
/// checked to be at `plant.urdf`'s line.
fn plant_urdf_problem(dir: &Path, urdf: &str) -> ConfigProblem {
    let field = format!("urdf = \"{urdf}\"");
    let text = tabletop_text().replace("urdf = \"tabletop.urdf\"", &field);
    let (p, line) = only_problem(dir, &text, &field);
    assert_eq!(
        (p.field.as_str(), p.line),
        ("plant.urdf", Some(line)),
        "{p}"
    );
    p
}

#[test]
fn broken_urdf_reference_is_reported_at_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = plant_urdf_problem(dir.path(), "missing.urdf");
    assert!(
        p.message.contains("missing.urdf") && p.message.contains("cannot read"),
        "{p}"
    );

    // A URDF that is there but broken: the config's line, and the URDF's
    // own file, line and element.
    let urdf = std::fs::read_to_string(repo("robots/tabletop.urdf")).expect("the shipped URDF");
    let broken = urdf.replace(
        "<limit lower=\"-2.8\" upper=\"0.0\"",
        "<limit lower=\"0.5\" upper=\"0.0\"",
    );
    std::fs::write(dir.path().join("broken.urdf"), &broken).expect("write");
    let p = plant_urdf_problem(dir.path(), "broken.urdf");
    let urdf_line = broken
        .lines()
        .position(|l| l.contains("<joint name=\"elbow\""))
        .map(|i| i + 1)
        .expect("elbow");
    let at = format!("broken.urdf:{urdf_line}: joint \"elbow\"");
    assert!(
        p.message.contains(&at) && p.message.contains("lower"),
        "{p}"
    );

    // A URDF of another chain is refused, naming the joint.
    let bent = urdf.replacen("<axis xyz=\"0 0 1\"/>", "<axis xyz=\"1 0 0\"/>", 1);
    std::fs::write(dir.path().join("bent.urdf"), &bent).expect("write");
    let text = tabletop_text().replace("urdf = \"tabletop.urdf\"", "urdf = \"bent.urdf\"");
    let (p, _) = only_problem(dir.path(), &text, "urdf = \"bent.urdf\"");
    assert!(
        p.message.contains("joint \"base\"") && p.message.contains("axis"),
        "{p}"
    );
}

#[test]
fn joint_limits_are_checked_against_the_urdf_and_the_plant() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        repo("robots/tabletop.urdf"),
        dir.path().join("tabletop.urdf"),
    )
    .expect("copy");
    for (from, to, says) in [
        (
            "elbow = [-2.75, -0.05]",
            "elbow = [-2.75, 0.3]",
            "past the URDF's limits",
        ),
        (
            "wrist = [-2.95, 0.95]",
            "wrist = [0.95, -2.95]",
            "must be below",
        ),
        (
            "base = [-2.55, 2.55]",
            "gripper = [0.0, 1.0]",
            "no actuator `gripper.velocity`",
        ),
        (
            "shoulder = [-0.45, 2.15]",
            "shoulder = [-0.45]",
            "expected 2",
        ),
    ] {
        let text = tabletop_text().replace(from, to);
        let key = to.split(' ').next().unwrap_or_default();
        let (p, line) = only_problem(dir.path(), &text, to);
        assert_eq!(
            (p.field.as_str(), p.line),
            (format!("safety.joint_limits.{key}").as_str(), Some(line)),
            "{p}"
        );
        assert!(p.message.contains(says), "{to}: {p}");
    }
    // A URDF on a plant that is not built from one.
    let cartpole = std::fs::read_to_string(repo("robots/cartpole.toml")).expect("cartpole.toml");
    let models = repo("models");
    let text = cartpole
        .replace("\"../models/", &format!("\"{}/", models.display()))
        .replace("[plant]\n", "[plant]\nurdf = \"tabletop.urdf\"\n");
    let (p, line) = only_problem(dir.path(), &text, "urdf = ");
    assert_eq!(
        (p.field.as_str(), p.line),
        ("plant.urdf", Some(line)),
        "{p}"
    );
    assert!(p.message.contains("not built from a URDF"), "{p}");
}

/// Any URDF arm from a robot file: `robots/arm6.toml` builds a `sim:urdf`
/// plant from `robots/arm6.urdf` (its sensor and actuator names from the
/// URDF's joints), its joint limits are checked against the URDF, and the
/// reaching policy trained on the same arm brings the tool to its target
/// through the control loop and the safety filter (joint limits, workspace).
#[test]
fn any_urdf_arm_runs_from_its_robot_file() {
    use ganglion::assemble::{RunOptions, execute};
    use ganglion::record::read_recording;
    use ganglion::runtime::RunLimit;

    let cfg = config::load(&repo("robots/arm6.toml")).unwrap_or_else(|e| panic!("{e}"));
    let PlantConfig::Sim { kind, drive, .. } = &cfg.plant else {
        panic!("a sim plant: {:?}", cfg.plant);
    };
    assert_eq!(kind, "sim:urdf");
    assert_eq!(drive.map(|d| d.name()), Some("velocity"));
    assert_eq!(cfg.safety.joint_limits.len(), 5);
    assert!(cfg.safety.workspace.is_some());

    let dir = tempfile::tempdir().expect("tempdir");
    let mut reached = 0;
    let seeds = 0..6u64;
    for seed in seeds.clone() {
        let path = dir.path().join(format!("arm6-{seed}.mcap"));
        let opts = RunOptions {
            limit: RunLimit {
                ticks: Some(100),
                ..RunLimit::default()
            },
            record: Some(path.clone()),
            overwrite: true,
            fast: true,
            seed: Some(seed),
        };
        execute(cfg.clone(), &opts).unwrap_or_else(|e| panic!("seed {seed}: {e:#}"));
        let rec = read_recording(&path).expect("read the recording");
        let at = |name: &str| {
            rec.sensor_names
                .iter()
                .position(|s| s == name)
                .unwrap_or_else(|| panic!("no sensor {name}: {:?}", rec.sensor_names))
        };
        let err = ["x", "y", "z"].map(|a| at(&format!("error_dm.{a}")));
        let last = rec.ticks.last().expect("ticks");
        // error_dm is 10·(target − tool): 0.1 is 1 cm.
        let e = err
            .iter()
            .map(|&i| last.sensors[i].powi(2))
            .sum::<f32>()
            .sqrt()
            / 10.0;
        eprintln!("seed {seed}: final tool error {:.1} mm", e * 1000.0);
        reached += usize::from(e < 0.01);
    }
    // The policy reaches ~93% of targets within 1 cm in its own env (docs/robots.md).
    assert!(reached >= 4, "{reached} of 6 targets reached within 1 cm");
}

/// `sim:urdf` needs its URDF and a known drive, reported at the field.
#[test]
fn urdf_arm_plant_errors_name_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(repo("robots/arm6.toml"))
        .expect("robots/arm6.toml")
        .replace("\"../models/", &format!("\"{}/", repo("models").display()))
        .replace(
            "\"arm6.urdf\"",
            &format!("\"{}\"", repo("robots/arm6.urdf").display()),
        );
    let (p, line) = only_problem(
        dir.path(),
        &text.replace("drive = \"velocity\"", "drive = \"torque\""),
        "drive = ",
    );
    assert_eq!(
        (p.field.as_str(), p.line),
        ("plant.drive", Some(line)),
        "{p}"
    );
    assert!(p.message.contains("velocity, position, effort"), "{p}");
    let (p, line) = only_problem(
        dir.path(),
        &text.replace("j3_elbow = [-2.55, 0.35]", "j3_elbow = [-2.55, 0.9]"),
        "j3_elbow = [",
    );
    assert_eq!(p.line, Some(line), "{p}");
    assert!(p.message.contains("URDF's limits"), "{p}");
    // A URDF that is no arm (two leaf links: no one tool) is refused by
    // `check`, at plant.urdf, not first by `run`.
    let forked = dir.path().join("forked.urdf");
    std::fs::write(
        &forked,
        r#"<robot name="forked">
  <link name="base"/>
  <link name="a"><inertial><mass value="1"/><inertia ixx="0.01" iyy="0.01" izz="0.01" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <link name="b"><inertial><mass value="1"/><inertia ixx="0.01" iyy="0.01" izz="0.01" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <joint name="ja" type="revolute"><parent link="base"/><child link="a"/><axis xyz="0 0 1"/><limit lower="-1" upper="1" velocity="1" effort="1"/></joint>
  <joint name="jb" type="revolute"><parent link="base"/><child link="b"/><axis xyz="0 0 1"/><limit lower="-1" upper="1" velocity="1" effort="1"/></joint>
</robot>"#,
    )
    .expect("write the URDF");
    let urdf_line = text
        .lines()
        .find(|l| l.starts_with("urdf = "))
        .expect("urdf line");
    let (p, line) = only_problem(
        dir.path(),
        &text.replace(urdf_line, &format!("urdf = \"{}\"", forked.display())),
        "urdf = ",
    );
    assert_eq!(
        (p.field.as_str(), p.line),
        ("plant.urdf", Some(line)),
        "{p}"
    );
    assert!(p.message.contains("leaf links"), "{p}");
}
