//! Tests of `policy::chunked`: the ensemble, the schedules and timings,
//! warm-up, starvation and model failures.

use super::*;

/// Chunk row i for an observation o: [o + i, −(o + i)].
struct Counting {
    horizon: usize,
    delay: Duration,
}

impl ChunkModel for Counting {
    fn obs_dim(&self) -> usize {
        1
    }
    fn action_dim(&self) -> usize {
        2
    }
    fn horizon(&self) -> usize {
        self.horizon
    }
    fn predict(
        &mut self,
        obs: &[f32],
        _: Option<&ImageFrame>,
        chunk: &mut [f32],
    ) -> Result<(), PolicyError> {
        std::thread::sleep(self.delay);
        for (i, a) in chunk.chunks_mut(2).enumerate() {
            a[0] = obs[0] + i as f32;
            a[1] = -a[0];
        }
        Ok(())
    }
}

#[test]
fn the_ensemble_weights_older_chunks_by_decay() {
    let mut e = Ensemble::new(3, 1, 4, 0.0);
    let mut out = [0.0];
    assert!(!e.action_at(0, &mut out));
    e.insert(0, &[1.0, 2.0, 3.0]);
    e.insert(1, &[10.0, 20.0, 30.0]);
    assert!(e.action_at(0, &mut out));
    assert_eq!(out, [1.0]);
    // Tick 2: the first chunk's 3.0 and the second's 20.0, evenly.
    assert!(e.action_at(2, &mut out));
    assert_eq!(out, [11.5]);
    // Tick 3: only the second chunk covers it; tick 4: none.
    assert!(e.action_at(3, &mut out));
    assert_eq!(out, [30.0]);
    assert!(!e.action_at(4, &mut out));
    assert_eq!(e.ticks_left(2), 2);
    // A large decay keeps the oldest prediction.
    let mut e = Ensemble::new(3, 1, 4, 10.0);
    e.insert(0, &[1.0, 2.0, 3.0]);
    e.insert(1, &[10.0, 20.0, 30.0]);
    assert!(e.action_at(2, &mut out));
    assert!((out[0] - 3.0).abs() < 1e-3, "{out:?}");
}

fn actions(timing: Timing, every: u32, ticks: u64) -> (Vec<Option<[f32; 2]>>, ChunkStats) {
    let model = Counting {
        horizon: 4,
        delay: Duration::from_millis(2),
    };
    let mut p = ChunkedPolicy::new(
        Box::new(model),
        ChunkSchedule {
            every,
            decay: 0.0,
            timing,
        },
    );
    p.warm_up(&[0.0]);
    let mut out = Vec::new();
    for t in 0..ticks {
        let mut a = [0.0; 2];
        out.push(p.act(&[100.0 * t as f32], &mut a).ok().map(|()| a));
    }
    (out, p.stats())
}

#[test]
fn inline_chunks_are_asked_for_every_k_ticks() {
    let (a, stats) = actions(Timing::Inline, 4, 8);
    assert_eq!(stats.chunks, 2);
    // Ticks 0..4 read the chunk from tick 0's observation (0, 1, 2, 3).
    assert_eq!(a[3], Some([3.0, -3.0]));
    assert_eq!(a[4], Some([400.0, -400.0]));
}

#[test]
fn lockstep_service_chunks_land_after_their_latency_every_time() {
    let timing = Timing::Lockstep { latency: 2 };
    let (a, stats) = actions(timing, 2, 12);
    let (b, _) = actions(timing, 2, 12);
    assert_eq!(a, b, "the same actions on every run");
    assert!(a.iter().all(Option::is_some), "no tick starved: {a:?}");
    assert!(stats.chunks >= 5);
    // Tick 1 holds only the warm-up chunk (observation 0): row 1.
    assert_eq!(a[1], Some([1.0, -1.0]));
    // The chunk asked for at tick 0 lands at tick 2 and is blended with
    // the warm-up chunk there: rows 2 of both, both from observation 0.
    assert_eq!(a[2], Some([2.0, -2.0]));
    // At tick 4 both chunks from observation 0 have ended; the one
    // asked for at tick 2 (observation 200) lands and gives its row 2.
    assert_eq!(a[4], Some([202.0, -202.0]));
}

#[test]
fn a_wall_clock_service_starves_when_its_chunks_run_out() {
    let model = Counting {
        horizon: 1,
        delay: Duration::from_millis(30),
    };
    let mut p = ChunkedPolicy::new(
        Box::new(model),
        ChunkSchedule {
            every: 1,
            decay: 0.0,
            timing: Timing::Wall,
        },
    );
    p.warm_up(&[0.0]);
    let mut a = [0.0; 2];
    assert!(p.act(&[0.0], &mut a).is_ok(), "the warm-up chunk");
    // The next ticks come at once; the 30 ms model cannot keep up.
    let starved = (0..5)
        .filter(|_| matches!(p.act(&[0.0], &mut a), Err(PolicyError::Starved)))
        .count();
    assert_eq!(starved, 5);
    assert_eq!(p.stats().starved_ticks, 5);
}

/// A model that panics ends the service; the loop sees an error, it
/// does not hang.
#[test]
fn a_panicking_model_is_an_error_not_a_hang() {
    struct Panics;
    impl ChunkModel for Panics {
        fn obs_dim(&self) -> usize {
            1
        }
        fn action_dim(&self) -> usize {
            1
        }
        fn horizon(&self) -> usize {
            2
        }
        fn predict(
            &mut self,
            _: &[f32],
            _: Option<&ImageFrame>,
            _: &mut [f32],
        ) -> Result<(), PolicyError> {
            panic!("model bug");
        }
    }
    let mut p = ChunkedPolicy::new(
        Box::new(Panics),
        ChunkSchedule {
            every: 1,
            decay: 0.0,
            timing: Timing::Lockstep { latency: 1 },
        },
    );
    let mut a = [0.0];
    let results: Vec<_> = (0..3).map(|_| p.act(&[0.0], &mut a)).collect();
    assert!(
        results
            .iter()
            .any(|r| matches!(r, Err(PolicyError::ChunkFailed))),
        "{results:?}"
    );
}
