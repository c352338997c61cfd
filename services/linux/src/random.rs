//! Random bytes for `AT_RANDOM` and `getrandom`.
//!
//! From the CPU's RDRAND where it has one, else from a xorshift generator seeded with
//! the time stamp counter. Neither is a vetted entropy source here: KaaL has no entropy
//! service yet, so these bytes are good for stack canaries and hash seeds, not for keys
//! (see the issue note).

use core::sync::atomic::{AtomicU64, Ordering};

static STATE: AtomicU64 = AtomicU64::new(0);

fn next() -> u64 {
    if let Some(v) = rdrand() {
        return v;
    }
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        // SAFETY: RDTSC has no side effects.
        x = unsafe { core::arch::x86_64::_rdtsc() } | 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    x
}

fn rdrand() -> Option<u64> {
    let has = core::arch::x86_64::__cpuid(1).ecx & (1 << 30) != 0;
    if !has {
        return None;
    }
    let mut v = 0u64;
    for _ in 0..10 {
        // SAFETY: the CPU has RDRAND (checked above).
        if unsafe { rdrand_step(&mut v) } == 1 {
            return Some(v);
        }
    }
    None
}

/// # Safety
/// The CPU must have RDRAND.
#[target_feature(enable = "rdrand")]
unsafe fn rdrand_step(v: &mut u64) -> i32 {
    core::arch::x86_64::_rdrand64_step(v)
}

/// `len` random bytes.
pub fn bytes(len: usize) -> alloc::vec::Vec<u8> {
    let mut out = alloc::vec::Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&next().to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Sixteen random bytes (AT_RANDOM).
pub fn sixteen() -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&next().to_le_bytes());
    out[8..].copy_from_slice(&next().to_le_bytes());
    out
}
