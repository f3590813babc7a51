//! The language suite (`tests/lang/suite.toml`) and its scoring: which
//! cases a plan got right (goals reached, nothing else moved, refusals
//! refused), executed in the simulator or with symbolic effects, tallied by
//! family. `ganglion eval-lang` prints what `evaluate` returns.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::saycan::{MAX_PAIR_REPEATS, Plan};
use super::service::{PlannerParts, plan_symbolic, plan_symbolic_in};
use crate::sim::SceneSpec;
use crate::skills::executor::REACH_MODEL;
use crate::skills::{Places, Skill, SkillRunner};

/// The suite's families of Code as Policies' kinds (spatial, numbers,
/// orderings, colour matching, corners): the SayCan planner refuses them,
/// the code planner is meant for them.
pub const PROGRAM_FAMILIES: [&str; 8] = [
    "closest",
    "farthest",
    "extreme",
    "between",
    "offset",
    "colour-match",
    "tower",
    "corner",
];

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
pub fn load_suite(path: &Path) -> Result<Suite> {
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
        for (obj, place) in &c.expect {
            check_place(&scene, place).map_err(|e| anyhow::anyhow!("{at}: `{obj}`: {e}"))?;
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

/// How far (m) a block may end from a `near (x,y)` expectation.
pub const NEAR_TOLERANCE: f64 = 0.03;

/// The point of a `near (x,y)` expectation (metres, table frame).
pub fn parse_near(place: &str) -> Option<[f64; 2]> {
    let inner = place
        .strip_prefix("near")?
        .trim()
        .strip_prefix('(')?
        .strip_suffix(')')?;
    let (x, y) = inner.split_once(',')?;
    let (x, y) = (x.trim().parse::<f64>().ok()?, y.trim().parse::<f64>().ok()?);
    (x.is_finite() && y.is_finite()).then_some([x, y])
}

/// Checks that `place` is one an expectation may name in `scene`.
fn check_place(scene: &SceneSpec, place: &str) -> Result<()> {
    let ok = match place {
        "table" | "gripper" => true,
        p if p.starts_with("near") => {
            parse_near(p).ok_or_else(|| anyhow::anyhow!("`{p}` is not `near (x,y)`"))?;
            true
        }
        p => {
            let bowl = p
                .strip_suffix(" bowl")
                .map(|c| scene.bowls.iter().any(|b| b == c));
            let block = p
                .strip_prefix("on ")
                .and_then(|b| b.strip_suffix(" block"))
                .map(|c| scene.blocks.iter().any(|b| b == c));
            bowl.or(block).unwrap_or(false)
        }
    };
    if !ok {
        bail!(
            "`{place}` is not a place here (table, gripper, a scene bowl, `on <block>`, `near (x,y)`)"
        );
    }
    Ok(())
}

/// Whether `places` and the blocks' table positions `xy` (`{block: [x, y]}`)
/// satisfy every expectation; `near (x,y)` asks for the block on the table
/// within `NEAR_TOLERANCE`.
pub fn satisfied(
    expect: &BTreeMap<String, String>,
    places: &serde_json::Value,
    xy: &serde_json::Value,
) -> bool {
    expect.iter().all(|(o, p)| {
        let place = places.get(o).and_then(|v| v.as_str());
        match parse_near(p) {
            None => place == Some(p.as_str()),
            Some(t) => {
                let at = xy
                    .get(o)
                    .and_then(|v| v.as_array())
                    .and_then(|a| Some([a.first()?.as_f64()?, a.get(1)?.as_f64()?]));
                place == Some("table")
                    && at.is_some_and(|a| (a[0] - t[0]).hypot(a[1] - t[1]) <= NEAR_TOLERANCE)
            }
        }
    })
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
            && satisfied(&c.expect, &plan.final_state, &plan.final_xy)
            && unmoved(&c.still, start, &plan.final_state)
    }
}

/// Largest displacement (m) of a block that must stay, in the simulator.
pub const STILL_TOLERANCE: f32 = 0.02;

/// Cases and successes, for one family or overall.
#[derive(Default, Debug, Clone, Serialize)]
pub struct Tally {
    pub cases: usize,
    pub plan_ok: usize,
    pub exec_ok: usize,
    pub wrong_motion: usize,
    /// Plans that run one pick/place pair more than `MAX_PAIR_REPEATS` times.
    pub repeated_pairs: usize,
}

impl Tally {
    pub fn add(&mut self, o: &Tally) {
        self.cases += o.cases;
        self.plan_ok += o.plan_ok;
        self.exec_ok += o.exec_ok;
        self.wrong_motion += o.wrong_motion;
        self.repeated_pairs += o.repeated_pairs;
    }
}

/// The most times one (pick, place) pair of consecutive steps occurs.
pub fn max_pair_repeats(steps: &[String]) -> usize {
    let pairs: Vec<_> = steps
        .windows(2)
        .filter(|w| w[0].starts_with("pick"))
        .collect();
    pairs
        .iter()
        .map(|p| pairs.iter().filter(|q| *q == p).count())
        .max()
        .unwrap_or(0)
}

/// One case's result.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub case: Case,
    pub plan: Plan,
    pub plan_ok: bool,
    /// `None` when planning only.
    pub exec_ok: Option<bool>,
    /// Something moved and the case did not succeed.
    pub wrong_motion: bool,
}

