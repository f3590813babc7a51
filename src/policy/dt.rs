//! `DtPolicy`: a Decision Transformer exported to ONNX, run by tract in the
//! control loop. It keeps its context window (states, actions, returns-to-go,
//! timesteps, padding mask) in preallocated buffers, conditions on a target
//! return, and lowers the return-to-go by every reward it is told about.
//!
//! ONNX contract (batch 1, K = the card's context): inputs `states`
//! `[1, K, state_dim]`, `actions` `[1, K, act_dim]` (one-hot for discrete),
//! `returns_to_go` `[1, K, 1]`, `timesteps` i64 `[1, K]`, `attention_mask`
//! `[1, K]` (1 real, 0 left padding); output `action_preds` `[1, 1, act_dim]`,
//! the newest step's prediction, or `[1, K, act_dim]`, every position's (older
//! exports; the last row is read) — tanh-squashed means, or logits for discrete.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use tract_onnx::prelude::*;

use super::card::{ActionSpec, DtCard, ModelCard};
use super::{Policy, PolicyError, argmax, check_finite};

pub struct DtPolicy {
    state: TypedSimpleState,
    _plan: Arc<TypedSimplePlan>,
    k: usize,
    state_dim: usize,
    act_dim: usize,
    discrete: bool,
    rtg_scale: f32,
    max_timestep: usize,
    state_mean: Vec<f32>,
    state_std: Vec<f32>,
    target_return: f32,
    /// Return still to collect this episode.
    rtg: f32,
    /// Valid entries at the end of the window.
    len: usize,
    t: usize,
    states: Arc<Tensor>,
    actions: Arc<Tensor>,
    returns: Arc<Tensor>,
    timesteps: Arc<Tensor>,
    mask: Arc<Tensor>,
}

fn plain_f32(t: &mut Arc<Tensor>) -> Result<&mut [f32], PolicyError> {
    if Arc::get_mut(t).is_none() {
        *t = Arc::new((**t).clone());
    }
    let err = || PolicyError::Inference("tensor still shared by the engine".into());
    let tensor = Arc::get_mut(t).ok_or_else(err)?;
    if tensor.datum_type() != f32::datum_type() {
        return Err(PolicyError::Inference(
            "internal: window tensor is not f32".into(),
        ));
    }
    // SAFETY: the datum type was just checked, and the window tensors are
    // created by `build` as plain (host memory) tensors.
    Ok(unsafe { tensor.as_slice_mut_unchecked::<f32>() })
}

impl DtPolicy {
    /// Loads a DT with its card (beside the file) conditioned on `target`
    /// (default: the card's default target).
    pub fn from_card(path: &Path, target: Option<f32>) -> Result<Self> {
        let card = ModelCard::load_for(path)?;
        Self::load(path, &card, target)
    }

    pub fn load(path: &Path, card: &ModelCard, target: Option<f32>) -> Result<Self> {
        let dt = card
            .dt
            .as_ref()
            .ok_or_else(|| anyhow!("{}: the model card has no [dt] section", path.display()))?;
        if let Some(t) = target {
            dt.check_target(t)
                .map_err(|e| anyhow!("{}: target_return {e}", path.display()))?;
        }
        let bytes = crate::input::read_file(path, crate::input::FileKind::Model)?;
        match super::catch_engine_panic(|| build(&bytes, card, dt, target)) {
            Ok(r) => r.with_context(|| format!("decision transformer {}", path.display())),
            Err(why) => bail!(
                "{}: the ONNX engine failed on this file (internal error: {why})",
                path.display()
            ),
        }
    }

    pub fn target_return(&self) -> f32 {
        self.target_return
    }

    pub fn set_target_return(&mut self, target: f32) {
        self.target_return = target;
        self.reset();
    }
}

