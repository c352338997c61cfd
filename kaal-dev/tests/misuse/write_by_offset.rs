// Nor by its offset: the block's raw access is not reachable outside kaal-dev.
use kaal_dev::registers::RegisterBlock;

fn poke(regs: &impl RegisterBlock) {
    let _ = regs.write_raw(5, 0x20u8);
    let _ = regs.registers().write(5, 0x20u8);
}

fn main() {}
