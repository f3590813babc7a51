//! Language layer: scorers that say how relevant a candidate skill text is to
//! an instruction (an on-device LLM read from GGUF, any OpenAI-compatible
//! completion server, sentence embeddings for matching object names), and the
//! model files they need (`models fetch`). Before planning, an instruction
//! is checked (`guard`), grounded in the scene (`ground`, `lexicon`) and
//! parsed into goals (`parse`, `goals`); the SayCan planner (`saycan`)
//! multiplies the LM relevances by skill affordances and the goals' progress.
//! The code planner (`code_plan`) has the taught coder (`coder`) write a
//! program over the robot API instead, for what a skill list cannot say;
//! `consistency` refuses a program that answers another question.
//! `service` opens the planner's models once and runs plans against a world
//! (symbolic, or a robot owned by another thread); `suite` scores the
//! planner on the language suite (`ganglion eval-lang`).

pub mod bert;
pub mod clearing;
pub mod code_plan;
pub mod coder;
pub mod colour_survey;
pub mod consistency;
pub mod fetch;
pub mod gguf_tok;
pub mod goals;
pub mod ground;
pub mod guard;
pub mod lexicon;
pub mod llama;
pub mod llm_scorer;
pub mod minilm;
pub mod openai;
pub mod parse;
pub mod prompt;
pub mod q8;
pub mod ranking;
pub mod saycan;
pub mod service;
pub mod suite;
pub mod tensor;

use std::path::PathBuf;

use anyhow::{Result, bail};

pub use llm_scorer::LlmScorer;
pub use minilm::MiniLm;
pub use openai::OpenAiScorer;

/// The relevance of each candidate continuation, as the language model sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CandidateScore {
    /// Sum of the log-probabilities of the candidate's tokens.
    pub logprob_sum: f32,
    /// Number of tokens scored.
    pub tokens: usize,
}

impl CandidateScore {
    /// Mean log-probability per token: the normalisation the scorers report
    /// (see `normalised`).
    pub fn mean(&self) -> f32 {
        if self.tokens == 0 {
            f32::NEG_INFINITY
        } else {
            self.logprob_sum / self.tokens as f32
        }
    }
}

/// Scores candidate skill texts for an instruction and the steps done so far.
///
/// `score` returns one value per candidate, in order: the mean log-probability
/// per token of the candidate text after a few-shot prompt holding the
/// instruction and history (so `exp(score)` is a per-token probability in
/// (0, 1]; the planner may turn scores into a distribution over candidates
/// with a softmax). Length normalisation keeps short skills (`done`) from
/// winning just by being short.
pub trait Scorer: Send {
    /// Raw per-candidate log-probability sums and token counts.
    fn score_detailed(
        &mut self,
        instruction: &str,
        history: &[String],
        candidates: &[String],
    ) -> Result<Vec<CandidateScore>>;

    /// Length-normalised log-probabilities (mean per token), one per candidate.
    fn score(
        &mut self,
        instruction: &str,
        history: &[String],
        candidates: &[String],
    ) -> Result<Vec<f32>> {
        Ok(self
            .score_detailed(instruction, history, candidates)?
            .iter()
            .map(CandidateScore::mean)
            .collect())
    }

    /// Sets the scene the prompt shows, as an object list ("red block, green
    /// bowl"); `None` leaves it out. Part of the context, like the history.
    fn set_scene(&mut self, scene: Option<String>);

    /// Chooses the prompt layout (the default is the measured best).
    fn set_style(&mut self, style: prompt::Style);

    /// A short description for logs and reports (`gguf:PATH`, `openai:URL`).
    fn describe(&self) -> String;
}

/// Which language model to use: `--lm gguf:PATH`, `--lm openai:URL`, or the
/// default (the fetched SmolLM2 in `models/lm/`).
#[derive(Debug, Clone, PartialEq)]
pub enum LmSpec {
    Default,
    Gguf(PathBuf),
    OpenAi { url: String, model: Option<String> },
}

impl LmSpec {
    /// Parses `default`, `gguf:PATH`, `openai:URL` or `openai:URL#MODEL`.
    pub fn parse(s: &str) -> Result<Self> {
        if s.is_empty() || s == "default" || s == "smollm2" {
            return Ok(Self::Default);
        }
        if let Some(p) = s.strip_prefix("gguf:") {
            if p.is_empty() {
                bail!("--lm gguf: needs a path, e.g. gguf:models/lm/model.gguf");
            }
            return Ok(Self::Gguf(PathBuf::from(p)));
        }
        if let Some(u) = s.strip_prefix("openai:") {
            let (url, model) = match u.split_once('#') {
                Some((a, b)) => (a.to_string(), Some(b.to_string())),
                None => (u.to_string(), None),
            };
            if !url.starts_with("http://") {
                bail!(
                    "--lm openai:{u}: the URL must start with http:// (e.g. openai:http://127.0.0.1:8080/v1)"
                );
            }
            return Ok(Self::OpenAi { url, model });
        }
        bail!("--lm `{s}`: expected gguf:PATH, openai:URL[#MODEL] or default")
    }

    /// Opens the scorer this spec names.
    pub fn open(&self) -> Result<Box<dyn Scorer>> {
        Ok(match self {
            Self::Default => {
                let dir = fetch::default_dir();
                fetch::require(&dir, &[fetch::SMOLLM2_GGUF])?;
                Box::new(LlmScorer::load(&dir.join(fetch::SMOLLM2_GGUF))?)
            }
            Self::Gguf(p) => Box::new(LlmScorer::load(p)?),
            Self::OpenAi { url, model } => Box::new(OpenAiScorer::new(url, model.clone())?),
        })
    }
}
