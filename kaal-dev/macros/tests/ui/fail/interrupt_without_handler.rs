// #[interrupt] must name the method that handles the interrupt.
use kaal_dev::{Driver, Irq};

#[derive(Driver)]
#[isa(com2)]
struct NoHandler {
    #[interrupt]
    irq: Irq,
}

#[derive(Driver)]
#[isa(com4)]
struct EmptyHandler {
    #[interrupt()]
    irq: Irq,
}

#[derive(Driver)]
#[isa(pit)]
struct StringHandler {
    #[interrupt(handler = "on_interrupt")]
    irq: Irq,
}

fn main() {}
