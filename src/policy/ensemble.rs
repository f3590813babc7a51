//! Temporal ensembling of action chunks (ACT): the chunks that overlap a
//! tick, blended into that tick's action. Sized once; inserting a chunk
//! and reading an action copy numbers, nothing more.

/// Temporal ensembling (ACT, Zhao et al. 2023): every chunk that holds an
/// action for this tick votes, older predictions weighted by
/// exp(−decay × (start − oldest start)), so a small decay averages them and
/// a large one keeps the oldest, which makes motion smooth across chunks.
#[derive(Clone, Debug)]
pub struct Ensemble {
    horizon: usize,
    dim: usize,
    decay: f32,
    starts: Vec<Option<u64>>,
    data: Vec<f32>,
    next: usize,
}

impl Ensemble {
    /// Actions per chunk.
    pub fn horizon(&self) -> usize {
        self.horizon
    }

    /// Room for `slots` chunks; the oldest is replaced when a new one comes.
    pub fn new(horizon: usize, dim: usize, slots: usize, decay: f32) -> Self {
        let slots = slots.max(1);
        Ensemble {
            horizon,
            dim,
            decay: decay.max(0.0),
            starts: vec![None; slots],
            data: vec![0.0; slots * horizon * dim],
            next: 0,
        }
    }

    pub fn clear(&mut self) {
        self.starts.fill(None);
        self.next = 0;
    }

    /// Adds a chunk whose first action is for tick `start`.
    pub fn insert(&mut self, start: u64, chunk: &[f32]) {
        let n = self.horizon * self.dim;
        let at = self.next;
        self.data[at * n..(at + 1) * n].copy_from_slice(&chunk[..n]);
        self.starts[at] = Some(start);
        self.next = (at + 1) % self.starts.len();
    }

    fn covers(&self, start: u64, tick: u64) -> bool {
        tick >= start && tick - start < self.horizon as u64
    }

    /// How many ticks from `tick` on some chunk still covers.
    pub fn ticks_left(&self, tick: u64) -> u64 {
        self.starts
            .iter()
            .flatten()
            .map(|s| (s + self.horizon as u64).saturating_sub(tick))
            .max()
            .unwrap_or(0)
    }

    /// The blended action for `tick`; false when no chunk covers it.
    pub fn action_at(&self, tick: u64, out: &mut [f32]) -> bool {
        let oldest = self
            .starts
            .iter()
            .flatten()
            .filter(|s| self.covers(**s, tick))
            .min();
        let Some(&oldest) = oldest else {
            return false;
        };
        out.fill(0.0);
        let n = self.horizon * self.dim;
        let mut total = 0.0f32;
        for (slot, start) in self.starts.iter().enumerate() {
            let Some(start) = *start else { continue };
            if !self.covers(start, tick) {
                continue;
            }
            let w = (-self.decay * (start - oldest) as f32).exp();
            let row = (tick - start) as usize;
            let a = &self.data[slot * n + row * self.dim..slot * n + (row + 1) * self.dim];
            for (o, v) in out.iter_mut().zip(a) {
                *o += w * v;
            }
            total += w;
        }
        for o in out.iter_mut() {
            *o /= total;
        }
        true
    }
}