fn build(bytes: &[u8], card: &ModelCard, dt: &DtCard, target: Option<f32>) -> Result<DtPolicy> {
    let (act_dim, discrete) = match card.action {
        ActionSpec::Discrete { n } => (n, true),
        ActionSpec::Continuous { dim } => (dim, false),
    };
    let (k, sd) = (dt.context, card.obs_dim);
    if k == 0 || sd == 0 || act_dim == 0 {
        bail!("context, state and action sizes must be > 0");
    }
    card.check_sizes().map_err(|e| anyhow!("card: {e}"))?;
    if dt.state_mean.len() != sd || dt.state_std.len() != sd {
        bail!("card: state_mean/state_std must have {sd} values");
    }
    let mut model = tract_onnx::onnx()
        .model_for_read(&mut std::io::Cursor::new(bytes))
        .map_err(|e| anyhow!("not a readable ONNX model: {e:#}"))?;
    super::onnx::reject_unknown_ops(&model)?;
    let names = [
        "states",
        "actions",
        "returns_to_go",
        "timesteps",
        "attention_mask",
    ];
    let inputs = model.input_outlets()?.to_vec();
    if inputs.len() != names.len() {
        bail!(
            "expected {} inputs ({names:?}), found {}",
            names.len(),
            inputs.len()
        );
    }
    for (i, want) in names.iter().enumerate() {
        let got = &model.node(inputs[i].node).name;
        if got != want {
            bail!("input {i} is `{got}`, expected `{want}`");
        }
    }
    model.set_input_fact(0, f32::fact([1, k, sd]).into())?;
    model.set_input_fact(1, f32::fact([1, k, act_dim]).into())?;
    model.set_input_fact(2, f32::fact([1, k, 1]).into())?;
    model.set_input_fact(3, i64::fact([1, k]).into())?;
    model.set_input_fact(4, f32::fact([1, k]).into())?;
    let typed = model.into_typed().map_err(|e| {
        anyhow!("the model does not accept K = {k}, state_dim = {sd}, act_dim = {act_dim}: {e:#}")
    })?;
    let out = typed.output_fact(0)?.clone();
    match out.shape.as_concrete() {
        Some([1, kk, a]) if (*kk == k || *kk == 1) && *a == act_dim => {}
        _ => bail!(
            "output `action_preds` has shape {:?}; expected [1, 1, {act_dim}] or [1, {k}, {act_dim}]",
            out.shape
        ),
    }
    let plan = typed.into_optimized()?.into_runnable()?;
    let state = plan.spawn()?;
    let mut p = DtPolicy {
        state,
        _plan: plan,
        k,
        state_dim: sd,
        act_dim,
        discrete,
        rtg_scale: if dt.rtg_scale.is_finite() && dt.rtg_scale != 0.0 {
            dt.rtg_scale
        } else {
            1.0
        },
        max_timestep: dt.max_timestep.max(1),
        state_mean: dt.state_mean.clone(),
        state_std: dt
            .state_std
            .iter()
            .map(|s| if *s > 1e-6 { *s } else { 1.0 })
            .collect(),
        target_return: target.unwrap_or(dt.default_target),
        rtg: 0.0,
        len: 0,
        t: 0,
        states: Arc::new(Tensor::zero::<f32>(&[1, k, sd])?),
        actions: Arc::new(Tensor::zero::<f32>(&[1, k, act_dim])?),
        returns: Arc::new(Tensor::zero::<f32>(&[1, k, 1])?),
        timesteps: Arc::new(Tensor::zero::<i64>(&[1, k])?),
        mask: Arc::new(Tensor::zero::<f32>(&[1, k])?),
    };
    p.reset();
    Ok(p)
}

impl DtPolicy {
    fn shift_window(&mut self) -> Result<(), PolicyError> {
        let (k, sd, ad) = (self.k, self.state_dim, self.act_dim);
        plain_f32(&mut self.states)?.copy_within(sd..k * sd, 0);
        plain_f32(&mut self.actions)?.copy_within(ad..k * ad, 0);
        plain_f32(&mut self.returns)?.copy_within(1..k, 0);
        plain_f32(&mut self.mask)?.copy_within(1..k, 0);
        if Arc::get_mut(&mut self.timesteps).is_none() {
            self.timesteps = Arc::new((*self.timesteps).clone());
        }
        if let Some(t) = Arc::get_mut(&mut self.timesteps) {
            let mut v = t
                .try_as_plain_ram_mut()
                .map_err(|e| PolicyError::Inference(e.to_string()))?;
            v.as_slice_mut::<i64>()
                .map_err(|e| PolicyError::Inference(e.to_string()))?
                .copy_within(1..k, 0);
        }
        Ok(())
    }
}

