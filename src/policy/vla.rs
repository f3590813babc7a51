//! PLACEHOLDER, to be replaced on merge: the vision-language-action policy
//! module is being written on another branch. Only `load_chunk_model`'s
//! signature is fixed here, so `ganglion eval tabletop --policy FILE.onnx`
//! builds; it always fails until the real module lands.

use std::path::Path;

use super::ChunkModel;

/// Loads the VLA model in `path` as a chunk model conditioned on
/// `instruction`. PLACEHOLDER: always an error.
pub fn load_chunk_model(path: &Path, instruction: &str) -> anyhow::Result<Box<dyn ChunkModel>> {
    let _ = instruction;
    anyhow::bail!(
        "{}: no VLA model support yet (placeholder `policy::vla`)",
        path.display()
    )
}
