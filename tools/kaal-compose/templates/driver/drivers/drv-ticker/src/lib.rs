//! A driver for the PC's 8254 programmable interval timer (PIT), written with KaaL's
//! driver kit: the struct lists the device's resources, `#[derive(Driver)]` writes the
//! probing and the interrupt wiring, and register access is typed.
//!
//! The PIT counts down from a divisor at 1.193182 MHz and raises an interrupt each time
//! it reaches zero. Change this file to drive your own device: match it with `#[isa]` or
//! `#[pci(vendor = .., device = ..)]`, declare its `#[ports]`, `#[mmio]` windows and
//! `#[interrupt]`, and list it under `devices` in system.toml.
#![no_std]
#![forbid(unsafe_code)]

use kaal_dev::registers::{Reg, RegisterBlock, WriteOnly};
use kaal_dev::{Driver, DriverError, Irq, PortBlock};

const INPUT_HZ: u32 = 1_193_182;
const CHANNEL0: Reg<u8, WriteOnly> = Reg::at(0);
const MODE: Reg<u8, WriteOnly> = Reg::at(3);
/// Channel 0, low byte then high byte, rate generator, binary.
const RATE_GENERATOR: u8 = 0b0011_0100;

#[derive(Driver)]
#[isa(pit)]
pub struct Ticker {
    #[ports]
    regs: PortBlock,
    #[interrupt(handler = on_tick)]
    irq: Irq,
    ticks: u64,
}

impl Ticker {
    /// Starts ticking `hz` times a second (19 and up).
    pub fn start(&mut self, hz: u32) -> Result<(), DriverError> {
        let divisor = (INPUT_HZ / hz.max(19)) as u16;
        self.regs.write(MODE, RATE_GENERATOR)?;
        self.regs.write(CHANNEL0, divisor as u8)?;
        self.regs.write(CHANNEL0, (divisor >> 8) as u8)?;
        Ok(())
    }

    /// Ticks so far.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    fn on_tick(&mut self) -> Result<(), DriverError> {
        self.ticks += 1;
        Ok(())
    }
}
