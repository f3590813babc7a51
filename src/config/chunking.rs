//! `[policy]` keys for chunked execution: how many actions the model
//! predicts at once, how often it is asked, how overlapping chunks are
//! blended, and whether it runs in a service thread so the tick never
//! waits for it (`policy::chunked`).

use super::reader::{Reporter, Table};
use crate::policy::card::{ActionSpec, ModelCard};

/// How a chunk-predicting policy runs (`[policy] chunk = …`).
#[derive(Clone, Debug, PartialEq)]
pub struct Chunking {
    /// Actions per chunk (H); the model writes H × the action width.
    pub horizon: usize,
    /// Ticks between requests (inline, and lockstep simulation).
    pub every: u32,
    /// Temporal-ensembling decay per tick (ACT's m; 0 averages evenly).
    pub decay: f32,
    /// Run the model in a service thread (`async = true`).
    pub asynchronous: bool,
    /// Lockstep simulation only: ticks from a request to its chunk's use,
    /// the model's latency as simulated time (keeps runs reproducible).
    pub latency_ticks: u32,
}

/// The `[policy]` keys this module reads.
pub const KEYS: [&str; 5] = ["chunk", "async", "every", "ensemble_decay", "latency_ticks"];

/// The largest chunk accepted.
pub const MAX_CHUNK: u64 = 1024;

/// Reads the chunking keys of `[policy]`; `None` when `chunk` is absent
/// (the policy gives one action per tick, in the tick). Errors name the key.
pub(crate) fn parse(rep: &mut Reporter, t: &Table<'_>) -> Option<Chunking> {
    let Some(chunk_item) = t.get("chunk") else {
        for k in &KEYS[1..] {
            if let Some(i) = t.get(k) {
                i.report(
                    rep,
                    "needs `chunk` (the actions per prediction) in [policy]",
                );
            }
        }
        return None;
    };
    let horizon = chunk_item.count(rep, 1, MAX_CHUNK)? as usize;
    let asynchronous = match t.get("async") {
        Some(i) => i.bool(rep)?,
        None => false,
    };
    let every = match t.get("every") {
        Some(i) => {
            let e = i.count(rep, 1, MAX_CHUNK)? as u32;
            if e as usize > horizon {
                i.report(
                    rep,
                    format!("must be at most `chunk` ({horizon}), or ticks go without an action"),
                );
                return None;
            }
            e
        }
        None => 1,
    };
    let decay = match t.get("ensemble_decay") {
        Some(i) => {
            let v = i.number(rep)?;
            if !(0.0..=10.0).contains(&v) {
                i.report(rep, format!("must be in 0..=10 (per tick), got {v}"));
                return None;
            }
            v as f32
        }
        None => 0.01,
    };
    let latency_ticks = match t.get("latency_ticks") {
        Some(i) => {
            let l = i.count(rep, 0, MAX_CHUNK)? as u32;
            if l as usize >= horizon {
                i.report(
                    rep,
                    format!("must be below `chunk` ({horizon}): a chunk must still hold actions when it arrives"),
                );
                return None;
            }
            if !asynchronous {
                i.report(rep, "only applies with `async = true`");
                return None;
            }
            l
        }
        None => 0,
    };
    Some(Chunking {
        horizon,
        every,
        decay,
        asynchronous,
        latency_ticks,
    })
}

/// The card as one tick sees it: a continuous action of the chunk's width
/// divided by H. A card that cannot be split is reported on `chunk`.
pub(crate) fn per_tick(
    rep: &mut Reporter,
    t: &Table<'_>,
    chunking: &Chunking,
    mut card: ModelCard,
) -> Option<ModelCard> {
    let h = chunking.horizon;
    match card.action {
        ActionSpec::Continuous { dim } if dim % h == 0 => {
            card.action = ActionSpec::Continuous { dim: dim / h };
            Some(card)
        }
        ActionSpec::Continuous { dim } => {
            if let Some(i) = t.get("chunk") {
                i.report(
                    rep,
                    format!(
                        "the model card's action has {dim} values, not a multiple of chunk = {h}"
                    ),
                );
            }
            None
        }
        ActionSpec::Discrete { .. } => {
            if let Some(i) = t.get("chunk") {
                i.report(rep, "chunked execution needs a continuous policy; the model card's action is discrete");
            }
            None
        }
    }
}
