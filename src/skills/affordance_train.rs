//! Training the affordance models (`ganglion skills train-affordances`):
//! labelled executions of every learned skill family in random scenes
//! through the control loop, one model per family fitted on them, measured
//! on held-out executions (Brier score, ROC AUC, a reliability chart), and
//! each exported to ONNX with its card.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use super::Family;
use super::affordance::{self, Calibration, FitConfig, LEARNED, Sample, calibration};
use super::report::labelled_samples;

/// What to train.
pub struct AffordanceTraining {
    /// The reaching policy (its bytes) the skills run with, and its path.
    pub reach: Arc<Vec<u8>>,
    pub reach_path: PathBuf,
    /// Where the models, cards and chart go.
    pub out: PathBuf,
    /// The families to train (the others' files are left as they are).
    pub families: Vec<Family>,
    /// Training and held-out executions per family.
    pub cases: usize,
    pub held_out: usize,
    pub seed: u64,
    pub threads: usize,
    /// The command that made the models, for their cards.
    pub command: String,
}

/// One family's model and its held-out measurement.
pub struct FamilyResult {
    pub family: Family,
    pub train: usize,
    pub train_successes: usize,
    pub held_out: Calibration,
}

/// What training wrote and measured.
pub struct AffordanceReport {
    pub executions: usize,
    pub families: Vec<FamilyResult>,
    pub overall: Calibration,
    pub plot: PathBuf,
}

/// Runs the executions, fits and exports one model per family, and draws
/// the reliability chart; `progress(n)` sees the executions done.
pub fn train_affordances(
    t: &AffordanceTraining,
    progress: &mut dyn FnMut(usize),
) -> Result<AffordanceReport> {
    std::fs::create_dir_all(&t.out).with_context(|| format!("creating {}", t.out.display()))?;
    let fams = &t.families;
    let train = labelled_samples(
        &t.reach,
        &t.reach_path,
        fams,
        t.cases,
        t.seed,
        t.threads,
        &mut *progress,
    )?;
    let test = labelled_samples(
        &t.reach,
        &t.reach_path,
        fams,
        t.held_out,
        t.seed ^ 0x5eed,
        t.threads,
        |n| progress(fams.len() * t.cases + n),
    )?;
    let mut families = Vec::new();
    let (mut all_p, mut all_y) = (Vec::new(), Vec::new());
    for &fam in fams {
        let (r, p, y) = fit_family(t, fam, &train, &test)?;
        all_p.extend_from_slice(&p);
        all_y.extend_from_slice(&y);
        families.push(r);
    }
    let overall = calibration(&all_p, &all_y);
    // The shared chart shows every family; a partial run draws its own.
    let plot = if LEARNED.iter().all(|f| fams.contains(f)) {
        t.out.join("affordance-reliability.png")
    } else {
        let names: Vec<&str> = fams.iter().map(|f| f.name()).collect();
        t.out
            .join(format!("affordance-reliability-{}.png", names.join("-")))
    };
    let rows: Vec<_> = families
        .iter()
        .map(|f| (f.family, f.train, f.train_successes, f.held_out.clone()))
        .collect();
    affordance::reliability_png(&rows, &overall, &plot)?;
    Ok(AffordanceReport {
        executions: train.len(),
        families,
        overall,
        plot,
    })
}

/// Fits one family on its training samples, measures it on the held-out
/// ones and exports it; the held-out predictions and labels.
fn fit_family(
    t: &AffordanceTraining,
    fam: Family,
    train: &[Sample],
    test: &[Sample],
) -> Result<(FamilyResult, Vec<f32>, Vec<f32>)> {
    let tr: Vec<Sample> = train.iter().filter(|s| s.family == fam).cloned().collect();
    let te: Vec<Sample> = test.iter().filter(|s| s.family == fam).cloned().collect();
    if tr.is_empty() {
        bail!("no training executions for {}", fam.name());
    }
    let fitted = affordance::fit(
        &tr,
        &FitConfig {
            seed: t.seed,
            ..FitConfig::default()
        },
    );
    let xs: Vec<_> = te.iter().map(|s| s.x).collect();
    let p = fitted.predict(&xs);
    let y: Vec<f32> = te.iter().map(|s| s.y).collect();
    let c = calibration(&p, &y);
    let path: &Path = &affordance::model_path(&t.out, fam);
    affordance::export(&fitted, fam, path, &t.command, &c, tr.len())?;
    let result = FamilyResult {
        family: fam,
        train: tr.len(),
        train_successes: tr.iter().filter(|s| s.y > 0.5).count(),
        held_out: c,
    };
    Ok((result, p, y))
}
