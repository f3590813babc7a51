//! Runs a skill on the tabletop: the skill's waypoints become a `Policy`
//! (`SkillPolicy`: the learned reaching policy towards the current waypoint,
//! the wrist levelling servo, the suction) that runs inside the real
//! `ControlLoop`, so every command passes the safety filter (limits, rate
//! limits, joint position limits). The loop ends when the skill's last
//! waypoint is done or its time limit runs out; then the termination test
//! reads the state — exact, or in camera mode perceived (`sight`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, anyhow, bail};
use ganglion_sim::tabletop::arm::{ArmGeometry, TabletopArm};
use ganglion_sim::tabletop::reach::{self, OBS_DIM as REACH_OBS};
use ganglion_sim::tabletop::state::{ACTUATORS, SENSORS};
use ganglion_sim::{Plant, SceneSpec, TabletopPlant, TabletopState};

use super::motion::{self, Start, Until, Waypoint};
use super::sight::Eyes;
use super::{Places, Skill};
use crate::config::*;
use crate::policy::{ActionSpec, OnnxPolicy, Policy, PolicyError};
use crate::runtime::control_loop::{ClockMode, LoopControls, RunLimit};
use crate::runtime::session::RecordTo;
use crate::runtime::{Session, SessionOptions};

/// How a skill ended.
#[derive(Clone, Debug, PartialEq)]
pub enum SkillOutcome {
    Succeeded,
    /// The termination test failed, or the skill could not start (why).
    Failed(String),
    TimedOut,
}

impl SkillOutcome {
    pub fn success(&self) -> bool {
        matches!(self, SkillOutcome::Succeeded)
    }
    /// `Ok` on success, else why `skill` did not succeed.
    pub fn why(self, skill: &Skill) -> std::result::Result<(), String> {
        match self {
            SkillOutcome::Succeeded => Ok(()),
            SkillOutcome::Failed(why) => Err(why),
            SkillOutcome::TimedOut => Err(format!(
                "timed out after {} ticks",
                skill.family().time_limit_ticks()
            )),
        }
    }
    pub fn label(&self) -> &'static str {
        match self {
            SkillOutcome::Succeeded => "succeeded",
            SkillOutcome::Failed(_) => "failed",
            SkillOutcome::TimedOut => "timed out",
        }
    }
}

