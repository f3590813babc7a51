//! The skills' eyes in camera mode: the fixed overhead camera renders the
//! simulated tabletop (the simulator plays the camera, nothing else), the
//! perception model turns the frame into objects, and a world model keeps
//! the scene's objects, each where it was last seen. Nothing downstream of
//! this reads the simulator's object positions; the arm's joints, cup and
//! suction are proprioception and come from the plant's sensors.

use std::path::Path;

use anyhow::{Result, bail};
use ganglion_sim::render::{Camera, Noise, Renderer};
use ganglion_sim::{SceneSpec, TabletopState, derive_seed};

use crate::perception::{Perception, align};

/// Where the skill runner's object state comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PerceptionMode {
    /// The simulator's exact object positions.
    #[default]
    State,
    /// The camera and the learned perception model.
    Camera,
}

impl PerceptionMode {
    pub fn parse(s: &str) -> Result<PerceptionMode> {
        match s {
            "state" => Ok(PerceptionMode::State),
            "camera" => Ok(PerceptionMode::Camera),
            _ => bail!("unknown perception mode `{s}` (expected `state` or `camera`)"),
        }
    }
}

/// The camera, the model and the world model.
pub struct Eyes {
    camera: Camera,
    renderer: Renderer,
    perception: Perception,
    seed: u64,
    frames: u64,
    /// The objects perception found at the start, in the planner's terms.
    scene: SceneSpec,
    /// Where each of `scene`'s objects was last seen.
    last: TabletopState,
}

/// Camera noise at run time: what perception was trained with.
const RGB_SIGMA: f32 = 3.0;
const DEPTH_SIGMA: f32 = 0.001;

impl Eyes {
    /// Opens `model` and takes the first look: the objects seen now become
    /// the scene the planner and the skills work with.
    pub fn open(
        model: &Path,
        seed: u64,
        truth_scene: &SceneSpec,
        truth: &TabletopState,
    ) -> Result<Eyes> {
        let camera = crate::perception::camera();
        let perception = Perception::load(model, camera.width, camera.height)?;
        let mut eyes = Eyes {
            renderer: Renderer::new(camera.clone()),
            camera,
            perception,
            seed,
            frames: 0,
            scene: SceneSpec::default(),
            last: truth.clone(),
        };
        let first = eyes.look(truth_scene, truth)?;
        let seen = crate::perception::perceive_state(first, truth);
        eyes.scene = seen.scene;
        eyes.last = seen.state;
        Ok(eyes)
    }

    /// The scene as perception found it.
    pub fn scene(&self) -> &SceneSpec {
        &self.scene
    }

    /// Renders a new frame of the simulated world and perceives it; the
    /// result is the world model's state, with the arm from `truth`'s
    /// proprioceptive part.
    pub fn perceive(
        &mut self,
        truth_scene: &SceneSpec,
        truth: &TabletopState,
    ) -> Result<TabletopState> {
        let dets = self.look(truth_scene, truth)?;
        let state = align(&dets, &self.scene, &self.last, truth);
        self.last = state.clone();
        Ok(state)
    }

    fn look(
        &mut self,
        truth_scene: &SceneSpec,
        truth: &TabletopState,
    ) -> Result<Vec<crate::perception::Detection>> {
        self.frames += 1;
        let noise = Noise {
            seed: derive_seed(self.seed, 0xca3e_0000 + self.frames),
            rgb_sigma: RGB_SIGMA,
            depth_sigma: DEPTH_SIGMA,
        };
        let frame = self.renderer.render(truth_scene, truth, Some(noise));
        Ok(self
            .perception
            .perceive(frame, &self.camera, truth)?
            .detections)
    }
}
