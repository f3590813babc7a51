//! The Pico's `Hardware` for the joint node: three joints, each a DC motor on
//! an H-bridge driven by one PWM slice and a potentiometer on an ADC input.
//! The pin map (docs/boards.md has the wiring):
//!
//! | GPIO | function                        | joint |
//! |------|---------------------------------|-------|
//! | GP0  | UART0 TX (link, see link.rs)    |       |
//! | GP1  | UART0 RX (link)                 |       |
//! | GP2  | PWM1 A: H-bridge IN1 (or PWM)   | 0     |
//! | GP3  | PWM1 B: H-bridge IN2 (or DIR)   | 0     |
//! | GP4  | PWM2 A                          | 1     |
//! | GP5  | PWM2 B                          | 1     |
//! | GP6  | PWM3 A                          | 2     |
//! | GP7  | PWM3 B                          | 2     |
//! | GP8  | driver enable (nSLEEP / STBY)   | all   |
//! | GP25 | on-board LED                    |       |
//! | GP26 | ADC0: potentiometer wiper       | 0     |
//! | GP27 | ADC1                            | 1     |
//! | GP28 | ADC2                            | 2     |

use embedded_hal::digital::OutputPin;
use embedded_hal::pwm::SetDutyCycle;
use ganglion_firmware::{Hardware, JointReadings, MAX_JOINTS, NodeConfig};
use rp2040_hal as hal;

use hal::adc::{Adc, AdcPin};
use hal::gpio::bank0::{Gpio8, Gpio25};
use hal::gpio::{
    DynPinId, FunctionNull, FunctionSioOutput, Pin, PinState, Pins, PullDown, PullNone,
};
use hal::pac;
use hal::pwm::{FreeRunning, Pwm1, Pwm2, Pwm3, Slice, SliceId, Slices};

use crate::link::UartPins;

/// Joints wired on this board.
pub const N_JOINTS: usize = 3;

/// How each joint's PWM slice drives its H-bridge.
#[allow(dead_code)] // One variant is chosen at build time.
#[derive(Clone, Copy, PartialEq)]
pub enum Drive {
    /// Two inputs, both PWM (DRV8833, TB6612 with PWMx tied high, L298N
    /// with EN tied high, BTS7960): forward PWMs A with B low, reverse PWMs
    /// B with A low, zero leaves both low (coast).
    InIn,
    /// Magnitude and direction, for drivers with one direction input
    /// (DRV8838 / MAX14870 EN+PH, Cytron MD10C PWM+DIR): A is the PWM, B the
    /// direction level (the slice holds it at 0 % or 100 % duty, so the same
    /// two pins serve either kind of bridge).
    PwmDir,
}

pub const DRIVE: Drive = Drive::InIn;

/// PWM counter wrap: 125 MHz / (6249 + 1) = 20 kHz, above hearing and
/// within DRV8833's (250 kHz) and TB6612's (100 kHz) limits; ~12.6 bits.
const PWM_TOP: u16 = 6249;

/// Mapping of each joint's potentiometer and motor to joint coordinates.
#[derive(Clone, Copy)]
pub struct JointWiring {
    /// ADC count (0..=4095) at joint position 0.
    pub pot_zero: u16,
    /// Radians per ADC count; negative when the wiper moves the other way.
    pub rad_per_count: f32,
    /// +1, or −1 when positive effort turns the motor towards decreasing
    /// position (instead of swapping the motor leads).
    pub motor_sign: f32,
}

/// A common 270° single-turn potentiometer across 3.3 V, centred at mid
/// travel: 4.712 rad over 4095 counts. Calibrate per joint.
const POT_270: JointWiring = JointWiring {
    pot_zero: 2048,
    rad_per_count: 4.712_389 / 4095.0,
    motor_sign: 1.0,
};
pub const WIRING: [JointWiring; N_JOINTS] = [POT_270; N_JOINTS];

