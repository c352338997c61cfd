//! Time: instants from the time-stamp counter, and sleeps and timeouts from the time
//! service.
//!
//! [`Instant::now`] reads the time-stamp counter; its rate comes from the kernel (the
//! root task's BootInfo; every component's start-up block), so it works everywhere
//! without a syscall. On QEMU with `-icount shift=0` the counter counts instructions
//! and the timers follow the same virtual clock, so durations are exact there but are
//! not wall-clock time.
//!
//! Waiting needs a hardware timer, which the **time service** drives: a thread in the
//! root task that `[time]` in system.toml adds (see [`kaal_abi::time`] for its
//! protocol). A component with `time = true` takes a [`Timer`] from its grants
//! ([`crate::component::Component::timer`]) and can then [`Timer::sleep`], or bound a
//! wait on any notification it holds: [`Timer::register`] it once, then
//! [`Timer::wake_at`] arms a wake-up on it, so the wait ends by the deadline whether or
//! not the notification's owner signals (kaal-ipc's timed ring pops use this).
//!
//! ```ignore
//! let timer = me.timer()?;
//! let start = Instant::now();
//! timer.sleep(Duration::from_millis(100))?;
//! assert!(start.elapsed() >= Duration::from_millis(100));
//! ```

pub use core::time::Duration;

use kaal_abi::time::{errors, labels};

use crate::arch;
use crate::cap::Notification;
use crate::error::{Error, Result};
use crate::ipc::{Client, Message};

/// A point in time: a reading of the time-stamp counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

/// A conversion factor between two counts (timer ticks per TSC cycle, nanoseconds per
/// cycle), as 32.32 fixed point: converting is then a multiplication and a shift. A
/// 128-bit division is a library call of a few hundred instructions, too much for a
/// scheduler's every decision (kaal-sched, the one-shot timers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate(u64);

impl Rate {
    /// `num / den`, rounded up (`den` 0 is taken as 1).
    pub fn ceil(num: u64, den: u64) -> Rate {
        Rate(((num as u128) << 32).div_ceil(den.max(1) as u128).min(u64::MAX as u128) as u64)
    }

    /// `num / den`, rounded down (`den` 0 is taken as 1).
    pub fn floor(num: u64, den: u64) -> Rate {
        Rate((((num as u128) << 32) / den.max(1) as u128).min(u64::MAX as u128) as u64)
    }

    /// `count` converted, rounded up (a deadline set with it is never early).
    pub fn up(self, count: u64) -> u64 {
        ((count as u128 * self.0 as u128 + u32::MAX as u128) >> 32).min(u64::MAX as u128) as u64
    }

    /// `count` converted, rounded down.
    pub fn down(self, count: u64) -> u64 {
        ((count as u128 * self.0 as u128) >> 32).min(u64::MAX as u128) as u64
    }
}

/// The counter's rate; without one (the kernel did not report it), time cannot be
/// measured, and durations come out as zero.
fn hz() -> u64 {
    arch::tsc_hz().unwrap_or(0)
}

fn cycles_to_duration(cycles: u64) -> Duration {
    match hz() {
        0 => Duration::ZERO,
        hz => {
            let secs = cycles / hz;
            let rest = cycles % hz;
            // rest < hz <= 2^64 / 10^9 for any real counter, so this cannot overflow.
            Duration::new(secs, ((rest as u128 * 1_000_000_000) / hz as u128) as u32)
        }
    }
}

fn duration_to_cycles(d: Duration) -> Option<u64> {
    let cycles = d.as_nanos().checked_mul(hz() as u128)? / 1_000_000_000;
    u64::try_from(cycles).ok()
}

impl Instant {
    /// Now.
    pub fn now() -> Instant {
        Instant(arch::cycles())
    }

    /// The counter value, for the time service's protocol.
    pub const fn as_cycles(self) -> u64 {
        self.0
    }

    /// How long ago this was (zero if it is in the future).
    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(*self)
    }

    /// The time from `earlier` to this (zero if `earlier` is later).
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        cycles_to_duration(self.0.saturating_sub(earlier.0))
    }

    /// This plus `d`, unless that does not fit the counter.
    pub fn checked_add(&self, d: Duration) -> Option<Instant> {
        self.0.checked_add(duration_to_cycles(d)?).map(Instant)
    }

    /// Time since boot by the counter (the counter starts at reset).
    pub fn since_boot(&self) -> Duration {
        cycles_to_duration(self.0)
    }
}

/// Where the time service signals: the component's own wake notification
/// ([`WakeTarget::OWN`]) or one it [`Timer::register`]ed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WakeTarget(u64);

impl WakeTarget {
    /// The component's own wake notification.
    pub const OWN: WakeTarget = WakeTarget(0);
}

/// A component's handle on the time service.
#[derive(Debug)]
pub struct Timer {
    service: Client,
    wake: Notification,
}

