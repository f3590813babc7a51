//! PPO's minibatch update on the GPU: the actor and critic MLPs (forward and
//! backward per layer, as `mlp.rs`), the clipped-surrogate and value-loss
//! gradients (`learn/dist.cu`), gradient clipping and Adam, all on the device.
//! A PPO iteration uploads the rollout and the epochs' shuffled orders once
//! (drawn on the host from the trainer's `Rng`, so the minibatches are the
//! CPU's), runs every minibatch without waiting for the host, and downloads
//! the parameters once for the next rollout.

use super::CudaError;
use super::gpu::{Buf, DPtr, Gpu};
use super::ops::{GpuAdam, GradClip, i, launch};
use crate::learn::actor_critic::ActorCritic;
use crate::learn::ppo::{PpoConfig, PpoUpdater, RolloutView};
use crate::nn::Mlp;
use crate::policy::ActionSpec;
use cudarc::driver::PushKernelArg;

/// Activations of one MLP (layer outputs; the input is the caller's).
pub struct GpuMlpCache {
    acts: Vec<Buf<f32>>,
    grad_a: Buf<f32>,
    grad_b: Buf<f32>,
    cap: usize,
}

impl GpuMlpCache {
    pub fn new(gpu: &Gpu, mlp: &Mlp, cap: usize) -> Result<Self, CudaError> {
        let widest = mlp.sizes.iter().copied().max().unwrap_or(1);
        Ok(GpuMlpCache {
            acts: mlp.sizes[1..]
                .iter()
                .map(|s| gpu.zeros(s * cap))
                .collect::<Result<_, _>>()?,
            grad_a: gpu.zeros(widest * cap)?,
            grad_b: gpu.zeros(widest * cap)?,
            cap,
        })
    }
}

impl Gpu {
    /// `Mlp::forward` of `batch` rows of `x`; returns the output view.
    pub fn mlp_forward(
        &self,
        mlp: &Mlp,
        params: DPtr<f32>,
        x: DPtr<f32>,
        batch: usize,
        cache: &GpuMlpCache,
    ) -> Result<DPtr<f32>, CudaError> {
        if batch > cache.cap {
            return Err(CudaError::Shape(format!(
                "MLP batch {batch} over capacity {}",
                cache.cap
            )));
        }
        let last = mlp.layers.len() - 1;
        let mut input = x;
        for (l, layer) in mlp.layers.iter().enumerate() {
            let out = cache.acts[l].p().head(batch * layer.out_dim);
            self.linear_forward(layer, params, input, out, batch)?;
            if l != last {
                self.activation_forward(mlp.activation, out)?;
            }
            input = out;
        }
        Ok(input)
    }

    /// `Mlp::backward` from `d_out` after `mlp_forward` with the same `x` and
    /// cache; accumulates into `grads` (the input gradient is not needed).
    #[allow(clippy::too_many_arguments)]
    pub fn mlp_backward(
        &self,
        mlp: &Mlp,
        params: DPtr<f32>,
        x: DPtr<f32>,
        d_out: DPtr<f32>,
        batch: usize,
        cache: &GpuMlpCache,
        grads: DPtr<f32>,
    ) -> Result<(), CudaError> {
        let last = mlp.layers.len() - 1;
        let (mut ga, mut gb) = (cache.grad_a.p(), cache.grad_b.p());
        self.copy(d_out.head(batch * mlp.out_dim()), ga)?;
        for (l, layer) in mlp.layers.iter().enumerate().rev() {
            let d = ga.head(batch * layer.out_dim);
            if l != last {
                self.activation_backward(mlp.activation, cache.acts[l].p(), d)?;
            }
            let input = if l == 0 { x } else { cache.acts[l - 1].p() };
            let dx = (l > 0).then(|| gb.head(batch * layer.in_dim));
            self.linear_backward(layer, params, input, d, dx, grads, batch)?;
            std::mem::swap(&mut ga, &mut gb);
        }
        Ok(())
    }
}

