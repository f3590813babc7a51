//! One `eval tabletop` episode, run by the planner with the skills (exact
//! state or camera perception) or by a learned chunked policy driving the
//! control loop from the overhead camera, and judged on the simulator's
//! true state; `eval_tabletop` draws the episodes and tallies them.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::collect_tabletop::overhead_camera;
use super::eval_tabletop::{
    CHECK_EVERY_S, ChunkModelFactory, DEFAULT_CHUNK_EVERY, EpisodeSpec, TabletopEvalOptions,
};
use crate::camera::{CameraRig, ImageFrame};
use crate::lang::saycan::Plan;
use crate::lang::service::{PlannerParts, plan_symbolic_in};
use crate::policy::{ChunkModel, ChunkSchedule, ChunkedPolicy, PolicyError, Timing};
use crate::runtime::{ClockMode, ControlLoop, RunLimit, Session, SessionOptions};
use crate::sim::TabletopPlant;
use crate::sim::tabletop::state::ACTUATORS;
use crate::skills::executor::{PROPRIO, RATE_HZ, config_arm, tabletop_config};
use crate::skills::{Places, Skill, SkillRunner};

/// Temporal-ensembling decay for a learned policy's chunks (ACT's 0.01).
const ENSEMBLE_DECAY: f32 = 0.01;

/// How one episode went, and what it cost.
pub(super) struct Outcome {
    pub time_s: Option<f64>,
    pub failure: Option<String>,
    pub policy_s: f64,
    pub control_s: f64,
}

/// The first goal that does not hold in `places`, if any.
fn unmet<'g>(goals: &'g [(String, String)], places: &Places) -> Option<&'g (String, String)> {
    goals
        .iter()
        .find(|(obj, place)| places.get(obj) != Some(place.as_str()))
}

/// The planner and the skills: the plan (from the exact state, or planned
/// again from what the camera sees) is executed skill by skill; the goals
/// are checked on the true state after each skill.
#[allow(clippy::too_many_arguments)]
pub(super) fn run_planner(
    o: &TabletopEvalOptions,
    parts: &mut PlannerParts,
    spec: &EpisodeSpec,
    goals: &[(String, String)],
    plan: Plan,
    plan_s: f64,
    camera: Option<&Path>,
    reach_bytes: &Arc<Vec<u8>>,
) -> Result<Outcome> {
    let mut runner =
        SkillRunner::with_model_bytes(&spec.scene, spec.seed, reach_bytes.clone(), &o.reach)?;
    let mut compute = plan_s;
    let plan = match camera {
        None => plan,
        Some(model) => {
            runner.use_camera(model, spec.seed)?;
            let seen = runner.state()?;
            let seen_scene = runner.scene().clone();
            let t0 = Instant::now();
            let text = &spec.instruction.text;
            let plan = plan_symbolic_in(parts, text, &seen_scene, seen)
                .with_context(|| format!("planning `{text}` from the camera"))?;
            compute += t0.elapsed().as_secs_f64();
            plan
        }
    };
    let mut out = Outcome {
        time_s: None,
        failure: None,
        policy_s: 0.0,
        control_s: 0.0,
    };
    if plan.refused || !plan.success {
        out.failure = Some(format!(
            "the planner did not plan it ({})",
            plan.stopped_because
        ));
    }
    let mut ticks = 0;
    for step in &plan.steps {
        if out.failure.is_some() {
            break;
        }
        let skill = Skill::parse(&step.skill)?;
        if skill == Skill::Done {
            break;
        }
        let run = runner.run(&skill)?;
        ticks += run.steps;
        compute += run.policy_s;
        let t = ticks as f64 / RATE_HZ;
        let places = Places::of(&runner.true_state()?, &spec.scene);
        if unmet(goals, &places).is_none() {
            if t <= o.seconds + 1e-9 {
                out.time_s = Some(t);
            } else {
                out.failure = Some(format!(
                    "the goals held after {t:.1} s, past the {} s limit",
                    o.seconds
                ));
            }
            break;
        }
        if !run.outcome.success() {
            out.failure = Some(format!("`{}`: {:?}", step.skill, run.outcome));
        } else if t > o.seconds {
            out.failure = Some(format!("still running after {} s", o.seconds));
        }
    }
    if out.time_s.is_none() && out.failure.is_none() {
        let places = Places::of(&runner.true_state()?, &spec.scene);
        out.failure = unmet(goals, &places)
            .map(|(obj, place)| format!("{obj} is not at {place} in the final state"));
    }
    out.policy_s = compute + runner.perception_seconds();
    out.control_s = ticks as f64 / RATE_HZ;
    Ok(out)
}

/// A chunk model whose predictions are timed (on whichever thread runs it).
struct Timed {
    model: Box<dyn ChunkModel>,
    ns: Arc<AtomicU64>,
}

impl ChunkModel for Timed {
    fn obs_dim(&self) -> usize {
        self.model.obs_dim()
    }
    fn action_dim(&self) -> usize {
        self.model.action_dim()
    }
    fn horizon(&self) -> usize {
        self.model.horizon()
    }
    fn frame_size(&self) -> Option<(usize, usize)> {
        self.model.frame_size()
    }
    fn predict(
        &mut self,
        obs: &[f32],
        frame: Option<&ImageFrame>,
        chunk: &mut [f32],
    ) -> Result<(), PolicyError> {
        let t0 = Instant::now();
        let r = self.model.predict(obs, frame, chunk);
        let ns = t0.elapsed().as_nanos().min(u64::MAX as u128) as u64;
        self.ns.fetch_add(ns, Ordering::Relaxed);
        r
    }
    fn reset(&mut self) {
        self.model.reset()
    }
}