/// Counts from either rail that count as a broken pot wire (the wiper then
/// sits on a rail): the position reads NaN and the node faults the sensor
/// and cuts effort. Mount pots so the joint's travel stays inside this.
const RAIL_MARGIN: u16 = 8;
/// Conversions averaged per joint per tick (2 µs each at the 48 MHz ADC
/// clock): halves the noise for 24 µs of the 1000 µs tick.
const OVERSAMPLE: u16 = 4;
/// Velocity filter time constant: a first-order low pass at ~20 Hz on the
/// finite difference. One ADC count per 1 ms tick is ~1.15 rad/s of raw
/// velocity, so unfiltered it would be mostly quantisation noise that kd
/// turns into effort; 20 Hz keeps the phase lag (~8 ms) below what a hobby
/// gearmotor responds to.
const VELOCITY_TAU_S: f32 = 1.0 / (2.0 * core::f32::consts::PI * 20.0);

type PotPin = AdcPin<Pin<DynPinId, FunctionNull, PullNone>>;

/// Filtered finite difference of one joint's position.
#[derive(Clone, Copy, Default)]
struct Velocity {
    last_position: f32,
    last_us: u64,
    velocity: f32,
    primed: bool,
}

impl Velocity {
    fn update(&mut self, position: f32, now_us: u64) -> f32 {
        if !position.is_finite() {
            // Start afresh once the sensor reads again, rather than
            // differentiate across the gap.
            self.primed = false;
            return f32::NAN;
        }
        if self.primed && now_us > self.last_us {
            let dt = (now_us - self.last_us) as f32 * 1e-6;
            let raw = (position - self.last_position) / dt;
            self.velocity += dt / (VELOCITY_TAU_S + dt) * (raw - self.velocity);
        } else if !self.primed {
            self.velocity = 0.0;
        }
        self.primed = true;
        self.last_position = position;
        self.last_us = now_us;
        self.velocity
    }
}

pub struct Board {
    timer: hal::Timer,
    adc: Adc,
    /// `None` only if the HAL refused an ADC pin; that joint then reads NaN.
    pots: [Option<PotPin>; N_JOINTS],
    pwm: (
        Slice<Pwm1, FreeRunning>,
        Slice<Pwm2, FreeRunning>,
        Slice<Pwm3, FreeRunning>,
    ),
    led: Pin<Gpio25, FunctionSioOutput, PullDown>,
    /// Held high while the firmware runs; reset (and the pad's pull-down)
    /// puts the bridge to sleep.
    _driver_enable: Pin<Gpio8, FunctionSioOutput, PullDown>,
    /// Effort that means 100 % duty, per joint, from the NodeConfig; 0
    /// (no output) until one arrives.
    max_effort: [f32; N_JOINTS],
    velocity: [Velocity; N_JOINTS],
}

impl Board {
    /// Configures the pins of the pin map: PWM outputs at zero duty before
    /// the driver is enabled. Returns the board and the link's UART pins.
    pub fn new(
        pins: Pins,
        pwm: pac::PWM,
        adc: pac::ADC,
        timer: hal::Timer,
        resets: &mut pac::RESETS,
    ) -> (Board, UartPins) {
        let slices = Slices::new(pwm, resets);
        let (mut p1, mut p2, mut p3) = (slices.pwm1, slices.pwm2, slices.pwm3);
        start_slice(&mut p1);
        start_slice(&mut p2);
        start_slice(&mut p3);
        p1.channel_a.output_to(pins.gpio2);
        p1.channel_b.output_to(pins.gpio3);
        p2.channel_a.output_to(pins.gpio4);
        p2.channel_b.output_to(pins.gpio5);
        p3.channel_a.output_to(pins.gpio6);
        p3.channel_b.output_to(pins.gpio7);

        let adc = Adc::new(adc, resets);
        // No pulls on the analog inputs: they would load the pot's wiper.
        let pots = [
            AdcPin::new(pins.gpio26.into_floating_disabled().into_dyn_pin()).ok(),
            AdcPin::new(pins.gpio27.into_floating_disabled().into_dyn_pin()).ok(),
            AdcPin::new(pins.gpio28.into_floating_disabled().into_dyn_pin()).ok(),
        ];

        let board = Board {
            timer,
            adc,
            pots,
            pwm: (p1, p2, p3),
            led: pins.gpio25.into_push_pull_output_in_state(PinState::Low),
            _driver_enable: pins.gpio8.into_push_pull_output_in_state(PinState::High),
            max_effort: [0.0; N_JOINTS],
            velocity: [Velocity::default(); N_JOINTS],
        };
        let uart = (pins.gpio0.reconfigure(), pins.gpio1.reconfigure());
        (board, uart)
    }

