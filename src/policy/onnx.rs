//! `OnnxPolicy`: an ONNX actor run by tract. The model is loaded, checked
//! against what the caller expects (one input `[N, obs_dim]`, a first output
//! `[N, head_dim]`), specialised to batch 1, optimised and made runnable once;
//! the tract state is spawned once and reused for every `act`.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use tract_onnx::prelude::*;

use super::card::{ActionSpec, ModelCard};
use super::{Policy, PolicyError, argmax, check_finite};

type Plan = TypedSimplePlan;
type State = TypedSimpleState;

pub struct OnnxPolicy {
    state: State,
    /// Reused input tensor: written in place while tract holds no reference to
    /// it (it drops its references at the end of every run), saving an
    /// allocation per call.
    input: std::sync::Arc<Tensor>,
    obs_dim: usize,
    action: ActionSpec,
    input_name: String,
    output_name: String,
    _plan: std::sync::Arc<Plan>,
}

impl std::fmt::Debug for OnnxPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxPolicy")
            .field("obs_dim", &self.obs_dim)
            .field("action", &self.action)
            .field("input", &self.input_name)
            .field("output", &self.output_name)
            .finish()
    }
}

impl OnnxPolicy {
    /// Loads `path` using the model card beside it for the expected shapes.
    pub fn from_card(path: &Path) -> Result<Self> {
        let card = ModelCard::load_for(path)?;
        Self::load(path, card.obs_dim, card.action)
    }

    /// Loads `path` expecting observations of `obs_dim` and producing `action`.
    pub fn load(path: &Path, obs_dim: usize, action: ActionSpec) -> Result<Self> {
        let bytes = crate::input::read_file(path, crate::input::FileKind::Model)?;
        Self::from_bytes(&bytes, obs_dim, action)
            .with_context(|| format!("policy {}", path.display()))
    }

    /// As `load`, from the bytes of an ONNX file.
    pub fn from_bytes(bytes: &[u8], obs_dim: usize, action: ActionSpec) -> Result<Self> {
        // tract reports bad files as errors; the catch is a last line of defence
        // so that no input file can take the process down.
        match super::catch_engine_panic(|| build(bytes, obs_dim, &action)) {
            Ok(r) => r,
            Err(why) => Err(anyhow!(
                "the ONNX engine failed on this file (internal error: {why})"
            )),
        }
    }

    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    pub fn action_spec(&self) -> &ActionSpec {
        &self.action
    }

    /// Runs the network and returns its raw output row (logits or mean).
    pub fn raw_output(&mut self, obs: &[f32]) -> Result<Vec<f32>, PolicyError> {
        let out = self.run(obs)?;
        out_slice(&out).map(|s| s.to_vec())
    }

    /// Runs the network and copies its whole output row into `out`, which
    /// must be exactly as long (a chunk model writes H × A values).
    pub fn output_into(&mut self, obs: &[f32], out: &mut [f32]) -> Result<(), PolicyError> {
        let t = self.run(obs)?;
        let values = out_slice(&t)?;
        if values.len() != out.len() {
            return Err(PolicyError::ActionSize {
                got: out.len(),
                want: values.len(),
            });
        }
        out.copy_from_slice(values);
        Ok(())
    }

    fn run(&mut self, obs: &[f32]) -> Result<TValue, PolicyError> {
        if obs.len() != self.obs_dim {
            return Err(PolicyError::ObsSize {
                got: obs.len(),
                want: self.obs_dim,
            });
        }
        if std::sync::Arc::get_mut(&mut self.input).is_none() {
            // Still shared (should not happen after a completed run): start afresh.
            self.input = std::sync::Arc::new((*self.input).clone());
        }
        if let Some(t) = std::sync::Arc::get_mut(&mut self.input) {
            let mut view = t
                .try_as_plain_ram_mut()
                .map_err(|e| PolicyError::Inference(e.to_string()))?;
            view.as_slice_mut::<f32>()
                .map_err(|e| PolicyError::Inference(e.to_string()))?
                .copy_from_slice(obs);
        }
        let mut outputs = self
            .state
            .run(tvec!(self.input.clone().into_tvalue()))
            .map_err(|e| PolicyError::Inference(format!("{e:#}")))?;
        if outputs.is_empty() {
            return Err(PolicyError::Inference("model produced no output".into()));
        }
        Ok(outputs.swap_remove(0))
    }
}

/// The f32 contents of an output tensor.
fn out_slice(t: &TValue) -> Result<&[f32], PolicyError> {
    t.try_as_plain_ram()
        .and_then(|v| v.as_slice::<f32>())
        .map_err(|e| PolicyError::Inference(e.to_string()))
}

fn shape_text(fact: &InferenceFact) -> String {
    format!("{fact:?}")
}

/// Names the operators tract does not implement (custom or newer ops), so
/// such a model is reported as what it is rather than as a shape mismatch.
pub(crate) fn reject_unknown_ops(model: &InferenceModel) -> Result<()> {
    let unknown: Vec<String> = model
        .nodes()
        .iter()
        .filter_map(|n| {
            let op = n.op.name();
            op.strip_prefix("Unimplemented(")
                .and_then(|s| s.strip_suffix(')'))
                .map(|t| format!("`{}` (node `{}`)", t, n.name))
        })
        .take(5)
        .collect();
    if !unknown.is_empty() {
        bail!(
            "the model uses operator(s) the ONNX engine does not implement: {}",
            unknown.join(", ")
        );
    }
    Ok(())
}