/// One skill execution.
#[derive(Clone, Debug)]
pub struct SkillRun {
    pub skill: Skill,
    pub outcome: SkillOutcome,
    /// Control ticks it took.
    pub steps: u64,
    pub final_state: Places,
    /// Ticks on which the safety filter raised each event.
    pub safety_events: Vec<(&'static str, u64)>,
    /// Seconds the loop spent in the skill's policy (all ticks together).
    pub policy_s: f64,
    /// Allocations per tick in the loop's code and inside the policy
    /// engine (None: no ticks ran).
    pub allocations: Option<crate::runtime::session::AllocReport>,
}

/// The shipped reaching policy.
pub const REACH_MODEL: &str = "models/arm-reach.onnx";

/// Tabletop control rate (Hz): one period of the world's physics.
pub const RATE_HZ: f64 = 25.0;

/// The sensors the skill policy observes: the arm's own (joints, the cup
/// computed from them, suction and its load sensor), the first `PROPRIO`
/// of `SENSORS`. Object positions never reach the loop's policy: a skill's
/// targets come from `SkillRunner::state` (exact, or perceived in camera
/// mode) before the loop starts.
pub const PROPRIO: usize = 13;

/// The tabletop robot file the skills run on (repository-relative).
pub const TABLETOP_ROBOT: &str = "robots/tabletop.toml";

/// The tabletop robot's loop configuration for the skills: the robot, its
/// plant (and URDF), rate and safety (speed, rate and joint position
/// limits) from [`TABLETOP_ROBOT`], checked like any robot file; the skill
/// policy's interface in place of the file's policy: the arm's own sensors
/// observed as they are, the joint speeds and suction as commands, and
/// `reach_model` as the policy.
pub fn tabletop_config(reach_model: &Path, seed: u64) -> Result<RobotConfig> {
    let path = crate::repo_path(TABLETOP_ROBOT);
    let file = crate::config::load(&path).map_err(|e| anyhow!("{e}"))?;
    skill_config(file, reach_model, seed)
}

/// [`tabletop_config`] from an already loaded robot file.
pub fn skill_config(file: RobotConfig, reach_model: &Path, seed: u64) -> Result<RobotConfig> {
    let where_ = file.source_path.display().to_string();
    let PlantConfig::Sim { kind, urdf, .. } = &file.plant else {
        bail!("{where_}: the skills need a `sim:tabletop` plant");
    };
    if kind != "sim:tabletop" {
        bail!("{where_}: the skills need a `sim:tabletop` plant, not `{kind}`");
    }
    if file.action.actuators != ACTUATORS {
        bail!(
            "{where_}: the skills command the actuators {ACTUATORS:?}, this file {:?}",
            file.action.actuators
        );
    }
    if (file.rate_hz - RATE_HZ).abs() > 1e-9 {
        bail!(
            "{where_}: rate_hz {} is not the tabletop world's {RATE_HZ}",
            file.rate_hz
        );
    }
    let n = PROPRIO;
    Ok(RobotConfig {
        plant: PlantConfig::Sim {
            kind: kind.clone(),
            seed,
            pace: Pace::Fast,
            urdf: urdf.clone(),
            drive: None,
        },
        policy: PolicyConfig {
            path: reach_model.to_path_buf(),
            kind: PolicyKind::Mlp,
            card: crate::policy::card::card_path(reach_model),
            target_return: None,
            chunking: None,
        },
        observation: ObservationConfig {
            fields: SENSORS[..PROPRIO].iter().map(|s| s.to_string()).collect(),
            offset: vec![0.0; n],
            scale: vec![1.0; n],
        },
        action: ActionConfig {
            actuators: ACTUATORS.iter().map(|s| s.to_string()).collect(),
            mapping: ActionMapping::Continuous {
                scale: vec![1.0; ACTUATORS.len()],
                offset: vec![0.0; ACTUATORS.len()],
            },
        },
        record: RecordConfig::default(),
        cameras: Vec::new(),
        ..file
    })
}

/// The arm a robot config's plant is built from: its `plant.urdf`, or the
/// shipped arm.
pub fn config_arm(cfg: &RobotConfig) -> Result<TabletopArm> {
    match &cfg.plant {
        PlantConfig::Sim { urdf: Some(p), .. } => {
            TabletopArm::load(p).map_err(|e| anyhow!("plant.urdf: {e}"))
        }
        _ => Ok(TabletopArm::shipped().clone()),
    }
}

/// A skill as a policy of the control loop. Everything is allocated before
/// the loop starts; a tick runs the reaching policy once.
pub struct SkillPolicy {
    reach: OnnxPolicy,
    waypoints: Vec<Waypoint>,
    current: usize,
    ticks_here: u32,
    reach_obs: [f32; REACH_OBS],
    reach_act: [f32; 3],
    /// The arm's kinematics (the wrist's levelling servo, speed scale).
    geometry: ArmGeometry,
    finished: Arc<AtomicBool>,
    controls: Arc<LoopControls>,
}

impl SkillPolicy {
    fn advance(&mut self) {
        self.current += 1;
        self.ticks_here = 0;
        if self.current >= self.waypoints.len() {
            self.finished.store(true, Ordering::Release);
            self.controls.request_stop();
        }
    }
}

impl Policy for SkillPolicy {
    fn act(&mut self, obs: &[f32], action: &mut [f32]) -> Result<(), PolicyError> {
        if obs.len() < PROPRIO {
            return Err(PolicyError::ObsSize {
                got: obs.len(),
                want: PROPRIO,
            });
        }
        if action.len() < ACTUATORS.len() {
            return Err(PolicyError::ActionSize {
                got: action.len(),
                want: ACTUATORS.len(),
            });
        }
        let Some(w) = self.waypoints.get(self.current).copied() else {
            action.fill(0.0);
            return Ok(());
        };
        let q = [obs[0], obs[1], obs[2], obs[3]];
        let v = [obs[4], obs[5], obs[6], obs[7]];
        let cup = [obs[8], obs[9], obs[10]];
        let holding = obs[12] >= 0.0;
        let err = (0..3)
            .map(|k| (w.target[k] - cup[k]).powi(2))
            .sum::<f32>()
            .sqrt();
        self.ticks_here += 1;
        let cmd = if let Until::Wait { .. } = w.until {
            // Stand still, only keep the wrist level.
            reach::joint_command(&self.geometry, &q, &[0.0; 3])
        } else {
            self.reach_obs = reach::observation(&q, &v, cup, w.target);
            self.reach.act(&self.reach_obs, &mut self.reach_act)?;
            reach::joint_command(&self.geometry, &q, &self.reach_act)
        };
        action[..4].copy_from_slice(&cmd);
        action[4] = if w.suction { 1.0 } else { 0.0 };
        let done = match w.until {
            Until::Reached { tol } => err < tol,
            Until::Attached => holding || (err < 0.006 && self.ticks_here > 40),
            Until::Wait { ticks } => self.ticks_here >= ticks,
        };
        if done {
            self.advance();
        }
        Ok(())
    }
}

/// Runs skills one after another in one tabletop world.
pub struct SkillRunner {
    scene: SceneSpec,
    /// Camera mode: perception in place of the simulator's object state.
    eyes: Option<Eyes>,
    plant: Option<Box<dyn Plant>>,
    reach_bytes: Arc<Vec<u8>>,
    config: RobotConfig,
    /// The arm's kinematics, from the config's URDF.
    geometry: ArmGeometry,
    sensors: Vec<f32>,
    stamps: Vec<f64>,
    /// Record every skill's run (a demonstration dataset).
    recording: Option<SkillRecording>,
    /// Seconds spent perceiving (camera mode), all calls together.
    perception_s: f64,
}

/// Where a runner records its skills: one MCAP per skill run,
/// `{dir}/{prefix}-{segment:02}.mcap`, with the runner's cameras and the
/// given metadata plus `skill` and `segment`.
#[derive(Clone, Debug)]
pub struct SkillRecording {
    pub dir: PathBuf,
    pub prefix: String,
    pub metadata: std::collections::BTreeMap<String, String>,
    /// Replace earlier files of the same names.
    pub overwrite: bool,
    /// The files written so far, in order.
    pub files: Vec<PathBuf>,
}

impl SkillRunner {
    /// A world laid out from `scene` and `seed`, with the reaching policy in
    /// `reach_model` (its card must say obs 13, continuous action 3).
    pub fn new(scene: &SceneSpec, seed: u64, reach_model: &Path) -> Result<SkillRunner> {
        let bytes = crate::input::read_file(reach_model, crate::input::FileKind::Model).with_context(|| {
            format!(
                "reading the reaching policy {} (train it with `ganglion train arm-reach --out {}`)",
                reach_model.display(),
                REACH_MODEL
            )
        })?;
        Self::with_model_bytes(scene, seed, Arc::new(bytes), reach_model)
    }

