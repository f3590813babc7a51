//! `ganglion eval-lang SUITE.toml`: the language layer's evaluation. Each case
//! is planned with the skills' symbolic effects; unless `--plan-only`, the
//! planned skills are then run through the control loop in the simulator.
//! A case succeeds only if the planner finished (`done`, not the step limit)
//! with the `expect`ed state AND every object in `still` where it started
//! (in the simulator: same place, moved < 2 cm); a `refuse = true` case only
//! if nothing moved (refused, or stopped as asked). Any motion in a case that
//! does not succeed is counted as a wrong motion. Reports per family and
//! overall, per split (`--split dev|test`), and planning time per step.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Deserialize;
use serde_json::json;

use super::repo_path;
use super::say::{LmArgs, PlannerParts, plan_symbolic};
use crate::lang::saycan::Plan;
use crate::sim::SceneSpec;
use crate::skills::{Places, Skill, SkillRunner};

#[derive(Args, Debug)]
pub struct EvalLangArgs {
    /// The suite (TOML, `[[case]]` tables: family, scene, seed, instruction,
    /// expect = { object = place } or refuse = true).
    pub suite: PathBuf,
    /// Plan only (symbolic effects); do not execute in the simulator.
    #[arg(long)]
    pub plan_only: bool,
    /// Only the first N cases (quick checks).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Only cases of this family.
    #[arg(long)]
    pub family: Option<String>,
    /// Only cases of this split: dev (tuned against) or test (held out).
    #[arg(long)]
    pub split: Option<String>,
    /// Print every case's plan.
    #[arg(long)]
    pub verbose: bool,
    #[command(flatten)]
    pub lm: LmArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub family: String,
    pub scene: String,
    #[serde(default)]
    pub seed: u64,
    pub instruction: String,
    #[serde(default)]
    pub expect: BTreeMap<String, String>,
    #[serde(default)]
    pub refuse: bool,
    /// Objects that must end where they started.
    #[serde(default)]
    pub still: Vec<String>,
    /// `dev` or `test`.
    #[serde(default)]
    pub split: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    pub case: Vec<Case>,
}

/// Reads and checks a suite file: every scene parses, every case expects
/// something or a refusal, expectations name objects of the scene.
pub fn load_suite(path: &std::path::Path) -> Result<Suite> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let suite: Suite =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    for (i, c) in suite.case.iter().enumerate() {
        let at = format!("{} case {} (\"{}\")", path.display(), i + 1, c.instruction);
        let scene = SceneSpec::parse(&c.scene).map_err(|e| anyhow::anyhow!("{at}: scene: {e}"))?;
        if c.refuse != c.expect.is_empty() {
            bail!("{at}: give either `expect = {{ ... }}` or `refuse = true`");
        }
        for obj in c.expect.keys().chain(c.still.iter()) {
            let known = scene.blocks.iter().any(|b| format!("{b} block") == *obj)
                || scene.bowls.iter().any(|b| format!("{b} bowl") == *obj);
            if !known {
                bail!("{at}: expect names `{obj}`, which is not in the scene");
            }
        }
    }
    Ok(suite)
}

/// Whether `places` satisfy every expectation.
pub fn satisfied(expect: &BTreeMap<String, String>, places: &serde_json::Value) -> bool {
    expect
        .iter()
        .all(|(o, p)| places.get(o).and_then(|v| v.as_str()) == Some(p.as_str()))
}

/// Whether every object in `still` has the same place in `end` as in
/// `start`.
pub fn unmoved(still: &[String], start: &serde_json::Value, end: &serde_json::Value) -> bool {
    still
        .iter()
        .all(|o| start.get(o).is_some() && start.get(o) == end.get(o))
}

/// Whether a plan succeeded for `c`, given the start and final places.
pub fn plan_success(c: &Case, plan: &Plan, start: &serde_json::Value) -> bool {
    if c.refuse {
        plan.steps.iter().all(|s| s.skill == "done") && (plan.refused || plan.success)
    } else {
        !plan.refused
            && plan.success
            && satisfied(&c.expect, &plan.final_state)
            && unmoved(&c.still, start, &plan.final_state)
    }
}

/// Largest displacement (m) of a block that must stay, in the simulator.
const STILL_TOLERANCE: f32 = 0.02;

#[derive(Default, Debug, serde::Serialize)]
struct Tally {
    cases: usize,
    plan_ok: usize,
    exec_ok: usize,
    wrong_motion: usize,
}

