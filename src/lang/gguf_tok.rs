//! The tokenizer of a GGUF language model, built from the file's metadata
//! (`tokenizer.ggml.tokens`, `merges`, `token_type`, `pre`): byte-level BPE
//! (GPT-2 style, `tokenizer.ggml.model = gpt2`) with the pre-tokenizer the
//! `pre` name selects (digits split singly for SmolLM/StarCoder-style models),
//! and control tokens (`<|im_start|>` ...) matched as special tokens. Built
//! with the `tokenizers` crate, so it encodes exactly as the model's
//! `tokenizer.json` would.

use std::collections::HashMap;

use anyhow::{Context, Result, anyhow, bail};
use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::SplitDelimiterBehavior;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, PreTokenizerWrapper, Tokenizer};

/// The Llama 3 / Qwen 2 pre-tokenizer split (llama.cpp `llama-bpe`).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A byte-level BPE tokenizer rebuilt from GGUF metadata.
pub struct GgufTokenizer {
    tok: Tokenizer,
    /// Token id of end-of-sequence, if the file names one.
    pub eos: Option<u32>,
    /// Token id of beginning-of-sequence and whether the model wants it.
    pub bos: Option<u32>,
    pub add_bos: bool,
    pub vocab_size: usize,
}

fn meta<'a>(content: &'a Content, key: &str) -> Result<&'a Value> {
    content
        .metadata
        .get(key)
        .ok_or_else(|| anyhow!("GGUF metadata has no {key}"))
}

fn meta_u32(content: &Content, key: &str) -> Option<u32> {
    content.metadata.get(key).and_then(|v| v.to_u32().ok())
}

impl GgufTokenizer {
    /// Builds the tokenizer from a GGUF file's metadata.
    pub fn from_gguf(content: &Content) -> Result<Self> {
        let model = meta(content, "tokenizer.ggml.model")?
            .to_string()
            .map_err(|e| anyhow!("tokenizer.ggml.model: {e}"))?;
        if model != "gpt2" {
            bail!(
                "GGUF tokenizer model `{model}` is not supported (byte-level BPE, `gpt2`, is: \
                 SmolLM, Llama 3, Qwen, StarCoder ...)"
            );
        }
        let pre = content
            .metadata
            .get("tokenizer.ggml.pre")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_else(|| "default".into());
        let tokens = meta(content, "tokenizer.ggml.tokens")?
            .to_vec()
            .map_err(|e| anyhow!("tokenizer.ggml.tokens: {e}"))?;
        let merges = meta(content, "tokenizer.ggml.merges")?
            .to_vec()
            .map_err(|e| anyhow!("tokenizer.ggml.merges: {e}"))?;
        let types: Vec<i32> = match content.metadata.get("tokenizer.ggml.token_type") {
            Some(v) => v
                .to_vec()
                .map_err(|e| anyhow!("tokenizer.ggml.token_type: {e}"))?
                .iter()
                .map(|t| t.to_i32().unwrap_or(1))
                .collect(),
            None => vec![1; tokens.len()],
        };
        let mut vocab: HashMap<String, u32> = HashMap::with_capacity(tokens.len());
        let mut names = Vec::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            let s = t
                .to_string()
                .map_err(|e| anyhow!("tokenizer.ggml.tokens[{i}]: {e}"))?;
            vocab.insert(s.clone(), i as u32);
            names.push(s.clone());
        }
        let mut merge_pairs = Vec::with_capacity(merges.len());
        for (i, m) in merges.iter().enumerate() {
            let s = m
                .to_string()
                .map_err(|e| anyhow!("tokenizer.ggml.merges[{i}]: {e}"))?;
            let (a, b) = s
                .split_once(' ')
                .ok_or_else(|| anyhow!("tokenizer.ggml.merges[{i}] `{s}` is not `a b`"))?;
            merge_pairs.push((a.to_string(), b.to_string()));
        }
        let bpe = BPE::builder()
            .vocab_and_merges(
                vocab
                    .into_iter()
                    .collect::<tokenizers::models::bpe::Vocab>(),
                merge_pairs,
            )
            .build()
            .map_err(|e| anyhow!("building the BPE from GGUF metadata: {e}"))?;
        let mut tok = Tokenizer::new(bpe);
        let pre_tok: PreTokenizerWrapper = match pre.as_str() {
            // llama.cpp's names for models that split digits one by one
            // before the GPT-2 regex.
            "smollm" | "starcoder" | "refact" | "codeshell" | "falcon3" | "exaone" => {
                Sequence::new(vec![
                    Digits::new(true).into(),
                    ByteLevel::new(false, false, true).into(),
                ])
                .into()
            }
            // Llama 3 / Qwen 2: their own split regex, then bytes.
            "llama-bpe" | "llama3" | "qwen2" | "smaug-bpe" => {
                let split = Split::new(
                    SplitPattern::Regex(LLAMA3_SPLIT.into()),
                    SplitDelimiterBehavior::Isolated,
                    false,
                )
                .map_err(|e| anyhow!("building the Llama 3 pre-tokenizer: {e}"))?;
                Sequence::new(vec![
                    split.into(),
                    ByteLevel::new(false, false, false).into(),
                ])
                .into()
            }
            _ => ByteLevel::new(false, false, true).into(),
        };
        tok.with_pre_tokenizer(Some(pre_tok));
        tok.with_decoder(Some(ByteLevelDecoder::default()));
        // Control (3) and user-defined (4) tokens match as whole tokens.
        let specials: Vec<AddedToken> = names
            .iter()
            .zip(&types)
            .filter(|(_, t)| **t == 3 || **t == 4)
            .map(|(n, _)| AddedToken::from(n.clone(), true))
            .collect();
        tok.add_special_tokens(specials)
            .map_err(|e| anyhow!("adding the control tokens: {e}"))?;
        let add_bos = content
            .metadata
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(false);
        Ok(Self {
            tok,
            eos: meta_u32(content, "tokenizer.ggml.eos_token_id"),
            bos: meta_u32(content, "tokenizer.ggml.bos_token_id"),
            add_bos,
            vocab_size: names.len(),
        })
    }

    /// Token ids of `text` (special tokens such as `<|im_start|>` match).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .tok
            .encode(text, false)
            .map_err(|e| anyhow!("tokenizing {text:?}: {e}"))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of token ids.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tok
            .decode(ids, false)
            .map_err(|e| anyhow!("decoding {ids:?}: {e}"))
    }

    /// The token id of one vocabulary entry.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.tok.token_to_id(token)
    }
}

/// Reads only the metadata of a GGUF file (no tensors) and builds its tokenizer.
pub fn load(path: &std::path::Path) -> Result<GgufTokenizer> {
    let mut f = std::io::BufReader::new(
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
    );
    let content = Content::read(&mut f)
        .map_err(|e| anyhow!("{} is not a readable GGUF file: {e}", path.display()))?;
    GgufTokenizer::from_gguf(&content)
}
