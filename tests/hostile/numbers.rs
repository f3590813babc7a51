//! Findings 2 and 3: numbers from outside (rates, durations, timeouts) are
//! refused where they enter, and a signal ends a run at any rate, with the
//! recording finished (SIGHUP included).

use std::process::Stdio;
use std::time::{Duration, Instant};

use ganglion::record::read_recording;

use super::{assert_clean_error, corpus, ganglion, run_within, text};

const NO_HANG: Duration = Duration::from_secs(60);

#[test]
fn impossible_rates_are_refused_by_check_and_run() {
    for rate in [
        "1e-300", "1e-25", "1e-19", "1e-12", "0", "-5", "nan", "inf", "1e9",
    ] {
        let file = corpus(&format!("rate-{rate}.toml"));
        let mut check = ganglion();
        check.arg("check").arg(&file);
        assert_clean_error(&run_within(check, NO_HANG), "rate_hz");
        for fast in [true, false] {
            let mut run = ganglion();
            run.args(["run", "--ticks", "3", "--config"]).arg(&file);
            if fast {
                run.arg("--fast");
            }
            assert_clean_error(&run_within(run, NO_HANG), "rate_hz");
        }
    }
}

#[test]
fn durations_that_are_not_numbers_are_usage_errors() {
    for bad in ["nan", "inf", "-1", "1e300"] {
        let mut run = ganglion();
        run.args(["run", "--fast", &format!("--seconds={bad}"), "--config"])
            .arg(corpus("slow-0.1hz.toml"));
        let o = run_within(run, NO_HANG);
        assert_clean_error(&o, "--seconds");
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));

        let mut estop = ganglion();
        estop.args([
            "estop",
            "--connect",
            "tcp/127.0.0.1:9",
            "--robot",
            "r",
            &format!("--timeout={bad}"),
        ]);
        let o = run_within(estop, NO_HANG);
        assert_clean_error(&o, "--timeout");
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    }
}

/// A real-time run at 0.1 Hz (one tick every 10 s) ends promptly on each
/// terminating signal, and its recording is finished with a footer.
#[test]
fn a_signal_ends_a_slow_run_and_finishes_the_recording() {
    let dir = tempfile::tempdir().unwrap();
    for (name, sig) in [
        ("int", libc::SIGINT),
        ("term", libc::SIGTERM),
        ("hup", libc::SIGHUP),
    ] {
        let rec = dir.path().join(format!("{name}.mcap"));
        let mut child = ganglion()
            .args(["run", "--seconds", "600", "--config"])
            .arg(corpus("slow-0.1hz.toml"))
            .arg("--record")
            .arg(&rec)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        // The recorder creates the file at start; then the loop is waiting
        // out its 10 s period.
        let t0 = Instant::now();
        while !rec.exists() && t0.elapsed() < NO_HANG {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(child.id() as libc::pid_t, sig) };
        let signalled = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            if signalled.elapsed() > Duration::from_secs(5) {
                let _ = child.kill();
                panic!("SIG{name} did not end a 0.1 Hz run within 5 s");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        eprintln!("SIG{name}: exited in {:?}", signalled.elapsed());
        assert!(status.success(), "SIG{name}: {status:?}");
        let r = read_recording(&rec).expect("readable recording");
        assert!(!r.truncated, "SIG{name}: recording has no footer");
        assert!(!r.ticks.is_empty(), "SIG{name}: no ticks recorded");
    }
}
