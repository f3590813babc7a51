//! Tabletop demonstrations (`ganglion collect tabletop`): random scenes, an
//! instruction drawn from templates and filled with the scene's colours,
//! planned by the SayCan planner from the exact state and executed by the
//! skills through the control loop with the overhead camera on. Every skill
//! run is one MCAP recording (camera frames, joint sensors, the commanded
//! joint speeds and suction, the instruction in the metadata); an index,
//! `episodes.jsonl`, says which files make each episode and whether it
//! succeeded, judged on the simulator's true final state. Failed episodes
//! are kept and marked: a learner may use or drop them.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::config::{CameraConfig, CameraMount, CameraSourceConfig};
use crate::lang::service::{PlannerParts, plan_symbolic};
use crate::sim::{Rng, SceneSpec, derive_seed};
use crate::skills::report::scene_text;
use crate::skills::{Places, Skill, SkillRecording, SkillRunner};

/// The dataset's index file in `out`.
pub const EPISODE_INDEX: &str = "episodes.jsonl";

/// What to collect.
pub struct TabletopCollectOptions {
    /// Instruction templates: `{block}` and `{bowl}` become colours of the
    /// scene's blocks and bowls, `{block2}` a second block.
    pub templates: Vec<String>,
    pub episodes: usize,
    pub seed: u64,
    pub out: PathBuf,
    pub overwrite: bool,
    /// The reaching policy the skills use.
    pub reach: PathBuf,
    /// A camera frame every this many ticks (the loop runs at 25 Hz).
    pub camera_every: u32,
    /// The command that made the dataset (the index's first line).
    pub command: String,
    /// Leave the held-out colour combinations (`held_out_combination`) out
    /// of the dataset entirely.
    pub exclude_held_out: bool,
}

/// The family of block/bowl colour combinations a learner never sees in
/// training, to measure how it generalises to unseen combinations: the
/// bowl whose colour follows the block's in `COLORS` (red block in a green
/// bowl, …, orange block in a red bowl: 6 of the 36). Every colour is still
/// seen as a block and as a bowl.
pub fn held_out_combination(block: &str, bowl: &str) -> bool {
    use ganglion_sim::tabletop::scene::COLORS;
    let at = |c: &str| COLORS.iter().position(|k| *k == c);
    match (at(block), at(bowl)) {
        (Some(a), Some(b)) => b == (a + 1) % COLORS.len(),
        _ => false,
    }
}

/// A filled instruction's block and bowl colours (the first `{block}` and
/// `{bowl}` of its template), for the held-out check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filled {
    pub text: String,
    pub block: Option<String>,
    pub bowl: Option<String>,
}

impl Filled {
    /// Whether this instruction names a held-out block/bowl combination.
    pub fn held_out(&self) -> bool {
        match (&self.block, &self.bowl) {
            (Some(a), Some(b)) => held_out_combination(a, b),
            _ => false,
        }
    }
}

/// One episode's line in the index.
#[derive(Clone, Debug, Serialize)]
pub struct EpisodeEntry {
    pub episode: usize,
    pub seed: u64,
    pub scene: String,
    pub instruction: String,
    pub plan: Vec<String>,
    /// Every skill succeeded and the instruction's goals hold in the
    /// simulator's final state.
    pub success: bool,
    /// Why not, when it failed.
    pub failure: Option<String>,
    /// Its recordings, one per skill run, in order (names in the dataset
    /// directory).
    pub files: Vec<String>,
    pub ticks: u64,
}

/// What was collected.
#[derive(Clone, Debug, Serialize)]
pub struct TabletopCollectReport {
    pub out: String,
    pub episodes: usize,
    pub succeeded: usize,
    pub recordings: usize,
    pub ticks: u64,
}

/// Reads instruction templates: one per line, `#` comments and blank lines
/// skipped. Unknown `{…}` placeholders are an error naming the line.
pub fn read_templates(path: &Path) -> Result<Vec<String>> {
    let text = crate::input::read_text(path, crate::input::FileKind::Config)
        .with_context(|| format!("reading instruction templates {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let mut rest = t;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                bail!("{}:{}: an unclosed `{{`", path.display(), i + 1);
            };
            let name = &rest[open + 1..open + close];
            if !matches!(name, "block" | "bowl" | "block2") {
                bail!(
                    "{}:{}: unknown placeholder {{{name}}} (use {{block}}, {{block2}} or {{bowl}})",
                    path.display(),
                    i + 1
                );
            }
            rest = &rest[open + close + 1..];
        }
        out.push(t.to_string());
    }
    if out.is_empty() {
        bail!("{}: no instruction templates", path.display());
    }
    Ok(out)
}

/// The overhead camera perception was trained on, as a loop camera.
pub fn overhead_camera(every_ticks: u32) -> CameraConfig {
    let c = crate::perception::camera();
    CameraConfig {
        name: "overhead".into(),
        width: c.width,
        height: c.height,
        every_ticks: every_ticks.max(1),
        fx: c.fx,
        fy: c.fy,
        cx: c.cx,
        cy: c.cy,
        mount: CameraMount::Fixed {
            eye: c.eye,
            target: c.target,
        },
        noise_rgb: 3.0,
        noise_depth: 0.001,
        source: CameraSourceConfig::Sim,
    }
}

