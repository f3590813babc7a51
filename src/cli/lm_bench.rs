//! `ganglion lm-bench`: time of scoring 20 candidate skills with the
//! on-device LLM (median and p95 over runs): after a ~40-token prompt with a
//! cold cache, and as a planning step (few-shot prompt cached, new
//! instruction), each against one-candidate-at-a-time scoring measured in the
//! same run.

use std::time::Instant;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use ganglion::bench::lm::time_scoring;
use ganglion::lang::{LlmScorer, Scorer, fetch, ranking};

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
        let style = ganglion::lang::prompt::Style::parse(&a.style)
            .ok_or_else(|| anyhow::anyhow!("--style {}: expected saycan or next-step", a.style))?;
        s.set_style(style);
        return ranking(&mut s, a.json);
    }
    let mut r = time_scoring(&mut s, a.runs)?;
    // The same cases again with int8 products, in the same run.
    r["int8"] = if s.use_q8() {
        time_scoring(&mut s, a.runs)?
    } else {
        json!({"skipped": "this CPU has no AVX-512 VNNI (the int8 kernel)"})
    };
    if a.json {
        r["model"] = json!(path.display().to_string());
        r["load_s"] = json!(load_s);
        println!("{r}");
        return Ok(());
    }
    let f = |k: &str, q: &str| r[k][q].as_f64().unwrap_or(f64::NAN);
    println!(
        "model {} loaded in {load_s:.2} s; {} candidates, {} runs",
        path.display(),
        r["candidates"],
        r["runs"]
    );
    println!(
        "after a {}-token prompt (cold cache): tree batch median {:.3} s p95 {:.3} s; one by one median {:.3} s p95 {:.3} s ({:.1}x)",
        r["prompt_tokens"],
        f("tree_batch_s", "median"),
        f("tree_batch_s", "p95"),
        f("one_by_one_s", "median"),
        f("one_by_one_s", "p95"),
        r["speedup"].as_f64().unwrap_or(f64::NAN)
    );
    println!(
        "planning step (few-shot prompt of ~{} tokens cached): median {:.3} s p95 {:.3} s",
        r["few_shot_prompt_tokens"],
        f("planning_step_s", "median"),
        f("planning_step_s", "p95")
    );
    match r["int8"]["planning_step_s"]["median"].as_f64() {
        Some(m) => println!(
            "int8 products (same run): planning step median {m:.3} s p95 {:.3} s; tree batch median {:.3} s",
            r["int8"]["planning_step_s"]["p95"]
                .as_f64()
                .unwrap_or(f64::NAN),
            r["int8"]["tree_batch_s"]["median"]
                .as_f64()
                .unwrap_or(f64::NAN)
        ),
        None => println!("int8 products: {}", r["int8"]["skipped"]),
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
