// A port range does not lend out its raw capability (which could be minted without the
// range check).
use kaal_core::device::IoPortRange;

fn widen(ports: &IoPortRange) {
    let _raw = ports.cap();
}

fn main() {}
