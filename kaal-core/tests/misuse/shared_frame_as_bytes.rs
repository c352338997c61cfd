// A shared frame (its capability copied) is never a byte slice, even mapped writable.
use kaal_core::vspace::{Frame, ObjectAllocator, ReadWrite, Shared, Small, VSpace};

fn peek(frame: Frame<Small, Shared>, vspace: &mut VSpace, alloc: &mut impl ObjectAllocator) {
    let mut mapped = frame.map(vspace, 0x1000_0000, ReadWrite, alloc).unwrap();
    let _ = mapped.as_bytes_mut();
}

fn main() {}
