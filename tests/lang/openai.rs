//! Protocol test of `OpenAiScorer`: a small HTTP server in the test answers
//! `POST /v1/completions` in the OpenAI completions shape (echoed prompt
//! tokens with `token_logprobs` and `text_offset`), chunked; the scorer must
//! send every candidate, pick out only the candidate's tokens, and report
//! server errors clearly.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;

use ganglion::lang::{OpenAiScorer, Scorer};
use serde_json::{Value, json};

/// Splits text into word tokens with their leading space (a stand-in BPE).
fn words(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<char> = text.chars().collect();
    for i in 1..=chars.len() {
        if i == chars.len() || (chars[i] == ' ' && chars[i - 1] != ' ') {
            out.push((start, chars[start..i].iter().collect()));
            start = i;
        }
    }
    out
}

fn read_request(s: &mut std::net::TcpStream) -> (String, Value) {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        let n = s.read(&mut tmp).expect("read");
        buf.extend_from_slice(&tmp[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().expect("len"))
                })
                .expect("content-length");
            while buf.len() < end + 4 + len {
                let n = s.read(&mut tmp).expect("read body");
                buf.extend_from_slice(&tmp[..n]);
            }
            let body: Value =
                serde_json::from_slice(&buf[end + 4..end + 4 + len]).expect("json body");
            return (head, body);
        }
    }
}

/// Serves one request: each word's log-probability is -0.5 when the prompt's
/// instruction mentions it, else -4.0 (so relevant candidates win).
fn serve_once(status: u16) -> (String, thread::JoinHandle<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    let h = thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let (head, body) = read_request(&mut s);
        assert!(head.starts_with("POST /v1/completions HTTP/1.1"), "{head}");
        let prompts = body["prompt"].as_array().expect("prompt list").clone();
        let choices: Vec<Value> = prompts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let p = p.as_str().expect("prompt text");
                let instr = p.rsplit("Human: ").next().unwrap_or("").lines().next().unwrap_or("").to_string();
                let toks = words(p);
                json!({
                    "index": i,
                    "text": p,
                    "logprobs": {
                        "tokens": toks.iter().map(|t| t.1.clone()).collect::<Vec<_>>(),
                        "text_offset": toks.iter().map(|t| t.0).collect::<Vec<_>>(),
                        "token_logprobs": toks.iter().enumerate().map(|(k, t)| {
                            if k == 0 { Value::Null } else if instr.contains(t.1.trim()) { json!(-0.5) } else { json!(-4.0) }
                        }).collect::<Vec<_>>(),
                    }
                })
            })
            .collect();
        let reply = if status == 200 {
            json!({"object": "text_completion", "choices": choices}).to_string()
        } else {
            json!({"error": {"message": "model not loaded"}}).to_string()
        };
        // Chunked, in two chunks.
        let (a, b) = reply.split_at(reply.len() / 2);
        let msg = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        );
        s.write_all(msg.as_bytes()).expect("write");
        body
    });
    (url, h)
}

#[test]
fn scores_only_the_candidate_tokens() {
    let (url, server) = serve_once(200);
    let mut sc = OpenAiScorer::new(&url, Some("test-model".into())).expect("url");
    let cands = vec![
        "pick up the red block".to_string(),
        "pick up the blue block".into(),
        "done".into(),
    ];
    let got = sc
        .score_detailed("put the red block in the bowl", &[], &cands)
        .expect("score");
    let req = server.join().expect("server");
    assert_eq!(req["model"], "test-model");
    assert_eq!(req["echo"], true);
    assert_eq!(req["prompt"].as_array().map(Vec::len), Some(3));
    // "pick"(-4) "up"(-4) "the"(-0.5) "red"(-0.5) "block"(-0.5)
    assert_eq!(got[0].tokens, 5);
    assert!((got[0].logprob_sum - -9.5).abs() < 1e-5, "{:?}", got[0]);
    assert!((got[1].logprob_sum - -13.0).abs() < 1e-5, "{:?}", got[1]);
    assert_eq!(got[2].tokens, 1);
    assert!(got[0].mean() > got[1].mean());
}

