//! `ganglion lm-bench`: time of scoring 20 candidate skills with the
//! on-device LLM (median and p95 over runs): after a ~40-token prompt with a
//! cold cache, and as a planning step (few-shot prompt cached, new
//! instruction), each against one-candidate-at-a-time scoring measured in the
//! same run.

use std::time::Instant;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use crate::lang::{LlmScorer, Scorer, fetch, ranking};
use crate::runtime::stats::{quantile_sorted, sorted};

#[derive(Args, Debug)]
pub struct LmBenchArgs {
    /// Timed runs per case.
    #[arg(long, default_value_t = 7)]
    pub runs: usize,
    /// A llama-family GGUF file (default: SmolLM2 in models/lm/).
    #[arg(long)]
    pub gguf: Option<std::path::PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Instead of timing: top-1 accuracy of the LM score alone on generated
    /// next-skill cases, per family and normalisation.
    #[arg(long)]
    pub ranking: bool,
    /// Prompt layout for --ranking: saycan or next-step.
    #[arg(long, default_value = "saycan")]
    pub style: String,
}

/// The 20 grounded skills of the scene "blocks=red,green,blue,yellow;
/// bowls=green,yellow,blue" (pick x4, place in bowl x3, place on block x4 ...).
fn candidates() -> Vec<String> {
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

pub fn run(a: LmBenchArgs) -> Result<()> {
    let path = match a.gguf {
        Some(p) => p,
        None => {
            let dir = fetch::default_dir();
            fetch::require(&dir, &[fetch::SMOLLM2_GGUF])?;
            dir.join(fetch::SMOLLM2_GGUF)
        }
    };
    let t = Instant::now();
    let mut s = LlmScorer::load(&path)?;
    let load_s = t.elapsed().as_secs_f64();
    if a.ranking {
        let style = crate::lang::prompt::Style::parse(&a.style)
            .ok_or_else(|| anyhow::anyhow!("--style {}: expected saycan or next-step", a.style))?;
        s.set_style(style);
        return ranking(&mut s, a.json);
    }
    let cands = candidates();
    let conts: Vec<Vec<u32>> = cands
        .iter()
        .map(|c| s.tokenizer().encode(&crate::lang::prompt::continuation(c)))
        .collect::<Result<_>>()?;
    let short = "The robot arm is at a table with red, green, blue and yellow blocks and green, yellow, blue and \
                 red bowls. Human: put the red block in the green bowl\nRobot: 1.";
    let short_ids = s.prompt_ids(short)?;
    let runs = a.runs.max(1);
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
    if a.json {
        println!(
            "{}",
            json!({"model": path.display().to_string(), "load_s": load_s, "candidates": cands.len(), "prompt_tokens": prompt_tokens,
                   "tree_batch_s": {"median": tm, "p95": tp}, "one_by_one_s": {"median": sm, "p95": sp},
                   "speedup": sm / tm, "planning_step_s": {"median": pm, "p95": pp}, "few_shot_prompt_tokens": few_shot_tokens})
        );
    } else {
        println!(
            "model {} loaded in {load_s:.2} s; {} candidates, {} runs",
            path.display(),
            cands.len(),
            runs
        );
        println!(
            "after a {prompt_tokens}-token prompt (cold cache): tree batch median {tm:.3} s p95 {tp:.3} s; one by one median {sm:.3} s p95 {sp:.3} s ({:.1}x)",
            sm / tm
        );
        println!(
            "planning step (few-shot prompt of ~{few_shot_tokens} tokens cached): median {pm:.3} s p95 {pp:.3} s"
        );
    }
    Ok(())
}

fn ranking(s: &mut LlmScorer, json_out: bool) -> Result<()> {
    let cases = ranking::cases();
    let t = Instant::now();
    let rep = ranking::evaluate(s, &cases, |i| {
        if i % 10 == 9 {
            eprintln!("ranking: {}/{} cases", i + 1, cases.len());
        }
    })?;
    let secs = t.elapsed().as_secs_f64();
    if json_out {
        println!(
            "{}",
            json!({"cases": cases.len(), "seconds": secs, "by_norm": rep.by_norm})
        );
        return Ok(());
    }
    println!(
        "{} cases in {secs:.1} s (2 scorings each); top-1 accuracy of the LM score alone:",
        cases.len()
    );
    for (norm, fams) in &rep.by_norm {
        let row: Vec<String> = fams
            .iter()
            .map(|(f, (ok, n))| format!("{f} {ok}/{n}"))
            .collect();
        println!("  {norm:>9}: {}", row.join(", "));
    }
    Ok(())
}
