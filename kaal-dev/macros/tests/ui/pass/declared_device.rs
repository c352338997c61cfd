// A driver for a device KaaL does not ship: the name is the one system.toml declares
// (`[devices.rtc]`); the derive checks only its form.
use kaal_dev::{DeviceMatch, Driver, PortBlock};

#[derive(Driver)]
#[driver(name = "cmos-rtc")]
#[isa(rtc)]
struct Rtc {
    #[ports]
    regs: PortBlock,
}

fn main() {
    assert_eq!(<Rtc as Driver>::MATCHES, &[DeviceMatch::Fixed("rtc")]);
}
