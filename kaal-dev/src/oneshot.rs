//! One-shot timers: the 8254 PIT or the HPET, interrupting once per deadline.
//!
//! The time service ([`crate::time_service`]) and kaal-sched's scheduler both drive a
//! timer this way: armed for the next deadline and otherwise quiet (no periodic tick).
//!
//! - The **PIT** counts at 1.193182 MHz and a one-shot is at most 65535 ticks (55 ms): a
//!   later deadline takes several shots.
//! - The **HPET**'s timer 0 compares against a 64-bit main counter (100 MHz on QEMU),
//!   so one shot reaches any deadline. It runs in legacy replacement mode, which routes
//!   timer 0 to the PIT's interrupt line (ISA IRQ 0) on every HPET; the broker therefore
//!   lists the HPET with the PIT's line, and holding one keeps the other from anyone
//!   else. A comparator set in the past would not fire until the counter wraps, so after
//!   arming, [`OneShot::arm`] reads the counter back and says if it has passed.

use kaal_alloc::UntypedAllocator;
use kaal_core::device::{IoPortRange, Irq};
use kaal_core::mmio::MmioRegion;
use kaal_core::time::{Instant, Rate};
use kaal_core::vspace::VSpace;

use crate::broker::{Broker, BrokerError, IrqDelivery};
use crate::device::DeviceId;

/// The PIT's input clock, Hz.
const PIT_HZ: u64 = 1_193_182;
/// Channel 0, low byte then high byte, mode 0 (interrupt on terminal count), binary.
const ONE_SHOT_CHANNEL0: u8 = 0b0011_0000;
/// HPET registers (IA-PC HPET specification 1.0a, section 2.3).
mod hpet {
    /// General capabilities: the counter's period in femtoseconds (bits 63:32), legacy
    /// replacement capable (bit 15), a 64-bit counter (bit 13).
    pub const CAPABILITIES: usize = 0x00;
    pub const LEGACY_CAPABLE: u64 = 1 << 15;
    pub const COUNTER_64_BIT: u64 = 1 << 13;
    /// General configuration: counting (bit 0), legacy replacement routing (bit 1).
    pub const CONFIG: usize = 0x10;
    pub const ENABLE: u64 = 1 << 0;
    pub const LEGACY: u64 = 1 << 1;
    pub const COUNTER: usize = 0xf0;
    /// Timer 0's configuration: interrupt enabled (bit 2), edge-triggered (bit 1 clear),
    /// one-shot (bit 3 clear), 64-bit (bit 8 clear).
    pub const TIMER0_CONFIG: usize = 0x100;
    pub const INTERRUPT_ENABLE: u64 = 1 << 2;
    pub const LEVEL: u64 = 1 << 1;
    pub const PERIODIC: u64 = 1 << 3;
    pub const FORCE_32_BIT: u64 = 1 << 8;
    /// Timer 0 compares 64 bits (bit 5 of its configuration).
    pub const TIMER_64_BIT: u64 = 1 << 5;
    pub const TIMER0_COMPARATOR: usize = 0x108;
    /// The longest counter period the specification allows (100 ns).
    pub const MAX_PERIOD_FS: u64 = 100_000_000;
}

/// A one-shot timer: the 8254 PIT's channel 0 or the HPET's timer 0, set up to
/// interrupt once per [`OneShot::arm`].
pub struct OneShot {
    kind: Kind,
}

impl core::fmt::Debug for OneShot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self.kind {
            Kind::Pit { .. } => "OneShot(pit)",
            Kind::Hpet { .. } => "OneShot(hpet)",
        })
    }
}

/// Timer ticks per TSC cycle are a [`Rate`], so arming is a multiplication and a shift
/// (it is on the path of every scheduling decision).
enum Kind {
    Pit {
        ports: IoPortRange,
        ticks_per_cycle: Rate,
    },
    /// Ticks per cycle measured at start.
    Hpet {
        regs: MmioRegion,
        ticks_per_cycle: Rate,
    },
}

/// How long the service measures the HPET against the time-stamp counter, in
/// femtoseconds (2 ms).
const CALIBRATION_FS: u64 = 2_000_000_000_000;