/// The chunk schedule for `model`: lockstep with `o.latency_ticks`, a
/// request every `o.chunk_every` ticks (default `DEFAULT_CHUNK_EVERY`, at
/// most horizon − latency so a chunk lands before the last runs out).
fn schedule(o: &TabletopEvalOptions, model: &dyn ChunkModel) -> Result<ChunkSchedule> {
    let horizon = model.horizon();
    let latency = o.latency_ticks as usize;
    if horizon <= latency {
        bail!(
            "the model's chunks hold {horizon} actions, used up before the next lands {latency} ticks later: the horizon must exceed --latency-ticks"
        );
    }
    let every = match o.chunk_every {
        Some(e) if e == 0 || e as usize > horizon => {
            bail!("--chunk-every {e} must be between 1 and the model's horizon ({horizon})")
        }
        Some(e) => e,
        None => DEFAULT_CHUNK_EVERY.clamp(1, horizon - latency) as u32,
    };
    Ok(ChunkSchedule {
        every,
        decay: ENSEMBLE_DECAY,
        timing: Timing::Lockstep {
            latency: o.latency_ticks,
        },
    })
}

/// A learned chunked policy in the tabletop control loop with the overhead
/// camera, lockstep, until the goals hold (checked every `CHECK_EVERY_S`)
/// or `o.seconds` of simulated time.
pub(super) fn run_learned(
    o: &TabletopEvalOptions,
    factory: &mut ChunkModelFactory<'_>,
    spec: &EpisodeSpec,
    goals: &[(String, String)],
) -> Result<Outcome> {
    let text = &spec.instruction.text;
    let model =
        factory(text).with_context(|| format!("building the policy's model for `{text}`"))?;
    let camera = overhead_camera(1);
    let (obs, act) = (model.obs_dim(), model.action_dim());
    if obs != PROPRIO || act != ACTUATORS.len() {
        bail!(
            "the policy's model reads {obs} observations and writes {act} actions; the tabletop loop gives {PROPRIO} (the arm's sensors) and takes {} (joint speeds, suction)",
            ACTUATORS.len()
        );
    }
    if let Some((w, h)) = model.frame_size()
        && (w, h) != (camera.width, camera.height)
    {
        bail!(
            "the policy's model reads {w}×{h} frames; the overhead camera gives {}×{}",
            camera.width,
            camera.height
        );
    }
    let schedule = schedule(o, model.as_ref())?;
    let ns = Arc::new(AtomicU64::new(0));
    let policy = ChunkedPolicy::new(
        Box::new(Timed {
            model,
            ns: ns.clone(),
        }),
        schedule,
    );
    let mut cfg = tabletop_config(&o.reach, spec.seed)?;
    cfg.cameras = vec![camera];
    let rig = CameraRig::from_config(&cfg, spec.seed)?;
    let arm = config_arm(&cfg)?;
    let plant = Box::new(TabletopPlant::with_arm(
        Some(spec.scene.clone()),
        spec.seed,
        &arm,
    ));
    let step = CHECK_EVERY_S.min(o.seconds);
    let session = Session::with_cameras(
        &cfg,
        plant,
        Box::new(policy),
        SessionOptions {
            clock: ClockMode::Lockstep { paced: false },
            limit: RunLimit {
                seconds: Some(step),
                ..RunLimit::default()
            },
            record: None,
            realtime_thread: false,
            episode: 0,
            seed: spec.seed,
            plant_kind: "sim:tabletop".into(),
        },
        Some(rig),
    )?;
    let (_, mut lp) = session.run()?;
    let mut out = Outcome {
        time_s: None,
        failure: None,
        policy_s: 0.0,
        control_s: 0.0,
    };
    loop {
        let t = lp.ticks() as f64 / RATE_HZ;
        let places = true_places(&lp)?;
        match unmet(goals, &places) {
            None => {
                out.time_s = Some(t);
                break;
            }
            Some((obj, place)) if t >= o.seconds - 1e-9 => {
                out.failure = Some(format!(
                    "{obj} is not at {place} after {} s{}",
                    o.seconds,
                    safety_note(&lp)
                ));
                break;
            }
            Some(_) => {}
        }
        let before = lp.ticks();
        lp.run(RunLimit {
            seconds: Some(step.min(o.seconds - t)),
            ..RunLimit::default()
        });
        if lp.ticks() == before {
            bail!("the control loop stopped at {t:.2} s of `{text}`");
        }
    }
    out.policy_s = ns.load(Ordering::Relaxed) as f64 * 1e-9;
    out.control_s = lp.ticks() as f64 / RATE_HZ;
    Ok(out)
}

/// Where every object is, in the loop's simulated world.
fn true_places(lp: &ControlLoop) -> Result<Places> {
    let (scene, state) = lp
        .plant()
        .tabletop()
        .context("the tabletop plant reports no world state")?;
    Ok(Places::of(state, scene))
}

/// The safety events of a run, for a failure's message (" (…)" or "").
fn safety_note(lp: &ControlLoop) -> String {
    let events: Vec<String> = lp
        .filter()
        .counters()
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    if events.is_empty() {
        String::new()
    } else {
        format!(" (safety events: {})", events.join(", "))
    }
}
