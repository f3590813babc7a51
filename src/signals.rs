//! Ending a long-running command from outside: SIGINT, SIGTERM and SIGHUP (a
//! closed terminal) all set one flag that runs, nodes and served robots
//! check at their next wait slice, so they stop cleanly (recordings
//! finished, the robot left in its safe state) instead of dying mid-write.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Routes SIGINT, SIGTERM and SIGHUP to the stop flag (idempotent).
pub fn install() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// Whether a stop signal has arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// The flag itself, for loops that take an `&AtomicBool`.
pub fn stop_flag() -> &'static AtomicBool {
    &STOP
}
