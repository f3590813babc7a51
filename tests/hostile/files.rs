//! Findings 3 (special files), 4 (model integrity) and 10 (smaller): files
//! from outside are read only when they are regular files under a size cap,
//! a model must match its card, and odd models and configs get errors that
//! say what is wrong.

use std::path::Path;
use std::time::Duration;

use prost::Message;
use tract_onnx::pb;

use super::{
    assert_clean_error, cartpole_config_with, ganglion, policy_lines, repo, run_within, text,
};

const NO_HANG: Duration = Duration::from_secs(60);

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[test]
fn fifos_devices_and_directories_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("robot.toml");
    mkfifo(&fifo);
    for (target, why) in [
        (fifo.as_path(), "not a regular file"),
        (Path::new("/dev/zero"), "not a regular file"),
        (dir.path(), "is a directory"),
    ] {
        let mut check = ganglion();
        check.arg("check").arg(target);
        assert_clean_error(&run_within(check, NO_HANG), why);

        let mut eval = ganglion();
        eval.args(["eval", "cartpole", "--episodes", "1", "--policy"])
            .arg(target);
        assert_clean_error(&run_within(eval, NO_HANG), why);

        // As the policy path and as the card path of a config.
        let model = policy_lines(target, "mlp");
        let cfg = cartpole_config_with(dir.path(), "policy-special", &model);
        let mut check = ganglion();
        check.arg("check").arg(&cfg);
        assert_clean_error(&run_within(check, NO_HANG), why);

        let with_card = format!(
            "{}\ncard = {:?}",
            policy_lines(&repo("models/cartpole-ppo.onnx"), "mlp"),
            target.display().to_string()
        );
        let cfg = cartpole_config_with(dir.path(), "card-special", &with_card);
        let mut check = ganglion();
        check.arg("check").arg(&cfg);
        assert_clean_error(&run_within(check, NO_HANG), why);
    }
}

/// A model file swapped under its card: `check` and `run` name both
/// hashes; `--allow-unverified` runs it and says so in the recording.
#[test]
fn a_swapped_model_is_caught_by_check_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("cartpole-ppo.onnx");
    std::fs::copy(repo("models/cartpole-ppo-2k.onnx"), &model).unwrap();
    std::fs::copy(
        repo("models/cartpole-ppo.card.toml"),
        dir.path().join("cartpole-ppo.card.toml"),
    )
    .unwrap();
    let want = ganglion::policy::ModelCard::load_for(&repo("models/cartpole-ppo.onnx"))
        .unwrap()
        .sha256;
    let got = ganglion::input::sha256_file(&model, ganglion::input::FileKind::Model).unwrap();
    let cfg = cartpole_config_with(dir.path(), "swapped", &policy_lines(&model, "mlp"));

    let mut check = ganglion();
    check.arg("check").arg(&cfg);
    let o = run_within(check, NO_HANG);
    assert_clean_error(&o, &want);
    assert!(text(&o).contains(&got), "{}", text(&o));

    let mut run = ganglion();
    run.args(["run", "--fast", "--ticks", "5", "--config"])
        .arg(&cfg);
    assert_clean_error(&run_within(run, NO_HANG), &got);

    let rec = dir.path().join("unverified.mcap");
    let mut run = ganglion();
    run.args([
        "run",
        "--fast",
        "--ticks",
        "5",
        "--allow-unverified",
        "--config",
    ])
    .arg(&cfg)
    .arg("--record")
    .arg(&rec);
    let o = run_within(run, NO_HANG);
    assert!(o.status.success(), "{}", text(&o));
    let r = ganglion::record::read_recording(&rec).unwrap();
    assert_eq!(
        r.metadata.get("policy_verified").map(String::as_str),
        Some("false")
    );
}

/// A one-node ONNX graph from `obs` to `logits` through `op`.
fn one_op_model(
    dir: &Path,
    name: &str,
    nodes: Vec<pb::NodeProto>,
    inits: Vec<pb::TensorProto>,
) -> std::path::PathBuf {
    let value = |n: &str, dims: &[i64]| pb::ValueInfoProto {
        name: n.into(),
        r#type: Some(pb::TypeProto {
            denotation: String::new(),
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| pb::tensor_shape_proto::Dimension {
                            denotation: String::new(),
                            value: Some(pb::tensor_shape_proto::dimension::Value::DimValue(*d)),
                        })
                        .collect(),
                }),
            })),
        }),
        doc_string: String::new(),
    };
    let model = pb::ModelProto {
        ir_version: 7,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(pb::GraphProto {
            name: name.into(),
            node: nodes,
            initializer: inits,
            input: vec![value("obs", &[1, 4])],
            output: vec![value("logits", &[1, 2])],
            ..Default::default()
        }),
        ..Default::default()
    };
    let path = dir.join(format!("{name}.onnx"));
    std::fs::write(&path, model.encode_to_vec()).unwrap();
    path
}

