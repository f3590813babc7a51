//! The 1 kHz control tick: TIMER alarm 0 fires every 1000 µs of the RP2040's
//! 64-bit microsecond counter and its interrupt counts ticks. The main loop
//! runs `Node::tick` when the count changes, so the node (which `handle`
//! also uses) is never shared with an interrupt.

use core::cell::RefCell;
use core::sync::atomic::{AtomicU32, Ordering};

use critical_section::Mutex;
use rp2040_hal as hal;

use hal::pac::{self, interrupt};
use hal::timer::{Alarm, Alarm0, Instant};

/// Tick period (µs).
pub const PERIOD_US: u64 = 1_000;

struct TickAlarm {
    timer: hal::Timer,
    alarm: Alarm0,
    /// Counter value of the next tick.
    next_us: u64,
}

static ALARM: Mutex<RefCell<Option<TickAlarm>>> = Mutex::new(RefCell::new(None));
/// Ticks since start; written by the interrupt only (thumbv6m has no atomic
/// read-modify-write, and a single writer needs none).
static TICKS: AtomicU32 = AtomicU32::new(0);

/// Starts the tick. `None`: alarm 0 was already taken.
pub fn start(mut timer: hal::Timer) -> Option<()> {
    let mut alarm = timer.alarm_0()?;
    let next_us = timer.get_counter().ticks() + PERIOD_US;
    alarm.schedule_at(Instant::from_ticks(next_us)).ok()?;
    alarm.enable_interrupt();
    critical_section::with(|cs| {
        ALARM.borrow_ref_mut(cs).replace(TickAlarm {
            timer,
            alarm,
            next_us,
        })
    });
    // SAFETY: the handler only takes ALARM through a critical section.
    unsafe { cortex_m::peripheral::NVIC::unmask(pac::Interrupt::TIMER_IRQ_0) };
    Some(())
}

/// Ticks since start (wraps after 49 days; compare for inequality only).
pub fn count() -> u32 {
    TICKS.load(Ordering::Acquire)
}

#[interrupt]
fn TIMER_IRQ_0() {
    critical_section::with(|cs| {
        let mut alarm = ALARM.borrow_ref_mut(cs);
        let Some(t) = alarm.as_mut() else {
            return;
        };
        t.alarm.clear_interrupt();
        // Deadlines advance by exactly one period, so ticks do not drift
        // with interrupt latency; if the core fell more than a period
        // behind (a debugger halt), skip ahead instead of firing a burst.
        let now = t.timer.get_counter().ticks();
        t.next_us += PERIOD_US;
        if t.next_us <= now {
            t.next_us = now + PERIOD_US;
        }
        // Cannot fail: the deadline is at most one period away.
        let _ = t.alarm.schedule_at(Instant::from_ticks(t.next_us));
    });
    TICKS.store(
        TICKS.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Release,
    );
}