    /// As `new`, with the reaching policy's ONNX bytes already read (for many
    /// runners sharing one model).
    pub fn with_model_bytes(
        scene: &SceneSpec,
        seed: u64,
        reach_bytes: Arc<Vec<u8>>,
        reach_model: &Path,
    ) -> Result<SkillRunner> {
        // Check the model once, here, so a bad file is an error before any motion.
        OnnxPolicy::from_bytes(&reach_bytes, REACH_OBS, ActionSpec::Continuous { dim: 3 })
            .with_context(|| format!("loading the reaching policy {}", reach_model.display()))?;
        let config = tabletop_config(reach_model, seed)?;
        let arm = config_arm(&config)?;
        let plant: Box<dyn Plant> =
            Box::new(TabletopPlant::with_arm(Some(scene.clone()), seed, &arm));
        Ok(SkillRunner {
            geometry: arm.geometry,
            scene: scene.clone(),
            eyes: None,
            plant: Some(plant),
            reach_bytes,
            config,
            sensors: vec![0.0; SENSORS.len()],
            stamps: vec![0.0; SENSORS.len()],
            recording: None,
            perception_s: 0.0,
        })
    }

    /// Records every later skill run to `rec` (see `SkillRecording`), with
    /// `cameras` rendering the world into each recording (`seed`: their
    /// noise).
    pub fn record_skills(
        &mut self,
        rec: SkillRecording,
        cameras: Vec<crate::config::CameraConfig>,
    ) {
        self.config.cameras = cameras;
        self.recording = Some(rec);
    }

