//! Typed device registers.
//!
//! A register is a constant [`Reg`] naming its offset, its value type and whether it
//! may be read, written or both. Drivers read and write registers by name through a
//! register block; the block does the volatile or port access, so driver code never
//! touches a raw pointer or an I/O instruction, and writing a read-only register does
//! not compile:
//!
//! ```compile_fail
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

/// A device's register map, one line per register: its name, offset, access and value
/// type, and for a register of flags the flags themselves, which become a `bitflags`
/// type usable as its value ([`register_value!`]).
///
/// ```ignore
/// kaal_dev::register_map! {
///     DATA @ 0: ReadWrite u8;
///     /// Line status.
///     LSR @ 5: ReadOnly Lsr: u8 { DATA_READY = 1, TX_EMPTY = 0x20 };
/// }
/// // const DATA: Reg<u8, ReadWrite> = Reg::at(0);
/// // pub struct Lsr: u8 (bitflags, with Debug, Clone, Copy, PartialEq, Eq)
/// // const LSR: Reg<Lsr, ReadOnly> = Reg::at(5);
/// ```
///
/// Two registers may share an offset (one read-only, one write-only, as a 16550's IIR
/// and FCR do).
#[macro_export]
macro_rules! register_map {
    () => {};
    (
        $(#[$meta:meta])* $name:ident @ $offset:literal : $access:ident $flags:ident : $raw:ty
        { $($flag:ident = $bits:expr),* $(,)? } ; $($rest:tt)*
    ) => {
        $crate::__private::bitflags::bitflags! {
            $(#[$meta])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            pub struct $flags: $raw { $(const $flag = $bits;)* }
        }
        $crate::register_value!($flags, $raw);
        $(#[$meta])*
        const $name: $crate::registers::Reg<$flags, $crate::registers::$access> = $crate::registers::Reg::at($offset);
        $crate::register_map!($($rest)*);
    };
    ($(#[$meta:meta])* $name:ident @ $offset:literal : $access:ident $value:ty ; $($rest:tt)*) => {
        $(#[$meta])*
        const $name: $crate::registers::Reg<$value, $crate::registers::$access> = $crate::registers::Reg::at($offset);
        $crate::register_map!($($rest)*);
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

/// Raw access by offset, private to this module: with it, a driver could write a
/// register declared [`ReadOnly`]. [`RegisterBlock::registers`] hands out a [`raw::Registers`],
/// an opaque value whose accessors are crate-private, so code outside this crate can get
/// one but do nothing with it. (A raw supertrait would not do: a supertrait's methods
/// can be called through any `impl RegisterBlock` bound.)
mod raw {
    use super::{port_offset, port_width_error, Width};
    use kaal_core::device::IoPortRange;
    use kaal_core::mmio::MmioRegion;
    use kaal_core::Result;

    pub trait Sealed {}

    /// What a register block reaches its registers through.
    #[derive(Debug, Clone, Copy)]
    pub struct Registers<'a>(Target<'a>);

    #[derive(Debug, Clone, Copy)]
    enum Target<'a> {
        Ports(&'a IoPortRange),
        Mmio(&'a MmioRegion),
    }

    impl<'a> Registers<'a> {
        pub(crate) fn ports(ports: &'a IoPortRange) -> Self {
            Self(Target::Ports(ports))
        }

        pub(crate) fn mmio(region: &'a MmioRegion) -> Self {
            Self(Target::Mmio(region))
        }

        /// Reads `W::BYTES` bytes at `offset`.
        pub(crate) fn read<W: Width>(self, offset: usize) -> Result<W> {
            let value = match self.0 {
                Target::Ports(ports) => {
                    let offset = port_offset(offset)?;
                    match W::BYTES {
                        1 => ports.read8(offset)? as u64,
                        4 => ports.read32(offset)? as u64,
                        n => return Err(port_width_error(n)),
                    }
                }
                Target::Mmio(region) => match W::BYTES {
                    1 => region.read::<u8>(offset)? as u64,
                    2 => region.read::<u16>(offset)? as u64,
                    4 => region.read::<u32>(offset)? as u64,
                    _ => region.read::<u64>(offset)?,
                },
            };
            Ok(W::from_u64(value))
        }

        /// Writes `value` at `offset`.
        pub(crate) fn write<W: Width>(self, offset: usize, value: W) -> Result<()> {
            let v = value.to_u64();
            match self.0 {
                Target::Ports(ports) => {
                    let offset = port_offset(offset)?;
                    match W::BYTES {
                        1 => ports.write8(offset, v as u8),
                        4 => ports.write32(offset, v as u32),
                        n => Err(port_width_error(n)),
                    }
                }
                Target::Mmio(region) => match W::BYTES {
                    1 => region.write::<u8>(offset, v as u8),
                    2 => region.write::<u16>(offset, v as u16),
                    4 => region.write::<u32>(offset, v as u32),
                    _ => region.write::<u64>(offset, v),
                },
            }
        }
    }
}

/// An index/data register pair: a device whose registers sit behind two ports (the
/// CMOS clock, a VGA controller, an IOAPIC's MMIO window) is reached by writing the
/// register's number to the index register and then reading or writing the data
/// register. `Indexed<I, D, A>` names the pair; `A` is the access of the registers
/// behind it. [`RegisterBlock::read_indexed`] and [`RegisterBlock::write_indexed`] do
/// the two steps, so they cannot be split or done in the wrong order.
///
/// ```ignore
/// const CMOS: Indexed<u8, u8, ReadWrite> = Indexed::at(0, 1);
/// let seconds = regs.read_indexed(CMOS, 0x00)?;
/// ```
#[derive(Debug)]
pub struct Indexed<I, D, A> {
    index: usize,
    data: usize,
    _kind: PhantomData<(I, D, A)>,
}

impl<I, D, A> Clone for Indexed<I, D, A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<I, D, A> Copy for Indexed<I, D, A> {}

impl<I, D, A> Indexed<I, D, A> {
    /// The pair with its index register at byte `index` and its data register at byte
    /// `data` of the block.
    pub const fn at(index: usize, data: usize) -> Self {
        Self { index, data, _kind: PhantomData }
    }
}

/// A block of registers: I/O ports ([`PortBlock`]) or MMIO ([`MmioBlock`]). Registers are
/// reached only by name, with their declared access. Sealed: implemented here only.
pub trait RegisterBlock: raw::Sealed {
    /// What the block reaches its registers through (opaque outside this crate).
    #[doc(hidden)]
    fn registers(&self) -> raw::Registers<'_>;

    /// Reads a register.
    fn read<T: RegisterValue, A: Readable>(&self, reg: Reg<T, A>) -> Result<T> {
        self.registers().read::<T::Raw>(reg.offset).map(T::from_raw)
    }

    /// Writes a register.
    fn write<T: RegisterValue, A: Writable>(&self, reg: Reg<T, A>, value: T) -> Result<()> {
        self.registers().write(reg.offset, value.to_raw())
    }

    /// Reads, changes and writes back a register.
    fn modify<T: RegisterValue>(&self, reg: Reg<T, ReadWrite>, change: impl FnOnce(T) -> T) -> Result<()> {
        let value = self.read(reg)?;
        self.write(reg, change(value))
    }

    /// Reads register `index` behind an index/data pair: writes the index, reads the data.
    fn read_indexed<I: RegisterValue, D: RegisterValue, A: Readable>(
        &self,
        pair: Indexed<I, D, A>,
        index: I,
    ) -> Result<D> {
        self.registers().write(pair.index, index.to_raw())?;
        self.registers().read::<D::Raw>(pair.data).map(D::from_raw)
    }

    /// Writes register `index` behind an index/data pair: writes the index, then the data.
    fn write_indexed<I: RegisterValue, D: RegisterValue, A: Writable>(
        &self,
        pair: Indexed<I, D, A>,
        index: I,
        value: D,
    ) -> Result<()> {
        self.registers().write(pair.index, index.to_raw())?;
        self.registers().write(pair.data, value.to_raw())
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
}

/// I/O ports are 8 or 32 bits wide here (16-bit port access is not needed by any
/// device KaaL drives yet).
fn port_width_error(bytes: usize) -> kaal_core::Error {
    kaal_core::Error::InvalidSize { what: "I/O port access width (bytes)", value: bytes as u64, limit: 4 }
}

/// An I/O port offset: a register past port 0xffff of the range does not exist.
fn port_offset(offset: usize) -> Result<u16> {
    u16::try_from(offset).map_err(|_| kaal_core::Error::PortsOutOfRange { first: u16::MAX, last: u16::MAX })
}

impl raw::Sealed for PortBlock {}
impl RegisterBlock for PortBlock {
    fn registers(&self) -> raw::Registers<'_> {
        raw::Registers::ports(&self.ports)
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

impl raw::Sealed for MmioBlock {}
impl RegisterBlock for MmioBlock {
    fn registers(&self) -> raw::Registers<'_> {
        raw::Registers::mmio(&self.region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::register_map! {
        DATA @ 0: ReadWrite u8;
        /// Status.
        STATUS @ 0x14: ReadOnly Status: u16 { READY = 1, FAULT = 1 << 9 };
        CONTROL @ 0x14: WriteOnly Status;
    }

    #[test]
    fn a_register_map_names_offsets_types_and_flags() {
        assert_eq!((DATA.offset(), STATUS.offset(), CONTROL.offset()), (0, 0x14, 0x14));
        assert_eq!((Status::READY | Status::FAULT).bits(), 0x201);
        // Unknown bits survive a read: devices set bits drivers do not name.
        assert_eq!(Status::from_raw(0x8001).to_raw(), 0x8001);
        let _: Reg<Status, ReadOnly> = STATUS;
        let _: Reg<u8, ReadWrite> = DATA;
    }
}
