//! Errors: the kernel's own codes ([`KernelError`]) and KaaL's ([`Error`]).
//!
//! [`KernelError`] mirrors `seL4_Error` one to one; a compile-time check ties every
//! variant to the generated constant and fails the build if the kernel grows a code
//! KaaL does not know. [`Error`] adds what user-level bookkeeping can go wrong (slots,
//! memory, address ranges) and always says which operation failed.

use core::fmt::{self, Write as _};

use kaal_abi::startup::Name;

use crate::sys;

/// An `seL4_Error` other than `seL4_NoError`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelError {
    InvalidArgument = sys::seL4_InvalidArgument as u32,
    InvalidCapability = sys::seL4_InvalidCapability as u32,
    IllegalOperation = sys::seL4_IllegalOperation as u32,
    RangeError = sys::seL4_RangeError as u32,
    AlignmentError = sys::seL4_AlignmentError as u32,
    FailedLookup = sys::seL4_FailedLookup as u32,
    TruncatedMessage = sys::seL4_TruncatedMessage as u32,
    DeleteFirst = sys::seL4_DeleteFirst as u32,
    RevokeFirst = sys::seL4_RevokeFirst as u32,
    NotEnoughMemory = sys::seL4_NotEnoughMemory as u32,
}

impl KernelError {
    /// Every variant, in code order.
    pub const ALL: [KernelError; 10] = [
        Self::InvalidArgument,
        Self::InvalidCapability,
        Self::IllegalOperation,
        Self::RangeError,
        Self::AlignmentError,
        Self::FailedLookup,
        Self::TruncatedMessage,
        Self::DeleteFirst,
        Self::RevokeFirst,
        Self::NotEnoughMemory,
    ];

    /// The variant for a non-zero kernel code.
    pub fn from_code(code: sys::seL4_Error) -> Option<Self> {
        Self::ALL.into_iter().find(|e| *e as u64 == code)
    }

    /// The libsel4 name, e.g. `seL4_DeleteFirst`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::InvalidArgument => "seL4_InvalidArgument",
            Self::InvalidCapability => "seL4_InvalidCapability",
            Self::IllegalOperation => "seL4_IllegalOperation",
            Self::RangeError => "seL4_RangeError",
            Self::AlignmentError => "seL4_AlignmentError",
            Self::FailedLookup => "seL4_FailedLookup",
            Self::TruncatedMessage => "seL4_TruncatedMessage",
            Self::DeleteFirst => "seL4_DeleteFirst",
            Self::RevokeFirst => "seL4_RevokeFirst",
            Self::NotEnoughMemory => "seL4_NotEnoughMemory",
        }
    }

    const fn meaning(self) -> &'static str {
        match self {
            Self::InvalidArgument => "an argument is invalid",
            Self::InvalidCapability => "a capability argument is of the wrong type or lacks rights",
            Self::IllegalOperation => "the operation is not allowed on this object in its current state",
            Self::RangeError => "an argument is outside the allowed range",
            Self::AlignmentError => "an address or size is misaligned",
            Self::FailedLookup => "a capability or paging structure could not be found",
            Self::TruncatedMessage => "the message has too few words or caps for this invocation",
            Self::DeleteFirst => "the destination slot or mapping is already in use",
            Self::RevokeFirst => "the object has derived capabilities that must be revoked first",
            Self::NotEnoughMemory => "the untyped object has too little free memory",
        }
    }
}

// Every seL4_Error code (1 .. seL4_NumErrors) has exactly one variant.
const _: () = {
    assert!(KernelError::ALL.len() as u64 == sys::seL4_NumErrors - 1);
    let mut i = 0;
    while i < KernelError::ALL.len() {
        assert!(KernelError::ALL[i] as u64 == i as u64 + 1);
        i += 1;
    }
};

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.meaning())
    }
}