/// The device state of a PPO learner.
pub struct PpoCuda {
    pub gpu: Gpu,
    actor: Mlp,
    critic: Mlp,
    log_std_offset: Option<usize>,
    discrete: bool,
    head: usize,
    od: usize,
    ad: usize,
    params: Buf<f32>,
    grads: Buf<f32>,
    opt: GpuAdam,
    clip: GradClip,
    obs: Buf<f32>,
    actions: Buf<f32>,
    logp: Buf<f32>,
    adv: Buf<f32>,
    ret: Buf<f32>,
    order: Buf<i32>,
    order_host: Vec<i32>,
    mb_obs: Buf<f32>,
    actor_cache: GpuMlpCache,
    critic_cache: GpuMlpCache,
    d_head: Buf<f32>,
    d_value: Buf<f32>,
    stats: Buf<f32>,
    rollout: usize,
}

impl PpoCuda {
    /// Uploads `model`'s parameters; buffers for rollouts of `rollout` steps,
    /// minibatches of up to `minibatch` and `epochs` shuffled orders.
    pub fn new(
        mut gpu: Gpu,
        model: &ActorCritic,
        rollout: usize,
        minibatch: usize,
        epochs: usize,
    ) -> Result<Self, CudaError> {
        let head = model.action.head_dim();
        let (od, ad) = (model.obs_dim, model.action.action_dim());
        let mb = minibatch.max(1);
        gpu.reserve_ones(mb)?;
        let mut opt = GpuAdam::new(&gpu, model.num_params())?;
        opt.eps = 1e-5;
        Ok(PpoCuda {
            actor_cache: GpuMlpCache::new(&gpu, &model.actor, mb)?,
            critic_cache: GpuMlpCache::new(&gpu, &model.critic, mb)?,
            params: gpu.upload(&model.params)?,
            grads: gpu.zeros(model.num_params())?,
            clip: GradClip::new(&gpu)?,
            obs: gpu.zeros(rollout * od)?,
            actions: gpu.zeros(rollout * ad)?,
            logp: gpu.zeros(rollout)?,
            adv: gpu.zeros(rollout)?,
            ret: gpu.zeros(rollout)?,
            order: gpu.zeros(epochs.max(1) * rollout)?,
            order_host: Vec::with_capacity(epochs.max(1) * rollout),
            mb_obs: gpu.zeros(mb * od)?,
            d_head: gpu.zeros(mb * head)?,
            d_value: gpu.zeros(mb)?,
            stats: gpu.zeros(2)?,
            opt,
            actor: model.actor.clone(),
            critic: model.critic.clone(),
            log_std_offset: model.log_std_offset,
            discrete: matches!(model.action, ActionSpec::Discrete { .. }),
            head,
            od,
            ad,
            rollout,
            gpu,
        })
    }

    /// Copies the parameters into `out`.
    pub fn params_to_host(&self, out: &mut [f32]) -> Result<(), CudaError> {
        self.gpu.read(self.params.p(), out)
    }

    /// Every epoch's minibatches of one PPO iteration (see `ppo::train_on`).
    pub fn run(&mut self, cfg: &PpoConfig, r: &RolloutView<'_>) -> Result<(), CudaError> {
        let rollout = r.logp.len();
        if rollout != self.rollout || r.order.len() > self.order.len() {
            return Err(CudaError::Shape(format!(
                "rollout of {rollout} steps ({} ordered) for buffers of {}",
                r.order.len(),
                self.rollout
            )));
        }
        let g = &self.gpu;
        g.write(self.obs.p(), r.obs)?;
        g.write(self.actions.p(), r.actions)?;
        g.write(self.logp.p(), r.logp)?;
        g.write(self.adv.p(), r.adv)?;
        g.write(self.ret.p(), r.ret)?;
        self.order_host.clear();
        self.order_host
            .extend(r.order.iter().map(|&v| i32::try_from(v).unwrap_or(0)));
        g.write(self.order.p(), &self.order_host)?;
        let mb = r.minibatch.max(1);
        for epoch in r.order.chunks(rollout.max(1)).enumerate() {
            let base = epoch.0 * rollout;
            let mut start = 0;
            while start < epoch.1.len() {
                let n = mb.min(epoch.1.len() - start);
                self.minibatch(cfg, base + start, n, r.lr, r.clip)?;
                start += n;
            }
        }
        Ok(())
    }