impl Policy for DtPolicy {
    fn act(&mut self, obs: &[f32], action: &mut [f32]) -> Result<(), PolicyError> {
        let (k, sd, ad) = (self.k, self.state_dim, self.act_dim);
        if obs.len() != sd {
            return Err(PolicyError::ObsSize {
                got: obs.len(),
                want: sd,
            });
        }
        let want = if self.discrete { 1 } else { ad };
        if action.len() != want {
            return Err(PolicyError::ActionSize {
                got: action.len(),
                want,
            });
        }
        // Slide the window: the newest step always sits at position K − 1;
        // earlier positions are left padding until the window fills.
        self.shift_window()?;
        self.len = (self.len + 1).min(k);
        let last = k - 1;
        {
            let s = plain_f32(&mut self.states)?;
            for i in 0..sd {
                s[last * sd + i] = (obs[i] - self.state_mean[i]) / self.state_std[i];
            }
        }
        plain_f32(&mut self.actions)?[last * ad..].fill(0.0);
        plain_f32(&mut self.returns)?[last] = self.rtg / self.rtg_scale;
        plain_f32(&mut self.mask)?[last] = 1.0;
        let ts = self.t.min(self.max_timestep - 1) as i64;
        if let Some(t) = Arc::get_mut(&mut self.timesteps)
            && let Ok(mut v) = t.try_as_plain_ram_mut()
            && let Ok(slice) = v.as_slice_mut::<i64>()
        {
            slice[last] = ts;
        }
        let outputs = self
            .state
            .run(tvec!(
                self.states.clone().into_tvalue(),
                self.actions.clone().into_tvalue(),
                self.returns.clone().into_tvalue(),
                self.timesteps.clone().into_tvalue(),
                self.mask.clone().into_tvalue()
            ))
            .map_err(|e| PolicyError::Inference(format!("{e:#}")))?;
        let preds = outputs
            .first()
            .ok_or_else(|| PolicyError::Inference("no output".into()))?
            .try_as_plain_ram()
            .and_then(|v| v.as_slice::<f32>())
            .map_err(|e| PolicyError::Inference(e.to_string()))?;
        // The newest step's row: the last, whether the file outputs one
        // position or all K.
        let row = preds
            .len()
            .checked_sub(ad)
            .map(|start| &preds[start..])
            .ok_or_else(|| PolicyError::Inference("output shorter than one action".into()))?;
        // Checked before it enters the context: a NaN there would poison
        // every later step of the episode too.
        check_finite(row)?;
        let a = plain_f32(&mut self.actions)?;
        if self.discrete {
            let idx = argmax(row)?;
            action[0] = idx as f32;
            a[last * ad + idx] = 1.0;
        } else {
            for i in 0..ad {
                let v = row[i].clamp(-1.0, 1.0);
                action[i] = v;
                a[last * ad + i] = v;
            }
        }
        self.t += 1;
        Ok(())
    }

    fn reset(&mut self) {
        self.rtg = self.target_return;
        self.len = 0;
        self.t = 0;
        for t in [
            &mut self.states,
            &mut self.actions,
            &mut self.returns,
            &mut self.mask,
        ] {
            if let Ok(s) = plain_f32(t) {
                s.fill(0.0);
            }
        }
        if let Some(t) = Arc::get_mut(&mut self.timesteps)
            && let Ok(mut v) = t.try_as_plain_ram_mut()
            && let Ok(slice) = v.as_slice_mut::<i64>()
        {
            slice.fill(0);
        }
    }

    fn observe_reward(&mut self, reward: f32) {
        self.rtg -= reward;
    }
}
