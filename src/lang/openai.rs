//! `OpenAiScorer`: the same scoring through any OpenAI-compatible completion
//! server that returns log-probabilities (llama.cpp server, vLLM): one
//! `POST /v1/completions` with every candidate appended to the same prompt,
//! `echo: true`, `logprobs: 0`, and the candidate's tokens picked out of the
//! echoed prompt by their text offsets. A minimal HTTP/1.1 client over a std
//! `TcpStream` (plain http://, for servers on the robot's network).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use super::{CandidateScore, Scorer, prompt};

/// A scorer backed by a completion server.
pub struct OpenAiScorer {
    host: String,
    port: u16,
    path: String,
    url: String,
    model: String,
    scene: Option<String>,
    style: prompt::Style,
    pub timeout: Duration,
}

impl OpenAiScorer {
    /// `url`: `http://host[:port][/prefix]`; `/v1` is added when the path
    /// does not name it, then `/completions`.
    pub fn new(url: &str, model: Option<String>) -> Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("completion server URL {url}: only http:// is supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/').to_string()),
            None => (rest, String::new()),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse::<u16>()
                    .map_err(|_| anyhow!("completion server URL {url}: bad port `{p}`"))?,
            ),
            None => (authority.to_string(), 80),
        };
        if host.is_empty() {
            bail!("completion server URL {url}: no host");
        }
        let path = if path.ends_with("/completions") {
            path
        } else if path.ends_with("/v1") {
            format!("{path}/completions")
        } else {
            format!("{path}/v1/completions")
        };
        Ok(Self {
            host,
            port,
            path,
            url: url.to_string(),
            model: model.unwrap_or_else(|| "default".into()),
            scene: None,
            style: prompt::Style::default(),
            timeout: Duration::from_secs(60),
        })
    }

    /// Greedy completion of `prompt` (at most `max_tokens`, ending at any
    /// of `stop`): the text of the first choice.
    pub fn complete(&self, prompt: &str, max_tokens: usize, stop: &[&str]) -> Result<String> {
        let body = json!({
            "model": self.model,
            "prompt": prompt,
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "stop": stop,
        });
        let reply = self.post(&body.to_string())?;
        reply
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| c.first())
            .and_then(|c| c.get("text"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| anyhow!("reply of {}{} has no choices[0].text", self.url, self.path))
    }

    fn post(&self, body: &str) -> Result<Value> {
        let addr = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .with_context(|| format!("resolving {}", self.url))?
            .next()
            .ok_or_else(|| anyhow!("{} resolves to no address", self.url))?;
        let mut s = TcpStream::connect_timeout(&addr, self.timeout)
            .with_context(|| format!("connecting to {}", self.url))?;
        s.set_read_timeout(Some(self.timeout))?;
        s.set_write_timeout(Some(self.timeout))?;
        let mut req = format!(
            "POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.path,
            self.host,
            self.port,
            body.len()
        );
        if let Ok(key) = std::env::var("GANGLION_LM_API_KEY") {
            req.push_str(&format!("Authorization: Bearer {key}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes())?;
        s.write_all(body.as_bytes())?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)
            .with_context(|| format!("reading the reply of {}", self.url))?;
        let (status, body) =
            parse_response(&raw).with_context(|| format!("reply of {}{}", self.url, self.path))?;
        let text = String::from_utf8_lossy(&body);
        if !(200..300).contains(&status) {
            let short: String = text.chars().take(300).collect();
            bail!("{}{} answered HTTP {status}: {short}", self.url, self.path);
        }
        serde_json::from_str(&text)
            .with_context(|| format!("reply of {}{} is not JSON", self.url, self.path))
    }
}

/// Splits a raw HTTP/1.1 response into status and body (chunked or not).
pub fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>)> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("no HTTP header end"))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad HTTP status line `{status_line}`"))?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = &raw[end + 4..];
    if !chunked {
        return Ok((status, body.to_vec()));
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let nl = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("truncated chunk header"))?;
        let size_txt = String::from_utf8_lossy(&rest[..nl]);
        let size = usize::from_str_radix(size_txt.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| anyhow!("bad chunk size `{size_txt}`"))?;
        rest = &rest[nl + 2..];
        if size == 0 {
            break;
        }
        if rest.len() < size {
            bail!("truncated chunk");
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or(&[]);
    }
    Ok((status, out))
}

