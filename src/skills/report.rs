//! Measured skill quality: executions of many seeded cases in parallel, the
//! per-skill success table over random feasible scenes, the reaching
//! policy's final cup error, and the labelled executions the affordance
//! models learn from.

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use ganglion_sim::tabletop::Relation;
use ganglion_sim::tabletop::reach::{ArmReach, OBS_DIM, distance};
use ganglion_sim::{Env, Rng, SceneSpec, derive_seed};

use super::affordance::{Sample, random_case};
use super::executor::{SkillRun, SkillRunner};
use super::features::features;
use super::{Family, Skill};
use crate::policy::{ActionSpec, OnnxPolicy, Policy};

/// Runs `f(i)` for i in 0..n on `threads` threads; results in index order.
pub fn parallel<T: Send>(n: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = threads.clamp(1, n.max(1));
    let mut slots: Vec<Option<T>> = (0..n).map(|_| None).collect();
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t..n)
                        .step_by(threads)
                        .map(|i| (i, f(i)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            if let Ok(done) = h.join() {
                for (i, v) in done {
                    slots[i] = Some(v);
                }
            }
        }
    });
    slots.into_iter().flatten().collect()
}

/// One execution of `skill` in `scene` laid out from `seed`, with the
/// features of its start state.
pub fn run_case(
    reach: &Arc<Vec<u8>>,
    reach_path: &Path,
    scene: &SceneSpec,
    seed: u64,
    skill: &Skill,
) -> Result<(SkillRun, [f32; super::features::FEATURES])> {
    let mut runner = SkillRunner::with_model_bytes(scene, seed, reach.clone(), reach_path)?;
    let start = runner.state()?;
    let x = features(skill, scene, &start);
    let run = runner.run(skill)?;
    Ok((run, x))
}

/// A random scene in which `family`'s skill is feasible, and the skill.
pub fn feasible_case(family: Family, seed: u64) -> (SceneSpec, Skill) {
    let mut rng = Rng::new(derive_seed(seed, 0xfea5));
    let mut scene = SceneSpec::random(seed);
    let n = scene.blocks.len();
    let at = |rng: &mut Rng, n: usize| (rng.next_u64() % n as u64) as usize;
    // Some variety in where blocks start: a stack or a block in a bowl.
    if n >= 3 && rng.next_f32() < 0.3 {
        let (a, b) = (scene.blocks[n - 1].clone(), scene.blocks[n - 2].clone());
        scene.relations.push(Relation::Stacked(a, b));
    }
    let free: Vec<String> = scene
        .blocks
        .iter()
        .filter(|b| {
            !scene
                .relations
                .iter()
                .any(|r| matches!(r, Relation::Stacked(_, under) if under == *b))
        })
        .cloned()
        .collect();
    // Free blocks that rest on no other block (a held block cannot be in a
    // stack).
    let loose: Vec<String> = free
        .iter()
        .filter(|b| {
            !scene
                .relations
                .iter()
                .any(|r| matches!(r, Relation::Stacked(a, _) if a == *b))
        })
        .cloned()
        .collect();
    let skill = match family {
        Family::Pick => Skill::Pick(free[at(&mut rng, free.len())].clone()),
        Family::PlaceIn => {
            scene.holding = Some(loose[at(&mut rng, loose.len())].clone());
            Skill::PlaceIn(scene.bowls[at(&mut rng, scene.bowls.len())].clone())
        }
        Family::PlaceOn => {
            let h = loose[at(&mut rng, loose.len())].clone();
            let targets: Vec<&String> = free.iter().filter(|b| **b != h).collect();
            let t = targets[at(&mut rng, targets.len())].clone();
            scene.holding = Some(h);
            Skill::PlaceOn(t)
        }
        Family::PlaceAt => {
            let h = loose[at(&mut rng, loose.len())].clone();
            scene.holding = Some(h);
            free_table_spot(&scene, seed, &mut rng)
        }
        Family::Home => {
            if rng.next_f32() < 0.5 {
                scene.holding = Some(free[at(&mut rng, free.len())].clone());
            }
            Skill::Home
        }
        Family::Done => Skill::Done,
    };
    debug_assert!(scene.validate().is_ok());
    (scene, skill)
}

/// `place it at` a free spot of `scene` as laid out from `seed` (the
/// scene's own placement annulus, clear of every object but the held one).
fn free_table_spot(scene: &SceneSpec, seed: u64, rng: &mut Rng) -> Skill {
    use super::motion::{BLOCK_CLEARANCE, BOWL_CLEARANCE};
    use ganglion_sim::tabletop::scene::{PLACE_ANGLE, PLACE_RADIUS};
    let layout = scene.layout(seed);
    let mut p = [0.35f32, 0.0];
    for _ in 0..1000 {
        let r = rng.uniform(PLACE_RADIUS.0 + 0.01, PLACE_RADIUS.1 - 0.02);
        let a = rng.uniform(-PLACE_ANGLE, PLACE_ANGLE);
        p = [r * a.cos(), r * a.sin()];
        let clear_blocks = layout.blocks.iter().enumerate().all(|(i, b)| {
            Some(i) == layout.held || (b[0] - p[0]).hypot(b[1] - p[1]) > BLOCK_CLEARANCE + 0.01
        });
        let clear_bowls = layout
            .bowls
            .iter()
            .all(|b| (b[0] - p[0]).hypot(b[1] - p[1]) > BOWL_CLEARANCE + 0.01);
        if clear_blocks && clear_bowls {
            break;
        }
    }
    Skill::place_at(p[0] as f64, p[1] as f64)
}

