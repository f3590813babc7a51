//! The firmware image: the joint node on an LM3S6965 (Cortex-M3), as
//! qemu-system-arm's `lm3s6965evb` machine emulates it. It speaks the wire
//! protocol on UART0 (a PL011 at 0x4000_C000). Its `Hardware` is the plant on
//! the far side of that UART: each `HwSample` frame from the host-side plant
//! is one sensor sample and drives one node tick (the way an ADC-complete
//! interrupt triggers a motor controller's loop); the efforts go back in an
//! `HwEffort` frame. SysTick counts milliseconds of uptime for Heartbeats.
//!
//! On any other architecture this binary is a stub that says how to build
//! the real image.

#![cfg_attr(target_arch = "arm", no_std)]
#![cfg_attr(target_arch = "arm", no_main)]

#[cfg(target_arch = "arm")]
mod mcu {
    use core::ptr::{read_volatile, write_volatile};
    use core::sync::atomic::{AtomicU32, Ordering};

    use cortex_m::peripheral::syst::SystClkSource;
    use cortex_m_rt::{entry, exception};
    use ganglion_firmware::wire::MAX_ENCODED;
    use ganglion_firmware::*;
    use panic_halt as _;

    /// System clock of qemu's LM3S6965 at reset (200 MHz PLL / 16).
    const SYSCLK_HZ: u32 = 12_500_000;
    const UART0: usize = 0x4000_C000;
    const UART_DR: usize = 0x000;
    const UART_FR: usize = 0x018;
    const UART_LCRH: usize = 0x02C;
    const UART_CR: usize = 0x030;
    const UART_IM: usize = 0x038;
    /// Receive and receive-timeout interrupts.
    const IM_RX: u32 = (1 << 4) | (1 << 6);
    /// UART0's interrupt number and the NVIC set-enable register.
    const UART0_IRQ: i16 = 5;
    const NVIC_ISER0: usize = 0xE000_E100;
    const FR_RXFE: u32 = 1 << 4;
    const FR_TXFF: u32 = 1 << 5;
    const SYSCTL_RCGC1: usize = 0x400F_E104;

    static MILLIS: AtomicU32 = AtomicU32::new(0);

    #[exception]
    fn SysTick() {
        MILLIS.fetch_add(1, Ordering::Relaxed);
    }

    /// UART0 received data: mask its interrupt (the main loop drains the
    /// FIFO and re-arms it before sleeping again). Any other interrupt is
    /// unexpected and ignored.
    #[exception]
    unsafe fn DefaultHandler(irqn: i16) {
        if irqn == UART0_IRQ {
            // SAFETY: UART0 MMIO register.
            unsafe { write_volatile(reg(UART0 + UART_IM), 0) };
        }
    }

    fn reg(addr: usize) -> *mut u32 {
        addr as *mut u32
    }

    fn uart_init() {
        // SAFETY: fixed MMIO registers of the LM3S6965's system control and UART0.
        unsafe {
            write_volatile(reg(SYSCTL_RCGC1), read_volatile(reg(SYSCTL_RCGC1)) | 1);
            write_volatile(reg(UART0 + UART_CR), 0);
            // 8 data bits, FIFOs on.
            write_volatile(reg(UART0 + UART_LCRH), 0x70);
            // UART, transmitter and receiver on.
            write_volatile(reg(UART0 + UART_CR), 0x301);
            write_volatile(reg(NVIC_ISER0), 1 << UART0_IRQ);
        }
    }

    fn uart_read() -> Option<u8> {
        // SAFETY: UART0 MMIO registers.
        unsafe {
            if read_volatile(reg(UART0 + UART_FR)) & FR_RXFE != 0 {
                None
            } else {
                Some((read_volatile(reg(UART0 + UART_DR)) & 0xFF) as u8)
            }
        }
    }

    fn uart_write(bytes: &[u8]) {
        for &b in bytes {
            // SAFETY: UART0 MMIO registers.
            unsafe {
                while read_volatile(reg(UART0 + UART_FR)) & FR_TXFF != 0 {}
                write_volatile(reg(UART0 + UART_DR), b as u32);
            }
        }
    }

