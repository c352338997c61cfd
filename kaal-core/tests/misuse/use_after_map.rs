// Mapping consumes the frame: it cannot be used again.
use kaal_core::vspace::{Frame, ObjectAllocator, ReadWrite, VSpace};

fn reuse(frame: Frame, vspace: &mut VSpace, alloc: &mut impl ObjectAllocator) {
    let _mapped = frame.map(vspace, 0x1000_0000, ReadWrite, alloc).unwrap();
    let _again = frame.map(vspace, 0x2000_0000, ReadWrite, alloc);
}

fn main() {}
