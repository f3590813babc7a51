//! Where training runs: `--device cpu|cuda|auto`. This exists with or without
//! the `cuda` feature, so the flag and its errors are the same in every build:
//! `cuda` without the feature, driver or GPU is a clear error; `auto` falls
//! back to the CPU and says why.

use std::fmt;
use std::str::FromStr;

/// The device a user asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Device {
    #[default]
    Cpu,
    Cuda,
    /// CUDA when it can run here, else the CPU.
    Auto,
}

/// The device training will use, after probing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolved {
    Cpu,
    Cuda,
}

/// The outcome of `Device::resolve`: where to run, and a line to print when
/// `auto` fell back to the CPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    pub device: Resolved,
    pub note: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeviceError {
    #[error(
        "--device cuda: this ganglion was built without the `cuda` feature; rebuild with `cargo build --release --features cuda`"
    )]
    NotBuilt,
    #[error("--device cuda: {0}")]
    Unavailable(String),
}

impl FromStr for Device {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda),
            "auto" => Ok(Device::Auto),
            _ => Err(format!("unknown device `{s}` (expected cpu, cuda or auto)")),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
            Device::Auto => "auto",
        })
    }
}

/// Whether this build has the CUDA path.
pub const CUDA_BUILT: bool = cfg!(feature = "cuda");

/// Why CUDA cannot run here (`None`: it can: libraries load and GPU 0 exists).
/// Never panics, whatever is missing.
pub fn cuda_unavailable() -> Option<DeviceError> {
    #[cfg(feature = "cuda")]
    {
        crate::nn::cuda::probe::context(0)
            .err()
            .map(|e| DeviceError::Unavailable(e.to_string()))
    }
    #[cfg(not(feature = "cuda"))]
    {
        Some(DeviceError::NotBuilt)
    }
}

impl Device {
    /// Probes (for `cuda` and `auto`) and picks the device.
    pub fn resolve(self) -> Result<Selection, DeviceError> {
        let cpu = |note: Option<String>| Selection {
            device: Resolved::Cpu,
            note,
        };
        match self {
            Device::Cpu => Ok(cpu(None)),
            Device::Cuda => match cuda_unavailable() {
                None => Ok(Selection {
                    device: Resolved::Cuda,
                    note: None,
                }),
                Some(e) => Err(e),
            },
            Device::Auto => match cuda_unavailable() {
                None => Ok(Selection {
                    device: Resolved::Cuda,
                    note: Some("--device auto: using CUDA".into()),
                }),
                Some(e) => Ok(cpu(Some(format!(
                    "--device auto: training on the CPU ({})",
                    e.to_string().trim_start_matches("--device cuda: ")
                )))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for d in [Device::Cpu, Device::Cuda, Device::Auto] {
            assert_eq!(d.to_string().parse::<Device>(), Ok(d));
        }
        let e = "tpu".parse::<Device>().unwrap_err();
        assert!(e.contains("cpu, cuda or auto"), "{e}");
    }

    #[test]
    fn cpu_always_resolves_and_auto_never_fails() {
        assert_eq!(Device::Cpu.resolve().unwrap().device, Resolved::Cpu);
        let auto = Device::Auto
            .resolve()
            .expect("auto falls back, never errors");
        match auto.device {
            // No GPU here: the fallback says why.
            Resolved::Cpu => assert!(auto.note.unwrap().contains("CPU")),
            Resolved::Cuda => assert!(cuda_unavailable().is_none()),
        }
    }

    #[test]
    fn cuda_without_the_feature_or_a_gpu_is_a_clear_error() {
        match Device::Cuda.resolve() {
            Ok(sel) => assert_eq!(sel.device, Resolved::Cuda),
            Err(DeviceError::NotBuilt) => {
                assert_eq!(CUDA_BUILT, cfg!(feature = "cuda"));
                assert!(
                    DeviceError::NotBuilt
                        .to_string()
                        .contains("--features cuda")
                );
            }
            Err(DeviceError::Unavailable(why)) => {
                assert!(!why.is_empty());
                eprintln!("no CUDA here: {why}");
            }
        }
    }
}
