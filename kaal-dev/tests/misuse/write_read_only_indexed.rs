// Registers behind a read-only index/data pair cannot be written either.
use kaal_dev::registers::{Indexed, ReadOnly, RegisterBlock};

const STATUS_BANK: Indexed<u8, u8, ReadOnly> = Indexed::at(0, 1);

fn poke(regs: &impl RegisterBlock) {
    let _ = regs.write_indexed(STATUS_BANK, 0x0a, 0x20);
}

fn main() {}