    /// Takes each joint's effort scale from the node's accepted config
    /// (`None`: unconfigured, no output).
    pub fn configure(&mut self, config: Option<&NodeConfig>) {
        self.max_effort = [0.0; N_JOINTS];
        if let Some(c) = config {
            let n = (c.n as usize).min(N_JOINTS);
            for (m, j) in self.max_effort.iter_mut().zip(&c.joints[..n]) {
                *m = j.max_effort;
            }
        }
    }

    pub fn set_led(&mut self, on: bool) {
        // Infallible on the RP2040.
        let _ = self.led.set_state(PinState::from(on));
    }

    /// One joint's position (rad), NaN when the pot or ADC fails.
    fn read_pot(&mut self, j: usize) -> f32 {
        let Some(pin) = self.pots[j].as_mut() else {
            return f32::NAN;
        };
        let mut sum: u32 = 0;
        for _ in 0..OVERSAMPLE {
            match self.adc.read(pin) {
                Ok(v) => sum += v as u32,
                Err(_) => return f32::NAN,
            }
        }
        let raw = (sum / OVERSAMPLE as u32) as u16;
        if !(RAIL_MARGIN..=4095 - RAIL_MARGIN).contains(&raw) {
            return f32::NAN;
        }
        let w = WIRING[j];
        (raw as f32 - w.pot_zero as f32) * w.rad_per_count
    }
}

/// 20 kHz, edge-aligned, both channels at 0 %.
fn start_slice<S: SliceId>(slice: &mut Slice<S, FreeRunning>) {
    slice.default_config();
    slice.set_div_int(1);
    slice.set_top(PWM_TOP);
    slice.enable();
}

/// Sets one joint's bridge to `duty` in [-1, 1]. The compare registers are
/// double-buffered and latch at the counter wrap, so both channels change
/// together: the bridge never sees both inputs switched for a period.
fn drive<S: SliceId>(slice: &mut Slice<S, FreeRunning>, duty: f32) {
    let full = PWM_TOP + 1;
    let magnitude = (duty.abs().min(1.0) * full as f32) as u16;
    let (a, b) = match (DRIVE, duty < 0.0) {
        (Drive::InIn, false) => (magnitude, 0),
        (Drive::InIn, true) => (0, magnitude),
        (Drive::PwmDir, reverse) => (magnitude, if reverse { full } else { 0 }),
    };
    // Infallible on the RP2040.
    let _ = slice.channel_a.set_duty_cycle(a);
    let _ = slice.channel_b.set_duty_cycle(b);
}

impl Hardware for Board {
    fn now_us(&mut self) -> u64 {
        self.timer.get_counter().ticks()
    }

    fn read_joints(&mut self, out: &mut JointReadings) {
        let now = self.now_us();
        for j in 0..N_JOINTS {
            let p = self.read_pot(j);
            out.position[j] = p;
            out.velocity[j] = self.velocity[j].update(p, now);
        }
        // A NodeConfig for more joints than are wired reads NaN for the
        // rest, so the node raises a sensor fault instead of running them
        // open loop on stale zeros.
        out.position[N_JOINTS..].fill(f32::NAN);
        out.velocity[N_JOINTS..].fill(f32::NAN);
        out.n = N_JOINTS as u8;
        const _: () = assert!(N_JOINTS <= MAX_JOINTS);
    }

    fn write_efforts(&mut self, efforts: &[f32]) {
        let mut duty = [0.0f32; N_JOINTS];
        for (j, d) in duty.iter_mut().enumerate() {
            let e = efforts.get(j).copied().unwrap_or(0.0);
            let max = self.max_effort[j];
            // The node already clamps to max_effort; this guards the
            // division and a NaN from ever reaching a compare register.
            let v = if max > 0.0 {
                e / max * WIRING[j].motor_sign
            } else {
                0.0
            };
            *d = if v.is_finite() {
                v.clamp(-1.0, 1.0)
            } else {
                0.0
            };
        }
        drive(&mut self.pwm.0, duty[0]);
        drive(&mut self.pwm.1, duty[1]);
        drive(&mut self.pwm.2, duty[2]);
    }
}
