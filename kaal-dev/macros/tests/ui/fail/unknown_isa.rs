// A fixed device is named like `com2` or `rtc` (lower case), one per #[isa(...)].
use kaal_dev::{Driver, PortBlock};

#[derive(Driver)]
#[isa(Com9)]
#[isa()]
#[isa = "com2"]
struct Uart {
    #[ports]
    regs: PortBlock,
}

fn main() {}
