//! The VLA as a chunk model for the control loop (`policy::chunked`): the
//! tract engine (`vla::engine`) fed the newest camera frame, the loop's
//! observation and the instruction's embedding, computed once when the
//! model is made for an instruction.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::PolicyError;
use super::chunked::ChunkModel;
use crate::camera::ImageFrame;
use crate::vla::ACTION;
use crate::vla::engine::VlaEngine;

/// A VLA chunk model for one instruction.
pub struct VlaChunks {
    engine: VlaEngine,
}

impl VlaChunks {
    /// `path` for the overhead camera perception uses, with `embedding` the
    /// instruction's.
    pub fn new(path: &Path, embedding: &[f32]) -> Result<VlaChunks> {
        let mut engine = VlaEngine::load(path, crate::perception::camera())?;
        engine.set_instruction(embedding)?;
        Ok(VlaChunks { engine })
    }
}

impl ChunkModel for VlaChunks {
    fn obs_dim(&self) -> usize {
        crate::learn::demos::PROPRIO.len()
    }

    fn action_dim(&self) -> usize {
        ACTION
    }

    fn horizon(&self) -> usize {
        self.engine.horizon()
    }

    fn frame_size(&self) -> Option<(usize, usize)> {
        let c = self.engine.camera();
        Some((c.width, c.height))
    }

    fn predict(
        &mut self,
        obs: &[f32],
        frame: Option<&ImageFrame>,
        chunk: &mut [f32],
    ) -> Result<(), PolicyError> {
        let Some(frame) = frame else {
            return Err(PolicyError::Inference("no camera frame yet".into()));
        };
        self.engine
            .predict(obs, &frame.rgb, &frame.depth, chunk)
            .map_err(|e| PolicyError::Inference(format!("{e:#}")))
    }
}

/// Makes VLA chunk models of one file for instructions as they come, with
/// one MiniLM (from `models/lm`, `ganglion models fetch`) loaded on first
/// use.
pub struct VlaLoader {
    path: PathBuf,
    lm: Option<crate::lang::minilm::MiniLm>,
}

impl VlaLoader {
    pub fn new(path: &Path) -> VlaLoader {
        VlaLoader {
            path: path.to_path_buf(),
            lm: None,
        }
    }

    /// The model for `instruction`.
    pub fn load(&mut self, instruction: &str) -> Result<Box<dyn ChunkModel>> {
        let lm = match &mut self.lm {
            Some(lm) => lm,
            None => {
                let dir = crate::lang::fetch::default_dir();
                let lm = crate::lang::minilm::MiniLm::load_default(&dir).with_context(|| {
                    format!(
                        "loading MiniLM from {} (run `ganglion models fetch`)",
                        dir.display()
                    )
                })?;
                self.lm.insert(lm)
            }
        };
        let e = lm.embed(instruction)?;
        Ok(Box::new(VlaChunks::new(&self.path, &e)?))
    }
}

/// Loads the VLA at `path` for `instruction` (one-off: `VlaLoader` keeps
/// the language model between instructions).
pub fn load_chunk_model(path: &Path, instruction: &str) -> Result<Box<dyn ChunkModel>> {
    VlaLoader::new(path).load(instruction)
}
