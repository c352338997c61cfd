// A register declared read-only cannot be written by name.
use kaal_dev::registers::{ReadOnly, Reg, RegisterBlock};

const LSR: Reg<u8, ReadOnly> = Reg::at(5);

fn poke(regs: &impl RegisterBlock) {
    let _ = regs.write(LSR, 0x20);
}

fn main() {}
