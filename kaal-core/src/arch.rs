//! x86_64 facts a program may need that are not kernel calls.

/// The time-stamp counter. Under QEMU with `-icount shift=0` (`kaal run --icount`,
/// `kaal bench`) it advances with executed instructions, so figures repeat exactly.
#[inline(always)]
pub fn cycles() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: rdtsc only reads the time-stamp counter; `lfence` keeps earlier
    // instructions from being counted after it.
    unsafe { core::arch::asm!("lfence", "rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    ((hi as u64) << 32) | lo as u64
}
