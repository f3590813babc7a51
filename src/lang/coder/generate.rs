//! Writing a program with the taught coder: the base model with the
//! adapters merged into its weights, greedy decoding after the chat prompt
//! until the end token. (Grammar-constrained decoding is the next step of
//! issue 24; until then a program that fails the sandbox's check is refused
//! before anything moves, as every program is.)

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::lora::LoraConfig;
use super::train::{END, load, prompt};
use crate::lang::gguf_tok::GgufTokenizer;
use crate::lang::llama::Llama;

/// The base model with the coder's adapters merged in, and its tokenizer.
pub struct Coder {
    model: Llama,
    tok: GgufTokenizer,
    end: u32,
}

/// A generated program and what it cost.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Generated {
    pub program: String,
    pub tokens: usize,
    pub seconds: f64,
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
        let tok = GgufTokenizer::from_gguf(&content)?;
        let end = tok
            .token_id(END)
            .with_context(|| format!("{}: the tokenizer has no {END}", base.display()))?;
        Ok(Coder { model, tok, end })
    }

    /// The program for `instruction`, greedily decoded (at most
    /// `max_tokens`).
    pub fn generate(&self, instruction: &str, max_tokens: usize) -> Result<Generated> {
        let t0 = Instant::now();
        let mut ids = Vec::new();
        if self.tok.add_bos
            && let Some(b) = self.tok.bos
        {
            ids.push(b);
        }
        ids.extend(self.tok.encode(&prompt(instruction))?);
        let mut cache = self.model.new_cache();
        let n = ids.len();
        let parents: Vec<Option<usize>> = (0..n).map(|i| i.checked_sub(1)).collect();
        let mut logits = self
            .model
            .forward_tree(&mut cache, &ids, &parents, &[n - 1], n)?;
        let mut out: Vec<u32> = Vec::new();
        for _ in 0..max_tokens {
            let next = argmax(&logits);
            if next == self.end {
                break;
            }
            out.push(next);
            logits = self
                .model
                .forward_tree(&mut cache, &[next], &[None], &[0], 1)?;
        }
        Ok(Generated {
            program: self.tok.decode(&out)?,
            tokens: out.len(),
            seconds: t0.elapsed().as_secs_f64(),
        })
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
