//! The joint node (ganglion-firmware's `Node`) on a Raspberry Pi Pico.
//! Unlike the qemu image (firmware/src/bin/lm3s6965.rs), whose `Hardware` is
//! a plant across the UART, this one drives real pins: PWM to H-bridges and
//! potentiometers on the ADC (board.rs), a 1 kHz tick from the TIMER alarm
//! (tick.rs), and the wire protocol on UART0 at 1 Mbaud (link.rs).
//!
//! The main loop owns the node: it runs a tick when the tick interrupt has
//! counted one, and between ticks decodes received bytes and answers frames.
//! Interrupts only move bytes and count ticks, so they stay short. The
//! hardware watchdog resets the chip (and so stops the motors) if the loop
//! ever stops ticking.

#![no_std]
#![no_main]

mod board;
mod link;
mod ring;
mod tick;

use ganglion_firmware::wire::MAX_ENCODED;
use ganglion_firmware::{FrameDecoder, Message, Node, NodeMode, encode_frame};
use panic_halt as _;
use rp2040_hal as hal;

use hal::Clock;
use hal::fugit::{ExtU32, RateExtU32};
use hal::pac;
use hal::uart::{DataBits, StopBits, UartConfig, UartPeripheral};

use board::Board;

/// The second-stage bootloader for the Pico's W25Q080 flash; memory.x puts
/// it in the first 256 bytes of flash, where the boot ROM looks for it.
#[unsafe(link_section = ".boot2")]
#[unsafe(no_mangle)]
#[used]
pub static BOOT2_FIRMWARE: [u8; 256] = rp2040_boot2::BOOT_LOADER_W25Q080;

/// The Pico's crystal.
const XTAL_HZ: u32 = 12_000_000;
/// Hardware watchdog period: 100 ticks without one and the chip resets.
const WATCHDOG_MS: u32 = 100;
/// LED blink half-period while the node is not running commands.
const BLINK_US: u64 = 500_000;

/// Stops here for good. Only reached during start-up, before any effort is
/// written: the PWM outputs are unconfigured or at 0 %, so the motors stay
/// off.
fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

/// Encodes and queues one frame; a frame that does not fit in the TX ring is
/// dropped (its sequence number is still spent, so the gap shows).
fn send(node: &mut Node, msg: &Message) {
    let mut buf = [0u8; MAX_ENCODED];
    if let Ok(n) = encode_frame(node.next_seq(), msg, &mut buf) {
        link::send(&buf[..n]);
    }
}

/// A boot id that differs between boots: 32 bits from the ring oscillator's
/// jitter (sampled with gaps, as successive reads are correlated).
fn boot_id(rosc: pac::ROSC) -> u32 {
    let rosc = hal::rosc::RingOscillator::new(rosc).initialize();
    let mut id = 0u32;
    for _ in 0..32 {
        id = (id << 1) | rosc.get_random_bit() as u32;
        cortex_m::asm::delay(200);
    }
    id
}

#[hal::entry]
fn main() -> ! {
    let Some(mut pac) = pac::Peripherals::take() else {
        halt()
    };
    let mut watchdog = hal::Watchdog::new(pac.WATCHDOG);
    let Ok(clocks) = hal::clocks::init_clocks_and_plls(
        XTAL_HZ,
        pac.XOSC,
        pac.CLOCKS,
        pac.PLL_SYS,
        pac.PLL_USB,
        &mut pac.RESETS,
        &mut watchdog,
    ) else {
        halt()
    };
    let sio = hal::Sio::new(pac.SIO);
    let pins = hal::gpio::Pins::new(
        pac.IO_BANK0,
        pac.PADS_BANK0,
        sio.gpio_bank0,
        &mut pac.RESETS,
    );
    let timer = hal::Timer::new(pac.TIMER, &mut pac.RESETS, &clocks);
    let (mut board, uart_pins) = Board::new(pins, pac.PWM, pac.ADC, timer, &mut pac.RESETS);

    let config = UartConfig::new(link::BAUD.Hz(), DataBits::Eight, None, StopBits::One);
    let Ok(uart) = UartPeripheral::new(pac.UART0, uart_pins, &mut pac.RESETS)
        .enable(config, clocks.peripheral_clock.freq())
    else {
        halt()
    };

    let mut node = Node::new(boot_id(pac.ROSC));
    let mut decoder = FrameDecoder::new();
    link::start(uart);
    if tick::start(timer).is_none() {
        halt()
    }
    // Keep counting while a debugger has the core halted.
    watchdog.pause_on_debug(true);
    watchdog.start(WATCHDOG_MS.millis());

    let mut seen = tick::count();
    let mut rx = [0u8; 32];
    loop {
        let ticks = tick::count();
        if ticks != seen {
            // One tick however many were counted: a late tick is run once,
            // with its real time, not replayed.
            seen = ticks;
            watchdog.feed();
            let out = node.tick(&mut board);
            if let Some(state) = out.state {
                send(&mut node, &Message::JointState(state));
            }
            if let Some(fault) = out.fault {
                send(&mut node, &Message::Fault(fault));
            }
            let now = timer.get_counter().ticks();
            let blink = (now / BLINK_US).is_multiple_of(2);
            board.set_led(node.mode() == NodeMode::Active || blink);
            continue;
        }

        // Between ticks: a chunk of received bytes at a time, so a burst of
        // frames delays the next tick by one chunk's work at most.
        let n = link::recv(&mut rx);
        if n > 0 {
            for &byte in &rx[..n] {
                match decoder.push(byte) {
                    None => {}
                    Some(Err(e)) => node.frame_error(e),
                    Some(Ok(frame)) => {
                        let now = timer.get_counter().ticks();
                        let uptime_ms = (now / 1000) as u32;
                        let reply = node.handle(&frame, now, uptime_ms);
                        if let Message::NodeConfig(_) = frame.msg {
                            board.configure(node.config());
                        }
                        if let Some(reply) = reply {
                            send(&mut node, &reply);
                        }
                    }
                }
            }
            continue;
        }

        // Nothing to do: sleep until an interrupt. Checked with interrupts
        // masked, so one arriving after the check still ends the WFI (it
        // stays pending) and runs when they are unmasked.
        cortex_m::interrupt::free(|_| {
            if tick::count() == seen && !link::rx_pending() {
                cortex_m::asm::wfi();
            }
        });
    }
}
