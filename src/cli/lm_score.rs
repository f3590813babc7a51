//! `ganglion lm-score`: scores candidate skill texts for an instruction with a
//! language model and prints each candidate's length-normalised
//! log-probability (for checking a model or a prompt by hand).

use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use serde_json::json;

use ganglion::lang::LmSpec;

#[derive(Args, Debug)]
pub struct LmScoreArgs {
    /// The instruction, e.g. "put the red block in the green bowl".
    pub instruction: String,
    /// Steps done so far, separated by `;`.
    #[arg(long, default_value = "")]
    pub history: String,
    /// Candidate skill texts, separated by `;`.
    #[arg(long)]
    pub candidates: String,
    /// Objects in the scene for the prompt, e.g. "red block, green bowl".
    #[arg(long)]
    pub scene: Option<String>,
    /// Language model: default (SmolLM2 in models/lm/), gguf:PATH, openai:URL[#MODEL].
    #[arg(long, default_value = "default")]
    pub lm: String,
    /// Prompt layout for the on-device model: saycan, next-step or chat.
    #[arg(long)]
    pub style: Option<String>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn split(s: &str) -> Vec<String> {
    s.split(';')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

pub fn run(a: LmScoreArgs) -> Result<()> {
    let candidates = split(&a.candidates);
    if candidates.is_empty() {
        bail!("--candidates: give at least one candidate (separated by `;`)");
    }
    let history = split(&a.history);
    let t0 = Instant::now();
    let mut scorer = LmSpec::parse(&a.lm)?.open()?;
    let load_s = t0.elapsed().as_secs_f64();
    scorer.set_scene(a.scene.clone());
    if let Some(st) = &a.style {
        scorer.set_style(
            ganglion::lang::prompt::Style::parse(st).ok_or_else(|| {
                anyhow::anyhow!("--style {st}: expected saycan, next-step or chat")
            })?,
        );
    }
    let t1 = Instant::now();
    let scores = scorer.score_detailed(&a.instruction, &history, &candidates)?;
    let score_s = t1.elapsed().as_secs_f64();
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by(|&i, &j| scores[j].mean().total_cmp(&scores[i].mean()));
    if a.json {
        let rows: Vec<_> = order
            .iter()
            .map(|&i| {
                json!({"candidate": candidates[i], "score": scores[i].mean(), "logprob_sum": scores[i].logprob_sum, "tokens": scores[i].tokens})
            })
            .collect();
        println!(
            "{}",
            json!({"lm": scorer.describe(), "instruction": a.instruction, "history": history, "candidates": rows, "load_s": load_s, "score_s": score_s})
        );
    } else {
        println!(
            "lm: {} (loaded in {load_s:.2} s, scored in {score_s:.3} s)",
            scorer.describe()
        );
        println!("{:>9} {:>9} {:>4}  candidate", "mean", "sum", "toks");
        for &i in &order {
            let s = scores[i];
            println!(
                "{:>9.3} {:>9.3} {:>4}  {}",
                s.mean(),
                s.logprob_sum,
                s.tokens,
                candidates[i]
            );
        }
    }
    Ok(())
}
