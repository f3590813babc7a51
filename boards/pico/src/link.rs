//! The link to the controller: UART0 at 1 Mbaud (GP0 TX, GP1 RX), carrying
//! wire-protocol frames. The UART0 interrupt moves bytes between the 32-byte
//! hardware FIFOs and two rings in RAM; the main loop only touches the rings.
//! So the 1 kHz tick never waits on the wire: at 1 Mbaud (10 µs a byte with
//! start and stop bits) a 3-joint JointState frame (59 bytes) takes 0.59 ms
//! to send, over half a tick, and the RX FIFO fills in 320 µs, less than the
//! main loop may be busy.

use core::cell::RefCell;

use critical_section::Mutex;
use rp2040_hal as hal;

use hal::gpio::bank0::{Gpio0, Gpio1};
use hal::gpio::{FunctionUart, Pin, PullNone, PullUp};
use hal::pac::{self, interrupt};
use hal::uart::{Enabled, UartPeripheral};

use crate::ring::Ring;

pub const BAUD: u32 = 1_000_000;

/// TX on GP0 (no pull: the UART drives it), RX on GP1 (pulled up: an
/// unplugged adapter reads as an idle line, not a stream of breaks).
pub type UartPins = (
    Pin<Gpio0, FunctionUart, PullNone>,
    Pin<Gpio1, FunctionUart, PullUp>,
);
pub type Uart = UartPeripheral<Enabled, pac::UART0, UartPins>;

/// Received bytes not yet decoded: 5 ms of line time at 1 Mbaud, so a main
/// loop held up by a tick (well under 1 ms) never overflows it.
const RX_BYTES: usize = 512;
/// Encoded frames not yet sent: 20 ms of line time. When a configured
/// publish rate asks for more than the line carries, whole frames are
/// dropped here (the controller sees the gap in sequence numbers).
const TX_BYTES: usize = 2048;

static UART: Mutex<RefCell<Option<Uart>>> = Mutex::new(RefCell::new(None));
static RX: Mutex<RefCell<Ring<RX_BYTES>>> = Mutex::new(RefCell::new(Ring::new()));
static TX: Mutex<RefCell<Ring<TX_BYTES>>> = Mutex::new(RefCell::new(Ring::new()));

/// Hands the enabled UART to its interrupt and unmasks it.
pub fn start(mut uart: Uart) {
    // RX level and RX timeout: the interrupt fires when the FIFO is half
    // full or has sat non-empty for 32 bit times.
    uart.enable_rx_interrupt();
    critical_section::with(|cs| UART.borrow_ref_mut(cs).replace(uart));
    // SAFETY: the handler below only takes the statics through a critical
    // section, so unmasking it cannot break one.
    unsafe { cortex_m::peripheral::NVIC::unmask(pac::Interrupt::UART0_IRQ) };
}

/// Moves received bytes into `out`; returns how many (0: none waiting).
pub fn recv(out: &mut [u8]) -> usize {
    critical_section::with(|cs| RX.borrow_ref_mut(cs).pop_into(out))
}

/// Whether received bytes are waiting.
pub fn rx_pending() -> bool {
    critical_section::with(|cs| !RX.borrow_ref(cs).is_empty())
}

/// Queues one encoded frame, whole or not at all; returns whether it was
/// queued. Never waits for the line.
pub fn send(frame: &[u8]) -> bool {
    let queued = critical_section::with(|cs| TX.borrow_ref_mut(cs).push_all(frame));
    if queued {
        // Run the handler now to move the frame into the TX FIFO: it arms
        // the TX interrupt if the frame is longer than the FIFO takes.
        cortex_m::peripheral::NVIC::pend(pac::Interrupt::UART0_IRQ);
    }
    queued
}

#[interrupt]
fn UART0_IRQ() {
    critical_section::with(|cs| {
        let mut uart = UART.borrow_ref_mut(cs);
        let Some(uart) = uart.as_mut() else {
            return;
        };
        drain_rx(uart, &mut RX.borrow_ref_mut(cs));
        fill_tx(uart, &mut TX.borrow_ref_mut(cs));
    });
}

/// Empties the RX FIFO, which clears the RX and RX-timeout interrupts (one
/// left set would re-enter this handler forever). Bytes that do not fit in
/// the ring, and a byte the UART flags (framing, parity, break), are
/// dropped: the decoder then rejects the torn frame by its CRC, and the
/// node counts it as a frame error.
fn drain_rx(uart: &Uart, rx: &mut Ring<RX_BYTES>) {
    let mut buf = [0u8; 32];
    loop {
        match uart.read_raw(&mut buf) {
            Ok(n) => {
                rx.push_some(&buf[..n]);
            }
            // `discarded` holds the good bytes read before the flagged one
            // (for an overrun, the flagged byte too: it is itself intact).
            Err(nb::Error::Other(e)) => {
                rx.push_some(e.discarded);
            }
            Err(nb::Error::WouldBlock) => return,
        }
    }
}

/// Tops the TX FIFO up from the ring. The TX interrupt (FIFO at most half
/// full) stays armed only while the ring holds more; when the ring empties
/// it is disarmed, or it would fire for as long as the FIFO sits empty.
fn fill_tx(uart: &mut Uart, tx: &mut Ring<TX_BYTES>) {
    loop {
        let chunk = tx.contiguous();
        let len = chunk.len();
        if len == 0 {
            break;
        }
        let sent = match uart.write_raw(chunk) {
            Ok(rest) => len - rest.len(),
            Err(_) => 0,
        };
        tx.consume(sent);
        if sent < len {
            // FIFO full.
            break;
        }
    }
    if tx.is_empty() {
        uart.disable_tx_interrupt();
    } else {
        uart.enable_tx_interrupt();
    }
}
