//! `ganglion urdf inspect FILE [--json]`: checks a URDF and lists its links
//! and joints (types, axes, limits, masses); a malformed file is reported at
//! its line and element.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use clap::{Args, Subcommand};
use serde_json::json;

use ganglion_sim::urdf::{self, JointInfo, UrdfModel};

#[derive(Args, Debug)]
pub struct UrdfArgs {
    #[command(subcommand)]
    pub command: UrdfCommand,
}

#[derive(Subcommand, Debug)]
pub enum UrdfCommand {
    /// Check a URDF file and list its links and joints.
    Inspect(InspectArgs),
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The URDF file.
    pub file: PathBuf,
    /// Print one JSON object: {"robot", "links": [...], "joints": [{"name",
    /// "type", "parent", "child", "axis", "lower", "upper", "velocity",
    /// "effort"}], "actuated": [...], "warnings": [...]}.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: UrdfArgs) -> Result<()> {
    match args.command {
        UrdfCommand::Inspect(a) => inspect(a),
    }
}

fn inspect(args: InspectArgs) -> Result<()> {
    let model = urdf::load(&args.file).map_err(|e| anyhow!("{e}"))?;
    if args.json {
        println!("{}", to_json(&model));
        return Ok(());
    }
    let links = model.links();
    let joints = model.joints();
    println!(
        "{}: robot \"{}\", {} links, {} joints ({} movable)",
        args.file.display(),
        model.name(),
        links.len(),
        joints.len(),
        model.actuated.len()
    );
    println!("links:");
    for l in &links {
        let shapes = if l.collision.is_empty() {
            "no collision shape".to_string()
        } else {
            l.collision.join(", ")
        };
        println!(
            "  {:<16} {:>8.3} kg  com ({:.3}, {:.3}, {:.3})  {shapes}",
            l.name, l.mass, l.com[0], l.com[1], l.com[2]
        );
    }
    println!("joints:");
    for j in &joints {
        println!("  {}", joint_line(j));
    }
    for w in &model.warnings {
        println!("warning: {w}");
    }
    Ok(())
}

fn joint_line(j: &JointInfo) -> String {
    let mut s = format!("{:<14} {:<10} {} -> {}", j.name, j.kind, j.parent, j.child);
    if j.kind != "fixed" {
        s += &format!("  axis ({}, {}, {})", j.axis[0], j.axis[1], j.axis[2]);
    }
    if let (Some(lo), Some(hi)) = (j.lower, j.upper) {
        s += &format!("  [{lo}, {hi}]");
    }
    let unit = if j.kind == "prismatic" {
        ("m/s", "N")
    } else {
        ("rad/s", "N·m")
    };
    if let Some(v) = j.velocity {
        s += &format!("  ≤ {v} {}", unit.0);
    }
    if let Some(e) = j.effort {
        s += &format!("  ≤ {e} {}", unit.1);
    }
    s
}

fn to_json(model: &UrdfModel) -> serde_json::Value {
    let links: Vec<_> = model
        .links()
        .iter()
        .map(|l| json!({"name": l.name, "mass": l.mass, "com": l.com, "collision": l.collision}))
        .collect();
    let joints: Vec<_> = model
        .joints()
        .iter()
        .map(|j| {
            json!({
                "name": j.name, "type": j.kind, "parent": j.parent, "child": j.child,
                "axis": j.axis, "origin": j.origin, "lower": j.lower, "upper": j.upper,
                "velocity": j.velocity, "effort": j.effort,
            })
        })
        .collect();
    json!({
        "robot": model.name(),
        "links": links,
        "joints": joints,
        "actuated": model.actuated,
        "warnings": model.warnings,
    })
}
