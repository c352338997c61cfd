//! A driver with ports and no interrupt: it reads the PIT's channel-0 counter, which
//! the firmware left running. The component is granted the ports only; asking for the
//! interrupt finds nothing.
#![no_std]
#![no_main]

use kaal_core::component::Component;
use kaal_core::{println, Error};
use kaal_dev::registers::{ReadOnly, Reg, RegisterBlock, WriteOnly};
use kaal_dev::{Driver, DriverError, PortBlock};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

const CHANNEL0: Reg<u8, ReadOnly> = Reg::at(0);
const COMMAND: Reg<u8, WriteOnly> = Reg::at(3);
/// Latch channel 0's count (so its two bytes belong together).
const LATCH_CHANNEL0: u8 = 0;

/// Reads the PIT's counter; takes no interrupt.
#[derive(Driver)]
#[driver(name = "pit-reader")]
#[isa(pit)]
pub struct PitReader {
    #[ports]
    regs: PortBlock,
}

impl PitReader {
    /// The current count of channel 0.
    pub fn count(&self) -> Result<u16, DriverError> {
        self.regs.write(COMMAND, LATCH_CHANNEL0)?;
        let low = self.regs.read(CHANNEL0)?;
        let high = self.regs.read(CHANNEL0)?;
        Ok(u16::from_le_bytes([low, high]))
    }
}

fn main(mut me: Component) -> Result<(), Error> {
    for cap in me.grants().caps() {
        println!("[pit-reader] granted {}", cap.name.as_str());
    }
    let pit: PitReader = match kaal_dev::device_grant::claim(&mut me, "pit") {
        Ok(pit) => pit,
        Err(e) => {
            println!("[pit-reader] claim failed: {e}");
            return Err(Error::NotGranted { name: kaal_core::component::Name::truncated("pit") });
        }
    };
    let counts: heapless::Vec<u16, 4> = (0..4).filter_map(|_| pit.count().ok()).collect();
    let moving = counts.windows(2).any(|w| w[0] != w[1]);
    println!("[pit-reader] channel 0 counts {counts:?}: {}", if moving { "running" } else { "STUCK" });
    match me.irq("pit:irq", "pit:events") {
        Ok(_) => println!("[pit-reader] UNEXPECTED: the interrupt was granted"),
        Err(e) => println!("[pit-reader] the interrupt: {e}"),
    }
    Ok(())
}
