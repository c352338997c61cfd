// A mapped frame cannot be mapped again.
use kaal_core::vspace::{Frame, ObjectAllocator, ReadWrite, VSpace};

fn map_twice(frame: Frame, vspace: &mut VSpace, alloc: &mut impl ObjectAllocator) {
    let mapped = frame.map(vspace, 0x1000_0000, ReadWrite, alloc).unwrap();
    let _ = mapped.map(vspace, 0x2000_0000, ReadWrite, alloc);
}

fn main() {}
