//! `LlmScorer`: relevance of candidate skills as the log-likelihood an
//! on-device llama-family model (GGUF, SmolLM2-135M by default) gives their
//! text after a few-shot prompt. The prompt's KV cache is kept between calls
//! and reused up to the first token that differs (the few-shot part is run
//! once per process); all candidates are scored in one batch as a token tree,
//! so shared prefixes ("place it in the") are run once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use super::gguf_tok::GgufTokenizer;
use super::llama::{KvCache, Llama, log_prob};
use super::{CandidateScore, Scorer, prompt};

/// The on-device scorer.
pub struct LlmScorer {
    model: Llama,
    tok: GgufTokenizer,
    cache: KvCache,
    path: PathBuf,
    scene: Option<String>,
    style: prompt::Style,
}

impl LlmScorer {
    /// Loads a llama-family GGUF file and its tokenizer.
    pub fn load(path: &Path) -> Result<Self> {
        let (model, content) = Llama::load(path)?;
        let tok = GgufTokenizer::from_gguf(&content)?;
        if tok.vocab_size != model.cfg.vocab {
            bail!(
                "{}: tokenizer has {} tokens, model {}",
                path.display(),
                tok.vocab_size,
                model.cfg.vocab
            );
        }
        let cache = model.new_cache();
        Ok(Self {
            model,
            tok,
            cache,
            path: path.to_path_buf(),
            scene: None,
            style: prompt::Style::default(),
        })
    }

    pub fn tokenizer(&self) -> &GgufTokenizer {
        &self.tok
    }

    pub fn model(&self) -> &Llama {
        &self.model
    }

    /// Scores with int8 products from now on where this CPU has the kernel
    /// (`Llama::use_q8`); `false`: it stays f32. The prompt cache starts
    /// over (its keys and values came from the other path).
    pub fn use_q8(&mut self) -> bool {
        let on = self.model.use_q8();
        if on {
            self.cache = self.model.new_cache();
        }
        on
    }

    /// Token ids of a prompt (with BOS when the model wants one).
    pub fn prompt_ids(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        if self.tok.add_bos
            && let Some(b) = self.tok.bos
        {
            ids.push(b);
        }
        ids.extend(self.tok.encode(text)?);
        if ids.is_empty() {
            bail!("empty prompt");
        }
        Ok(ids)
    }

    /// Log-probability sums of `continuations` (token ids) after `prompt`
    /// (token ids), all in one tree batch over the reused prompt cache.
    pub fn score_ids(
        &mut self,
        prompt: &[u32],
        continuations: &[Vec<u32>],
    ) -> Result<Vec<CandidateScore>> {
        let Some((&last, head)) = prompt.split_last() else {
            bail!("empty prompt")
        };
        let lcp = self
            .cache
            .tokens
            .iter()
            .zip(head)
            .take_while(|(a, b)| a == b)
            .count();
        let kv_dim = self.model.kv_dim();
        self.cache.truncate(lcp, kv_dim);
        // One batch: the prompt's new tokens as a chain (committed to the
        // cache), then the token tree whose root is the prompt's last token.
        let mut tokens: Vec<u32> = head[lcp..].to_vec();
        let commit = tokens.len();
        let mut parent: Vec<Option<usize>> = (0..commit).map(|i| i.checked_sub(1)).collect();
        let root = tokens.len();
        tokens.push(last);
        parent.push(root.checked_sub(1));
        let mut has_child = vec![false; tokens.len()];
        let mut child: HashMap<(usize, u32), usize> = HashMap::new();
        let mut paths: Vec<Vec<(usize, u32)>> = Vec::with_capacity(continuations.len());
        for c in continuations {
            if c.is_empty() {
                bail!("a candidate has no tokens");
            }
            let mut cur = root;
            let mut path = Vec::with_capacity(c.len());
            for &t in c {
                path.push((cur, t));
                has_child[cur] = true;
                cur = *child.entry((cur, t)).or_insert_with(|| {
                    tokens.push(t);
                    parent.push(Some(cur));
                    has_child.push(false);
                    tokens.len() - 1
                });
            }
            paths.push(path);
        }
        let logits_of: Vec<usize> = (0..tokens.len()).filter(|&i| has_child[i]).collect();
        let row_of: HashMap<usize, usize> =
            logits_of.iter().enumerate().map(|(r, &i)| (i, r)).collect();
        let logits =
            self.model
                .forward_tree(&mut self.cache, &tokens, &parent, &logits_of, commit)?;
        let v = self.model.cfg.vocab;
        let mut lp_cache: HashMap<(usize, u32), f32> = HashMap::new();
        let mut out = Vec::with_capacity(paths.len());
        for path in &paths {
            let mut sum = 0f32;
            for &(node, t) in path {
                let lp = *lp_cache.entry((node, t)).or_insert_with(|| {
                    let r = row_of[&node];
                    log_prob(&logits[r * v..(r + 1) * v], t)
                });
                sum += lp;
            }
            out.push(CandidateScore {
                logprob_sum: sum,
                tokens: path.len(),
            });
        }
        Ok(out)
    }

    /// Greedy continuation of a text (for checking the model reads sensibly).
    pub fn generate(&mut self, text: &str, max_tokens: usize) -> Result<String> {
        let ids = self.prompt_ids(text)?;
        let mut cache = self.model.new_cache();
        let (&last, head) = ids.split_last().unwrap_or((&0, &[]));
        self.model.extend(&mut cache, head)?;
        let mut next = last;
        let mut out = Vec::new();
        for _ in 0..max_tokens {
            let logits = self
                .model
                .forward_tree(&mut cache, &[next], &[None], &[0], 1)?;
            let best = logits
                .iter()
                .enumerate()
                .fold((0usize, f32::NEG_INFINITY), |a, (i, &l)| {
                    if l > a.1 { (i, l) } else { a }
                })
                .0 as u32;
            if Some(best) == self.tok.eos {
                break;
            }
            out.push(best);
            next = best;
        }
        self.tok.decode(&out)
    }
}

impl Scorer for LlmScorer {
    fn score_detailed(
        &mut self,
        instruction: &str,
        history: &[String],
        candidates: &[String],
    ) -> Result<Vec<CandidateScore>> {
        let text = prompt::build_styled(self.style, self.scene.as_deref(), instruction, history);
        let ids = self.prompt_ids(&text)?;
        let mut conts = Vec::with_capacity(candidates.len());
        for c in candidates {
            let t = self.tok.encode(&prompt::continuation(c))?;
            if t.is_empty() {
                bail!("candidate {c:?} has no text");
            }
            conts.push(t);
        }
        self.score_ids(&ids, &conts)
    }

    fn set_style(&mut self, style: prompt::Style) {
        self.style = style;
    }

    fn set_scene(&mut self, scene: Option<String>) {
        self.scene = scene;
    }

    fn describe(&self) -> String {
        format!("gguf:{}", self.path.display())
    }
}
