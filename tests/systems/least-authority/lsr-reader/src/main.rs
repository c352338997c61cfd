//! A driver that takes only part of a device's ports: it reads COM2's line status
//! register (offset 5) and declares `#[ports(count = 6)]`, so the component is granted
//! ports 0x2f8-0x2fd and not the scratch and modem status registers above them. It
//! then claims, with `unsafe`, that its capability covers all eight ports: the kernel
//! refuses the read of port 0x2ff, because the capability itself is narrowed.
#![no_std]
#![no_main]

use kaal_core::cap::{cap_type, Cap};
use kaal_core::component::Component;
use kaal_core::device::{IoPortRange, PortSpan};
use kaal_core::{println, Error};
use kaal_dev::registers::{ReadOnly, Reg, RegisterBlock};
use kaal_dev::{Driver, DriverError, PortBlock};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

const LINE_STATUS: Reg<u8, ReadOnly> = Reg::at(5);
const SCRATCH: Reg<u8, ReadOnly> = Reg::at(7);
/// The transmitter is empty and idle.
const TRANSMITTER_EMPTY: u8 = 1 << 6;

#[derive(Driver)]
#[driver(name = "lsr-reader")]
#[isa(com2)]
pub struct LsrReader {
    #[ports(count = 6)]
    regs: PortBlock,
}

impl LsrReader {
    pub fn line_status(&self) -> Result<u8, DriverError> {
        Ok(self.regs.read(LINE_STATUS)?)
    }

    pub fn scratch(&self) -> Result<u8, DriverError> {
        Ok(self.regs.read(SCRATCH)?)
    }
}

fn main(mut me: Component) -> Result<(), Error> {
    let slot = me.grants().cap("com2:ports").map(|c| c.slot);
    let uart: LsrReader = match kaal_dev::device_grant::claim(&mut me, "com2") {
        Ok(uart) => uart,
        Err(e) => {
            println!("[lsr-reader] claim failed: {e}");
            return Err(Error::NotGranted { name: kaal_core::component::Name::truncated("com2") });
        }
    };
    match uart.line_status() {
        Ok(status) => println!(
            "[lsr-reader] line status {status:#04x}: transmitter {}",
            if status & TRANSMITTER_EMPTY != 0 { "empty" } else { "busy" }
        ),
        Err(e) => println!("[lsr-reader] UNEXPECTED: line status: {e}"),
    }
    match uart.scratch() {
        Ok(v) => println!("[lsr-reader] UNEXPECTED: read the scratch register: {v:#x}"),
        Err(e) => println!("[lsr-reader] the scratch register: {e}"),
    }
    // Past the kit's bounds check, straight to the kernel.
    let Some(slot) = slot else {
        println!("[lsr-reader] UNEXPECTED: no com2:ports grant");
        return Ok(());
    };
    // SAFETY: deliberately wrong about the span; the kernel checks the capability.
    let lie = unsafe { IoPortRange::from_cap(Cap::<cap_type::IoPort>::from_cptr(slot), PortSpan::new(0x2f8, 8)) };
    match lie.read8(7) {
        Ok(v) => println!("[lsr-reader] UNEXPECTED: the kernel let port 0x2ff be read: {v:#x}"),
        Err(e) => println!("[lsr-reader] the kernel refuses port 0x2ff: {e}"),
    }
    Ok(())
}
