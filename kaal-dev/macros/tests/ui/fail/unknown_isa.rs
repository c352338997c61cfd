// ISA devices are com1, com2, com3, com4 and pit; one per #[isa(...)].
use kaal_dev::{Driver, PortBlock};

#[derive(Driver)]
#[isa(com9)]
#[isa(com1, com2)]
#[isa = "com2"]
struct Uart {
    #[ports]
    regs: PortBlock,
}

fn main() {}