    fn send(node: &mut Node, msg: &Message) {
        let mut buf = [0u8; MAX_ENCODED];
        if let Ok(n) = encode_frame(node.next_seq(), msg, &mut buf) {
            uart_write(&buf[..n]);
        }
    }

    /// The plant across the UART: the last sample received, the efforts the
    /// node wrote for it.
    struct SampledHardware {
        sample: HwSample,
        effort: HwEffort,
    }

    impl Hardware for SampledHardware {
        fn now_us(&mut self) -> u64 {
            self.sample.time_us
        }
        fn read_joints(&mut self, out: &mut JointReadings) {
            let n = (self.sample.n as usize).min(MAX_JOINTS);
            out.n = n as u8;
            out.position[..n].copy_from_slice(&self.sample.position[..n]);
            out.velocity[..n].copy_from_slice(&self.sample.velocity[..n]);
        }
        fn write_efforts(&mut self, efforts: &[f32]) {
            let n = efforts.len().min(MAX_JOINTS);
            self.effort.n = n as u8;
            self.effort.effort[..n].copy_from_slice(&efforts[..n]);
        }
    }

    #[entry]
    fn main() -> ! {
        if let Some(mut cp) = cortex_m::Peripherals::take() {
            cp.SYST.set_clock_source(SystClkSource::Core);
            cp.SYST.set_reload(SYSCLK_HZ / 1000 - 1);
            cp.SYST.clear_current();
            cp.SYST.enable_counter();
            cp.SYST.enable_interrupt();
        }
        uart_init();
        let mut node = Node::new(1);
        let mut decoder = FrameDecoder::new();
        let mut hw = SampledHardware {
            sample: HwSample::default(),
            effort: HwEffort::default(),
        };
        loop {
            let Some(byte) = uart_read() else {
                // Sleep until the UART (or SysTick) interrupts: a busy poll
                // would keep the emulator's I/O thread waiting.
                cortex_m::interrupt::disable();
                // SAFETY: UART0 MMIO registers; interrupts are masked, so a
                // byte arriving now leaves the interrupt pending and WFI
                // returns at once.
                unsafe {
                    write_volatile(reg(UART0 + UART_IM), IM_RX);
                    if read_volatile(reg(UART0 + UART_FR)) & FR_RXFE != 0 {
                        cortex_m::asm::wfi();
                    }
                    cortex_m::interrupt::enable();
                }
                continue;
            };
            let frame = match decoder.push(byte) {
                None => continue,
                Some(Err(e)) => {
                    node.frame_error(e);
                    continue;
                }
                Some(Ok(frame)) => frame,
            };
            match frame.msg {
                Message::HwSample(s) => {
                    hw.sample = s;
                    if s.flags & HW_SNAPSHOT != 0 {
                        let state = node.snapshot(&mut hw);
                        send(&mut node, &Message::JointState(state));
                        continue;
                    }
                    let out = node.tick(&mut hw);
                    if let Some(state) = out.state {
                        send(&mut node, &Message::JointState(state));
                    }
                    if let Some(fault) = out.fault {
                        send(&mut node, &Message::Fault(fault));
                    }
                    // Last: it tells the plant the tick is complete.
                    let effort = hw.effort;
                    send(&mut node, &Message::HwEffort(effort));
                }
                _ => {
                    let uptime = MILLIS.load(Ordering::Relaxed);
                    if let Some(reply) = node.handle(&frame, hw.sample.time_us, uptime) {
                        send(&mut node, &reply);
                    }
                }
            }
        }
    }
}

#[cfg(not(target_arch = "arm"))]
fn main() {
    eprintln!(
        "ganglion-firmware is the MCU image. Build it with\n    \
         cargo build -p ganglion-firmware --target thumbv7m-none-eabi --release\n\
         and run it with `ganglion node --qemu`."
    );
    std::process::exit(2);
}