/// A byte count printed for people (`1.5 MiB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
        let mut unit = 0;
        let mut scaled = self.0 * 10;
        while scaled >= 10 * 1024 && unit < UNITS.len() - 1 {
            scaled /= 1024;
            unit += 1;
        }
        if unit == 0 || scaled.is_multiple_of(10) {
            write!(f, "{} {}", scaled / 10, UNITS[unit])
        } else {
            write!(f, "{}.{} {}", scaled / 10, scaled % 10, UNITS[unit])
        }
    }
}

/// Everything that can go wrong in KaaL's kernel-facing layer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The kernel refused an invocation.
    Kernel { error: KernelError, invocation: &'static str },
    /// The kernel answered with a code this build does not know (a hostile or corrupted
    /// reply; the build-time check rules out a mismatched kernel).
    UnknownKernelCode { code: u64, invocation: &'static str },
    /// No free slot is left in a CNode.
    OutOfSlots { cnode: &'static str, capacity: usize },
    /// Not enough untyped memory of the kind asked for.
    OutOfMemory { requested: u64, largest_free: u64, total_free: u64, device: bool },
    /// A budget set in configuration is used up.
    LimitReached { what: &'static str, requested: u64, available: u64, limit: u64, fix: &'static str },
    /// No device memory covers the physical range asked for.
    NoDeviceMemory { paddr: u64, size: u64 },
    /// Device memory can only become device frames (or smaller device untypeds).
    DeviceMemoryObject { object: &'static str },
    /// A device frame was asked of RAM.
    RamAsDevice { object: &'static str },
    /// A capability of one kind arrived where another was expected.
    WrongCapability { expected: &'static str, found: &'static str },
    /// A component's ELF image cannot be loaded.
    BadImage { component: &'static str, why: &'static str },
    /// A component's grants do not fit its start-up block.
    BadGrant { component: &'static str, why: kaal_abi::startup::StartupError },
    /// A component asked for a grant it was not given.
    NotGranted { name: Name },
    /// A grant was already taken (each capability is handed out once).
    AlreadyTaken { name: Name },
    /// A grant exists but is of another kind.
    WrongGrantKind { name: Name, expected: &'static str, granted: &'static str },
    /// A ring's items are not the size the component reads or writes.
    RingItemSize { name: Name, granted: u32, used: u32 },
    /// Ports outside the capability's range.
    PortsOutOfRange { first: u16, last: u16 },
    /// A port access outside the capability's range `first..=last`.
    PortOutside { port: u32, first: u16, last: u16 },
    /// seL4 16.0.0 issues each I/O port to one capability range at a time, and some of
    /// these ports are issued already.
    PortsInUse { first: u16, last: u16 },
    /// Something is already mapped at this virtual address.
    AddressInUse { vaddr: u64 },
    /// An address is unaligned or outside the usable range.
    BadAddress { vaddr: u64, why: &'static str },
    /// Memory was asked of a frame that is mapped in another address space.
    NotMappedHere { vaddr: u64 },
    /// A size or count the operation cannot satisfy.
    InvalidSize { what: &'static str, value: u64, limit: u64 },
    /// Only a debug kernel can do this.
    NeedsDebugKernel { what: &'static str },
    /// seL4 MCS: a budget and period the kernel cannot give a scheduling context.
    BadSchedParams { budget_us: u64, period_us: u64, why: &'static str },
    /// seL4 MCS: new threads need scheduling contexts, and this task holds no
    /// scheduling-control capability to configure them (only the root task does).
    NoSchedControl { what: &'static str },
    /// A CPU budget was asked of a kernel without MCS, which cannot enforce one.
    NeedsMcsKernel { what: &'static str },
    /// The time service refused a request.
    TimeService { code: u64, why: &'static str },
}

impl Error {
    /// Turns an invocation's `seL4_Error` into a `Result`.
    #[inline]
    pub fn check(code: sys::seL4_Error, invocation: &'static str) -> Result<(), Error> {
        if code == sys::seL4_NoError {
            return Ok(());
        }
        Err(match KernelError::from_code(code) {
            Some(error) => Error::Kernel { error, invocation },
            None => Error::UnknownKernelCode { code, invocation },
        })
    }

    /// The kernel error behind this error, if any.
    pub fn kernel_error(&self) -> Option<KernelError> {
        match self {
            Error::Kernel { error, .. } => Some(*error),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Kernel { error, invocation } => write!(f, "{invocation} failed: {error}"),
            Error::UnknownKernelCode { code, invocation } => {
                write!(f, "{invocation} failed with unknown kernel error code {code}")
            }
            Error::OutOfSlots { cnode, capacity } => write!(
                f,
                "out of capability slots: all {capacity} slots of {cnode} are in use; \
                 delete capabilities you no longer need, or raise root-cnode-size-bits in the kernel config"
            ),
            Error::OutOfMemory { requested, largest_free, total_free, device } => write!(
                f,
                "out of {} memory: asked for {}, but the largest free block is {} ({} free in total); \
                 free memory first or give the machine more RAM (QEMU -m)",
                if *device { "device" } else { "RAM" },
                Bytes(*requested),
                Bytes(*largest_free),
                Bytes(*total_free)
            ),
            Error::LimitReached { what, requested, available, limit, fix } => write!(
                f,
                "{what} limit reached: asked for {}, but only {} of the {} limit is left; {fix}",
                Bytes(*requested),
                Bytes(*available),
                Bytes(*limit)
            ),
            Error::NoDeviceMemory { paddr, size } => write!(
                f,
                "no device memory covers {} at physical address {paddr:#x}; \
                 check the address, or whether another component already holds it",
                Bytes(*size)
            ),
            Error::DeviceMemoryObject { object } => write!(
                f,
                "a {object} (RAM) cannot be made from device memory: device untypeds only become device \
                 frames (Frame<_, Device>); create kernel objects and RAM frames from RAM untypeds"
            ),
            Error::RamAsDevice { object } => write!(
                f,
                "a device {object} cannot be made from RAM: ask for a RAM frame (Frame<_, Ram>), or take the \
                 device frame from a device untyped (UntypedAllocator::device_frame)"
            ),
            Error::WrongCapability { expected, found } => write!(
                f,
                "expected a {expected} capability, received: {}; the sender broke the protocol",
                found.trim_end_matches("_cap").replace_spaces()
            ),
            Error::BadImage { component, why } => write!(
                f,
                "cannot load component '{component}': {why}; rebuild it with `cargo kaal build` (images must be \
                 x86_64 ELF files linked by kaal_sel4::link)"
            ),
            Error::BadGrant { component, why } => {
                write!(f, "cannot describe the grants of component '{component}': {why}")
            }
            Error::NotGranted { name } => write!(
                f,
                "this component was not granted anything called {name:?}; grant it when spawning the component \
                 (or in system.toml), or check the spelling"
            ),
            Error::AlreadyTaken { name } => write!(f, "{name:?} was already taken; each grant is handed out once"),
            Error::WrongGrantKind { name, expected, granted } => {
                write!(f, "{name:?} was granted as {granted}, but used as {expected}")
            }
            Error::RingItemSize { name, granted, used } => write!(
                f,
                "ring {name:?} carries {granted}-byte items, but this component uses a {used}-byte type; \
                 set item-size = {used} for the ring in system.toml, or use a {granted}-byte type"
            ),
            Error::PortsOutOfRange { first, last } => write!(
                f,
                "I/O ports {first:#x}-{last:#x} are outside this capability's range; ask the broker for the device's ports"
            ),
            Error::PortOutside { port, first, last } => write!(
                f,
                "I/O port {port:#x} is outside this capability's range {first:#x}-{last:#x}; a driver is granted only \
                 the ports it declares (#[ports] or #[ports(count = N)])"
            ),
            Error::PortsInUse { first, last } => write!(
                f,
                "I/O ports {first:#x}-{last:#x} overlap a range already issued (seL4 16.0.0 gives each port to one \
                 range); delete that capability first, or ask the broker, which holds them"
            ),
            Error::AddressInUse { vaddr } => {
                write!(f, "virtual address {vaddr:#x} is already mapped; unmap it first or pick another address")
            }
            Error::BadAddress { vaddr, why } => write!(f, "bad virtual address {vaddr:#x}: {why}"),
            Error::NotMappedHere { vaddr } => write!(
                f,
                "the frame at {vaddr:#x} is mapped in another address space, so this one cannot touch its memory"
            ),
            Error::InvalidSize { what, value, limit } => write!(f, "{what} of {value} is not possible (limit {limit})"),
            Error::NeedsDebugKernel { what } => write!(
                f,
                "{what} needs a debug kernel, which this system does not run on; boot it with `--kernel debug` \
                 or `[kernel] flavour = \"debug\"` in system.toml"
            ),
            Error::BadSchedParams { budget_us, period_us, why } => write!(
                f,
                "a budget of {budget_us} us every {period_us} us is not possible: {why}"
            ),
            Error::TimeService { code, why } => write!(f, "the time service refused the request (code {code}): {why}"),
            Error::NeedsMcsKernel { what } => write!(
                f,
                "{what} needs an MCS kernel, which enforces CPU budgets; boot with `--kernel 16.0.0-mcs` or set \
                 `[kernel] mcs = true` in system.toml"
            ),
            Error::NoSchedControl { what } => write!(
                f,
                "{what} needs a scheduling context, and only the root task holds the scheduling-control \
                 capability that configures them (seL4 MCS); create it from the root task"
            ),
        }
    }
}

impl core::error::Error for Error {}

/// Kernel tag names (`irq_handler_cap`) printed as words (`irq handler`).
trait ReplaceSpaces {
    fn replace_spaces(&self) -> SpacedName<'_>;
}

impl ReplaceSpaces for str {
    fn replace_spaces(&self) -> SpacedName<'_> {
        SpacedName(self)
    }
}

struct SpacedName<'a>(&'a str);

impl fmt::Display for SpacedName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            f.write_char(if c == '_' { ' ' } else { c })?;
        }
        Ok(())
    }
}
impl core::error::Error for KernelError {}

/// `Result` with KaaL's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// An operation that failed and handed back what it was given, so nothing is lost.
///
/// `Frame::map` consumes the frame; if the kernel refuses, the frame comes back here.
/// `?` converts it into a plain [`Error`] when the caller does not need the value back.
#[derive(Debug)]
pub struct Rejected<T> {
    /// Why the operation failed.
    pub error: Error,
    /// The value the operation was given, unchanged.
    pub value: T,
}

impl<T> From<Rejected<T>> for Error {
    fn from(r: Rejected<T>) -> Error {
        r.error
    }
}

impl<T> fmt::Display for Rejected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn kernel_codes_round_trip() {
        for e in KernelError::ALL {
            assert_eq!(KernelError::from_code(e as u64), Some(e));
        }
        assert_eq!(KernelError::from_code(0), None);
        assert_eq!(KernelError::from_code(99), None);
        assert_eq!(Error::check(0, "x"), Ok(()));
        assert_eq!(
            Error::check(8, "seL4_X86_Page_Map"),
            Err(Error::Kernel { error: KernelError::DeleteFirst, invocation: "seL4_X86_Page_Map" })
        );
    }

    #[test]
    fn byte_counts_read_well() {
        assert_eq!(Bytes(0).to_string(), "0 B");
        assert_eq!(Bytes(4096).to_string(), "4 KiB");
        assert_eq!(Bytes(1536 * 1024).to_string(), "1.5 MiB");
        assert_eq!(Bytes(3 << 30).to_string(), "3 GiB");
    }

    #[test]
    fn out_of_memory_says_what_was_asked_and_what_is_left() {
        let e = Error::OutOfMemory { requested: 2 << 20, largest_free: 1 << 20, total_free: 3 << 20, device: false };
        let s = e.to_string();
        assert!(s.contains("asked for 2 MiB") && s.contains("largest free block is 1 MiB"), "{s}");
        assert!(s.contains("3 MiB free in total"), "{s}");
    }
}
