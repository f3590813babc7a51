//! `ganglion servo`: smart-servo buses (Dynamixel Protocol 2.0). `scan`
//! pings a range of ids on a serial device and lists the servos that
//! answer (id, model number and name, firmware); `emulate` serves emulated
//! servos on a new pseudo-terminal, prints its path (open it as the bus
//! device) and runs until Ctrl-C; `home-policy` writes the closed-form
//! policy of `robots/arm-servo.toml`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use serde_json::json;

use ganglion::io::serial::{DEFAULT_BAUD, SerialPort, baud_ok, known_bauds};
use ganglion::servo::{Bus, Emulator, EmulatorOptions, parse_ids, table};

#[derive(Args, Debug)]
pub struct ServoArgs {
    #[command(subcommand)]
    pub command: ServoCommand,
}

#[derive(Subcommand, Debug)]
pub enum ServoCommand {
    /// Ping servo ids on a bus and list the ones that answer.
    Scan(ScanArgs),
    /// Serve emulated X-series servos on a new pseudo-terminal until Ctrl-C.
    Emulate(EmulateArgs),
    /// Write the closed-form "home" policy (goal = gain × present position
    /// per joint) as ONNX with its model card.
    HomePolicy(HomePolicyArgs),
}

#[derive(Args, Debug)]
pub struct HomePolicyArgs {
    #[arg(long, default_value_t = 6)]
    pub joints: usize,
    /// Each tick's goal as a fraction of the present position (0 ≤ gain < 1).
    #[arg(long, default_value_t = 0.9)]
    pub gain: f32,
    #[arg(long, default_value = "models/arm-servo-home.onnx")]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct ScanArgs {
    /// The serial device (/dev/ttyUSB0, or an emulator's pty).
    #[arg(long)]
    pub device: PathBuf,
    #[arg(long, default_value_t = DEFAULT_BAUD)]
    pub baud: u32,
    /// Ids to ping: a range `1-20`, a list `1,2,5`, or both.
    #[arg(long, default_value = "1-20")]
    pub ids: String,
    /// How long each ping waits for its reply (ms).
    #[arg(long, default_value_t = 30)]
    pub timeout_ms: u64,
    /// Print one JSON object: {"device", "baud", "scanned", "servos":
    /// [{"id", "model", "model_name", "firmware", "alert"}]}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct EmulateArgs {
    /// Emulated servos, ids 1..=N (unless --ids).
    #[arg(long, default_value_t = 6)]
    pub servos: u8,
    /// Explicit ids instead (`1-6`, `1,3,5`).
    #[arg(long)]
    pub ids: Option<String>,
    /// Time constant of each servo's first-order response (s).
    #[arg(long, default_value_t = 0.05)]
    pub time_constant: f64,
    /// Print JSON lines: {"device": PATH, "ids": [...]} at start, the
    /// counters at the end.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ServoArgs) -> Result<()> {
    match args.command {
        ServoCommand::Scan(a) => scan(a),
        ServoCommand::Emulate(a) => emulate(a),
        ServoCommand::HomePolicy(a) => {
            ganglion::servo::home::export_home_policy(
                &a.out,
                a.joints,
                a.gain,
                &super::command_line(),
            )?;
            println!("wrote {} and its card", a.out.display());
            Ok(())
        }
    }
}

fn scan(args: ScanArgs) -> Result<()> {
    if !baud_ok(args.baud) {
        bail!(
            "baud {} is not supported (known: {})",
            args.baud,
            known_bauds()
        );
    }
    let ids = parse_ids(&args.ids)?;
    let port = SerialPort::open(&args.device, args.baud)?;
    let mut bus = Bus::new(port, Duration::from_millis(args.timeout_ms.max(1)));
    let found = bus.scan(ids.iter().copied());
    if args.json {
        let servos: Vec<_> = found
            .iter()
            .map(|(id, p)| {
                json!({
                    "id": id,
                    "model": p.model,
                    "model_name": table::model_name(p.model),
                    "firmware": p.firmware,
                    "alert": p.alert,
                })
            })
            .collect();
        let out = json!({
            "device": args.device.display().to_string(),
            "baud": args.baud,
            "scanned": ids.len(),
            "servos": servos,
        });
        println!("{out}");
        return Ok(());
    }
    println!(
        "{} at {} baud: {} of {} ids answered",
        args.device.display(),
        args.baud,
        found.len(),
        ids.len()
    );
    for (id, p) in &found {
        println!(
            "  id {id:>3}  model {:>5} ({})  firmware {}{}",
            p.model,
            table::model_name(p.model).unwrap_or("unknown"),
            p.firmware,
            if p.alert {
                "  HARDWARE ERROR (alert bit set)"
            } else {
                ""
            }
        );
    }
    Ok(())
}

fn emulate(args: EmulateArgs) -> Result<()> {
    let ids = match &args.ids {
        Some(text) => parse_ids(text)?,
        None if args.servos >= 1 && args.servos <= ganglion::servo::protocol::MAX_ID => {
            (1..=args.servos).collect()
        }
        None => bail!(
            "--servos must be 1 to {}",
            ganglion::servo::protocol::MAX_ID
        ),
    };
    if !(args.time_constant.is_finite() && args.time_constant > 0.0) {
        bail!(
            "--time-constant must be positive, got {}",
            args.time_constant
        );
    }
    ganglion::signals::install();
    let emu = Emulator::start(EmulatorOptions {
        ids: ids.clone(),
        time_constant_s: args.time_constant,
        ..Default::default()
    })?;
    if args.json {
        println!(
            "{}",
            json!({"device": emu.path().display().to_string(), "ids": ids})
        );
    } else {
        println!(
            "emulating {} servos (ids {:?}) on {}; Ctrl-C to stop",
            ids.len(),
            ids,
            emu.path().display()
        );
    }
    while !ganglion::signals::stop_requested() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let c = emu.stop();
    if args.json {
        println!("{}", json!({"counters": c}));
    } else {
        println!(
            "stopped: {} packets, {} replies, {} bad frames, {} watchdog trips",
            c.packets, c.replies, c.bad_frames, c.watchdog_trips
        );
    }
    Ok(())
}
