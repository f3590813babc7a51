//! Optional real-time setup of the loop thread: SCHED_FIFO priority, CPU
//! affinity, locked memory. Each step is applied when permitted; when not, the
//! reason is returned once and the loop runs on without it.

use crate::config::RealtimeConfig;

/// What the setup achieved, one line per step.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RtStatus {
    pub applied: Vec<String>,
    pub refused: Vec<String>,
}

impl RtStatus {
    pub fn summary(&self) -> String {
        if self.applied.is_empty() && self.refused.is_empty() {
            return "off".into();
        }
        let mut parts = self.applied.clone();
        parts.extend(self.refused.iter().map(|r| format!("not permitted: {r}")));
        parts.join("; ")
    }
}

/// Applies `cfg` to the calling thread.
pub fn apply(cfg: &RealtimeConfig) -> RtStatus {
    let mut st = RtStatus::default();
    if !cfg.enabled {
        return st;
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain libc calls on the current thread/process with valid,
        // initialised arguments; failures are reported through errno.
        unsafe {
            if cfg.lock_memory {
                if libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) == 0 {
                    st.applied.push("mlockall".into());
                } else {
                    st.refused
                        .push(format!("mlockall ({})", std::io::Error::last_os_error()));
                }
            }
            if let Some(cpu) = cfg.cpu {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(cpu, &mut set);
                if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0 {
                    st.applied.push(format!("pinned to CPU {cpu}"));
                } else {
                    st.refused.push(format!(
                        "CPU affinity {cpu} ({})",
                        std::io::Error::last_os_error()
                    ));
                }
            }
            let param = libc::sched_param {
                sched_priority: cfg.priority,
            };
            if libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) == 0 {
                st.applied
                    .push(format!("SCHED_FIFO priority {}", cfg.priority));
            } else {
                st.refused.push(format!(
                    "SCHED_FIFO priority {} ({})",
                    cfg.priority,
                    std::io::Error::last_os_error()
                ));
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    st.refused
        .push("real-time setup is implemented for Linux only".into());
    st
}
