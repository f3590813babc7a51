//! `ganglion train ENV --algo dt --data DIR`: a Decision Transformer from a
//! dataset of recordings (`learn::dt_run`), with a progress bar and the
//! report printed.

use anyhow::Result;
use serde_json::json;

use super::progress_bar;
use ganglion::learn::dt_run::{DtRun, run_dt};

pub fn train_and_report(run: &DtRun, json: bool) -> Result<()> {
    let bar = progress_bar(run.cfg.steps as u64, "steps", json);
    let mut smooth = None::<f32>;
    let r = run_dt(run, &mut |step, loss| {
        let s = smooth.map_or(loss, |m| 0.98 * m + 0.02 * loss);
        smooth = Some(s);
        if step % 10 == 0 {
            bar.set_position(step as u64);
            bar.set_message(format!("loss {s:.4}"));
        }
    })?;
    bar.finish_and_clear();
    if json {
        println!(
            "{}",
            json!({"env": run.env, "algo": "dt", "out": r.out.display().to_string(),
                   "wall_s": r.wall_s, "tokens_per_s": r.tokens_per_s,
                   "final_loss": r.final_loss, "targets": r.targets})
        );
        return Ok(());
    }
    let d = &r.dataset;
    println!(
        "trained a Decision Transformer on {} episodes ({} steps) of {} in {:.1} s ({:.0} tokens/s)",
        d.episodes, d.steps, run.env, r.wall_s, r.tokens_per_s
    );
    println!("  model  {}", r.out.display());
    println!(
        "  card   {}",
        ganglion::policy::card::card_path(&r.out).display()
    );
    println!(
        "  loss   {} (final {:.4})",
        r.loss_png.display(),
        r.final_loss
    );
    println!(
        "  dataset returns: min {:.1}, mean {:.1}, max {:.1}",
        d.min, d.mean, d.max
    );
    for t in &r.targets {
        println!(
            "  target {:>8.1} → achieved {:.1} ± {:.1} over {} episodes",
            t.target, t.mean_return, t.std_return, run.eval_episodes
        );
    }
    Ok(())
}
