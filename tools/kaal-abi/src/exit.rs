//! How a system reports its exit status to the host.
//!
//! QEMU's `isa-debug-exit` device (at [`DEBUG_EXIT_PORT`]) makes QEMU exit with status
//! `(byte << 1) | 1` when a byte is written to it. The root task writes:
//!
//! * [`SUCCESS_BYTE`] for success, so QEMU exits with 33;
//! * `FAILURE_BASE | code` for failure code 1..=63 (QEMU exits with 129 + 2 * code).
//!
//! Every other QEMU status (0 from a clean shutdown, 1 from a QEMU error, a signal) is not
//! a KaaL verdict, and the tool reports it as such. A byte must stay below 128 because
//! process exit statuses have 8 bits.

/// I/O port of QEMU's `isa-debug-exit` device.
pub const DEBUG_EXIT_PORT: u16 = 0xf4;
/// Byte written for success.
pub const SUCCESS_BYTE: u8 = 0x10;
/// Base byte for failures; the low six bits carry the code.
pub const FAILURE_BASE: u8 = 0x40;
/// Largest failure code.
pub const MAX_FAILURE_CODE: u8 = 63;

/// How a system ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// The system finished its work.
    Success,
    /// The system failed with a code in 1..=63 (see the constants below).
    Failure(u8),
}

impl ExitStatus {
    /// `main` returned an error.
    pub const ERROR: ExitStatus = ExitStatus::Failure(1);
    /// A component panicked.
    pub const PANIC: ExitStatus = ExitStatus::Failure(2);
    /// A component faulted and nothing handled it.
    pub const FAULT: ExitStatus = ExitStatus::Failure(3);

    /// The byte to write to [`DEBUG_EXIT_PORT`]. Failure codes are clamped to 1..=63.
    pub const fn to_byte(self) -> u8 {
        match self {
            ExitStatus::Success => SUCCESS_BYTE,
            ExitStatus::Failure(code) => {
                let code = if code == 0 {
                    1
                } else if code > MAX_FAILURE_CODE {
                    MAX_FAILURE_CODE
                } else {
                    code
                };
                FAILURE_BASE | code
            }
        }
    }

    /// The status a QEMU process exit code stands for, if it is a KaaL verdict.
    pub const fn from_qemu_status(status: i32) -> Option<ExitStatus> {
        if status < 0 || status > 255 || status & 1 == 0 {
            return None;
        }
        let byte = (status >> 1) as u8;
        if byte == SUCCESS_BYTE {
            Some(ExitStatus::Success)
        } else if byte > FAILURE_BASE && byte <= FAILURE_BASE | MAX_FAILURE_CODE {
            Some(ExitStatus::Failure(byte - FAILURE_BASE))
        } else {
            None
        }
    }

    /// What the failure code means, for the tool's report.
    pub const fn describe(self) -> &'static str {
        match self {
            ExitStatus::Success => "success",
            ExitStatus::Failure(1) => "main returned an error",
            ExitStatus::Failure(2) => "panic",
            ExitStatus::Failure(3) => "unhandled fault",
            ExitStatus::Failure(_) => "failure reported by the system",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_qemu_status() {
        assert_eq!(ExitStatus::Success.to_byte(), 0x10);
        assert_eq!(ExitStatus::from_qemu_status(33), Some(ExitStatus::Success));
        for code in 1..=MAX_FAILURE_CODE {
            let status = ((ExitStatus::Failure(code).to_byte() as i32) << 1) | 1;
            assert!(status <= 255);
            assert_eq!(ExitStatus::from_qemu_status(status), Some(ExitStatus::Failure(code)));
        }
    }

    #[test]
    fn other_statuses_are_not_verdicts() {
        for status in [0, 1, 2, 3, 32, 34, 127, 129, -1, 256] {
            assert_eq!(ExitStatus::from_qemu_status(status), None, "status {status}");
        }
    }

    #[test]
    fn codes_are_clamped() {
        assert_eq!(ExitStatus::Failure(0).to_byte(), 0x41);
        assert_eq!(ExitStatus::Failure(200).to_byte(), 0x7f);
    }
}
