//! A driver without an interrupt: `interrupt()` is `None` and `handle_interrupt()` does
//! nothing. Two drivers in one crate get two entries in `DRIVERS`.

use kaal_dev::kit::{ResourceRequest, DRIVERS};
use kaal_dev::{DeviceMatch, Driver, MmioBlock, PortBlock};

/// Polled: reads the counter when asked.
#[derive(Driver)]
#[isa(pit)]
pub struct PolledTimer {
    #[ports]
    ports: PortBlock,
    ticks: u64,
}

#[derive(Driver)]
#[pci(vendor = 0x1234, device = 0x1111)]
struct Framebuffer {
    #[mmio(bar = 0)]
    memory: MmioBlock,
    #[mmio(bar = 2)]
    control: MmioBlock,
}

fn main() {
    assert_eq!(<PolledTimer as Driver>::NAME, "polled_timer");
    assert_eq!(<PolledTimer as Driver>::MATCHES, &[DeviceMatch::Fixed("pit")]);
    assert_eq!(<PolledTimer as Driver>::RESOURCES, ResourceRequest::default());
    assert_eq!(<Framebuffer as Driver>::NAME, "framebuffer");
    assert_eq!(<Framebuffer as Driver>::MATCHES, &[DeviceMatch::Pci { vendor: 0x1234, device: 0x1111 }]);
    let mut names: Vec<&str> = DRIVERS.iter().map(|entry| entry.name).collect();
    names.sort();
    assert_eq!(names, ["framebuffer", "polled_timer"]);
    let _ = |timer: &mut PolledTimer, framebuffer: &Framebuffer| {
        assert!(timer.interrupt().is_none());
        assert!(timer.handle_interrupt().is_ok());
        let _ = (&timer.ports, timer.ticks, &framebuffer.memory, &framebuffer.control);
    };
}
