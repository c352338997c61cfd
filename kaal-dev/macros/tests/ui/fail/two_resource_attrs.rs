// A field holds one resource.
use kaal_dev::{Driver, PortBlock};

#[derive(Driver)]
#[isa(com2)]
struct Uart {
    #[ports]
    #[mmio(bar = 0)]
    regs: PortBlock,
}

fn main() {}