impl OneShot {
    /// Sets up timer `id` (its ports, or its registers) for one-shots.
    pub fn new(id: DeviceId, ports: Option<IoPortRange>, mmio: Option<MmioRegion>) -> Result<OneShot, Unusable> {
        let unusable = |why| Unusable { device: if id == DeviceId::Hpet { "hpet" } else { "pit" }, why };
        if id != DeviceId::Hpet {
            let ticks_per_cycle = Rate::ceil(PIT_HZ, kaal_core::arch::tsc_hz().unwrap_or(1_000_000_000));
            return ports
                .map(|ports| OneShot { kind: Kind::Pit { ports, ticks_per_cycle } })
                .ok_or(unusable("it has no I/O ports"));
        }
        let regs = mmio.ok_or(unusable("it has no registers"))?;
        let register = |_| unusable("its registers are not where the broker said");
        let caps: u64 = regs.read(hpet::CAPABILITIES).map_err(register)?;
        let period_fs = caps >> 32;
        if period_fs == 0 || period_fs > hpet::MAX_PERIOD_FS {
            return Err(unusable("its counter period is outside the specification's 0-100 ns"));
        }
        if caps & hpet::LEGACY_CAPABLE == 0 {
            return Err(unusable("it cannot route timer 0 to the PIT's line (no legacy replacement); use the PIT"));
        }
        let timer0: u64 = regs.read(hpet::TIMER0_CONFIG).map_err(register)?;
        // One-shots are set as "now + ticks" without handling wrap-around, which a 32-bit
        // counter (43 s at 100 MHz) would need.
        if caps & hpet::COUNTER_64_BIT == 0 || timer0 & hpet::TIMER_64_BIT == 0 {
            return Err(unusable("its counter or timer 0 has 32 bits, which the service does not handle; use the PIT"));
        }
        let timer0 = (timer0 | hpet::INTERRUPT_ENABLE) & !(hpet::LEVEL | hpet::PERIODIC | hpet::FORCE_32_BIT);
        regs.write(hpet::TIMER0_COMPARATOR, u64::MAX).map_err(register)?;
        regs.write(hpet::TIMER0_CONFIG, timer0).map_err(register)?;
        let config: u64 = regs.read(hpet::CONFIG).map_err(register)?;
        regs.write(hpet::CONFIG, config | hpet::ENABLE | hpet::LEGACY).map_err(register)?;
        // Deadlines are in TSC cycles, and the kernel's TSC rate is whole megahertz
        // measured against the PIT: converting through it would be off by up to a few
        // tenths of a percent. So the service measures the two counters against each
        // other, and converts with that.
        let (start_cycles, start_ticks) =
            (Instant::now().as_cycles(), regs.read::<u64>(hpet::COUNTER).map_err(register)?);
        let span = CALIBRATION_FS / period_fs;
        let mut now_ticks = start_ticks;
        while now_ticks.wrapping_sub(start_ticks) < span {
            core::hint::spin_loop();
            now_ticks = regs.read(hpet::COUNTER).map_err(register)?;
        }
        let cycles = Instant::now().as_cycles() - start_cycles;
        let ticks = now_ticks.wrapping_sub(start_ticks);
        if cycles == 0 {
            return Err(unusable("the time-stamp counter did not advance while the HPET counted"));
        }
        Ok(OneShot { kind: Kind::Hpet { regs, ticks_per_cycle: Rate::ceil(ticks, cycles) } })
    }

    /// Starts a one-shot of `cycles` TSC cycles, replacing any pending one; `false` if
    /// the deadline passed while it was being set (the interrupt would never come). The
    /// PIT reaches at most 65535 ticks (55 ms): a later deadline needs several shots.
    pub fn arm(&mut self, cycles: u64) -> bool {
        match &mut self.kind {
            Kind::Pit { ports, ticks_per_cycle } => {
                let ticks = ticks_per_cycle.up(cycles).clamp(1, 0xffff) as u16;
                // Port errors cannot happen: the range is the PIT's, checked when it was claimed.
                let _ = ports.write8(3, ONE_SHOT_CHANNEL0);
                let _ = ports.write8(0, ticks as u8);
                let _ = ports.write8(0, (ticks >> 8) as u8);
                true
            }
            Kind::Hpet { regs, ticks_per_cycle } => {
                let ticks = ticks_per_cycle.up(cycles).max(1);
                // Register errors cannot happen: the offsets are inside the claimed page.
                let now: u64 = regs.read(hpet::COUNTER).unwrap_or(0);
                let at = now.saturating_add(ticks);
                let _ = regs.write(hpet::TIMER0_COMPARATOR, at);
                regs.read::<u64>(hpet::COUNTER).is_ok_and(|after| after < at)
            }
        }
    }
}

/// Why a timer cannot be driven as a one-shot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unusable {
    /// `pit` or `hpet`.
    pub device: &'static str,
    /// What is wrong, and the way out.
    pub why: &'static str,
}

impl core::fmt::Display for Unusable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} cannot be driven as a one-shot timer: {}", self.device, self.why)
    }
}

/// Why [`OneShot::claim`] failed.
#[derive(Debug)]
pub enum ClaimError {
    /// The broker would not give the timer out.
    Device(BrokerError),
    /// The timer has no interrupt.
    NoInterrupt,
    /// The timer is not one this module drives.
    Unusable(Unusable),
}

impl core::fmt::Display for ClaimError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ClaimError::Device(e) => write!(f, "cannot claim the timer: {e}"),
            ClaimError::NoInterrupt => f.write_str("the timer has no interrupt"),
            ClaimError::Unusable(e) => e.fmt(f),
        }
    }
}

impl OneShot {
    /// Claims timer `id` (`pit` or `hpet`) from the broker for `who`, its interrupt
    /// delivered as `delivery` and its registers mapped into `vspace`, and sets it up.
    pub fn claim(
        broker: &mut Broker,
        id: DeviceId,
        who: &'static str,
        delivery: IrqDelivery<'_>,
        memory: &mut UntypedAllocator,
        vspace: &mut VSpace,
    ) -> Result<(OneShot, Irq), ClaimError> {
        let bundle = broker.request_device(id, who, 0, delivery, memory, vspace).map_err(ClaimError::Device)?;
        let irq = bundle.irq.ok_or(ClaimError::NoInterrupt)?;
        let mmio = bundle.mmio.into_iter().next().map(|(_, region)| region);
        let timer = OneShot::new(id, bundle.ports, mmio).map_err(ClaimError::Unusable)?;
        Ok((timer, irq))
    }
}