fn node(op: &str, inputs: &[&str], output: &str) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        name: format!("{op}_node"),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        ..Default::default()
    }
}

#[test]
fn a_custom_operator_is_named_not_reported_as_a_shape_error() {
    let dir = tempfile::tempdir().unwrap();
    let m = one_op_model(
        dir.path(),
        "custom",
        vec![node("MyCustomOp", &["obs"], "logits")],
        vec![],
    );
    let mut eval = ganglion();
    eval.args(["eval", "cartpole", "--episodes", "1", "--policy"])
        .arg(&m);
    let o = run_within(eval, NO_HANG);
    assert_clean_error(&o, "MyCustomOp");
    assert_clean_error(&o, "does not implement");
}

/// A graph that asks the engine for a 200000 × 200000 tensor: an error,
/// never a printed panic or backtrace.
#[test]
fn an_engine_failure_is_an_error_without_a_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let shape = pb::TensorProto {
        name: "shape".into(),
        dims: vec![2],
        data_type: pb::tensor_proto::DataType::Int64 as i32,
        int64_data: vec![200_000, 200_000],
        ..Default::default()
    };
    let m = one_op_model(
        dir.path(),
        "huge",
        vec![node("ConstantOfShape", &["shape"], "logits")],
        vec![shape],
    );
    let mut eval = ganglion();
    eval.env("RUST_BACKTRACE", "1")
        .args(["eval", "cartpole", "--episodes", "1", "--policy"])
        .arg(&m);
    let o = run_within(eval, NO_HANG);
    assert_clean_error(&o, "policy");
}

#[test]
fn a_million_bad_fields_give_a_short_report() {
    let dir = tempfile::tempdir().unwrap();
    let text_cfg = std::fs::read_to_string(repo("robots/cartpole.toml")).unwrap();
    let fields: Vec<String> = (0..1_000_000).map(|i| format!("\"f{i}\"")).collect();
    let start = text_cfg.find("fields = [").unwrap();
    let end = start + text_cfg[start..].find('\n').unwrap();
    let bad = format!(
        "{}fields = [{}]{}",
        &text_cfg[..start],
        fields.join(","),
        &text_cfg[end..]
    )
    .replace("\"../models/", &format!("\"{}/models/", repo("").display()));
    let cfg = dir.path().join("fields.toml");
    std::fs::write(&cfg, bad).unwrap();
    let mut check = ganglion();
    check.arg("check").arg(&cfg);
    let o = run_within(check, NO_HANG);
    assert_clean_error(&o, "fields");
    let lines = text(&o).lines().count();
    assert!(lines <= 110, "{lines} lines of report");
}

#[test]
fn a_ten_megabyte_robot_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text_cfg = std::fs::read_to_string(repo("robots/cartpole.toml")).unwrap();
    // Under the config size cap, so the name check itself is what answers.
    let name = "a".repeat(900_000);
    let bad = text_cfg
        .replace("robot = \"cartpole\"", &format!("robot = \"{name}\""))
        .replace("\"../models/", &format!("\"{}/models/", repo("").display()));
    let cfg = dir.path().join("name.toml");
    std::fs::write(&cfg, &bad).unwrap();
    let mut check = ganglion();
    check.arg("check").arg(&cfg);
    let o = run_within(check, NO_HANG);
    assert_clean_error(&o, "at most 64 characters");
    assert!(text(&o).len() < 10_000, "the name was echoed back");

    let huge = dir.path().join("huge.toml");
    std::fs::write(&huge, "a".repeat(10 << 20)).unwrap();
    let mut check = ganglion();
    check.arg("check").arg(&huge);
    assert_clean_error(&run_within(check, NO_HANG), "limit");
}

#[test]
fn an_absurd_target_return_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let lines = format!(
        "{}\ntarget_return = 1e38",
        policy_lines(&repo("models/cartpole-dt.onnx"), "decision-transformer")
    );
    let cfg = cartpole_config_with(dir.path(), "dt-target", &lines);
    let mut check = ganglion();
    check.arg("check").arg(&cfg);
    assert_clean_error(&run_within(check, NO_HANG), "target_return");
}