/// A whole run over a suite.
#[derive(Debug)]
pub struct SuiteReport {
    pub by_family: BTreeMap<String, Tally>,
    pub overall: Tally,
    pub cases: Vec<CaseResult>,
    /// Planning seconds per step, sorted.
    pub step_seconds: Vec<f64>,
    pub wall_s: f64,
}

impl SuiteReport {
    /// The `q` quantile of planning seconds per step (NaN with no steps).
    pub fn step_quantile(&self, q: f64) -> f64 {
        crate::runtime::stats::quantile_sorted(&self.step_seconds, q)
    }
}

/// Runs `cases` through the planner; with `reach` (the arm-reach policy)
/// each plan that moves something is executed in the simulator and judged
/// on the simulator's final state, else plans are judged on their symbolic
/// effects. `on_case` sees each result as it comes (progress, verbose output).
///
/// With `camera` (a perception model), each case is planned from what the
/// camera perceives and its skills run in camera mode; the outcome is still
/// judged on the simulator's true state.
pub fn evaluate(
    parts: &mut PlannerParts,
    cases: &[&Case],
    reach: Option<&Path>,
    camera: Option<&Path>,
    on_case: &mut dyn FnMut(usize, &CaseResult),
) -> Result<SuiteReport> {
    let t0 = Instant::now();
    let mut by_family: BTreeMap<String, Tally> = BTreeMap::new();
    let mut step_seconds = Vec::new();
    let mut results = Vec::with_capacity(cases.len());
    for (i, c) in cases.iter().enumerate() {
        let scene = SceneSpec::parse(&c.scene)?;
        let start = crate::sim::TabletopWorld::new(&scene, c.seed).state();
        let start_places = Places::of(&start, &scene).to_json();
        let mut seeing = match camera {
            Some(model) => {
                let reach = reach.map_or_else(|| crate::repo_path(REACH_MODEL), Path::to_path_buf);
                let mut runner = SkillRunner::new(&scene, c.seed, &reach)?;
                runner.use_camera(model, c.seed)?;
                Some(runner)
            }
            None => None,
        };
        let plan = match seeing.as_mut() {
            Some(runner) => {
                let seen = runner.state()?;
                let seen_scene = runner.scene().clone();
                plan_symbolic_in(parts, &c.instruction, &seen_scene, seen)?
            }
            None => plan_symbolic(parts, &c.instruction, &scene, c.seed)?,
        };
        step_seconds.extend(plan.steps.iter().map(|s| s.plan_seconds));
        let plan_ok = plan_success(c, &plan, &start_places);
        let moves = plan.steps.iter().any(|s| s.skill != "done");
        let exec_ok = match reach {
            None => None,
            Some(_) if c.refuse || !moves => Some(plan_ok),
            Some(reach) => {
                Some(plan_ok && execute(c, &scene, &plan, reach, &start_places, seeing)?)
            }
        };
        let wrong_motion = moves && !(plan_ok && exec_ok.unwrap_or(true));
        let skills: Vec<String> = plan.steps.iter().map(|s| s.skill.clone()).collect();
        let t = by_family.entry(c.family.clone()).or_default();
        t.add(&Tally {
            cases: 1,
            plan_ok: plan_ok as usize,
            exec_ok: exec_ok.unwrap_or(false) as usize,
            wrong_motion: wrong_motion as usize,
            repeated_pairs: (max_pair_repeats(&skills) > MAX_PAIR_REPEATS) as usize,
        });
        let r = CaseResult {
            case: (*c).clone(),
            plan,
            plan_ok,
            exec_ok,
            wrong_motion,
        };
        on_case(i, &r);
        results.push(r);
    }
    let mut overall = Tally::default();
    for t in by_family.values() {
        overall.add(t);
    }
    step_seconds.sort_by(f64::total_cmp);
    Ok(SuiteReport {
        by_family,
        overall,
        cases: results,
        step_seconds,
        wall_s: t0.elapsed().as_secs_f64(),
    })
}

/// Runs a plan's skills in a fresh simulated scene (or in `runner`, one
/// already in camera mode); whether every skill succeeded, the goals hold
/// and every `still` block stayed within `STILL_TOLERANCE`, all judged on
/// the simulator's true state.
fn execute(
    c: &Case,
    scene: &SceneSpec,
    plan: &Plan,
    reach: &Path,
    start_places: &serde_json::Value,
    runner: Option<SkillRunner>,
) -> Result<bool> {
    let mut runner = match runner {
        Some(r) => r,
        None => SkillRunner::new(scene, c.seed, reach)?,
    };
    let begin = runner.true_state()?;
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
    let end = runner.true_state()?;
    let places = Places::of(&end, scene).to_json();
    let xy = serde_json::Value::Object(
        scene
            .blocks
            .iter()
            .zip(&end.blocks)
            .map(|(b, p)| (format!("{b} block"), serde_json::json!([p[0], p[1]])))
            .collect(),
    );
    let still_ok = c.still.iter().all(|o| {
        let i = scene.blocks.iter().position(|b| format!("{b} block") == *o);
        i.is_none_or(|i| {
            let (p, q) = (begin.blocks[i], end.blocks[i]);
            let d = ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt();
            d < STILL_TOLERANCE
        })
    });
    Ok(all
        && satisfied(&c.expect, &places, &xy)
        && unmoved(&c.still, start_places, &places)
        && still_ok)
}
