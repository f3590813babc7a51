//! `ganglion bench hil`: hardware-in-the-loop against pure simulation. The
//! shipped CartPole policy's mean return over N seeded episodes in pure
//! simulation, over the UDP link to the node logic on the host, over a
//! serial line (a pseudo-terminal: the kernel's tty layer, no wire), and with the
//! firmware in qemu-system-arm (lockstep, so each is deterministic); and the
//! JointCommand → JointState round trip over each link (median, p99).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use serde_json::{Value, json};

use crate::config::{self, RobotConfig};
use crate::io::hil::{NodeHandle, at_address, at_endpoint, returns};
use crate::io::qemu::{QEMU, default_firmware, qemu_available};
use crate::io::{LinkOptions, LinkPlant, NodeBackendKind, NodeClock, NodeOptions};
use crate::runtime::stats::quantile_sorted;
use ganglion_firmware::SafeMode;
use ganglion_sim::Plant;

fn load(path: &Path) -> Result<RobotConfig> {
    config::load(path).map_err(|e| anyhow::anyhow!("{e}"))
}

fn node(backend: NodeBackendKind, clock: NodeClock) -> Result<NodeHandle> {
    node_on(
        crate::io::NodeLink::Udp("127.0.0.1:0".parse()?),
        backend,
        clock,
    )
}

