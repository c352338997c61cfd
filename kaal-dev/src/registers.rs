//! Typed device registers.
//!
//! A register is a constant [`Reg`] naming its offset, its value type and whether it
//! may be read, written or both. Drivers read and write registers by name through a
//! register block; the block does the volatile or port access, so driver code never
//! touches a raw pointer or an I/O instruction, and writing a read-only register does
//! not compile:
//!
//! ```compile_fail,E0277
//! use kaal_dev::registers::{Reg, ReadOnly, RegisterBlock};
//! const LSR: Reg<u8, ReadOnly> = Reg::at(5);
//! fn poke(regs: &impl RegisterBlock) {
//!     // error[E0277]: `ReadOnly` cannot be written
//!     let _ = regs.write(LSR, 0x20);
//! }
//! ```
//!
//! Bitflags types become register values with [`register_value!`](crate::register_value).

use core::marker::PhantomData;

use kaal_core::device::IoPortRange;
use kaal_core::mmio::MmioRegion;
use kaal_core::Result;

/// Access markers.
#[derive(Debug)]
pub enum ReadOnly {}
#[derive(Debug)]
pub enum WriteOnly {}
#[derive(Debug)]
pub enum ReadWrite {}

/// Access that allows reading.
pub trait Readable {}
/// Access that allows writing.
pub trait Writable {}
impl Readable for ReadOnly {}
impl Readable for ReadWrite {}
impl Writable for WriteOnly {}
impl Writable for ReadWrite {}

/// The raw width of a register.
pub trait Width: Copy {
    /// Bytes.
    const BYTES: usize;
    fn to_u64(self) -> u64;
    fn from_u64(v: u64) -> Self;
}

macro_rules! widths {
    ($($t:ty),*) => {$(
        impl Width for $t {
            const BYTES: usize = core::mem::size_of::<$t>();
            fn to_u64(self) -> u64 { self as u64 }
            fn from_u64(v: u64) -> Self { v as $t }
        }
    )*};
}
widths!(u8, u16, u32, u64);

/// What a register holds: a plain integer or a bitflags type.
pub trait RegisterValue: Copy {
    /// The register's width.
    type Raw: Width;
    fn from_raw(raw: Self::Raw) -> Self;
    fn to_raw(self) -> Self::Raw;
}

macro_rules! plain_values {
    ($($t:ty),*) => {$(
        impl RegisterValue for $t {
            type Raw = $t;
            fn from_raw(raw: $t) -> Self { raw }
            fn to_raw(self) -> $t { self }
        }
    )*};
}
plain_values!(u8, u16, u32, u64);

/// Makes a `bitflags` type (over u8, u16 or u32) usable as a register value. Unknown
/// bits are kept, not dropped: devices set bits drivers do not name.
#[macro_export]
macro_rules! register_value {
    ($flags:ty, $raw:ty) => {
        impl $crate::registers::RegisterValue for $flags {
            type Raw = $raw;
            fn from_raw(raw: $raw) -> Self {
                <$flags>::from_bits_retain(raw)
            }
            fn to_raw(self) -> $raw {
                self.bits()
            }
        }
    };
}

/// A register: offset, value type, access.
#[derive(Debug)]
pub struct Reg<T, A> {
    offset: usize,
    _kind: PhantomData<(T, A)>,
}

impl<T, A> Clone for Reg<T, A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T, A> Copy for Reg<T, A> {}

impl<T, A> Reg<T, A> {
    /// The register at byte `offset` in its block.
    pub const fn at(offset: usize) -> Self {
        Self { offset, _kind: PhantomData }
    }

    /// Its offset.
    pub const fn offset(&self) -> usize {
        self.offset
    }
}

/// A block of registers: I/O ports or MMIO.
pub trait RegisterBlock {
    /// Reads `width` bytes at `offset`.
    fn read_raw<W: Width>(&self, offset: usize) -> Result<W>;
    /// Writes at `offset`.
    fn write_raw<W: Width>(&self, offset: usize, value: W) -> Result<()>;

    /// Reads a register.
    fn read<T: RegisterValue, A: Readable>(&self, reg: Reg<T, A>) -> Result<T> {
        self.read_raw::<T::Raw>(reg.offset).map(T::from_raw)
    }

    /// Writes a register.
    fn write<T: RegisterValue, A: Writable>(&self, reg: Reg<T, A>, value: T) -> Result<()> {
        self.write_raw(reg.offset, value.to_raw())
    }

    /// Reads, changes and writes back a register.
    fn modify<T: RegisterValue>(&self, reg: Reg<T, ReadWrite>, change: impl FnOnce(T) -> T) -> Result<()> {
        let value = self.read(reg)?;
        self.write(reg, change(value))
    }
}

/// Registers behind a range of I/O ports.
#[derive(Debug)]
pub struct PortBlock {
    ports: IoPortRange,
}

impl PortBlock {
    /// Registers in `ports`.
    pub fn new(ports: IoPortRange) -> Self {
        Self { ports }
    }

    /// The port range, for granting it on.
    pub fn ports(&self) -> &IoPortRange {
        &self.ports
    }
}

/// I/O ports are 8 or 32 bits wide here (16-bit port access is not needed by any
/// device KaaL drives yet).
fn port_width_error(bytes: usize) -> kaal_core::Error {
    kaal_core::Error::InvalidSize { what: "I/O port access width (bytes)", value: bytes as u64, limit: 4 }
}

impl RegisterBlock for PortBlock {
    fn read_raw<W: Width>(&self, offset: usize) -> Result<W> {
        let offset = offset as u16;
        let value = match W::BYTES {
            1 => self.ports.read8(offset)? as u64,
            4 => self.ports.read32(offset)? as u64,
            n => return Err(port_width_error(n)),
        };
        Ok(W::from_u64(value))
    }

    fn write_raw<W: Width>(&self, offset: usize, value: W) -> Result<()> {
        let offset = offset as u16;
        match W::BYTES {
            1 => self.ports.write8(offset, value.to_u64() as u8),
            4 => self.ports.write32(offset, value.to_u64() as u32),
            n => Err(port_width_error(n)),
        }
    }
}

/// Registers in memory-mapped device memory.
#[derive(Debug)]
pub struct MmioBlock {
    region: MmioRegion,
}

impl MmioBlock {
    /// Registers in `region`.
    pub fn new(region: MmioRegion) -> Self {
        Self { region }
    }

    /// Physical address of the block.
    pub fn paddr(&self) -> u64 {
        self.region.paddr()
    }
}

impl RegisterBlock for MmioBlock {
    fn read_raw<W: Width>(&self, offset: usize) -> Result<W> {
        let value = match W::BYTES {
            1 => self.region.read::<u8>(offset)? as u64,
            2 => self.region.read::<u16>(offset)? as u64,
            4 => self.region.read::<u32>(offset)? as u64,
            _ => self.region.read::<u64>(offset)?,
        };
        Ok(W::from_u64(value))
    }

    fn write_raw<W: Width>(&self, offset: usize, value: W) -> Result<()> {
        match W::BYTES {
            1 => self.region.write::<u8>(offset, value.to_u64() as u8),
            2 => self.region.write::<u16>(offset, value.to_u64() as u16),
            4 => self.region.write::<u32>(offset, value.to_u64() as u32),
            _ => self.region.write::<u64>(offset, value.to_u64()),
        }
    }
}