/// Sums the log-probabilities of the tokens at or after `start` (a character
/// offset) and before `end` in one completion choice's `logprobs`.
pub fn continuation_logprob(choice: &Value, start: usize, end: usize) -> Result<CandidateScore> {
    let lp = choice.get("logprobs").ok_or_else(|| {
        anyhow!("completion choice has no logprobs (does the server support them?)")
    })?;
    let tokens = lp
        .get("tokens")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("logprobs has no tokens"))?;
    let lps = lp
        .get("token_logprobs")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("logprobs has no token_logprobs"))?;
    let offsets: Vec<usize> = match lp.get("text_offset").and_then(Value::as_array) {
        Some(o) => o.iter().map(|v| v.as_u64().unwrap_or(0) as usize).collect(),
        None => {
            // Rebuild offsets from the token texts.
            let mut at = 0;
            tokens
                .iter()
                .map(|t| {
                    let here = at;
                    at += t.as_str().map_or(0, |s| s.chars().count());
                    here
                })
                .collect()
        }
    };
    if offsets.len() != lps.len() {
        bail!(
            "logprobs: {} offsets but {} log-probabilities",
            offsets.len(),
            lps.len()
        );
    }
    let mut sum = 0f32;
    let mut n = 0;
    for (off, l) in offsets.iter().zip(lps) {
        if *off >= start && *off < end {
            let v = l
                .as_f64()
                .ok_or_else(|| anyhow!("logprobs: a continuation token has no log-probability"))?;
            sum += v as f32;
            n += 1;
        }
    }
    if n == 0 {
        bail!(
            "logprobs: no token of the candidate found in the echoed prompt (does the server honour echo?)"
        );
    }
    Ok(CandidateScore {
        logprob_sum: sum,
        tokens: n,
    })
}

impl Scorer for OpenAiScorer {
    fn score_detailed(
        &mut self,
        instruction: &str,
        history: &[String],
        candidates: &[String],
    ) -> Result<Vec<CandidateScore>> {
        let p = prompt::build_styled(self.style, self.scene.as_deref(), instruction, history);
        let start = p.chars().count();
        let texts: Vec<String> = candidates
            .iter()
            .map(|c| format!("{p}{}", prompt::continuation(c)))
            .collect();
        let body = json!({
            "model": self.model,
            "prompt": texts,
            "max_tokens": 1,
            "temperature": 0,
            "echo": true,
            "logprobs": 0,
        });
        let reply = self.post(&body.to_string())?;
        let choices = reply
            .get("choices")
            .and_then(Value::as_array)
            .ok_or_else(|| anyhow!("completion reply has no choices"))?;
        let mut out = vec![None; candidates.len()];
        for (i, ch) in choices.iter().enumerate() {
            let idx = ch
                .get("index")
                .and_then(Value::as_u64)
                .map_or(i, |x| x as usize);
            let Some(text) = texts.get(idx) else {
                bail!("completion reply has choice index {idx} of {}", texts.len())
            };
            out[idx] = Some(continuation_logprob(ch, start, text.chars().count())?);
        }
        out.into_iter()
            .enumerate()
            .map(|(i, s)| {
                s.ok_or_else(|| {
                    anyhow!(
                        "completion reply has no choice for candidate {i} ({:?})",
                        candidates[i]
                    )
                })
            })
            .collect()
    }

    fn set_style(&mut self, style: prompt::Style) {
        self.style = style;
    }

    fn set_scene(&mut self, scene: Option<String>) {
        self.scene = scene;
    }

    fn describe(&self) -> String {
        format!("openai:{}", self.url)
    }
}