impl Timer {
    /// A timer from the time service's endpoint and the component's wake notification.
    pub fn new(service: Client, wake: Notification) -> Timer {
        Timer { service, wake }
    }

    fn request<const E: usize>(&self, msg: Message<E>) -> Result<Message> {
        let reply = self.service.call(msg);
        match reply.label() {
            errors::OK => Ok(reply),
            code => Err(Error::TimeService { code, why: errors::describe(code) }),
        }
    }

    /// Asks the service to signal `target` once the counter passes `at`, replacing any
    /// wake-up `target` had. A past deadline is signalled at once.
    pub fn wake_at(&self, at: Instant, target: WakeTarget) -> Result<()> {
        self.request(Message::with_words(labels::WAKE_AT, [at.0, target.0])).map(|_| ())
    }

    /// Drops `target`'s wake-up, if it has one.
    pub fn cancel(&self, target: WakeTarget) -> Result<()> {
        self.request(Message::with_words(labels::CANCEL, [target.0])).map(|_| ())
    }

    /// Gives the service the right to signal `notification` (a copy of the capability
    /// travels with the request), so that waits on it can time out.
    pub fn register(&self, notification: &Notification) -> Result<WakeTarget> {
        let reply = self.request(Message::new(labels::REGISTER).with_cap(notification)?)?;
        Ok(WakeTarget(reply.word(0)))
    }

    /// Sleeps until `at`.
    pub fn sleep_until(&self, at: Instant) -> Result<()> {
        // A signal left from an earlier, cancelled or overtaken wake-up is not ours.
        let _ = self.wake.poll();
        self.wake_at(at, WakeTarget::OWN)?;
        while Instant::now() < at {
            self.wake.wait();
        }
        Ok(())
    }

    /// Sleeps for at least `d`.
    pub fn sleep(&self, d: Duration) -> Result<()> {
        let at = Instant::now().checked_add(d).ok_or(Error::InvalidSize {
            what: "sleep (ns)",
            value: d.as_nanos().min(u64::MAX as u128) as u64,
            limit: u64::MAX,
        })?;
        self.sleep_until(at)
    }

    /// Waits on `notification` (registered as `target`) until it is signalled or the
    /// counter passes `at`; returns the badge bits, or `None` on timeout.
    ///
    /// The service signals through the unbadged copy it was given, so the signals that
    /// count must come through badged copies (KaaL's grants always badge them).
    pub fn wait_until(&self, notification: &Notification, target: WakeTarget, at: Instant) -> Result<Option<u64>> {
        if let Some(bits) = notification.poll().filter(|bits| *bits != 0) {
            return Ok(Some(bits));
        }
        self.wake_at(at, target)?;
        loop {
            let bits = notification.wait();
            if bits != 0 {
                self.cancel(target)?;
                return Ok(Some(bits));
            }
            if Instant::now() >= at {
                return Ok(None);
            }
            // A wake-up left from an earlier deadline on this target: wait on.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_round_as_asked() {
        // 100 MHz HPET ticks per 1 GHz cycle: 0.1.
        let ticks = Rate::ceil(100_000_000, 1_000_000_000);
        assert_eq!(ticks.up(1_000_000_000), 100_000_001, "rounded up: a tick late, never early");
        assert_eq!(ticks.up(1), 1, "never rounds a deadline down to nothing");
        let ns = Rate::floor(1_000_000_000, 999_000_000);
        assert_eq!(ns.down(999_000_000), 999_999_999, "rounded down, a shade under a second");
        assert_eq!(Rate::ceil(999_000_000, 1_000_000_000).up(1_000_000_000), 999_000_001);
        assert_eq!(Rate::ceil(5, 0).up(1), 5, "a zero denominator is taken as 1");
        assert_eq!(Rate::ceil(u64::MAX, 1).up(u64::MAX), u64::MAX, "saturates");
    }

    #[test]
    fn counter_cycles_and_durations_convert_both_ways() {
        arch::set_tsc_hz(1_000_000_000);
        assert_eq!(cycles_to_duration(1_500_000_000), Duration::from_millis(1500));
        assert_eq!(duration_to_cycles(Duration::from_micros(7)), Some(7000));
        arch::set_tsc_hz(2_600_000_000);
        assert_eq!(cycles_to_duration(2_600_000_000 * 3 + 1_300_000_000), Duration::from_millis(3500));
        assert_eq!(duration_to_cycles(Duration::from_millis(1)), Some(2_600_000));
        assert_eq!(duration_to_cycles(Duration::MAX), None);
        let at = Instant(10);
        assert_eq!(at.checked_add(Duration::from_nanos(1)), Some(Instant(12)));
        assert_eq!(Instant(u64::MAX).checked_add(Duration::from_secs(1)), None);
        assert_eq!(Instant(5).saturating_duration_since(Instant(9)), Duration::ZERO);
    }
}
