// A driver has one interrupt.
use kaal_dev::{Driver, DriverError, Irq};

#[derive(Driver)]
#[isa(com2)]
struct Uart {
    #[interrupt(handler = on_interrupt)]
    irq: Irq,
    #[interrupt(handler = on_other_interrupt)]
    other: Irq,
}

impl Uart {
    fn on_interrupt(&mut self) -> Result<(), DriverError> {
        Ok(())
    }
}

fn main() {}
