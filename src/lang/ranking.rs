//! Ranking check for scorers: generated next-skill cases over the planner's
//! task families (pick-and-place, paraphrased names, stacking, several
//! objects, "all the blocks", going home), each with the one right next skill
//! among every grounded skill of its scene. Measures top-1 accuracy of the LM
//! score alone (no affordance) under several normalisations, which is how the
//! scorer's normalisation was chosen.

use std::collections::BTreeMap;

use anyhow::Result;

use super::{CandidateScore, Scorer};

/// One next-skill case.
#[derive(Debug, Clone)]
pub struct Case {
    pub family: &'static str,
    pub scene: Vec<String>,
    pub instruction: String,
    pub history: Vec<String>,
    pub candidates: Vec<String>,
    pub expected: String,
}

/// The grounded skills of a scene (the registry's `Skill::candidates`):
/// pick each block, place in each bowl, on each block, go to home, done.
pub fn grounded_skills(blocks: &[&str], bowls: &[&str]) -> Vec<String> {
    let scene = ganglion_sim::SceneSpec {
        at: Vec::new(),
        blocks: blocks.iter().map(|b| b.to_string()).collect(),
        bowls: bowls.iter().map(|b| b.to_string()).collect(),
        ..Default::default()
    };
    crate::skills::Skill::candidates(&scene)
        .iter()
        .map(crate::skills::Skill::text)
        .collect()
}

fn scene_text(blocks: &[&str], bowls: &[&str]) -> Vec<String> {
    blocks
        .iter()
        .map(|b| format!("{b} block"))
        .chain(bowls.iter().map(|b| format!("{b} bowl")))
        .collect()
}

/// Expands one task into a case per step of its plan.
fn push_plan(
    out: &mut Vec<Case>,
    family: &'static str,
    blocks: &[&str],
    bowls: &[&str],
    instr: &str,
    plan: &[String],
) {
    for i in 0..plan.len() {
        out.push(Case {
            family,
            scene: scene_text(blocks, bowls),
            instruction: instr.to_string(),
            history: plan[..i].to_vec(),
            candidates: grounded_skills(blocks, bowls),
            expected: plan[i].clone(),
        });
    }
}

fn pp(block: &str, dest: &str) -> Vec<String> {
    vec![format!("pick up the {block} block"), dest.to_string()]
}

fn done(mut v: Vec<String>) -> Vec<String> {
    v.push("done".into());
    v
}

/// A deterministic set of cases (a few per family, colours rotated).
pub fn cases() -> Vec<Case> {
    const C: [&str; 4] = ["red", "green", "blue", "yellow"];
    let syn = |c: &str| match c {
        "red" => "crimson",
        "green" => "emerald",
        "blue" => "navy",
        _ => "golden",
    };
    let mut out = Vec::new();
    for k in 0..4 {
        let (a, b, d) = (C[k], C[(k + 1) % 4], C[(k + 2) % 4]);
        let blocks = [a, b, d];
        let bowls = [b, C[(k + 3) % 4]];
        let bowl = bowls[k % 2];
        let place = format!("place it in the {bowl} bowl");
        push_plan(
            &mut out,
            "single",
            &blocks,
            &bowls,
            &format!("put the {a} block in the {bowl} bowl"),
            &done(pp(a, &place)),
        );
        push_plan(
            &mut out,
            "paraphrase",
            &blocks,
            &bowls,
            &format!("drop the {} cube into the {bowl} dish", syn(a)),
            &done(pp(a, &place)),
        );
        push_plan(
            &mut out,
            "stack",
            &blocks,
            &bowls,
            &format!("stack the {b} block on top of the {d} block"),
            &done(pp(b, &format!("place it on the {d} block"))),
        );
        let mut two = pp(d, &place);
        two.extend(pp(a, &place));
        push_plan(
            &mut out,
            "two",
            &blocks,
            &bowls,
            &format!("put the {d} block and the {a} block in the {bowl} bowl"),
            &done(two),
        );
        let mut all = Vec::new();
        for x in blocks {
            all.extend(pp(x, &place));
        }
        push_plan(
            &mut out,
            "all",
            &blocks,
            &bowls,
            &format!("put all the blocks in the {bowl} bowl"),
            &done(all),
        );
        push_plan(
            &mut out,
            "home",
            &blocks,
            &bowls,
            "go back to the home position",
            &done(vec!["go to home".into()]),
        );
    }
    out
}

/// Accuracy per normalisation, per family and overall.
#[derive(Debug, Default, serde::Serialize)]
pub struct RankingReport {
    /// normalisation -> family -> (right, total)
    pub by_norm: BTreeMap<String, BTreeMap<String, (usize, usize)>>,
}

/// The normalisations compared: `mean` (per-token mean log-probability),
/// `sum`, `pmi` (sum minus the sum without the instruction), `mean_pmi`
/// (pmi per token) and `mean+pmi` (mean plus pmi per token).
pub const NORMS: &[&str] = &["mean", "sum", "pmi", "mean_pmi", "mean+pmi"];

pub fn normalise(norm: &str, cond: &CandidateScore, uncond: &CandidateScore) -> f32 {
    let n = cond.tokens.max(1) as f32;
    match norm {
        "sum" => cond.logprob_sum,
        "pmi" => cond.logprob_sum - uncond.logprob_sum,
        "mean_pmi" => (cond.logprob_sum - uncond.logprob_sum) / n,
        "mean+pmi" => (2.0 * cond.logprob_sum - uncond.logprob_sum) / n,
        _ => cond.mean(),
    }
}

/// Runs every case through the scorer (with and without the instruction).
pub fn evaluate(
    scorer: &mut dyn Scorer,
    cases: &[Case],
    mut progress: impl FnMut(usize),
) -> Result<RankingReport> {
    let mut rep = RankingReport::default();
    for (ci, c) in cases.iter().enumerate() {
        scorer.set_scene(Some(c.scene.join(", ")));
        let cond = scorer.score_detailed(&c.instruction, &c.history, &c.candidates)?;
        let uncond = scorer.score_detailed("", &c.history, &c.candidates)?;
        // With a symbolic stand-in for affordance: holding a block (the last
        // step was a pick) allows only places; an empty gripper allows picks,
        // go to home and done.
        let holding = c.history.last().is_some_and(|h| h.starts_with("pick up"));
        let afforded: Vec<bool> = c
            .candidates
            .iter()
            .map(|k| k.starts_with("place") == holding)
            .collect();
        for norm in NORMS {
            let s: Vec<f32> = cond
                .iter()
                .zip(&uncond)
                .map(|(a, b)| normalise(norm, a, b))
                .collect();
            for (mode, mask) in [("", None), ("afforded ", Some(&afforded))] {
                let best = (0..s.len())
                    .filter(|&i| mask.is_none_or(|m| m[i]))
                    .max_by(|&i, &j| s[i].total_cmp(&s[j]))
                    .unwrap_or(0);
                let ok = c.candidates[best] == c.expected;
                for fam in [c.family, "overall"] {
                    let e = rep
                        .by_norm
                        .entry(format!("{mode}{norm}"))
                        .or_default()
                        .entry(fam.to_string())
                        .or_default();
                    e.0 += ok as usize;
                    e.1 += 1;
                }
            }
        }
        progress(ci);
    }
    Ok(rep)
}