#[test]
fn server_errors_are_reported_with_status() {
    let (url, server) = serve_once(503);
    let mut sc = OpenAiScorer::new(&url, None).expect("url");
    let err = sc.score("x", &[], &["done".to_string()]).expect_err("503");
    server.join().expect("server");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("HTTP 503") && msg.contains("model not loaded"),
        "{msg}"
    );
}

#[test]
fn unreachable_server_is_a_clear_error() {
    // Bind then drop to get a port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut sc = OpenAiScorer::new(&format!("http://127.0.0.1:{port}"), None).expect("url");
    let msg = format!(
        "{:#}",
        sc.score("x", &[], &["done".to_string()])
            .expect_err("refused")
    );
    assert!(msg.contains("connecting to http://127.0.0.1"), "{msg}");
}

/// Serves one completion request with `program` as the text.
fn serve_program(program: &'static str) -> (String, thread::JoinHandle<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let h = thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let (head, body) = read_request(&mut s);
        assert!(head.starts_with("POST /v1/completions HTTP/1.1"), "{head}");
        let reply = json!({"choices": [{"index": 0, "text": program}]}).to_string();
        let msg = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{reply}",
            reply.len()
        );
        s.write_all(msg.as_bytes()).expect("write");
        body
    });
    (url, h)
}

/// `--lm openai:URL` under the code planner: the server gets the few-shot
/// prompt (worked examples, then the instruction) and its program faces
/// the same checks as the taught coder's: one that answers the
/// instruction runs, one naming an object the scene lacks is refused
/// before anything moves.
#[test]
fn a_completion_server_writes_programs_the_planner_checks() {
    use ganglion::lang::code_plan::{CodeParts, PlannerKind, Route, Task, WriterKind, route};
    use ganglion::lang::ground::THRESHOLDS;
    use ganglion::lang::saycan::{SymbolicWorld, World};
    use ganglion::sim::{SceneSpec, TabletopWorld};

    let scene = SceneSpec::parse("blocks=red,green,blue; bowls=green,yellow").unwrap();
    for (program, runs) in [
        ("pick(\"red block\");\nplace_in(\"green bowl\");", true),
        ("pick(\"purple block\");\nplace_in(\"green bowl\");", false),
    ] {
        let (url, server) = serve_program(program);
        let mut world = SymbolicWorld::new(scene.clone(), TabletopWorld::new(&scene, 3).state());
        let places = world.places().unwrap();
        let instruction = "put the red block in the green bowl";
        let Route::Program {
            grounded,
            input,
            named,
            goals,
        } = route(
            PlannerKind::Code,
            instruction,
            &scene,
            &places,
            None,
            &THRESHOLDS,
        )
        .unwrap()
        else {
            panic!("routed to SayCan");
        };
        let mut code = CodeParts::new("unused".into(), "unused".into(), Default::default());
        code.writer_kind = WriterKind::Server {
            url,
            model: Some("big".into()),
        };
        let task = Task {
            instruction,
            grounded: &grounded,
            named: &named,
            goals: goals.as_ref(),
        };
        let plan = code.plan(&task, &input, world).unwrap();
        let body = server.join().expect("server");
        let prompt = body["prompt"].as_str().expect("prompt");
        assert!(prompt.ends_with(&format!("# {input}\n")), "{prompt}");
        assert_eq!(prompt.matches("\n# ").count(), 8, "seven worked examples");
        assert_eq!(body["model"], "big");
        assert!(body["stop"].as_array().is_some_and(|s| !s.is_empty()));
        assert_eq!(plan.program.as_deref(), Some(program));
        assert_eq!(plan.success, runs, "{}", plan.stopped_because);
        assert_eq!(plan.refused, !runs, "{}", plan.stopped_because);
        if !runs {
            assert!(
                plan.steps.iter().all(|s| s.skill == "done"),
                "{:?}",
                plan.steps
            );
        }
    }
}
