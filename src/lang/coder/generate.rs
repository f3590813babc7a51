//! Writing a program with the taught coder: the base model with the
//! adapters merged into its weights, greedy decoding after the chat prompt
//! until the end token, optionally under a `Constraint` (the scene's
//! `ProgramGrammar` and the sandbox's check): each step takes the most
//! likely token that keeps the program a valid prefix, and the end token
//! where the program is lexically complete and either checks or the model
//! ranks the end first (then the check refuses it rather than the model
//! being made to write on).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::grammar::ProgramGrammar;
use super::lora::LoraConfig;
use super::train::{END, load, prompt};
use crate::lang::gguf_tok::GgufTokenizer;
use crate::lang::llama::Llama;

/// The base model with the coder's adapters merged in, and its tokenizer.
pub struct Coder {
    model: Llama,
    tok: GgufTokenizer,
    end: u32,
    /// Taught (adapters merged, the bare instruction) or few-shot (the
    /// base model, worked examples in the prompt).
    few_shot: bool,
}

/// A generated program and what it cost.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Generated {
    pub program: String,
    pub tokens: usize,
    pub seconds: f64,
    /// The tokens written, and where the constrained decoder's choice was
    /// closest: another program starts from `ids[..pos]` and the fork's
    /// token (`Coder::alternative`).
    #[serde(skip)]
    pub ids: Vec<u32>,
    #[serde(skip)]
    pub forks: Vec<Fork>,
}

/// A token the constrained decoder nearly took: at `pos`, `alt` was the
/// best acceptable token after the one taken, `gap` logits behind it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fork {
    pub pos: usize,
    pub alt: u32,
    pub gap: f32,
}

impl Generated {
    /// The `n` closest forks, closest first.
    pub fn closest_forks(&self, n: usize) -> Vec<Fork> {
        let mut f = self.forks.clone();
        f.sort_by(|a, b| a.gap.total_cmp(&b.gap));
        f.truncate(n);
        f
    }
}

impl Coder {
    /// Loads `base` (GGUF) and merges the adapters at `adapter`, whose card
    /// (`<adapter>.card.toml`) gives their shape and sha256.
    pub fn load(base: &Path, adapter: &Path) -> Result<Coder> {
        let card_path = adapter.with_extension("card.toml");
        let text = std::fs::read_to_string(&card_path)
            .with_context(|| format!("reading the coder card {}", card_path.display()))?;
        let card: toml::Table =
            toml::from_str(&text).with_context(|| format!("parsing {}", card_path.display()))?;
        let int = |k: &str| -> Result<usize> {
            card.get(k)
                .and_then(|v| v.as_integer())
                .and_then(|v| usize::try_from(v).ok())
                .with_context(|| format!("{}: `{k}` missing or not a count", card_path.display()))
        };
        let alpha = card
            .get("alpha")
            .and_then(|v| v.as_float())
            .with_context(|| format!("{}: `alpha` missing", card_path.display()))?;
        let cfg = LoraConfig {
            rank: int("rank")?,
            alpha: alpha as f32,
            first_layer: int("first_layer")?,
        };
        let bytes = crate::input::read_file(adapter, crate::input::FileKind::Model)?;
        use sha2::Digest;
        let sha = format!("{:x}", sha2::Sha256::digest(&bytes));
        if card.get("sha256").and_then(|v| v.as_str()) != Some(sha.as_str()) {
            bail!(
                "{}: sha256 {sha} does not match its card {}",
                adapter.display(),
                card_path.display()
            );
        }
        let (mut model, content) = Llama::load(base)?;
        if cfg.first_layer >= model.cfg.n_layer {
            bail!(
                "{}: adapters from layer {} but {} has {} layers",
                card_path.display(),
                cfg.first_layer,
                base.display(),
                model.cfg.n_layer
            );
        }
        let lora = load(adapter, &model.cfg, cfg)?;
        lora.merge_into(&mut model);
        Self::with_tokenizer(model, &content, base, false)
    }

