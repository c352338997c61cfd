//! An ISA driver with I/O ports, an interrupt and plain fields.

use kaal_dev::kit::{ResourceRequest, DRIVERS};
use kaal_dev::{DeviceMatch, Driver, DriverError, Irq, PortBlock};

#[derive(Driver)]
#[driver(name = "uart16550")]
#[isa(com2)]
#[isa(com4)]
struct Uart {
    #[ports]
    regs: PortBlock,
    #[interrupt(handler = on_interrupt)]
    irq: Irq,
    received: u64,
    overruns: u32,
}

impl Uart {
    fn on_interrupt(&mut self) -> Result<(), DriverError> {
        let _ = &self.regs;
        self.received += 1;
        self.overruns = 0;
        Ok(())
    }
}

fn main() {
    assert_eq!(<Uart as Driver>::NAME, "uart16550");
    assert_eq!(<Uart as Driver>::MATCHES, &[DeviceMatch::Fixed("com2"), DeviceMatch::Fixed("com4")]);
    assert_eq!(<Uart as Driver>::RESOURCES, ResourceRequest { dma_bytes: 0, ports: None });
    let entry = DRIVERS.iter().find(|entry| entry.name == "uart16550").expect("registered in DRIVERS");
    assert_eq!(entry.matches, <Uart as Driver>::MATCHES);
    let _: fn(&mut Uart) -> Option<&Irq> = serve_once;
}

/// What `kaal_dev::kit::serve` does with the generated methods (not called: it needs a kernel).
fn serve_once(uart: &mut Uart) -> Option<&Irq> {
    uart.handle_interrupt().ok()?;
    uart.interrupt()
}