pub fn run(a: EvalLangArgs) -> Result<()> {
    let path = repo_path(&a.suite.to_string_lossy());
    let suite = load_suite(&path)?;
    let mut parts = PlannerParts::open(&a.lm)?;
    let reach = repo_path(&a.lm.reach.to_string_lossy());
    let cases: Vec<&Case> = suite
        .case
        .iter()
        .filter(|c| a.family.as_ref().is_none_or(|f| *f == c.family))
        .filter(|c| a.split.is_none() || a.split == c.split)
        .take(a.limit.unwrap_or(usize::MAX))
        .collect();
    let mut by_family: BTreeMap<String, Tally> = BTreeMap::new();
    let mut step_times: Vec<f64> = Vec::new();
    let mut rows = Vec::new();
    let t0 = Instant::now();
    for (i, c) in cases.iter().enumerate() {
        let scene = SceneSpec::parse(&c.scene)?;
        let start = crate::sim::TabletopWorld::new(&scene, c.seed).state();
        let start_places = Places::of(&start, &scene).to_json();
        let plan: Plan = plan_symbolic(&mut parts, &c.instruction, &scene, c.seed)?;
        step_times.extend(plan.steps.iter().map(|s| s.plan_seconds));
        let plan_ok = plan_success(c, &plan, &start_places);
        let moves = plan.steps.iter().any(|s| s.skill != "done");
        let exec_ok = if a.plan_only {
            None
        } else if c.refuse || !moves {
            Some(plan_ok)
        } else {
            let mut runner = SkillRunner::new(&scene, c.seed, &reach)?;
            let begin = runner.state()?;
            let mut all = true;
            for s in &plan.steps {
                let skill = Skill::parse(&s.skill)?;
                if skill == Skill::Done {
                    break;
                }
                if !runner.run(&skill)?.outcome.success() {
                    all = false;
                    break;
                }
            }
            let end = runner.state()?;
            let places = Places::of(&end, &scene).to_json();
            let still_ok = c.still.iter().all(|o| {
                let i = scene.blocks.iter().position(|b| format!("{b} block") == *o);
                i.is_none_or(|i| {
                    let (p, q) = (begin.blocks[i], end.blocks[i]);
                    let d = ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2))
                        .sqrt();
                    d < STILL_TOLERANCE
                })
            });
            Some(
                all && plan_ok
                    && satisfied(&c.expect, &places)
                    && unmoved(&c.still, &start_places, &places)
                    && still_ok,
            )
        };
        let wrong = moves && !(plan_ok && exec_ok.unwrap_or(true));
        let t = by_family.entry(c.family.clone()).or_default();
        t.cases += 1;
        t.plan_ok += plan_ok as usize;
        t.exec_ok += exec_ok.unwrap_or(false) as usize;
        t.wrong_motion += wrong as usize;
        let skills: Vec<&str> = plan.steps.iter().map(|s| s.skill.as_str()).collect();
        if a.verbose && !a.json {
            println!(
                "[{:>3}] {:<12} plan {} exec {}{}  \"{}\" -> {} ({})",
                i + 1,
                c.family,
                if plan_ok { "ok  " } else { "FAIL" },
                match exec_ok {
                    None => "-   ",
                    Some(true) => "ok  ",
                    Some(false) => "FAIL",
                },
                if wrong { " WRONG-MOTION" } else { "" },
                crate::lang::guard::escape(&c.instruction),
                skills.join(" / "),
                crate::lang::guard::escape(&plan.stopped_because)
            );
        }
        rows.push(json!({
            "family": c.family, "instruction": c.instruction, "scene": c.scene, "seed": c.seed,
            "split": c.split, "plan": skills, "stopped_because": plan.stopped_because,
            "outcome": plan.outcome, "goals": plan.goals,
            "plan_success": plan_ok, "execution_success": exec_ok, "wrong_motion": wrong,
        }));
    }
    let total = Tally {
        cases: by_family.values().map(|t| t.cases).sum(),
        plan_ok: by_family.values().map(|t| t.plan_ok).sum(),
        exec_ok: by_family.values().map(|t| t.exec_ok).sum(),
        wrong_motion: by_family.values().map(|t| t.wrong_motion).sum(),
    };
    step_times.sort_by(f64::total_cmp);
    let q = |f: f64| {
        step_times
            .get(((step_times.len() as f64 - 1.0) * f).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let pct = |n: usize, d: usize| 100.0 * n as f64 / d.max(1) as f64;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "suite": path, "lm": parts.scorer.describe(), "families": by_family, "overall": total,
                "plan_only": a.plan_only, "split": a.split, "ablate": a.lm.ablate,
                "planning_seconds_per_step": {"median": q(0.5), "p95": q(0.95), "steps": step_times.len()},
                "cases": rows, "wall_s": t0.elapsed().as_secs_f64(),
            }))?
        );
        return Ok(());
    }
    println!(
        "{} cases from {}{} with {} (ablation: {}):",
        total.cases,
        path.display(),
        a.split
            .as_ref()
            .map_or(String::new(), |s| format!(" ({s} split)")),
        parts.scorer.describe(),
        a.lm.ablate
    );
    println!(
        "  {:<12} {:>5} {:>8} {:>10} {:>7}",
        "family", "cases", "plan", "execution", "wrong"
    );
    for (f, t) in &by_family {
        let exec = if a.plan_only {
            "-".to_string()
        } else {
            format!("{:.0}%", pct(t.exec_ok, t.cases))
        };
        println!(
            "  {f:<12} {:>5} {:>7.0}% {exec:>10} {:>7}",
            t.cases,
            pct(t.plan_ok, t.cases),
            t.wrong_motion
        );
    }
    let exec = if a.plan_only {
        "-".to_string()
    } else {
        format!("{:.1}%", pct(total.exec_ok, total.cases))
    };
    println!(
        "  {:<12} {:>5} {:>7.1}% {exec:>10} {:>7}",
        "overall",
        total.cases,
        pct(total.plan_ok, total.cases),
        total.wrong_motion
    );
    println!(
        "planning time per step: median {:.2} s, p95 {:.2} s over {} steps ({:.0} s in all)",
        q(0.5),
        q(0.95),
        step_times.len(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
