// A driver must name at least one device with #[isa] or #[pci].
use kaal_dev::{Driver, PortBlock};

#[derive(Driver)]
#[driver(name = "lonely")]
struct Lonely {
    #[ports]
    regs: PortBlock,
}

fn main() {}
