// The handler is a method the driver writes; rustc reports a missing one at the attribute.
use kaal_dev::{Driver, Irq};

#[derive(Driver)]
#[isa(com2)]
struct Uart {
    #[interrupt(handler = on_interrupt)]
    irq: Irq,
}

fn main() {}