fn node_on(
    link: crate::io::NodeLink,
    backend: NodeBackendKind,
    clock: NodeClock,
) -> Result<NodeHandle> {
    NodeHandle::spawn(NodeOptions {
        link,
        plant: "sim:cartpole".into(),
        seed: 0,
        clock,
        backend,
        max_steps: 500,
        fault: None,
    })
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Median and p99 (µs) of `n` JointCommand → JointState exchanges.
fn latency(node: &NodeHandle, lockstep: bool, n: usize) -> Result<Value> {
    let mut link = LinkPlant::connect(LinkOptions {
        endpoint: node.endpoint.clone(),
        joints: "sim:cartpole".into(),
        lockstep,
        watchdog_us: 1_000_000,
        // A JointState every node tick.
        publish_period_us: 1000,
        safe_mode: SafeMode::Brake,
        timeout: Duration::from_secs(5),
    })?;
    link.reset(0);
    let mut us = Vec::with_capacity(n);
    let mut lost = 0;
    for k in 0..n + 50 {
        match link.round_trip(&[if k % 2 == 0 { 1.0 } else { -1.0 }]) {
            // The first 50 warm up.
            Some(d) if k >= 50 => us.push(d.as_secs_f64() * 1e6),
            Some(_) => {}
            None => lost += 1,
        }
    }
    us.sort_by(f64::total_cmp);
    let at = |q: f64| (!us.is_empty()).then(|| quantile_sorted(&us, q));
    Ok(json!({
        "exchanges": us.len(),
        "lost": lost,
        "median_us": at(0.5),
        "p99_us": at(0.99),
    }))
}

pub fn hil(
    episodes: usize,
    seed: u64,
    exchanges: usize,
    qemu: bool,
    firmware: Option<PathBuf>,
) -> Result<Value> {
    let sim_cfg = load(&crate::repo_path("robots/cartpole.toml"))?;
    let hil_cfg = load(&crate::repo_path("robots/cartpole-hil.toml"))?;
    let max_ticks = 600;
    eprintln!("pure simulation: {episodes} episodes");
    let sim = returns(&sim_cfg, seed, episodes, max_ticks)?;

    eprintln!("HIL over UDP (node logic on the host): {episodes} episodes");
    let udp_node = node(NodeBackendKind::Host, NodeClock::Lockstep)?;
    let udp = returns(
        &at_address(&hil_cfg, udp_node.addr)?,
        seed,
        episodes,
        max_ticks,
    )?;
    let udp_latency = latency(&udp_node, true, exchanges)?;
    drop(udp_node);
    let rt_node = node(NodeBackendKind::Host, NodeClock::Realtime)?;
    let udp_rt_latency = latency(&rt_node, false, exchanges)?;
    drop(rt_node);

    eprintln!("HIL over a serial line (a pty, node logic on the host): {episodes} episodes");
    let serial_node = node_on(
        crate::io::NodeLink::Pty,
        NodeBackendKind::Host,
        NodeClock::Lockstep,
    )?;
    let serial = returns(
        &at_endpoint(&hil_cfg, &serial_node.endpoint)?,
        seed,
        episodes,
        max_ticks,
    )?;
    let serial_latency = latency(&serial_node, true, exchanges)?;
    drop(serial_node);

    let mut out = json!({
        "episodes": episodes,
        "seed": seed,
        "pure_sim": {"mean_return": mean(&sim), "returns": sim},
        "udp": {
            "mean_return": mean(&udp),
            "ratio_to_sim": mean(&udp) / mean(&sim),
            "returns": udp,
            "latency_lockstep": udp_latency,
            "latency_realtime_node": udp_rt_latency,
        },
        "serial_pty": {
            "mean_return": mean(&serial),
            "ratio_to_sim": mean(&serial) / mean(&sim),
            "returns": serial,
            "latency_lockstep": serial_latency,
        },
    });
    let image = firmware.or_else(default_firmware);
    match (qemu, qemu_available(QEMU), image) {
        (false, _, _) => out["qemu"] = json!({"skipped": "--no-qemu"}),
        (true, false, _) => out["qemu"] = json!({"skipped": format!("{QEMU} not installed")}),
        (true, true, None) => {
            out["qemu"] = json!({"skipped": format!(
                "no firmware image; build it with `{}`", crate::io::qemu::BUILD_COMMAND
            )})
        }
        (true, true, Some(image)) => {
            eprintln!("HIL with the firmware in qemu: {episodes} episodes");
            let backend = NodeBackendKind::Qemu {
                qemu: QEMU.into(),
                firmware: image,
            };
            let q = node(backend, NodeClock::Lockstep)?;
            let rets = returns(&at_address(&hil_cfg, q.addr)?, seed, episodes, max_ticks)?;
            let lat = latency(&q, true, exchanges)?;
            out["qemu"] = json!({
                "mean_return": mean(&rets),
                "ratio_to_sim": mean(&rets) / mean(&sim),
                "returns": rets,
                "latency_lockstep": lat,
            });
        }
    }
    Ok(out)
}

pub fn print(v: &Value) {
    println!(
        "HIL CartPole, {} episodes from seed {} (lockstep):",
        v["episodes"], v["seed"]
    );
    println!(
        "  pure sim        mean return {:.1}",
        v["pure_sim"]["mean_return"].as_f64().unwrap_or(f64::NAN)
    );
    for (name, key) in [
        ("UDP (host node)", "udp"),
        ("serial (pty)", "serial_pty"),
        ("qemu firmware", "qemu"),
    ] {
        let r = &v[key];
        if let Some(why) = r["skipped"].as_str() {
            println!("  {name:<15} skipped: {why}");
            continue;
        }
        println!(
            "  {name:<15} mean return {:.1} ({:.3} of pure sim)",
            r["mean_return"].as_f64().unwrap_or(f64::NAN),
            r["ratio_to_sim"].as_f64().unwrap_or(f64::NAN)
        );
        for (label, l) in [
            ("lockstep", "latency_lockstep"),
            ("realtime node", "latency_realtime_node"),
        ] {
            let lat = &r[l];
            if lat.is_null() {
                continue;
            }
            println!(
                "    JointCommand → JointState ({label}): median {:.0} µs, p99 {:.0} µs over {} exchanges ({} lost)",
                lat["median_us"].as_f64().unwrap_or(f64::NAN),
                lat["p99_us"].as_f64().unwrap_or(f64::NAN),
                lat["exchanges"],
                lat["lost"]
            );
        }
    }
}