fn build(bytes: &[u8], obs_dim: usize, action: &ActionSpec) -> Result<OnnxPolicy> {
    let max = super::card::MAX_CARD_DIM;
    if obs_dim == 0 || obs_dim > max || action.head_dim() == 0 || action.head_dim() > max {
        bail!(
            "observation and action sizes must be 1..={max}, got {obs_dim} and {}",
            action.head_dim()
        );
    }
    let head = action.head_dim();
    let mut model = tract_onnx::onnx()
        .model_for_read(&mut std::io::Cursor::new(bytes))
        .map_err(|e| anyhow!("not a readable ONNX model: {e:#}"))?;
    reject_unknown_ops(&model)?;
    let inputs = model.input_outlets()?.to_vec();
    let outputs = model.output_outlets()?.to_vec();
    if inputs.len() != 1 {
        let names: Vec<_> = inputs
            .iter()
            .map(|o| model.node(o.node).name.clone())
            .collect();
        bail!(
            "expected exactly one input (the observation), found {}: {names:?}",
            inputs.len()
        );
    }
    if outputs.is_empty() {
        bail!("the model has no output");
    }
    let input_name = model.node(inputs[0].node).name.clone();
    // The output's tensor name (e.g. `logits`) is its outlet label; the node
    // name (e.g. `gemm2`) is the fallback.
    let output_name = model
        .outlet_label(outputs[0])
        .map(str::to_string)
        .unwrap_or_else(|| model.node(outputs[0].node).name.clone());
    // Only the first output is the action head; drop the rest (e.g. a value).
    if outputs.len() > 1 {
        model.select_output_outlets(&outputs[..1])?;
    }
    let declared = shape_text(model.input_fact(0)?);
    let model = model
        .with_input_fact(0, f32::fact([1, obs_dim]).into())?
        .into_typed()
        .map_err(|e| {
            anyhow!(
                "input `{input_name}` is declared as {declared}, but the policy feeds [1, {obs_dim}] f32 observations: {e:#}"
            )
        })?;
    let out_fact = model.output_fact(0)?.clone();
    let out_shape = out_fact.shape.as_concrete().map(|s| s.to_vec());
    match out_shape.as_deref() {
        Some([1, k]) if *k == head => {}
        Some([k]) if *k == head => {}
        _ => bail!(
            "output `{output_name}` has shape [{}] for one observation; expected [1, {head}] ({})",
            out_fact
                .shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            match action {
                ActionSpec::Discrete { n } => format!("logits of {n} discrete actions"),
                ActionSpec::Continuous { dim } => format!("mean of a {dim}-d continuous action"),
            }
        ),
    }
    if out_fact.datum_type != f32::datum_type() {
        bail!(
            "output `{output_name}` is {:?}; expected f32",
            out_fact.datum_type
        );
    }
    let plan = model
        .into_optimized()
        .context("optimising the model")?
        .into_runnable()
        .context("preparing the model to run")?;
    let state = plan.spawn().context("creating the model's run state")?;
    Ok(OnnxPolicy {
        state,
        input: std::sync::Arc::new(Tensor::zero::<f32>(&[1, obs_dim])?),
        obs_dim,
        action: action.clone(),
        input_name,
        output_name,
        _plan: plan,
    })
}

impl Policy for OnnxPolicy {
    fn act(&mut self, obs: &[f32], action: &mut [f32]) -> Result<(), PolicyError> {
        let want = self.action.action_dim();
        if action.len() != want {
            return Err(PolicyError::ActionSize {
                got: action.len(),
                want,
            });
        }
        let out = self.run(obs)?;
        let values = out_slice(&out)?;
        match self.action {
            ActionSpec::Discrete { .. } => action[0] = argmax(values)? as f32,
            ActionSpec::Continuous { .. } => {
                let values = values.get(..want).ok_or_else(|| {
                    PolicyError::Inference(format!(
                        "the model wrote {} values, the action needs {want}",
                        values.len()
                    ))
                })?;
                check_finite(values)?;
                action.copy_from_slice(values);
            }
        }
        Ok(())
    }
}

/// An ONNX model whose output row is a chunk of `horizon` actions (H × A,
/// row-major), as a `ChunkModel` for `ChunkedPolicy`.
pub struct OnnxChunks {
    policy: OnnxPolicy,
    horizon: usize,
    dim: usize,
}

impl OnnxChunks {
    /// A policy loaded with a continuous head of `horizon` × `dim` values
    /// (its card's action width is the whole chunk) as chunks of `horizon`
    /// actions of `dim`.
    pub fn new(policy: OnnxPolicy, horizon: usize, dim: usize) -> Result<Self> {
        let width = policy.action_spec().action_dim();
        if horizon == 0 || dim == 0 || width != horizon * dim {
            bail!(
                "chunk = {horizon} actions of {dim} needs a model that writes {} values; this one writes {width}",
                horizon * dim
            );
        }
        Ok(OnnxChunks {
            policy,
            horizon,
            dim,
        })
    }
}

impl super::ChunkModel for OnnxChunks {
    fn obs_dim(&self) -> usize {
        self.policy.obs_dim()
    }
    fn action_dim(&self) -> usize {
        self.dim
    }
    fn horizon(&self) -> usize {
        self.horizon
    }
    fn predict(
        &mut self,
        obs: &[f32],
        _frame: Option<&crate::camera::ImageFrame>,
        chunk: &mut [f32],
    ) -> Result<(), PolicyError> {
        self.policy.output_into(obs, chunk)
    }
}
