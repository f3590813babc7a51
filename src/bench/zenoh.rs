//! `ganglion bench zenoh`: the command → state round trip through zenoh on
//! loopback (two peer sessions in one process: the controller's
//! `ZenohPlant` and an echo robot that answers each command with a sensor
//! frame), the raw zenoh ping-pong under it, and plain TCP ping-pong as the
//! baseline measured in the same run; then the sensor stream at 1 kHz
//! (delivered rate, losses, inter-arrival p99) and the largest message rate.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ::zenoh::Wait;
use ::zenoh::qos::CongestionControl;
use anyhow::{Context, Result};
use ganglion_sim::Plant;
use serde_json::{Value, json};

use crate::io::zenoh::wire::{Frame, Kind};
use crate::io::zenoh::{Endpoints, Keys, LinkSecurity, ZenohPlant, ZenohPlantOptions, open, zerr};
use crate::runtime::stats::{quantile_sorted, sorted};

fn quantiles(v: Vec<f64>) -> Value {
    let v = sorted(v);
    let q = |p: f64| (quantile_sorted(&v, p) * 10.0).round() / 10.0;
    json!({ "n": v.len(), "p50_us": q(0.5), "p90_us": q(0.9), "p99_us": q(0.99), "max_us": q(1.0) })
}

/// Plain TCP ping-pong, 64-byte messages, on loopback (the baseline).
fn tcp_pingpong(n: usize) -> Result<Value> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        let mut buf = [0u8; 64];
        loop {
            if s.read_exact(&mut buf).is_err() {
                return Ok(());
            }
            s.write_all(&buf)?;
        }
    });
    let mut c = TcpStream::connect(addr)?;
    c.set_nodelay(true)?;
    let mut buf = [0u8; 64];
    let mut rtt = Vec::with_capacity(n);
    for k in 0..n + 100 {
        let t = Instant::now();
        c.write_all(&buf)?;
        c.read_exact(&mut buf)?;
        if k >= 100 {
            rtt.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    drop(c);
    let _ = echo.join();
    Ok(quantiles(rtt))
}

pub fn zenoh_bench(exchanges: usize, stream_seconds: f64) -> Result<Value> {
    let port = crate::io::zenoh::free_local_port()?;
    let ep = format!("tcp/127.0.0.1:{port}");
    let robot = "bench";
    let keys = Keys::new(robot);
    let robot_session = open(
        &Endpoints {
            listen: vec![ep.clone()],
            ..Default::default()
        },
        &LinkSecurity::default(),
        None,
    )?;
    // The echo robot: each command comes back as a sensor frame whose first
    // value is the command's.
    let sensors_pub = zerr(
        robot_session
            .declare_publisher(keys.sensors.clone())
            .congestion_control(CongestionControl::Drop)
            .express(true)
            .wait(),
        "sensor publisher",
    )?;
    let sensors_pub = Arc::new(sensors_pub);
    let echo_pub = sensors_pub.clone();
    let _echo = zerr(
        robot_session
            .declare_subscriber(keys.commands.clone())
            .callback(move |s| {
                if let Ok(f) = Frame::decode(Kind::Commands, &s.payload().to_bytes()) {
                    let v = [f.values[0], 0.0, 0.0, 0.0];
                    let out = Frame::new(f.seq, f.time, 1, &v).to_vec(Kind::Sensors);
                    let _ = echo_pub.put(out).wait();
                }
            })
            .wait(),
        "echo subscriber",
    )?;
    // Publish one frame so the plant's connect sees a sensor stream.
    let hello = std::thread::spawn({
        let p = sensors_pub.clone();
        move || {
            for _ in 0..500 {
                let _ = p
                    .put(Frame::new(0, 0.0, 1, &[-1.0, 0.0, 0.0, 0.0]).to_vec(Kind::Sensors))
                    .wait();
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    });
    let mut plant = ZenohPlant::connect(ZenohPlantOptions {
        robot: robot.into(),
        layout: "sim:cartpole".into(),
        endpoints: Endpoints {
            connect: vec![ep.clone()],
            ..Default::default()
        },
        security: LinkSecurity::default(),
        connect_timeout: Duration::from_secs(10),
    })?;
    let _ = hello.join();

    // 1. Command → state through the plant (the control loop's path).
    let mut values = [0.0f32; 4];
    let mut stamps = [0.0f64; 4];
    let mut rtt = Vec::with_capacity(exchanges);
    let mut lost = 0u64;
    for k in 0..exchanges + 200 {
        let tag = (k + 1) as f32;
        let t = Instant::now();
        plant.write_commands(&[tag]);
        let give_up = t + Duration::from_millis(500);
        loop {
            plant.read_sensors(&mut values, &mut stamps);
            if values[0] == tag {
                if k >= 200 {
                    rtt.push(t.elapsed().as_secs_f64() * 1e6);
                }
                break;
            }
            if Instant::now() > give_up {
                lost += 1;
                break;
            }
            std::hint::spin_loop();
        }
    }
    let plant_rtt = quantiles(rtt);
    drop(plant);

    // 2. Raw zenoh ping-pong: put from this thread, echo in the robot's
    // callback, the answer lands in a callback that stores an atomic.
    let ctl = open(
        &Endpoints {
            connect: vec![ep.clone()],
            ..Default::default()
        },
        &LinkSecurity::default(),
        None,
    )?;
    crate::io::zenoh::wait_for_peer(&ctl, Duration::from_secs(10))?;
    let got = Arc::new(AtomicU64::new(0));
    let _rx = {
        let got = got.clone();
        zerr(
            ctl.declare_subscriber(keys.sensors.clone())
                .callback(move |s| {
                    if let Ok(f) = Frame::decode(Kind::Sensors, &s.payload().to_bytes()) {
                        got.store(f.values[0] as u64, Ordering::Release);
                    }
                })
                .wait(),
            "ping subscriber",
        )?
    };
    let cmd_pub = zerr(
        ctl.declare_publisher(keys.commands.clone())
            .congestion_control(CongestionControl::Drop)
            .express(true)
            .wait(),
        "ping publisher",
    )?;
    std::thread::sleep(Duration::from_millis(200));
    let mut raw = Vec::with_capacity(exchanges);
    for k in 0..exchanges + 200 {
        let tag = (k + 1) as u64;
        let t = Instant::now();
        let _ = cmd_pub
            .put(Frame::new(tag, 0.0, 0, &[tag as f32]).to_vec(Kind::Commands))
            .wait();
        let give_up = t + Duration::from_millis(500);
        while got.load(Ordering::Acquire) != tag && Instant::now() < give_up {
            std::hint::spin_loop();
        }
        if k >= 200 && got.load(Ordering::Acquire) == tag {
            raw.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    let raw_rtt = quantiles(raw);

    // 3. The sensor stream at 1 kHz, then as fast as it goes.
    let count = Arc::new(AtomicU64::new(0));
    let gaps: Arc<std::sync::Mutex<Vec<f64>>> = Arc::default();
    let stream_key = format!("ganglion/{robot}/stream");
    let _stream_rx = {
        let count = count.clone();
        let gaps = gaps.clone();
        let mut last: Option<Instant> = None;
        zerr(
            ctl.declare_subscriber(stream_key.clone())
                .callback_mut(move |s| {
                    let now = Instant::now();
                    if Frame::decode(Kind::Sensors, &s.payload().to_bytes()).is_ok() {
                        count.fetch_add(1, Ordering::Relaxed);
                        if let (Some(l), Ok(mut g)) = (last, gaps.lock()) {
                            g.push(now.duration_since(l).as_secs_f64() * 1e6);
                        }
                        last = Some(now);
                    }
                })
                .wait(),
            "stream subscriber",
        )?
    };
    let stream_pub = zerr(
        robot_session
            .declare_publisher(stream_key)
            .congestion_control(CongestionControl::Drop)
            .express(true)
            .wait(),
        "stream publisher",
    )?;
    std::thread::sleep(Duration::from_millis(200));
    let n = (stream_seconds * 1000.0).round() as u64;
    let t0 = Instant::now();
    for k in 0..n {
        let deadline = t0 + Duration::from_micros(1000 * k);
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        }
        let f = Frame::new(k, k as f64 * 1e-3, 1, &[0.1, 0.2, 0.3, 0.4]);
        let _ = stream_pub.put(f.to_vec(Kind::Sensors)).wait();
    }
    let sent_s = t0.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(200));
    let received = count.load(Ordering::Relaxed);
    let gap_q = quantiles(gaps.lock().map(|g| g.clone()).unwrap_or_default());
    // Largest rate: 1 s of back-to-back puts.
    count.store(0, Ordering::Relaxed);
    let t1 = Instant::now();
    let mut burst = 0u64;
    while t1.elapsed() < Duration::from_secs(1) {
        let f = Frame::new(burst, 0.0, 1, &[0.1, 0.2, 0.3, 0.4]);
        let _ = stream_pub.put(f.to_vec(Kind::Sensors)).wait();
        burst += 1;
    }
    let burst_s = t1.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(300));
    let burst_rx = count.load(Ordering::Relaxed);

    let tcp = tcp_pingpong(exchanges).context("TCP baseline")?;
    let ratio = |v: &Value| {
        let a = v["p50_us"].as_f64().unwrap_or(0.0);
        let b = tcp["p50_us"].as_f64().unwrap_or(0.0);
        if b > 0.0 {
            (a / b * 100.0).round() / 100.0
        } else {
            0.0
        }
    };
    let _ = ctl.close().wait();
    let _ = robot_session.close().wait();
    Ok(json!({
        "bench": "zenoh",
        "transport": "tcp loopback, peer mode, two sessions in one process",
        "command_to_state_via_plant": plant_rtt,
        "command_to_state_lost": lost,
        "raw_zenoh_pingpong": raw_rtt,
        "tcp_pingpong_baseline": tcp,
        "plant_p50_over_tcp_p50": ratio(&plant_rtt),
        "raw_p50_over_tcp_p50": ratio(&raw_rtt),
        "stream_1khz": {
            "sent": n,
            "received": received,
            "lost": n.saturating_sub(received),
            "rate_hz": (received as f64 / sent_s * 10.0).round() / 10.0,
            "interarrival": gap_q,
        },
        "max_rate": {
            "sent_per_s": (burst as f64 / burst_s).round(),
            "received_per_s": (burst_rx as f64 / burst_s).round(),
            "payload_bytes": Frame::new(0, 0.0, 0, &[0.0; 4]).encoded_len(),
        },
        "published_figures": {
            "copper-rs": "sub-microsecond in-process task hops; 50-100 µs p50 class between processes on one host (as quoted in the issue)",
            "dora-rs": "50-100 µs p50 class for small messages between nodes on one host (as quoted in the issue)",
        },
    }))
}
