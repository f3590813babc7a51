//! Fault injection for tests and drills: wrappers that make a plant's sensor
//! go non-finite or stop updating, or make a policy return NaN or an
//! out-of-range action, from a given tick on. They wrap the real parts (the
//! rapier plant, the tract policy); nothing is mocked.

use ganglion_sim::Plant;

use crate::policy::{Policy, PolicyError};

/// A sensor fault, from `from_read` (the n-th `read_sensors` call) on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SensorFault {
    /// The field reads NaN.
    NonFinite { field: usize, from_read: u64 },
    /// The field stops updating: its value and timestamp freeze.
    Frozen { field: usize, from_read: u64 },
}

/// A plant whose sensors misbehave on schedule.
pub struct FaultyPlant<P: Plant> {
    inner: P,
    faults: Vec<SensorFault>,
    reads: u64,
    frozen_values: Vec<Option<(f32, f64)>>,
}

impl<P: Plant> FaultyPlant<P> {
    pub fn new(inner: P, faults: Vec<SensorFault>) -> Self {
        let n = inner.sensor_names().len();
        FaultyPlant {
            inner,
            faults,
            reads: 0,
            frozen_values: vec![None; n],
        }
    }
}

impl<P: Plant> Plant for FaultyPlant<P> {
    fn sensor_names(&self) -> &'static [&'static str] {
        self.inner.sensor_names()
    }
    fn actuator_names(&self) -> &'static [&'static str] {
        self.inner.actuator_names()
    }
    fn reset(&mut self, seed: u64) {
        self.inner.reset(seed);
        self.reads = 0;
        self.frozen_values.iter_mut().for_each(|f| *f = None);
    }
    fn read_sensors(&mut self, values: &mut [f32], stamps: &mut [f64]) {
        self.inner.read_sensors(values, stamps);
        for f in &self.faults {
            match *f {
                SensorFault::NonFinite { field, from_read } if self.reads >= from_read => {
                    values[field] = f32::NAN;
                }
                SensorFault::Frozen { field, from_read } if self.reads >= from_read => {
                    let (v, t) =
                        *self.frozen_values[field].get_or_insert((values[field], stamps[field]));
                    values[field] = v;
                    stamps[field] = t;
                }
                _ => {}
            }
        }
        self.reads += 1;
    }
    fn write_commands(&mut self, commands: &[f32]) {
        self.inner.write_commands(commands)
    }
    fn advance(&mut self, dt: f64) {
        self.inner.advance(dt)
    }
    fn time(&self) -> f64 {
        self.inner.time()
    }
    fn in_envelope(&self) -> bool {
        self.inner.in_envelope()
    }
    fn task(&self) -> Option<ganglion_sim::TaskSignal> {
        self.inner.task()
    }
}

/// What a faulty policy does from its trigger call on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PolicyFault {
    /// Writes NaN into every action slot.
    NaN,
    /// Writes this value into every action slot.
    Constant(f32),
    /// Returns an inference error.
    Error,
    /// Takes this long (a model that overruns its tick): acts correctly,
    /// late. Blocks the tick on purpose; a drill, never a real policy.
    Slow(std::time::Duration),
}

/// A policy that misbehaves from the `from_call`-th `act` on.
pub struct FaultyPolicy<P: Policy> {
    inner: P,
    fault: PolicyFault,
    from_call: u64,
    calls: u64,
}

impl<P: Policy> FaultyPolicy<P> {
    pub fn new(inner: P, fault: PolicyFault, from_call: u64) -> Self {
        FaultyPolicy {
            inner,
            fault,
            from_call,
            calls: 0,
        }
    }
}

impl<P: Policy> Policy for FaultyPolicy<P> {
    fn act(&mut self, obs: &[f32], action: &mut [f32]) -> Result<(), PolicyError> {
        let call = self.calls;
        self.calls += 1;
        self.inner.act(obs, action)?;
        if call >= self.from_call {
            match self.fault {
                PolicyFault::NaN => action.fill(f32::NAN),
                PolicyFault::Constant(v) => action.fill(v),
                PolicyFault::Error => {
                    return Err(PolicyError::Inference("injected fault".into()));
                }
                PolicyFault::Slow(d) => std::thread::sleep(d),
            }
        }
        Ok(())
    }
    fn reset(&mut self) {
        self.inner.reset();
        self.calls = 0;
    }
    fn observe_reward(&mut self, reward: f32) {
        self.inner.observe_reward(reward);
    }
}
