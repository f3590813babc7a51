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
