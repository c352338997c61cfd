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

/// The time-stamp counter's rate, in Hz (the root task's BootInfo reports it; the
/// supervisor hands it to every component in its start-up block).
static TSC_HZ: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The time-stamp counter's rate in Hz, if the kernel reported it.
pub fn tsc_hz() -> Option<u64> {
    let hz = TSC_HZ.load(core::sync::atomic::Ordering::Relaxed);
    (hz != 0).then_some(hz)
}

pub(crate) fn set_tsc_hz(hz: u64) {
    TSC_HZ.store(hz, core::sync::atomic::Ordering::Relaxed);
}

/// Microseconds since boot by the time-stamp counter (0 if its rate is unknown). Under
/// `-icount shift=0` the counter counts instructions, so these are not real seconds.
pub fn micros() -> u64 {
    match tsc_hz() {
        Some(hz) => (cycles() as u128 * 1_000_000 / hz as u128) as u64,
        None => 0,
    }
}
