// A read-only mapping does not lend out a mutable slice.
use kaal_core::vspace::{Frame, ObjectAllocator, ReadOnly, VSpace};

fn scribble(frame: Frame, vspace: &mut VSpace, alloc: &mut impl ObjectAllocator) {
    let mut mapped = frame.map(vspace, 0x1000_0000, ReadOnly, alloc).unwrap();
    let _ = mapped.as_bytes_mut();
}

fn main() {}