    /// The recording, with the files written so far.
    pub fn recording(&self) -> Option<&SkillRecording> {
        self.recording.as_ref()
    }

    /// Switches to camera mode: from now on `scene`, `state` and `places`
    /// (and so grounding, affordances, waypoints and the termination tests)
    /// come from the perception model in `model` looking at the world.
    pub fn use_camera(&mut self, model: &Path, seed: u64) -> Result<()> {
        let truth = self.true_state()?;
        self.eyes = Some(Eyes::open(model, seed, &self.scene, &truth)?);
        Ok(())
    }

    /// The objects the skills work with: the scene as given, or in camera
    /// mode as perception found it.
    pub fn scene(&self) -> &SceneSpec {
        match &self.eyes {
            Some(e) => e.scene(),
            None => &self.scene,
        }
    }

    /// The simulator's scene (for judging outcomes, never for acting).
    pub fn true_scene(&self) -> &SceneSpec {
        &self.scene
    }

    /// The loop configuration (for tests that tighten its safety limits).
    pub fn config_mut(&mut self) -> &mut RobotConfig {
        &mut self.config
    }

    /// The state the skills act on: exact, or in camera mode perceived (a
    /// fresh frame each call).
    pub fn state(&mut self) -> Result<TabletopState> {
        let truth = self.true_state()?;
        match self.eyes.as_mut() {
            Some(eyes) => {
                let t0 = std::time::Instant::now();
                let seen = eyes.perceive(&self.scene, &truth);
                self.perception_s += t0.elapsed().as_secs_f64();
                seen
            }
            None => Ok(truth),
        }
    }

    /// Seconds spent perceiving so far (camera mode; rendering the frame
    /// and the perception model).
    pub fn perception_seconds(&self) -> f64 {
        self.perception_s
    }

    /// The simulator's exact state (for judging outcomes, and the arm's
    /// proprioception).
    pub fn true_state(&mut self) -> Result<TabletopState> {
        let plant = self
            .plant
            .as_mut()
            .ok_or_else(|| anyhow!("the tabletop plant was lost in an earlier failed run"))?;
        plant.read_sensors(&mut self.sensors, &mut self.stamps);
        TabletopState::from_sensors(
            &self.sensors,
            self.scene.blocks.len(),
            self.scene.bowls.len(),
        )
        .ok_or_else(|| anyhow!("the tabletop plant reported a malformed state"))
    }

    pub fn places(&mut self) -> Result<Places> {
        let state = self.state()?;
        Ok(Places::of(&state, self.scene()))
    }

    /// Executes `skill` through the control loop and reports how it ended.
    pub fn run(&mut self, skill: &Skill) -> Result<SkillRun> {
        let start_state = self.state()?;
        let start = Start {
            held: start_state.held,
        };
        let scene = self.scene().clone();
        let waypoints = match motion::waypoints(skill, &scene, &start_state) {
            Ok(w) => w,
            Err(why) => {
                return Ok(SkillRun {
                    skill: skill.clone(),
                    outcome: SkillOutcome::Failed(why),
                    steps: 0,
                    final_state: Places::of(&start_state, &scene),
                    safety_events: Vec::new(),
                    policy_s: 0.0,
                    allocations: None,
                });
            }
        };
        if waypoints.is_empty() {
            return Ok(SkillRun {
                skill: skill.clone(),
                outcome: SkillOutcome::Succeeded,
                steps: 0,
                final_state: Places::of(&start_state, &scene),
                safety_events: Vec::new(),
                policy_s: 0.0,
                allocations: None,
            });
        }
        let d = self.drive(
            &skill.to_string(),
            waypoints,
            skill.family().time_limit_ticks(),
            true,
        )?;
        let (finished, steps, safety_events, policy_s, allocations) = (
            d.finished,
            d.steps,
            d.safety_events,
            d.policy_s,
            d.allocations,
        );
        let end = self.state()?;
        let outcome = if !finished {
            SkillOutcome::TimedOut
        } else if motion::succeeded(skill, &scene, &start, &end) {
            SkillOutcome::Succeeded
        } else {
            SkillOutcome::Failed(format!("the termination test of `{skill}` failed"))
        };
        Ok(SkillRun {
            skill: skill.clone(),
            outcome,
            steps,
            final_state: Places::of(&end, &scene),
            safety_events,
            policy_s,
            allocations: Some(allocations),
        })
    }

