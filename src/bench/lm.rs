//! The on-device LM's scoring time (`ganglion lm-bench`): 20 candidate
//! skills scored in one tree batch after a ~40-token prompt with a cold
//! cache, against one candidate at a time in the same run, and a planning
//! step with the few-shot prompt cached (median and p95 over runs).

use std::time::Instant;

use anyhow::Result;
use serde_json::{Value, json};

use crate::lang::{LlmScorer, Scorer};
use crate::runtime::stats::{quantile_sorted, sorted};

/// The 20 grounded skills of the scene "blocks=red,green,blue,yellow;
/// bowls=green,yellow,blue" (pick x4, place in bowl x3, place on block x4 ...).
pub fn candidates() -> Vec<String> {
    let blocks = ["red", "green", "blue", "yellow"];
    let bowls = ["green", "yellow", "blue", "red"];
    let mut c = crate::lang::ranking::grounded_skills(&blocks, &bowls);
    let extra = ["purple", "orange", "white", "black", "pink", "cyan"];
    for e in extra {
        c.push(format!("pick up the {e} block"));
    }
    c.truncate(20);
    c
}

fn stats(v: Vec<f64>) -> (f64, f64) {
    let v = sorted(v);
    (quantile_sorted(&v, 0.5), quantile_sorted(&v, 0.95))
}

/// Times `runs` runs of each case; the JSON `ganglion lm-bench --json` prints.
pub fn time_scoring(s: &mut LlmScorer, runs: usize) -> Result<Value> {
    let cands = candidates();
    let conts: Vec<Vec<u32>> = cands
        .iter()
        .map(|c| s.tokenizer().encode(&crate::lang::prompt::continuation(c)))
        .collect::<Result<_>>()?;
    let short = "The robot arm is at a table with red, green, blue and yellow blocks and green, yellow, blue and \
                 red bowls. Human: put the red block in the green bowl\nRobot: 1.";
    let short_ids = s.prompt_ids(short)?;
    let runs = runs.max(1);
    let (mut tree, mut single, mut step) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..runs {
        // Cold cache: a prompt that differs from the last one at its first token.
        let mut ids = short_ids.clone();
        ids[0] = if r % 2 == 0 {
            ids[0]
        } else {
            s.prompt_ids("A")?[0]
        };
        s.score_ids(&[0], &conts[..1])?; // resets the cache to one token
        let t = Instant::now();
        s.score_ids(&ids, &conts)?;
        tree.push(t.elapsed().as_secs_f64());
        s.score_ids(&[0], &conts[..1])?;
        let t = Instant::now();
        for c in &conts {
            s.score_ids(&ids, std::slice::from_ref(c))?;
        }
        single.push(t.elapsed().as_secs_f64());
    }
    s.set_scene(Some(
        "red block, green block, blue block, yellow block, green bowl, yellow bowl, blue bowl"
            .into(),
    ));
    s.score("warm up the few-shot cache", &[], &cands)?;
    let instrs = [
        "put the red block in the green bowl",
        "stack the blue block on the yellow block",
        "put all the blocks in the blue bowl",
    ];
    for r in 0..runs {
        let t = Instant::now();
        s.score(
            instrs[r % instrs.len()],
            &["pick up the red block".into()],
            &cands,
        )?;
        step.push(t.elapsed().as_secs_f64());
    }
    let (tm, tp) = stats(tree);
    let (sm, sp) = stats(single);
    let (pm, pp) = stats(step);
    let prompt_tokens = short_ids.len();
    let few_shot_tokens = s
        .prompt_ids(&crate::lang::prompt::build(None, "x", &[]))?
        .len();
    Ok(json!({
        "candidates": cands.len(), "runs": runs, "prompt_tokens": prompt_tokens,
        "tree_batch_s": {"median": tm, "p95": tp}, "one_by_one_s": {"median": sm, "p95": sp},
        "speedup": sm / tm, "planning_step_s": {"median": pm, "p95": pp},
        "few_shot_prompt_tokens": few_shot_tokens,
    }))
}
