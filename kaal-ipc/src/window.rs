//! A window onto part of a shared region, so one region can hold several rings and a
//! bulk data area.

use core::sync::atomic::Ordering;

use crate::SharedMemory;

/// Bytes `[offset, offset + size)` of `memory`, seen as a region of its own.
#[derive(Debug, Clone, Copy)]
pub struct Window<M> {
    memory: M,
    offset: usize,
    size: usize,
}

/// Why a window cannot be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowError {
    /// The window does not lie inside the region.
    OutOfRange { offset: usize, size: usize, region: usize },
    /// Windows start on a 64-byte boundary, so ring headers stay cache-line aligned.
    Misaligned { offset: usize },
}

impl core::fmt::Display for WindowError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::OutOfRange { offset, size, region } => {
                write!(f, "window [{offset:#x}, +{size:#x}) is outside the {region:#x}-byte region")
            }
            Self::Misaligned { offset } => write!(f, "window offset {offset:#x} is not 64-byte aligned"),
        }
    }
}

impl core::error::Error for WindowError {}

impl<M: SharedMemory> Window<M> {
    /// The window `[offset, offset + size)` of `memory`.
    pub fn new(memory: M, offset: usize, size: usize) -> Result<Self, WindowError> {
        if !offset.is_multiple_of(64) {
            return Err(WindowError::Misaligned { offset });
        }
        if offset.checked_add(size).is_none_or(|end| end > memory.size()) {
            return Err(WindowError::OutOfRange { offset, size, region: memory.size() });
        }
        Ok(Self { memory, offset, size })
    }
}

impl<M: SharedMemory> SharedMemory for Window<M> {
    fn size(&self) -> usize {
        self.size
    }
    fn load_u32(&self, offset: usize, order: Ordering) -> u32 {
        self.memory.load_u32(self.offset + offset, order)
    }
    fn store_u32(&self, offset: usize, value: u32, order: Ordering) {
        self.memory.store_u32(self.offset + offset, value, order)
    }
    fn fence(&self, order: Ordering) {
        self.memory.fence(order)
    }
    fn read_bytes(&self, offset: usize, out: &mut [u8]) {
        self.memory.read_bytes(self.offset + offset, out)
    }
    fn write_bytes(&self, offset: usize, data: &[u8]) {
        self.memory.write_bytes(self.offset + offset, data)
    }
    fn read_u64(&self, offset: usize) -> u64 {
        self.memory.read_u64(self.offset + offset)
    }
    fn write_u64(&self, offset: usize, value: u64) {
        self.memory.write_u64(self.offset + offset, value)
    }
    fn fold_u64<A>(&self, offset: usize, count: usize, init: A, f: impl FnMut(A, u64) -> A) -> A {
        self.memory.fold_u64(self.offset + offset, count, init, f)
    }
}