    /// Drives the arm through `waypoints` in the control loop (at most
    /// `max_ticks`), recording the run when `record` and recording is on.
    fn drive(
        &mut self,
        label: &str,
        waypoints: Vec<Waypoint>,
        max_ticks: u64,
        record: bool,
    ) -> Result<Driven> {
        let reach = OnnxPolicy::from_bytes(
            &self.reach_bytes,
            REACH_OBS,
            ActionSpec::Continuous { dim: 3 },
        )?;
        let finished = Arc::new(AtomicBool::new(false));
        let controls = Arc::new(LoopControls::default());
        let policy = SkillPolicy {
            reach,
            waypoints,
            current: 0,
            ticks_here: 0,
            reach_obs: [0.0; REACH_OBS],
            reach_act: [0.0; 3],
            geometry: self.geometry,
            finished: finished.clone(),
            controls: controls.clone(),
        };
        let plant = self
            .plant
            .take()
            .ok_or_else(|| anyhow!("the tabletop plant was lost in an earlier failed run"))?;
        let (record, cameras) = match self.recording.as_mut().filter(|_| record) {
            Some(rec) => {
                let segment = rec.files.len();
                let path = rec.dir.join(format!("{}-{segment:02}.mcap", rec.prefix));
                let mut metadata = rec.metadata.clone();
                metadata.insert("skill".into(), label.to_string());
                metadata.insert("segment".into(), segment.to_string());
                rec.files.push(path.clone());
                // The loop makes an unpaced rig wait for the recorder.
                let rig = crate::camera::CameraRig::from_config(&self.config, seed_of(&metadata))?;
                let to = RecordTo {
                    path,
                    overwrite: rec.overwrite,
                    metadata,
                    min_ring_capacity: 16_384,
                };
                (Some(to), Some(rig))
            }
            None => (None, None),
        };
        let mut session = Session::with_cameras(
            &self.config,
            plant,
            Box::new(policy),
            SessionOptions {
                clock: ClockMode::Lockstep { paced: false },
                limit: RunLimit {
                    ticks: Some(max_ticks),
                    ..RunLimit::default()
                },
                record,
                realtime_thread: false,
                episode: 0,
                seed: 0,
                plant_kind: "sim:tabletop".into(),
            },
            cameras,
        )?;
        session.set_controls(controls);
        let (report, ctl) = session.run()?;
        let steps = report.ticks;
        let policy_s = report.policy.mean_us * report.policy.count as f64 * 1e-6;
        let safety_events: Vec<(&'static str, u64)> =
            ctl.filter().counters().filter(|(_, n)| *n > 0).collect();
        self.plant = Some(ctl.into_plant());
        Ok(Driven {
            finished: finished.load(Ordering::Acquire),
            steps,
            safety_events,
            policy_s,
            allocations: report.allocations,
        })
    }

    /// Brings the arm to rest where it is, the suction as it is (a held
    /// block stays held): the robot's safe state between programs or after
    /// a stop. Does nothing when the arm is already still.
    pub fn come_to_rest(&mut self) -> Result<()> {
        let s = self.true_state()?;
        if s.v.iter().all(|v| v.abs() < REST_SPEED) {
            return Ok(());
        }
        let hold = vec![Waypoint {
            target: s.cup,
            suction: s.suction,
            until: Until::Wait { ticks: 40 },
        }];
        self.drive("come to rest", hold, 60, false)?;
        Ok(())
    }
}

/// Joint speed (rad/s) under which the arm counts as at rest.
pub const REST_SPEED: f32 = 0.05;

/// What driving through waypoints did.
struct Driven {
    finished: bool,
    steps: u64,
    safety_events: Vec<(&'static str, u64)>,
    policy_s: f64,
    allocations: crate::runtime::session::AllocReport,
}

/// The camera noise seed of a recording: its `seed` entry, else 0.
fn seed_of(metadata: &std::collections::BTreeMap<String, String>) -> u64 {
    metadata
        .get("seed")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}
