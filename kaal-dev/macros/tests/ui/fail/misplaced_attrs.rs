// Struct attributes go on the struct, resource attributes on fields; #[ports] takes no arguments.
use kaal_dev::{Driver, PortBlock};

#[derive(Driver)]
#[isa(com2)]
#[ports]
struct Uart {
    #[isa(com4)]
    #[ports(all)]
    regs: PortBlock,
}

fn main() {}
