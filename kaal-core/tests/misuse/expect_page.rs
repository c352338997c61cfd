// A frame cannot be received as a typed handle: the kernel's type tag is the same for a
// 4 KiB and a 2 MiB frame.
use kaal_core::cap::{cap_type, Cap};
use kaal_core::ipc::ReceivedCap;
use kaal_core::CSpace;

fn take_page(received: ReceivedCap, cspace: &mut CSpace) -> Cap<cap_type::Page> {
    received.expect::<cap_type::Page>(cspace).unwrap()
}

fn main() {}
