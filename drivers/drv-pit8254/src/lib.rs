//! 8254 programmable interval timer: periodic ticks on channel 0, and `sleep`.
//!
//! The PIT counts down from a divisor at 1.193182 MHz and raises IRQ 0 (GSI 2 through
//! the IOAPIC on a PC) each time it reaches zero. seL4 keeps its own tick on the local
//! APIC timer, so the PIT is free for user space.
#![no_std]
#![forbid(unsafe_code)]

use kaal_dev::registers::{Reg, RegisterBlock, WriteOnly};
use kaal_dev::{Driver, DriverError, Irq, PortBlock};

/// The PIT's input clock.
pub const INPUT_HZ: u32 = 1_193_182;

const CHANNEL0: Reg<u8, WriteOnly> = Reg::at(0);
const COMMAND: Reg<u8, WriteOnly> = Reg::at(3);
/// Channel 0, low byte then high byte, mode 2 (rate generator), binary.
const PERIODIC_CHANNEL0: u8 = 0b0011_0100;

/// The PIT, ticking at a fixed rate.
#[derive(Driver)]
#[driver(name = "pit8254")]
#[isa(pit)]
pub struct Pit {
    #[ports]
    regs: PortBlock,
    #[interrupt(handler = on_tick)]
    irq: Irq,
    ticks: u64,
    hz: u32,
}

impl Pit {
    /// Starts periodic ticks at `hz` (19..=1193182 Hz).
    pub fn start(&mut self, hz: u32) -> Result<(), DriverError> {
        let divisor = (INPUT_HZ / hz.clamp(19, INPUT_HZ)) as u16;
        self.regs.write(COMMAND, PERIODIC_CHANNEL0)?;
        self.regs.write(CHANNEL0, divisor as u8)?;
        self.regs.write(CHANNEL0, (divisor >> 8) as u8)?;
        self.hz = INPUT_HZ / divisor as u32;
        Ok(())
    }

    /// Ticks so far.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    /// The actual tick rate (the divisor rounds the requested one).
    pub fn hz(&self) -> u32 {
        self.hz
    }

    /// Blocks for at least `ms` milliseconds, serving the timer's interrupts.
    pub fn sleep(&mut self, ms: u64) -> Result<(), DriverError> {
        let until = self.ticks + (ms * self.hz as u64).div_ceil(1000);
        kaal_dev::kit::serve(self, |pit| pit.ticks < until)
    }

    fn on_tick(&mut self) -> Result<(), DriverError> {
        self.ticks += 1;
        Ok(())
    }
}
