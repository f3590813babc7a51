//! Finding 1: a policy whose outputs are NaN or infinite never drives an
//! actuator. Every action kind (discrete, continuous, Decision Transformer,
//! skills) turns it into a `policy_nan` event and the safe action in the
//! same tick; `eval` refuses to score such a model.

use std::path::Path;
use std::time::Duration;

use ganglion::assemble::build_plant;
use ganglion::config::{self, RobotConfig};
use ganglion::policy::{DtPolicy, ModelCard, OnnxPolicy, Policy};
use ganglion::record::SafetyState;
use ganglion::runtime::{ClockMode, ControlLoop, RunLimit};
use ganglion::sim::SceneSpec;
use ganglion::skills::{Skill, SkillRunner};

use super::{Poison, assert_clean_error, ganglion, poisoned_model, repo, run_within};

const TICKS: u64 = 60;

/// Runs `policy` for `TICKS` ticks and checks that every tick raised
/// `policy_nan`, sent the safe action (zero in these configs) and nothing else.
fn assert_every_tick_safe(cfg: &RobotConfig, policy: Box<dyn Policy>) {
    let plant = build_plant(&cfg.plant).expect("plant");
    let mut lp = ControlLoop::new(
        cfg,
        plant,
        policy,
        ClockMode::Lockstep { paced: false },
        None,
    )
    .expect("loop");
    for t in 0..TICKS {
        lp.run(RunLimit {
            ticks: Some(t + 1),
            ..Default::default()
        });
        let r = lp.last_record();
        assert!(
            r.events.names().any(|n| n == "policy_nan"),
            "tick {t}: events {:?}",
            r.events.names().collect::<Vec<_>>()
        );
        assert_eq!(lp.state(), SafetyState::Safe, "tick {t}");
        assert!(
            lp.last_command().iter().all(|c| *c == 0.0),
            "tick {t}: command {:?}",
            lp.last_command()
        );
    }
    let counts: Vec<_> = lp.filter().counters().filter(|(_, c)| *c > 0).collect();
    assert_eq!(counts, vec![("policy_nan", TICKS)], "{counts:?}");
}

/// A poisoned copy of the shipped `model` run by `load` in the loop of the
/// config `cfg`.
fn poisoned_in_loop(cfg: &str, model: &str, how: Poison, load: impl Fn(&Path) -> Box<dyn Policy>) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config::load(&repo(cfg)).unwrap_or_else(|e| panic!("{e}"));
    let m = poisoned_model(&repo(model), dir.path(), "poisoned", how);
    assert_every_tick_safe(&cfg, load(&m));
}

fn mlp(m: &Path) -> Box<dyn Policy> {
    Box::new(OnnxPolicy::from_card(m).expect("poisoned model loads"))
}

#[test]
fn discrete_nan_and_infinite_logits_send_the_safe_action() {
    for how in [Poison::AllNan, Poison::InfiniteOutput] {
        poisoned_in_loop("robots/cartpole.toml", "models/cartpole-ppo.onnx", how, mlp);
    }
}

#[test]
fn continuous_nan_actions_send_the_safe_action() {
    poisoned_in_loop(
        "robots/reacher.toml",
        "models/reacher-ppo.onnx",
        Poison::AllNan,
        mlp,
    );
}

#[test]
fn decision_transformer_nan_sends_the_safe_action() {
    poisoned_in_loop(
        "robots/cartpole.toml",
        "models/cartpole-dt.onnx",
        Poison::AllNan,
        |m| {
            let card = ModelCard::load_for(m).unwrap();
            Box::new(DtPolicy::load(m, &card, Some(500.0)).expect("poisoned DT loads"))
        },
    );
}

#[test]
fn a_skill_with_a_nan_reaching_policy_moves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let m = poisoned_model(
        &repo("models/arm-reach.onnx"),
        dir.path(),
        "reach-nan",
        Poison::AllNan,
    );
    let scene = SceneSpec::parse("blocks=red,green; bowls=blue").unwrap();
    let mut runner = SkillRunner::new(&scene, 3, &m).expect("runner");
    let before = runner.state().expect("state");
    let run = runner
        .run(&Skill::parse("pick up the red block").unwrap())
        .expect("the skill runs and fails safely");
    assert!(!run.outcome.success(), "{run:?}");
    assert!(
        run.safety_events
            .iter()
            .any(|(n, c)| *n == "policy_nan" && *c > 0),
        "{:?}",
        run.safety_events
    );
    let after = runner.state().expect("state");
    for (a, b) in before.blocks.iter().zip(&after.blocks) {
        let moved = (0..3).map(|k| (a[k] - b[k]).abs()).fold(0.0f32, f32::max);
        assert!(moved < 1e-3, "a block moved by {moved} m");
    }
}

#[test]
fn eval_refuses_to_score_a_nan_model() {
    let dir = tempfile::tempdir().unwrap();
    let m = poisoned_model(
        &repo("models/cartpole-ppo.onnx"),
        dir.path(),
        "nan",
        Poison::AllNan,
    );
    let mut cmd = ganglion();
    cmd.args(["eval", "cartpole", "--episodes", "2", "--policy"])
        .arg(&m);
    let o = run_within(cmd, Duration::from_secs(60));
    assert_clean_error(&o, "not finite");
}

#[test]
fn run_reports_policy_nan_events() {
    let dir = tempfile::tempdir().unwrap();
    let m = poisoned_model(
        &repo("models/cartpole-ppo.onnx"),
        dir.path(),
        "nan",
        Poison::AllNan,
    );
    let cfg = super::cartpole_config_with(dir.path(), "nan", &super::policy_lines(&m, "mlp"));
    let mut cmd = ganglion();
    cmd.args(["run", "--fast", "--ticks", "50", "--json", "--config"])
        .arg(&cfg);
    let o = run_within(cmd, Duration::from_secs(60));
    assert!(o.status.success(), "{}", super::text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["safety_events"]["policy_nan"], 50, "{v}");
    assert_eq!(v["final_state"], "safe", "{v}");
}