    fn minibatch(
        &mut self,
        cfg: &PpoConfig,
        at: usize,
        n: usize,
        lr: f32,
        clip: f32,
    ) -> Result<(), CudaError> {
        let g = &self.gpu;
        let (p, gr) = (self.params.p(), self.grads.p());
        let idx = self.order.p().at(at, n);
        let x = self.mb_obs.p().head(n * self.od);
        launch!(g, gather_rows, g.elems(n * self.od);
            self.obs.p().raw(), idx.raw(), x.raw(), i(n), i(self.od))?;
        let normalize = i32::from(cfg.normalize_advantage);
        launch!(g, ppo_adv_stats, g.one_block();
            self.adv.p().raw(), idx.raw(), i(n), normalize, self.stats.p().raw())?;
        g.zero(gr)?;
        let out = g.mlp_forward(&self.actor, p, x, n, &self.actor_cache)?;
        let d_head = self.d_head.p().head(n * self.head);
        let (acts, logp, adv) = (self.actions.p(), self.logp.p(), self.adv.p());
        let stats = self.stats.p();
        match self.log_std_offset.filter(|_| !self.discrete) {
            None => launch!(g, ppo_categorical_grad, g.elems(n);
                out.raw(), acts.raw(), logp.raw(), adv.raw(), idx.raw(), i(n), i(self.head),
                stats.raw(), clip, cfg.ent_coef, d_head.raw())?,
            Some(o) => {
                let (ls, dls) = (p.at(o, self.head), gr.at(o, self.head));
                debug_assert_eq!(self.ad, self.head);
                launch!(g, ppo_gaussian_grad, g.elems(n);
                    out.raw(), acts.raw(), logp.raw(), adv.raw(), idx.raw(), i(n), i(self.head),
                    ls.raw(), stats.raw(), clip, cfg.ent_coef, d_head.raw(), dls.raw())?
            }
        }
        g.mlp_backward(&self.actor, p, x, d_head, n, &self.actor_cache, gr)?;
        let values = g.mlp_forward(&self.critic, p, x, n, &self.critic_cache)?;
        let d_value = self.d_value.p().head(n);
        launch!(g, ppo_value_grad, g.elems(n);
            values.raw(), self.ret.p().raw(), idx.raw(), i(n), cfg.vf_coef, d_value.raw())?;
        g.mlp_backward(&self.critic, p, x, d_value, n, &self.critic_cache, gr)?;
        self.clip.compute(g, gr, cfg.max_grad_norm)?;
        self.opt.update(g, p, gr, lr, self.clip.scale())
    }
}

/// `PpoUpdater` that creates its device state on first use (from the model
/// the trainer built) and keeps it for the whole run.
pub struct PpoCudaUpdater {
    gpu: Option<Gpu>,
    state: Option<PpoCuda>,
}

impl PpoCudaUpdater {
    pub fn new(gpu: Gpu) -> Self {
        PpoCudaUpdater {
            gpu: Some(gpu),
            state: None,
        }
    }

    /// The device's description.
    pub fn device_name(&self) -> String {
        match (&self.gpu, &self.state) {
            (Some(g), _) => g.name.clone(),
            (None, Some(s)) => s.gpu.name.clone(),
            (None, None) => "unknown GPU".into(),
        }
    }
}

impl PpoUpdater for PpoCudaUpdater {
    fn update(
        &mut self,
        cfg: &PpoConfig,
        model: &mut ActorCritic,
        r: &RolloutView<'_>,
    ) -> anyhow::Result<()> {
        if self.state.is_none() {
            let gpu = self
                .gpu
                .take()
                .ok_or_else(|| anyhow::anyhow!("the GPU was lost after a failed start"))?;
            let epochs = r.order.len() / r.logp.len().max(1);
            self.state = Some(PpoCuda::new(gpu, model, r.logp.len(), r.minibatch, epochs)?);
        }
        let Some(state) = self.state.as_mut() else {
            anyhow::bail!("no device state");
        };
        state.run(cfg, r)?;
        state.params_to_host(&mut model.params)?;
        Ok(())
    }
}