    /// The base model alone, prompted with worked examples
    /// (`fewshot`): what the coder writes untaught.
    pub fn load_few_shot(base: &Path) -> Result<Coder> {
        let (model, content) = Llama::load(base)?;
        Self::with_tokenizer(model, &content, base, true)
    }

    /// The coder over `model`, with the tokenizer from its GGUF `content`.
    fn with_tokenizer(
        model: Llama,
        content: &candle_core::quantized::gguf_file::Content,
        base: &Path,
        few_shot: bool,
    ) -> Result<Coder> {
        let tok = GgufTokenizer::from_gguf(content)?;
        let end = tok
            .token_id(END)
            .with_context(|| format!("{}: the tokenizer has no {END}", base.display()))?;
        Ok(Coder {
            model,
            tok,
            end,
            few_shot,
        })
    }

    /// The program for `instruction`, greedily decoded (at most
    /// `max_tokens`) with no constraint.
    pub fn generate(&self, instruction: &str, max_tokens: usize) -> Result<Generated> {
        self.generate_with(instruction, max_tokens, None)
    }

    /// The program for `instruction`, greedily decoded under `constraint`
    /// (if any): when no token among the `CANDIDATES` most likely keeps the
    /// program acceptable, the last token is taken back and banned there
    /// (at most `MAX_BACKTRACKS` times); then decoding stops and what was
    /// written is returned (the sandbox's check refuses it).
    pub fn generate_with(
        &self,
        instruction: &str,
        max_tokens: usize,
        constraint: Option<&Constraint>,
    ) -> Result<Generated> {
        self.decode(instruction, &[], max_tokens, constraint)
    }

    /// The program `first` would have been had the decoder taken `fork`'s
    /// token there: `first`'s tokens up to the fork, that token, then
    /// greedy decoding under `constraint` as before.
    pub fn alternative(
        &self,
        instruction: &str,
        first: &Generated,
        fork: Fork,
        max_tokens: usize,
        constraint: Option<&Constraint>,
    ) -> Result<Generated> {
        let mut forced = first.ids.get(..fork.pos).unwrap_or(&first.ids).to_vec();
        forced.push(fork.alt);
        self.decode(instruction, &forced, max_tokens, constraint)
    }

    /// Greedy decoding after the prompt and the `forced` tokens.
    fn decode(
        &self,
        instruction: &str,
        forced: &[u32],
        max_tokens: usize,
        constraint: Option<&Constraint>,
    ) -> Result<Generated> {
        let t0 = Instant::now();
        let mut ids = Vec::new();
        if self.tok.add_bos
            && let Some(b) = self.tok.bos
        {
            ids.push(b);
        }
        let text = if self.few_shot {
            super::fewshot::chat(instruction)?
        } else {
            prompt(instruction)
        };
        ids.extend(self.tok.encode(&text)?);
        ids.extend_from_slice(forced);
        let mut cache = self.model.new_cache();
        let n = ids.len();
        let parents: Vec<Option<usize>> = (0..n).map(|i| i.checked_sub(1)).collect();
        let mut logits = self
            .model
            .forward_tree(&mut cache, &ids, &parents, &[n - 1], n)?;
        let mut out: Vec<u32> = forced.to_vec();
        let mut forks: Vec<Fork> = Vec::new();
        // Under a constraint, a dead end (no acceptable token) takes the
        // last token back and bans it there: the logits before each token
        // are kept for that, and the tokens banned at each position.
        let mut before: Vec<Vec<f32>> = Vec::new();
        let mut banned: Vec<Vec<u32>> = Vec::new();
        let mut backtracks = 0;
        while out.len() < max_tokens {
            let pos = out.len();
            let next = match constraint {
                None => Some((argmax(&logits), Vec::new())),
                Some(c) => {
                    let ban = banned.get(pos).map_or(&[][..], Vec::as_slice);
                    self.allowed_best(&logits, &out, c, ban)?
                }
            };
            forks.retain(|f| f.pos < pos);
            if let Some((_, alts)) = &next {
                forks.extend(alts.iter().map(|f| Fork { pos, ..*f }));
            }
            match next.map(|(t, _)| t) {
                Some(t) if t == self.end => break,
                Some(t) => {
                    out.push(t);
                    let next_logits =
                        self.model
                            .forward_tree(&mut cache, &[t], &[None], &[0], 1)?;
                    before.push(std::mem::replace(&mut logits, next_logits));
                }
                None if backtracks < MAX_BACKTRACKS && out.len() > forced.len() => {
                    let (Some(bad), Some(prev)) = (out.pop(), before.pop()) else {
                        break;
                    };
                    backtracks += 1;
                    logits = prev;
                    cache.truncate(cache.len() - 1, self.model.kv_dim());
                    let p = out.len();
                    banned.truncate(p + 1);
                    banned.resize(p + 1, Vec::new());
                    banned[p].push(bad);
                }
                None => break,
            }
        }
        forks.retain(|f| f.pos < out.len() || (f.pos == out.len() && f.alt != self.end));
        Ok(Generated {
            program: self.tok.decode(&out)?,
            tokens: out.len(),
            seconds: t0.elapsed().as_secs_f64(),
            ids: out,
            forks,
        })
    }
}

