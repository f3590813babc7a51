//! Command-line interface: argument definitions (clap) and dispatch. One module
//! per command family.

use anyhow::Result;
use clap::{Parser, Subcommand};

pub mod bench;
pub mod check;
pub mod collect;
pub mod estop;
pub mod eval;
pub mod eval_dt;
pub mod eval_lang;
pub mod eval_tabletop;
pub mod lang;
pub mod lm_bench;
pub mod lm_score;
pub mod models;
pub mod node;
pub mod perception;
pub mod program;
pub mod render;
pub mod replay;
pub mod run;
pub mod say;
pub mod servo;
pub mod sim_camera;
pub mod sim_serve;
pub mod skill;
pub mod tls_args;
pub mod top;
pub mod train;
pub mod train_dt;
pub mod urdf;
pub mod vla;
pub mod worker;

#[derive(Parser, Debug)]
#[command(
    name = "ganglion",
    version,
    about = "Robot control runtime: train policies in rapier3d, run them with tract, safely.",
    long_about = "ganglion trains control policies in rapier3d simulations (PPO), exports them \
to ONNX, and runs them with tract in a closed loop.\n\nStart with `ganglion demo`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a policy in simulation and export it to ONNX with a model card.
    Train(Box<train::TrainArgs>),
    /// Evaluate an ONNX policy for N seeded episodes.
    Eval(eval::EvalArgs),
    /// Run the shipped CartPole policy in the rapier simulation and report.
    Demo(eval::DemoArgs),
    /// Record datasets: behaviour policies (with noise) through the control loop.
    Collect(collect::CollectArgs),
    /// Run the control loop on the robot a config describes (sim plant now).
    Run(run::RunArgs),
    /// Check a recording: re-run the policy on it, or re-simulate it (--resim).
    Replay(replay::ReplayArgs),
    /// Benchmarks against baselines measured in the same run.
    Bench(bench::BenchArgs),
    /// Validate robot config files and report every problem with its line.
    Check(check::CheckArgs),
    /// Run one tabletop skill ("pick up the red block") in the sim and report.
    Skill(skill::SkillArgs),
    /// Measure the tabletop skills, or train their affordance models.
    Skills(skill::SkillsArgs),
    /// A firmware joint node for hardware-in-the-loop (host logic over UDP, or qemu).
    Node(node::NodeArgs),
    /// Language models: fetch them into models/lm/ (pip), check their sha256.
    Models(models::ModelsArgs),
    /// The code planner's language model: `train-coder`.
    Lang(lang::LangArgs),
    /// Score candidate skill texts for an instruction with a language model.
    LmScore(lm_score::LmScoreArgs),
    /// Time scoring 20 candidate skills with the on-device language model.
    LmBench(lm_bench::LmBenchArgs),
    /// Plan an instruction (SayCan: LM relevance × affordance, or the code
    /// planner: a program written by the taught coder, `--planner`) and
    /// execute it on the simulated tabletop.
    Say(say::SayArgs),
    /// Run a program over the robot API (perception, geometry, skills) in
    /// the sandbox on the simulated tabletop; see docs/programs.md.
    Program(program::ProgramArgs),
    /// Evaluate the language layer on a suite of instructions (plan and
    /// execution success per family, planning time per step).
    EvalLang(eval_lang::EvalLangArgs),
    /// One frame of the simulated RGB-D camera on a tabletop scene, as a PNG.
    Render(render::RenderArgs),
    /// Camera perception: train the model on rendered views, or score it.
    Perception(perception::PerceptionArgs),
    /// The vision-language-action policy: train it from demonstrations.
    Vla(vla::VlaArgs),
    /// Simulated robots on the zenoh network (`sim serve`).
    Sim(sim_serve::SimArgs),
    /// Live view of every robot on the zenoh network.
    Top(top::TopArgs),
    /// A rollout worker for distributed training (`train --workers N`).
    Worker(worker::WorkerArgs),
    /// Latch (or --reset) a robot's e-stop over zenoh; waits for the robot to
    /// confirm.
    Estop(estop::EstopArgs),
    /// URDF robot descriptions: `inspect` checks one and lists its links and
    /// joints.
    Urdf(urdf::UrdfArgs),
    /// Smart-servo buses (Dynamixel Protocol 2.0): `scan` a device for
    /// servos, `emulate` servos on a pseudo-terminal.
    Servo(servo::ServoArgs),
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(a) => train::run(*a),
        Command::Eval(a) => eval::run(a),
        Command::Demo(a) => eval::demo(a),
        Command::Collect(a) => collect::run(a),
        Command::Run(a) => run::run(a),
        Command::Replay(a) => replay::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Check(a) => check::run(a),
        Command::Skill(a) => skill::run_skill(a),
        Command::Skills(a) => skill::run_skills(a),
        Command::Node(a) => node::run(a),
        Command::Models(a) => models::run(a),
        Command::Lang(a) => lang::run(a),
        Command::LmScore(a) => lm_score::run(a),
        Command::LmBench(a) => lm_bench::run(a),
        Command::Say(a) => say::run(a),
        Command::Program(a) => program::run(a),
        Command::Render(a) => render::run(a),
        Command::Perception(a) => perception::run(a),
        Command::Vla(a) => vla::run(a),
        Command::EvalLang(a) => eval_lang::run(a),
        Command::Sim(a) => sim_serve::run(a),
        Command::Top(a) => top::run(a),
        Command::Worker(a) => worker::run(a),
        Command::Estop(a) => estop::run(a),
        Command::Urdf(a) => urdf::run(a),
        Command::Servo(a) => servo::run(a),
    }
}

pub use ganglion::repo_path;

/// A progress bar over `len` units (`steps`, `episodes`), hidden with
/// `--json` so machine-read output stays clean.
pub fn progress_bar(len: u64, unit: &str, json: bool) -> indicatif::ProgressBar {
    if json {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{elapsed_precise}} [{{bar:30}}] {{pos}}/{{len}} {unit}  {{msg}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

/// The command line as typed, for model cards and dataset manifests.
pub fn command_line() -> String {
    std::iter::once("ganglion".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ")
}
