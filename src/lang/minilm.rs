//! `MiniLm`: sentence embeddings from all-MiniLM-L6-v2 (BERT, mean pooling,
//! L2 norm, as sentence-transformers computes them) and their cosine
//! similarity, for matching a paraphrased object name ("crimson cube",
//! "dish") to the objects in the scene. Not a planner by itself: it confuses
//! colours that the LLM keeps apart.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Result, anyhow};
use tokenizers::Tokenizer;

use super::bert::Bert;
use super::fetch;
use super::ground::Embedder;

/// The embedder, with a cache of the sentences it has embedded.
pub struct MiniLm {
    bert: Bert,
    tok: Tokenizer,
    cache: HashMap<String, Vec<f32>>,
}

impl MiniLm {
    /// Loads the fetched model from `dir` (`models/lm/`), with a clear error
    /// naming the command to run when the files are missing.
    pub fn load_default(dir: &Path) -> Result<Self> {
        fetch::require(
            dir,
            &[
                fetch::MINILM_WEIGHTS,
                fetch::MINILM_TOKENIZER,
                fetch::MINILM_CONFIG,
            ],
        )?;
        Self::load(
            &dir.join(fetch::MINILM_CONFIG),
            &dir.join(fetch::MINILM_WEIGHTS),
            &dir.join(fetch::MINILM_TOKENIZER),
        )
    }

    /// Loads a BERT sentence embedder from its config, weights and tokenizer.json.
    pub fn load(config: &Path, weights: &Path, tokenizer: &Path) -> Result<Self> {
        let bert = Bert::load(config, weights)?;
        let mut tok = Tokenizer::from_file(tokenizer).map_err(|e| {
            anyhow!(
                "{} is not a readable tokenizer.json: {e}",
                tokenizer.display()
            )
        })?;
        // The shipped tokenizer pads every sentence to 128 tokens; one
        // sentence at a time needs no padding.
        tok.with_padding(None);
        Ok(Self {
            bert,
            tok,
            cache: HashMap::new(),
        })
    }

    /// The unit-length embedding of a sentence.
    pub fn embed(&mut self, text: &str) -> Result<Vec<f32>> {
        if let Some(e) = self.cache.get(text) {
            return Ok(e.clone());
        }
        let enc = self
            .tok
            .encode(text, true)
            .map_err(|e| anyhow!("tokenizing {text:?}: {e}"))?;
        let ids = enc.get_ids();
        let h = self.bert.forward(ids)?;
        let d = self.bert.cfg.hidden_size;
        let mut e = vec![0f32; d];
        for row in h.chunks(d) {
            for (a, b) in e.iter_mut().zip(row) {
                *a += b;
            }
        }
        let n = ids.len() as f32;
        e.iter_mut().for_each(|v| *v /= n);
        let norm = e.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        e.iter_mut().for_each(|v| *v /= norm);
        self.cache.insert(text.to_string(), e.clone());
        Ok(e)
    }

    /// Cosine similarity of two sentences, in [-1, 1].
    pub fn similarity(&mut self, a: &str, b: &str) -> Result<f32> {
        let ea = self.embed(a)?;
        let eb = self.embed(b)?;
        Ok(ea.iter().zip(&eb).map(|(x, y)| x * y).sum())
    }

    /// The option most similar to `query`, with its similarity.
    pub fn best_match<'a>(
        &mut self,
        query: &str,
        options: &'a [String],
    ) -> Result<Option<(&'a str, f32)>> {
        let mut best: Option<(&str, f32)> = None;
        for o in options {
            let s = self.similarity(query, o)?;
            if best.is_none_or(|(_, b)| s > b) {
                best = Some((o, s));
            }
        }
        Ok(best)
    }
}

impl Embedder for MiniLm {
    fn similarities(&mut self, query: &str, options: &[String]) -> Result<Vec<f32>> {
        options.iter().map(|o| self.similarity(query, o)).collect()
    }
}