/// A template filled for `scene`, or `None` when the scene lacks what it
/// names (no bowl, one block for `{block2}`).
pub fn fill(template: &str, scene: &SceneSpec, rng: &mut Rng) -> Option<Filled> {
    let mut blocks = scene.blocks.clone();
    rng.shuffle(&mut blocks);
    let bowl = (!scene.bowls.is_empty()).then(|| scene.bowls[rng.below(scene.bowls.len())].clone());
    let mut s = template.to_string();
    let mut out = Filled {
        text: String::new(),
        block: None,
        bowl: None,
    };
    for (key, value) in [
        ("{block}", blocks.first().cloned()),
        ("{block2}", blocks.get(1).cloned()),
        ("{bowl}", bowl),
    ] {
        if s.contains(key) {
            let value = value?;
            s = s.replace(key, &value);
            match key {
                "{block}" => out.block = Some(value),
                "{bowl}" => out.bowl = Some(value),
                _ => {}
            }
        }
    }
    out.text = s;
    Some(out)
}

/// Collects `o.episodes` episodes; `on_episode` sees each as it ends.
pub fn collect_tabletop(
    o: &TabletopCollectOptions,
    parts: &mut PlannerParts,
    on_episode: &mut dyn FnMut(&EpisodeEntry),
) -> Result<TabletopCollectReport> {
    if o.templates.is_empty() {
        bail!("no instruction templates");
    }
    std::fs::create_dir_all(&o.out)
        .with_context(|| format!("creating the dataset directory {}", o.out.display()))?;
    let index_path = o.out.join(EPISODE_INDEX);
    if index_path.exists() && !o.overwrite {
        bail!(
            "{} exists: pass --overwrite to replace this dataset",
            index_path.display()
        );
    }
    let mut index = std::fs::File::create(&index_path)
        .with_context(|| format!("creating {}", index_path.display()))?;
    let header = serde_json::json!({"command": o.command, "templates": o.templates});
    writeln!(index, "{header}")?;
    let reach_bytes = std::sync::Arc::new(crate::input::read_file(
        &o.reach,
        crate::input::FileKind::Model,
    )?);
    let mut report = TabletopCollectReport {
        out: o.out.display().to_string(),
        episodes: 0,
        succeeded: 0,
        recordings: 0,
        ticks: 0,
    };
    for e in 0..o.episodes {
        let seed = derive_seed(o.seed, e as u64);
        let mut rng = Rng::new(derive_seed(seed, 0x1457));
        // A scene the drawn template can be said of (a few tries).
        let (scene, instruction) = (0..32)
            .find_map(|k| {
                let scene = SceneSpec::random(derive_seed(seed, 100 + k));
                let t = &o.templates[rng.below(o.templates.len())];
                fill(t, &scene, &mut rng)
                    .filter(|f| !(o.exclude_held_out && f.held_out()))
                    .map(|f| (scene, f.text))
            })
            .with_context(
                || "no random scene fits the templates (they need bowls or two blocks?)",
            )?;
        let entry = episode(o, parts, e, seed, &scene, &instruction, &reach_bytes)?;
        writeln!(index, "{}", serde_json::to_string(&entry)?)?;
        index.flush()?;
        report.episodes += 1;
        report.succeeded += entry.success as usize;
        report.recordings += entry.files.len();
        report.ticks += entry.ticks;
        on_episode(&entry);
    }
    Ok(report)
}

fn episode(
    o: &TabletopCollectOptions,
    parts: &mut PlannerParts,
    e: usize,
    seed: u64,
    scene: &SceneSpec,
    instruction: &str,
    reach_bytes: &std::sync::Arc<Vec<u8>>,
) -> Result<EpisodeEntry> {
    let plan = plan_symbolic(parts, instruction, scene, seed)?;
    let mut runner = SkillRunner::with_model_bytes(scene, seed, reach_bytes.clone(), &o.reach)?;
    let mut metadata = std::collections::BTreeMap::new();
    metadata.insert("instruction".into(), instruction.to_string());
    metadata.insert("scene".into(), scene_text(scene));
    metadata.insert("seed".into(), seed.to_string());
    metadata.insert("episode".into(), e.to_string());
    metadata.insert("dataset".into(), "tabletop-demonstrations".into());
    runner.record_skills(
        SkillRecording {
            dir: o.out.clone(),
            prefix: format!("ep{e:05}"),
            metadata,
            overwrite: o.overwrite,
            files: Vec::new(),
        },
        vec![overhead_camera(o.camera_every)],
    );
    let mut failure = None;
    let mut ticks = 0;
    if plan.refused || !plan.success {
        failure = Some(format!(
            "the planner did not plan it ({})",
            plan.stopped_because
        ));
    } else {
        for step in &plan.steps {
            let skill = Skill::parse(&step.skill)?;
            if skill == Skill::Done {
                break;
            }
            let run = runner.run(&skill)?;
            ticks += run.steps;
            if !run.outcome.success() {
                failure = Some(format!("`{}`: {:?}", step.skill, run.outcome));
                break;
            }
        }
    }
    let end = runner.true_state()?;
    let places = Places::of(&end, scene);
    if failure.is_none()
        && let Some((obj, place)) = plan
            .goals
            .iter()
            .find(|(obj, place)| places.get(obj) != Some(place.as_str()))
    {
        failure = Some(format!("{obj} is not at {place} in the final state"));
    }
    let files = runner
        .recording()
        .map(|r| {
            r.files
                .iter()
                .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    Ok(EpisodeEntry {
        episode: e,
        seed,
        scene: scene_text(scene),
        instruction: instruction.to_string(),
        plan: plan.steps.iter().map(|s| s.skill.clone()).collect(),
        success: failure.is_none(),
        failure,
        files,
        ticks,
    })
}
