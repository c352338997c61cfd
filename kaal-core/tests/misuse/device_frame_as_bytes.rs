// Device memory (MMIO) is never read through a slice; MmioRegion does volatile access.
use kaal_core::vspace::{Device, Frame, ObjectAllocator, ReadWrite, Small, VSpace};

fn read_registers(frame: Frame<Small, Device>, vspace: &mut VSpace, alloc: &mut impl ObjectAllocator) {
    let mapped = frame.map(vspace, 0x1000_0000, ReadWrite, alloc).unwrap();
    let _ = mapped.as_bytes();
}

fn main() {}
