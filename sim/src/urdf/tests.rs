//! URDF checks, inspection and physics: the shipped files load, each broken
//! one is reported at its element and line, a pendulum swings with the
//! analytic period, and each drive moves its joint.

use std::path::{Path, PathBuf};

use rapier3d::prelude::*;

use super::*;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn model(rel: &str) -> UrdfModel {
    load(&repo(rel)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn pendulum_swings_with_the_small_angle_period() {
    let m = model("robots/pendulum.urdf");
    let mut world = PhysicsWorld::new();
    world.integration_parameters.dt = 1.0 / 1000.0;
    let rig = UrdfRig::build(&mut world, &m, &[JointDrive::Effort]).expect("rig");
    rig.set_positions(&mut world, &[0.05]);
    // Physical pendulum: T = 2π·sqrt((I + m·L²)/(m·g·L)).
    let (mass, l, i) = (1.0f64, 0.5f64, 0.00016f64);
    let analytic = 2.0 * std::f64::consts::PI * ((i + mass * l * l) / (mass * 9.81 * l)).sqrt();
    let mut q = [0.0f32];
    let mut prev = 0.05f32;
    let mut crossings = Vec::new();
    for step in 0..6000 {
        rig.command(&mut world, &[0.0]);
        world.step();
        rig.positions(&world, &mut q);
        if prev < 0.0 && q[0] >= 0.0 {
            // Interpolate the upward zero crossing within the step.
            let f = prev / (prev - q[0]);
            crossings.push((step as f64 + f as f64) * 1e-3);
        }
        prev = q[0];
    }
    assert!(crossings.len() >= 3, "it swings: {crossings:?}");
    let periods: Vec<f64> = crossings.windows(2).map(|w| w[1] - w[0]).collect();
    let period = periods.iter().sum::<f64>() / periods.len() as f64;
    assert!(
        (period - analytic).abs() / analytic < 0.01,
        "period {period:.4} s vs analytic {analytic:.4} s"
    );
    // No damping in the file, none in the swing: the amplitude stays.
    let peak = (0..2000)
        .map(|_| {
            rig.command(&mut world, &[0.0]);
            world.step();
            rig.positions(&world, &mut q);
            q[0].abs()
        })
        .fold(0.0f32, f32::max);
    assert!((peak - 0.05).abs() < 0.002, "amplitude {peak}");
}

#[test]
fn shipped_urdfs_inspect_as_written() {
    let p = model("robots/pendulum.urdf");
    assert_eq!(p.name(), "pendulum");
    let joints = p.joints();
    assert_eq!(joints.len(), 1);
    let h = &joints[0];
    assert_eq!(
        (h.name.as_str(), h.kind, h.parent.as_str(), h.child.as_str()),
        ("hinge", "revolute", "stand", "bob")
    );
    assert_eq!(h.axis, [0.0, 1.0, 0.0]);
    assert_eq!((h.lower, h.upper), (Some(-3.1), Some(3.1)));
    assert_eq!((h.velocity, h.effort), (Some(20.0), Some(5.0)));
    let links = p.links();
    assert_eq!(links[1].name, "bob");
    assert_eq!(links[1].mass, 1.0);
    assert_eq!(links[1].collision, vec!["sphere r=0.02".to_string()]);

    let g = model("tests/fixtures/urdf/gantry.urdf");
    let joints = g.joints();
    let kinds: Vec<(&str, &str)> = joints.iter().map(|j| (j.name.as_str(), j.kind)).collect();
    assert!(kinds.contains(&("slide", "prismatic")), "{kinds:?}");
    assert!(kinds.contains(&("spindle", "continuous")), "{kinds:?}");
    assert!(kinds.contains(&("plate_mount", "fixed")), "{kinds:?}");
    assert_eq!(g.actuated, vec!["slide".to_string(), "spindle".to_string()]);
    let spindle = g
        .joints()
        .into_iter()
        .find(|j| j.name == "spindle")
        .unwrap();
    assert_eq!((spindle.lower, spindle.upper), (None, None));
    assert_eq!((spindle.velocity, spindle.effort), (Some(10.0), Some(2.5)));

    let t = model("robots/tabletop.urdf");
    assert_eq!(t.actuated, ["base", "shoulder", "elbow", "wrist"]);
    assert!(t.warnings.is_empty());
}

/// A broken copy of the pendulum: `from` replaced by `to`.
fn broken(from: &str, to: &str) -> UrdfError {
    let text = std::fs::read_to_string(repo("robots/pendulum.urdf")).unwrap();
    assert!(text.contains(from), "{from}");
    let bad = text.replacen(from, to, 1);
    parse(Path::new("bad.urdf"), &bad).expect_err(to)
}

#[test]
fn malformed_urdf_names_the_element_and_line() {
    let cases = [
        (
            "<child link=\"bob\"/>",
            "<child link=\"bobb\"/>",
            "joint \"hinge\"",
            "child link \"bobb\"",
        ),
        (
            "lower=\"-3.1\"",
            "lower=\"3.5\"",
            "joint \"hinge\"",
            "lower 3.5",
        ),
        (
            "<mass value=\"1.0\"/>",
            "<mass value=\"-1.0\"/>",
            "link \"bob\"",
            "mass",
        ),
        (
            "<axis xyz=\"0 1 0\"/>",
            "<axis xyz=\"0 0 0\"/>",
            "joint \"hinge\"",
            "no direction",
        ),
        (
            "type=\"revolute\"",
            "type=\"floating\"",
            "joint \"hinge\"",
            "not supported",
        ),
        (
            "<link name=\"bob\">",
            "<link name=\"stand\">",
            "link \"stand\"",
            "second link",
        ),
    ];
    for (from, to, element, says) in cases {
        let e = broken(from, to);
        assert_eq!(e.element, element, "{e}");
        assert!(e.message.contains(says), "{e}");
        assert!(e.line.is_some(), "{e}");
        assert!(e.to_string().starts_with("bad.urdf:"), "{e}");
    }
    // Two parents for one link: a loop back to the root.
    let e = broken(
        "</robot>",
        "<joint name=\"back\" type=\"fixed\"><parent link=\"bob\"/><child link=\"stand\"/></joint></robot>",
    );
    assert!(
        e.message.contains("loop") || e.message.contains("root"),
        "{e}"
    );
    // Not XML at all, and not a robot.
    for text in [
        "<robot name=\"x\"><link name=\"a\">",
        "hello",
        "<robot name=\"x\"></robot>",
    ] {
        let e = parse(Path::new("bad.urdf"), text).expect_err(text);
        assert!(!e.message.is_empty(), "{text}");
    }
}

#[test]
fn each_drive_moves_its_joint() {
    let m = model("tests/fixtures/urdf/gantry.urdf");
    let run = |drive: JointDrive, cmd: [f32; 2], steps: usize| {
        let mut world = PhysicsWorld::new();
        world.integration_parameters.dt = 0.01;
        let rig = UrdfRig::build(&mut world, &m, &[drive]).expect("rig");
        for _ in 0..steps {
            rig.command(&mut world, &cmd);
            world.step();
        }
        let (mut q, mut v) = ([0.0f32; 2], [0.0f32; 2]);
        rig.positions(&world, &mut q);
        rig.velocities(&world, &mut v);
        (q, v)
    };
    let (q, _) = run(
        JointDrive::Position {
            stiffness: 400.0,
            damping: 40.0,
        },
        [0.2, 1.0],
        200,
    );
    assert!(
        (q[0] - 0.2).abs() < 0.01 && (q[1] - 1.0).abs() < 0.02,
        "{q:?}"
    );
    let (_, v) = run(JointDrive::Velocity { gain: 100.0 }, [0.3, -2.0], 50);
    assert!(
        (v[0] - 0.3).abs() < 0.02 && (v[1] + 2.0).abs() < 0.05,
        "{v:?}"
    );
    // Effort: the spindle (rotor + plate about z) spins up under 0.01 N·m,
    // and a non-finite command is no effort.
    let (_, v) = run(JointDrive::Effort, [0.0, 0.01], 100);
    assert!(v[1] > 0.1, "{v:?}");
    let (_, v) = run(JointDrive::Effort, [f32::NAN, f32::INFINITY], 50);
    assert!(v[0].abs() < 1e-3 && v[1].abs() < 1e-3, "{v:?}");
}

/// A three-joint arm with tilted joint origins (rpy), for the kinematics.
const TILTED: &str = r#"<robot name="tilted">
  <link name="base"/>
  <link name="a"><inertial><mass value="1"/><inertia ixx="0.01" iyy="0.01" izz="0.01" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <link name="b"><inertial><mass value="1"/><inertia ixx="0.01" iyy="0.01" izz="0.01" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <link name="c"><inertial><mass value="0.5"/><inertia ixx="0.01" iyy="0.01" izz="0.01" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <link name="tip"><collision><geometry><sphere radius="0.01"/></geometry></collision></link>
  <joint name="j1" type="revolute"><parent link="base"/><child link="a"/>
    <origin xyz="0.1 0 0.2" rpy="0.3 0 0.5"/><axis xyz="0 0 1"/><limit lower="-3" upper="3" velocity="1" effort="1"/></joint>
  <joint name="j2" type="prismatic"><parent link="a"/><child link="b"/>
    <origin xyz="0 0.1 0" rpy="0 0.4 0"/><axis xyz="1 1 0"/><limit lower="-1" upper="1" velocity="1" effort="1"/></joint>
  <joint name="j3" type="continuous"><parent link="b"/><child link="c"/>
    <origin xyz="0.3 0 0" rpy="-0.2 0.1 0.7"/><axis xyz="0 1 0"/><limit velocity="1" effort="1"/></joint>
  <joint name="tool" type="fixed"><parent link="c"/><child link="tip"/>
    <origin xyz="0.15 0.02 -0.01" rpy="0 0 0"/></joint>
</robot>"#;

#[test]
fn chain_kinematics_match_the_simulated_links() {
    let tilted = parse(Path::new("tilted.urdf"), TILTED).unwrap_or_else(|e| panic!("{e}"));
    let cases = [
        (model("robots/tabletop.urdf"), "cup"),
        (model("robots/tabletop.urdf"), "forearm"),
        (model("tests/fixtures/urdf/gantry.urdf"), "plate"),
        (tilted, "tip"),
    ];
    let mut rng = crate::rng::Rng::new(5);
    for (m, link) in cases {
        let chain = Chain::new(&m, link).unwrap_or_else(|e| panic!("{e}"));
        let n = m.actuated.len();
        assert_eq!(
            chain.joints().count(),
            chain.joints().collect::<BTreeSet<_>>().len()
        );
        let mut world = PhysicsWorld::new();
        let rig =
            UrdfRig::build(&mut world, &m, &[JointDrive::Velocity { gain: 100.0 }]).expect("rig");
        let body = rig
            .links
            .iter()
            .find(|(name, _)| name == link)
            .map(|(_, b)| *b)
            .expect("the link has a body");
        for _ in 0..20 {
            let q: Vec<f32> = m
                .actuated
                .iter()
                .map(|name| {
                    let j = m
                        .robot
                        .joints
                        .iter()
                        .find(|j| &j.name == name)
                        .expect("joint");
                    let (lo, hi) = match j.joint_type {
                        urdf_rs::JointType::Continuous => (-3.0, 3.0),
                        _ => (j.limit.lower as f32, j.limit.upper as f32),
                    };
                    rng.uniform(lo, hi)
                })
                .collect();
            assert_eq!(q.len(), n);
            rig.set_positions(&mut world, &q);
            let t = world.bodies[body].translation();
            let fk = chain.position(&q);
            for (k, sim) in [t.x, t.y, t.z].into_iter().enumerate() {
                assert!(
                    (fk[k] - sim).abs() < 1e-4,
                    "{link} at {q:?}: fk {fk:?} vs sim {t:?}"
                );
            }
        }
    }
    let m = model("robots/tabletop.urdf");
    let e = Chain::new(&m, "gripper").expect_err("no such link");
    assert!(e.contains("link \"gripper\"") && e.contains("cup"), "{e}");
}
