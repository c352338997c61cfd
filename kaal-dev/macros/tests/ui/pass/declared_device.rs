// A driver for a device KaaL does not ship: the name is the one system.toml declares
// (`[devices.rtc]`); the derive checks only its form. It takes the first two ports.
use kaal_dev::kit::ResourceRequest;
use kaal_dev::{DeviceMatch, Driver, PortBlock};

#[derive(Driver)]
#[driver(name = "cmos-rtc")]
#[isa(rtc)]
struct Rtc {
    #[ports(count = 2)]
    regs: PortBlock,
}

fn main() {
    assert_eq!(<Rtc as Driver>::MATCHES, &[DeviceMatch::Fixed("rtc")]);
    assert_eq!(<Rtc as Driver>::RESOURCES, ResourceRequest { dma_bytes: 0, ports: Some(2) });
}
