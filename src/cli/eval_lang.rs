//! `ganglion eval-lang SUITE.toml`: the language layer's evaluation. Each case
//! is planned with the skills' symbolic effects; unless `--plan-only`, the
//! planned skills are then run through the control loop in the simulator.
//! A case succeeds only if the planner finished (`done`, not the step limit)
//! with the `expect`ed state AND every object in `still` where it started
//! (in the simulator: same place, moved < 2 cm); a `refuse = true` case only
//! if nothing moved (refused, or stopped as asked). Any motion in a case that
//! does not succeed is counted as a wrong motion. Reports per family and
//! overall, per split (`--split dev|test`), and planning time per step.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::repo_path;
use super::say::LmArgs;
use ganglion::lang::guard::escape;
use ganglion::lang::saycan::MAX_PAIR_REPEATS;
use ganglion::lang::service::PlannerParts;
use ganglion::lang::suite::{
    CaseResult, PROGRAM_FAMILIES, SuiteReport, Tally, evaluate, load_suite,
};

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

pub fn run(a: EvalLangArgs) -> Result<()> {
    let path = repo_path(&a.suite.to_string_lossy());
    let suite = load_suite(&path)?;
    let mut parts = PlannerParts::open(&a.lm.planner_options())?;
    let reach = repo_path(&a.lm.reach.to_string_lossy());
    let cases: Vec<_> = suite
        .case
        .iter()
        .filter(|c| a.family.as_ref().is_none_or(|f| *f == c.family))
        .filter(|c| a.split.is_none() || a.split == c.split)
        .take(a.limit.unwrap_or(usize::MAX))
        .collect();
    let verbose = a.verbose && !a.json;
    let n = cases.len();
    let mut planned_right = 0;
    let mut print_case = |i: usize, r: &CaseResult| {
        planned_right += r.plan_ok as usize;
        if verbose {
            print_case(i, r)
        } else if (i + 1).is_multiple_of(10) || i + 1 == n {
            // Progress on stderr: stdout stays the table or the JSON.
            eprintln!(
                "eval-lang: {}/{n} cases, {planned_right} planned right",
                i + 1
            );
        }
    };
    let reach = (!a.plan_only).then_some(reach.as_path());
    let camera = a.lm.sight.camera_model()?;
    let report = evaluate(
        &mut parts,
        &cases,
        reach,
        camera.as_deref(),
        &mut print_case,
    )?;
    let lm = parts.scorer.describe();
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report_json(&a, &path, &lm, &report))?
        );
        return Ok(());
    }
    print_table(&a, &path, &lm, &report);
    Ok(())
}

fn print_case(i: usize, r: &CaseResult) {
    let skills: Vec<&str> = r.plan.steps.iter().map(|s| s.skill.as_str()).collect();
    println!(
        "[{:>3}] {:<12} plan {} exec {}{}  \"{}\" -> {} ({})",
        i + 1,
        r.case.family,
        if r.plan_ok { "ok  " } else { "FAIL" },
        match r.exec_ok {
            None => "-   ",
            Some(true) => "ok  ",
            Some(false) => "FAIL",
        },
        if r.wrong_motion { " WRONG-MOTION" } else { "" },
        escape(&r.case.instruction),
        skills.join(" / "),
        escape(&r.plan.stopped_because)
    );
}

fn report_json(
    a: &EvalLangArgs,
    path: &std::path::Path,
    lm: &str,
    r: &SuiteReport,
) -> serde_json::Value {
    let rows: Vec<_> = r
        .cases
        .iter()
        .map(|c| {
            let skills: Vec<&str> = c.plan.steps.iter().map(|s| s.skill.as_str()).collect();
            json!({
                "family": c.case.family, "instruction": c.case.instruction, "scene": c.case.scene,
                "seed": c.case.seed, "split": c.case.split, "plan": skills,
                "stopped_because": c.plan.stopped_because, "outcome": c.plan.outcome,
                "goals": c.plan.goals, "plan_success": c.plan_ok,
                "execution_success": c.exec_ok, "wrong_motion": c.wrong_motion,
                "planner": c.plan.planner, "program": c.plan.program, "final_xy": c.plan.final_xy,
            })
        })
        .collect();
    json!({
        "suite": path, "lm": lm, "planner": a.lm.planner, "families": r.by_family,
        "overall": r.overall, "program_families": program_families(r),
        "plan_only": a.plan_only, "split": a.split, "ablate": a.lm.ablate,
        "perception": a.lm.sight.perception,
        "planning_seconds_per_step": {
            "median": r.step_quantile(0.5), "p95": r.step_quantile(0.95), "steps": r.step_seconds.len(),
        },
        "cases": rows, "wall_s": r.wall_s,
    })
}

fn print_table(a: &EvalLangArgs, path: &std::path::Path, lm: &str, r: &SuiteReport) {
    let pct = |n: usize, d: usize| 100.0 * n as f64 / d.max(1) as f64;
    let split = a
        .split
        .as_ref()
        .map_or(String::new(), |s| format!(" ({s} split)"));
    println!(
        "{} cases from {}{split} with {lm}, planner {} (ablation: {}):",
        r.overall.cases,
        path.display(),
        a.lm.planner,
        a.lm.ablate
    );
    println!(
        "  {:<12} {:>5} {:>8} {:>10} {:>7}",
        "family", "cases", "plan", "execution", "wrong"
    );
    let new = program_families(r);
    let exec = |n: usize, d: usize, digits: usize| {
        if a.plan_only {
            "-".to_string()
        } else {
            format!("{:.*}%", digits, pct(n, d))
        }
    };
    // Families to whole percents, the sums to tenths.
    let row = |name: &str, t: &Tally, digits: usize| {
        println!(
            "  {name:<12} {:>5} {:>7.*}% {:>10} {:>7}",
            t.cases,
            digits,
            pct(t.plan_ok, t.cases),
            exec(t.exec_ok, t.cases, digits),
            t.wrong_motion
        );
    };
    for (f, t) in &r.by_family {
        row(f, t, 0);
    }
    if new.cases > 0 {
        row("new kinds", &new, 1);
    }
    row("overall", &r.overall, 1);
    let repeats = r.overall.repeated_pairs;
    if repeats > 0 {
        println!("{repeats} plan(s) repeat a pick/place pair more than {MAX_PAIR_REPEATS} times");
    }
    println!(
        "planning time per step: median {:.2} s, p95 {:.2} s over {} steps ({:.0} s in all)",
        r.step_quantile(0.5),
        r.step_quantile(0.95),
        r.step_seconds.len(),
        r.wall_s
    );
}

/// The suite's Code as Policies families, summed.
fn program_families(r: &SuiteReport) -> Tally {
    let mut t = Tally::default();
    for (f, x) in &r.by_family {
        if PROGRAM_FAMILIES.contains(&f.as_str()) {
            t.add(x);
        }
    }
    t
}