/// How many of the most likely tokens constrained decoding tries per step.
pub const CANDIDATES: usize = 64;

/// How many acceptable tokens after the best are kept as forks per step.
pub const ALTERNATIVES: usize = 3;

/// How many tokens constrained decoding may take back from dead ends.
pub const MAX_BACKTRACKS: usize = 8;

/// What a constrained program may be: the scene's grammar, and the check a
/// finished program must pass before the end token is allowed.
pub struct Constraint<'a> {
    pub grammar: &'a ProgramGrammar,
    pub checks: &'a dyn Fn(&str) -> bool,
}

impl Coder {
    /// The most likely of the top `CANDIDATES` tokens that keeps `out`
    /// acceptable under `c`, with the next `ALTERNATIVES` acceptable ones
    /// as forks (their `pos` left for the caller), or `None`.
    fn allowed_best(
        &self,
        logits: &[f32],
        out: &[u32],
        c: &Constraint,
        banned: &[u32],
    ) -> Result<Option<(u32, Vec<Fork>)>> {
        let found = self.acceptable(logits, out, c, banned)?;
        let Some((&best, rest)) = found.split_first() else {
            return Ok(None);
        };
        let forks = rest
            .iter()
            .map(|&alt| Fork {
                pos: 0,
                alt,
                gap: logits[best as usize] - logits[alt as usize],
            })
            .collect();
        Ok(Some((best, forks)))
    }

    /// The top `CANDIDATES` tokens that keep `out` acceptable under `c`,
    /// most likely first, at most `1 + ALTERNATIVES`.
    fn acceptable(
        &self,
        logits: &[f32],
        out: &[u32],
        c: &Constraint,
        banned: &[u32],
    ) -> Result<Vec<u32>> {
        let mut found = Vec::new();
        let mut order: Vec<u32> = (0..logits.len() as u32).collect();
        let k = CANDIDATES.min(order.len());
        order.select_nth_unstable_by(k.saturating_sub(1), |a, b| {
            logits[*b as usize].total_cmp(&logits[*a as usize])
        });
        order.truncate(k);
        order.sort_by(|a, b| logits[*b as usize].total_cmp(&logits[*a as usize]));
        let mut ids = out.to_vec();
        for (rank, t) in order.into_iter().enumerate() {
            if banned.contains(&t) {
                continue;
            }
            if t == self.end {
                let text = self.tok.decode(out)?;
                if !c.grammar.allows_end(&text) {
                    continue;
                }
                // The model is sure it is done: a program that fails the
                // check now is refused as it is, not padded with whatever
                // the model writes next.
                if rank == 0 || (c.checks)(&text) {
                    found.push(t);
                }
            } else {
                ids.push(t);
                let text = self.tok.decode(&ids)?;
                ids.pop();
                if c.grammar.allows_prefix(&text) {
                    found.push(t);
                }
            }
            if found.len() > ALTERNATIVES {
                break;
            }
        }
        Ok(found)
    }
}

fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best as u32
}