/// Successes of one skill family over seeded feasible scenes.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SuccessRow {
    pub skill: &'static str,
    pub trials: usize,
    pub successes: usize,
    pub timed_out: usize,
    pub mean_steps: f64,
    /// The first few failures: `seed`, scene, skill and what happened.
    pub failures: Vec<String>,
}

/// The success table: each family over `scenes` feasible scenes.
pub fn success_table(
    reach: &Arc<Vec<u8>>,
    reach_path: &Path,
    scenes: usize,
    seed: u64,
    threads: usize,
) -> Result<Vec<SuccessRow>> {
    let mut rows = Vec::new();
    for fam in Family::ALL {
        let runs = parallel(scenes, threads, |i| -> Result<(SkillRun, String)> {
            let s = derive_seed(seed, 1000 * fam as u64 + i as u64);
            let (scene, skill) = feasible_case(fam, s);
            let mut runner = SkillRunner::with_model_bytes(&scene, s, reach.clone(), reach_path)?;
            if fam == Family::Home {
                // Start away from home: carry out a pick first.
                if let Some(b) = scene
                    .blocks
                    .iter()
                    .find(|b| scene.holding.as_ref() != Some(*b))
                {
                    runner.run(&Skill::Pick(b.clone()))?;
                }
            }
            let run = runner.run(&skill)?;
            let what = format!(
                "seed {s}: `{skill}` in \"{}\": {:?} -> {:?}",
                scene_text(&scene),
                run.outcome,
                run.final_state.0
            );
            Ok((run, what))
        });
        let runs: Vec<(SkillRun, String)> = runs.into_iter().collect::<Result<_>>()?;
        let failures: Vec<String> = runs
            .iter()
            .filter(|(r, _)| !r.outcome.success())
            .take(5)
            .map(|(_, w)| w.clone())
            .collect();
        let runs: Vec<SkillRun> = runs.into_iter().map(|(r, _)| r).collect();
        rows.push(SuccessRow {
            skill: fam.template(),
            trials: runs.len(),
            successes: runs.iter().filter(|r| r.outcome.success()).count(),
            timed_out: runs
                .iter()
                .filter(|r| r.outcome == super::SkillOutcome::TimedOut)
                .count(),
            mean_steps: runs.iter().map(|r| r.steps as f64).sum::<f64>() / runs.len().max(1) as f64,
            failures,
        });
    }
    Ok(rows)
}

/// Labelled executions of `per_family` random cases for each of
/// `families`, from seeds derived from `seed` and the family.
pub fn labelled_samples(
    reach: &Arc<Vec<u8>>,
    reach_path: &Path,
    families: &[Family],
    per_family: usize,
    seed: u64,
    threads: usize,
    mut progress: impl FnMut(usize),
) -> Result<Vec<Sample>> {
    let mut out = Vec::new();
    for &fam in families {
        let runs = parallel(per_family, threads, |i| {
            let s = derive_seed(seed, 100_000 * fam as u64 + i as u64);
            let (scene, skill) = random_case(fam, s);
            run_case(reach, reach_path, &scene, s, &skill).map(|(r, x)| Sample {
                family: fam,
                x,
                y: r.outcome.success() as u8 as f32,
            })
        });
        for r in runs {
            out.push(r?);
        }
        progress(out.len());
    }
    Ok(out)
}

/// Final cup error (m) of the reaching policy on `episodes` seeded reach
/// episodes (targets drawn in the reachable workspace).
pub fn reach_errors(
    reach_path: &Path,
    episodes: usize,
    seed: u64,
    threads: usize,
) -> Result<Vec<f32>> {
    let bytes = crate::input::read_file(reach_path, crate::input::FileKind::Model)?;
    let errs = parallel(episodes, threads, |i| -> Result<f32> {
        let mut policy =
            OnnxPolicy::from_bytes(&bytes, OBS_DIM, ActionSpec::Continuous { dim: 3 })?;
        let mut env = ArmReach::new();
        let mut obs = [0.0f32; OBS_DIM];
        let mut act = [0.0f32; 3];
        env.reset(derive_seed(seed, i as u64), &mut obs);
        loop {
            policy.act(&obs, &mut act)?;
            if env.step(&act, &mut obs).truncated {
                break;
            }
        }
        Ok(distance(env.cup(), env.target()))
    });
    errs.into_iter().collect()
}

/// A scene in the `--scene` syntax.
pub fn scene_text(scene: &SceneSpec) -> String {
    let list = |colors: &[String], kind: &str| -> String {
        let items: Vec<String> = colors
            .iter()
            .map(|c| match scene.position_of(&format!("{c} {kind}")) {
                Some(p) => format!("{c}@({:.3},{:.3})", p[0], p[1]),
                None => c.clone(),
            })
            .collect();
        items.join(",")
    };
    let mut parts = vec![
        format!("blocks={}", list(&scene.blocks, "block")),
        format!("bowls={}", list(&scene.bowls, "bowl")),
    ];
    for r in &scene.relations {
        parts.push(match r {
            Relation::Stacked(a, b) => format!("stacked={a}/{b}"),
            Relation::In(a, b) => format!("in={a}/{b}"),
        });
    }
    if let Some(h) = &scene.holding {
        parts.push(format!("holding={h}"));
    }
    parts.join("; ")
}
