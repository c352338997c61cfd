//! Faults the kernel reports for a component, decoded from the fault message.

use core::fmt;

use crate::sys;

/// A fault the kernel reported for a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A page fault: `addr` is the faulting address, `ip` the instruction. (seL4 5.0
    /// on x86 reports only the low 32 bits of `addr`; components live below 4 GiB, see
    /// [`kaal_abi::startup`], so for them it is exact.)
    VmFault { ip: u64, addr: u64, instruction: bool, write: bool, present: bool },
    /// A capability lookup failed during a syscall (`addr` is the capability pointer).
    CapFault { ip: u64, addr: u64, in_receive: bool },
    /// An unknown syscall number.
    UnknownSyscall { ip: u64, sp: u64, number: u64 },
    /// A CPU exception (divide error, invalid opcode, general protection, ...).
    UserException { ip: u64, sp: u64, number: u64, code: u64 },
    /// seL4 MCS: the component used up its budget (`consumed_us` of CPU time in its
    /// scheduling context) and its overrun policy is a fault. `badge` identifies the
    /// scheduling context.
    #[cfg(kaal_mcs)]
    Timeout { badge: u64, consumed_us: u64 },
}

impl Fault {
    /// Decodes a fault message (label = the fault type), if it is one.
    pub fn decode(label: u64, word: impl Fn(usize) -> u64) -> Option<Fault> {
        let w = |i: u64| word(i as usize);
        Some(match label {
            sys::seL4_Fault_VMFault => {
                let fsr = w(sys::seL4_VMFault_FSR);
                Fault::VmFault {
                    ip: w(sys::seL4_VMFault_IP),
                    addr: w(sys::seL4_VMFault_Addr),
                    instruction: w(sys::seL4_VMFault_PrefetchFault) != 0,
                    // x86 page-fault error code: bit 0 present, bit 1 write.
                    write: fsr & 2 != 0,
                    present: fsr & 1 != 0,
                }
            }
            sys::seL4_Fault_CapFault => Fault::CapFault {
                ip: w(sys::seL4_CapFault_IP),
                addr: w(sys::seL4_CapFault_Addr),
                in_receive: w(sys::seL4_CapFault_InRecvPhase) != 0,
            },
            sys::seL4_Fault_UnknownSyscall => Fault::UnknownSyscall {
                ip: w(sys::seL4_UnknownSyscall_FaultIP),
                sp: w(sys::seL4_UnknownSyscall_SP),
                number: w(sys::seL4_UnknownSyscall_Syscall),
            },
            sys::seL4_Fault_UserException => Fault::UserException {
                ip: w(sys::seL4_UserException_FaultIP),
                sp: w(sys::seL4_UserException_SP),
                number: w(sys::seL4_UserException_Number),
                code: w(sys::seL4_UserException_Code),
            },
            #[cfg(kaal_mcs)]
            sys::seL4_Fault_Timeout => {
                Fault::Timeout { badge: w(sys::seL4_Timeout_Data), consumed_us: w(sys::seL4_Timeout_Consumed) }
            }
            _ => return None,
        })
    }

    /// The faulting instruction (0 for a timeout, which has none).
    pub fn ip(&self) -> u64 {
        match *self {
            #[cfg(kaal_mcs)]
            Fault::Timeout { .. } => 0,
            Fault::VmFault { ip, .. }
            | Fault::CapFault { ip, .. }
            | Fault::UnknownSyscall { ip, .. }
            | Fault::UserException { ip, .. } => ip,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Fault::VmFault { ip, addr, instruction, write, present } => write!(
                f,
                "VM fault ({} {}) at address {addr:#x}, ip {ip:#x}",
                if instruction {
                    "instruction fetch"
                } else if write {
                    "write"
                } else {
                    "read"
                },
                if present { "of a protected page" } else { "of an unmapped page" },
            ),
            Fault::CapFault { ip, addr, in_receive } => write!(
                f,
                "capability fault: lookup of capability {addr:#x} failed in the {} phase, ip {ip:#x}",
                if in_receive { "receive" } else { "send" }
            ),
            Fault::UnknownSyscall { ip, number, .. } => {
                write!(f, "unknown syscall {} at ip {ip:#x}", number as i64)
            }
            Fault::UserException { ip, number, code, .. } => {
                write!(f, "CPU exception {number} (error code {code:#x}) at ip {ip:#x}")
            }
            #[cfg(kaal_mcs)]
            Fault::Timeout { consumed_us, .. } => {
                write!(f, "timeout fault: it used up its CPU budget ({consumed_us} us consumed in all)")
            }
        }
    }
}
