//! The time service: a thread in the root task that turns deadlines into wake-ups.
//!
//! Components read time from the time-stamp counter themselves
//! ([`kaal_core::time::Instant`]); to *wait* they need a hardware timer, which only the
//! root task can claim. [`TimeService::start`] claims a timer from the broker (the 8254
//! PIT or the HPET, as system.toml's `[time] source` says) and starts a thread that
//! serves the protocol in [`kaal_abi::time`]: each client (a component, by its badge)
//! has up to [`MAX_TARGETS`] notifications the service may signal (its own wake
//! notification, and ones it registered), each with at most one deadline. The thread
//! keeps the timer armed, in one-shot mode, for the earliest deadline, and sleeps in
//! between: no periodic tick.
//!
//! - The **PIT** counts at 1.193182 MHz and a one-shot is at most 65535 ticks (55 ms): a
//!   later deadline takes several shots.
//! - The **HPET**'s timer 0 compares against a 64-bit main counter (100 MHz on QEMU),
//!   so one shot reaches any deadline. It runs in legacy replacement mode, which routes
//!   timer 0 to the PIT's interrupt line (ISA IRQ 0) on every HPET; the broker therefore
//!   lists the HPET with the PIT's line, and holding one keeps the other from anyone
//!   else. A comparator set in the past would not fire until the counter wraps, so after
//!   arming, the service reads the counter back and fires at once if it has passed.
//!
//! The timer's interrupt arrives on a notification bound to the service thread, so one
//! `Recv` waits for both requests and the timer. Requests are checked word by word; a
//! hostile or confused client gets an error label and cannot disturb the others.

use alloc::vec::Vec;

use kaal_abi::time::{errors, labels, MAX_TARGETS};
use kaal_alloc::UntypedAllocator;
use kaal_core::cspace::CSpace;
use kaal_core::device::{IoPortRange, Irq};
use kaal_core::ipc::{self, CapReceipt, Client, Message, Server};
use kaal_core::mmio::MmioRegion;
use kaal_core::thread::{JoinHandle, ThreadConfig, Threads};
use kaal_core::time::Instant;
use kaal_core::vspace::VSpace;
use kaal_core::{Badge, Notification};

use crate::broker::{Broker, BrokerError, IrqDelivery};
use crate::device::DeviceId;

/// The PIT's input clock, Hz.
const PIT_HZ: u64 = 1_193_182;
/// Channel 0, low byte then high byte, mode 0 (interrupt on terminal count), binary.
const ONE_SHOT_CHANNEL0: u8 = 0b0011_0000;
/// The badge the PIT's interrupt sets on the service thread's notification: above
/// every client badge (clients are numbered from 1, at most a few hundred), and inside
/// the 28 bits seL4 5.0.0's badges have.
const TIMER_EVENT: u64 = 1 << 27;
/// Client badges the service accepts (`1..=MAX_CLIENTS`).
pub const MAX_CLIENTS: usize = 256;

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

/// The timer the service drives.
enum Timer {
    Pit(IoPortRange),
    /// `ticks` counter ticks passed in `cycles` TSC cycles, measured at start.
    Hpet {
        regs: MmioRegion,
        ticks: u64,
        cycles: u64,
    },
}

/// How long the service measures the HPET against the time-stamp counter, in
/// femtoseconds (2 ms).
const CALIBRATION_FS: u64 = 2_000_000_000_000;

impl Timer {
    /// Sets up timer `id` (its ports, or its registers) for one-shots.
    fn new(id: DeviceId, ports: Option<IoPortRange>, mmio: Option<MmioRegion>) -> Result<Timer, TimeServiceError> {
        let unusable =
            |why| TimeServiceError::Unusable { device: if id == DeviceId::Hpet { "hpet" } else { "pit" }, why };
        if id != DeviceId::Hpet {
            return ports.map(Timer::Pit).ok_or(unusable("it has no I/O ports"));
        }
        let regs = mmio.ok_or(unusable("it has no registers"))?;
        let caps: u64 = regs.read(hpet::CAPABILITIES)?;
        let period_fs = caps >> 32;
        if period_fs == 0 || period_fs > hpet::MAX_PERIOD_FS {
            return Err(unusable("its counter period is outside the specification's 0-100 ns"));
        }
        if caps & hpet::LEGACY_CAPABLE == 0 {
            return Err(unusable("it cannot route timer 0 to the PIT's line (no legacy replacement); use the PIT"));
        }
        let timer0: u64 = regs.read(hpet::TIMER0_CONFIG)?;
        // One-shots are set as "now + ticks" without handling wrap-around, which a 32-bit
        // counter (43 s at 100 MHz) would need.
        if caps & hpet::COUNTER_64_BIT == 0 || timer0 & hpet::TIMER_64_BIT == 0 {
            return Err(unusable("its counter or timer 0 has 32 bits, which the service does not handle; use the PIT"));
        }
        let timer0 = (timer0 | hpet::INTERRUPT_ENABLE) & !(hpet::LEVEL | hpet::PERIODIC | hpet::FORCE_32_BIT);
        regs.write(hpet::TIMER0_COMPARATOR, u64::MAX)?;
        regs.write(hpet::TIMER0_CONFIG, timer0)?;
        let config: u64 = regs.read(hpet::CONFIG)?;
        regs.write(hpet::CONFIG, config | hpet::ENABLE | hpet::LEGACY)?;
        // Deadlines are in TSC cycles, and the kernel's TSC rate is whole megahertz
        // measured against the PIT: converting through it would be off by up to a few
        // tenths of a percent. So the service measures the two counters against each
        // other, and converts with that.
        let (start_cycles, start_ticks) = (Instant::now().as_cycles(), regs.read::<u64>(hpet::COUNTER)?);
        let span = CALIBRATION_FS / period_fs;
        let mut now_ticks = start_ticks;
        while now_ticks.wrapping_sub(start_ticks) < span {
            core::hint::spin_loop();
            now_ticks = regs.read(hpet::COUNTER)?;
        }
        let cycles = Instant::now().as_cycles() - start_cycles;
        let ticks = now_ticks.wrapping_sub(start_ticks);
        if cycles == 0 {
            return Err(unusable("the time-stamp counter did not advance while the HPET counted"));
        }
        Ok(Timer::Hpet { regs, ticks, cycles })
    }

    /// Starts a one-shot of `cycles` TSC cycles; `false` if the deadline passed while it
    /// was being set (the interrupt would never come).
    fn arm(&mut self, cycles: u64) -> bool {
        match self {
            Timer::Pit(ports) => {
                let hz = kaal_core::arch::tsc_hz().unwrap_or(1_000_000_000) as u128;
                let ticks = (cycles as u128 * PIT_HZ as u128).div_ceil(hz).clamp(1, 0xffff) as u16;
                // Port errors cannot happen: the range is the PIT's, checked when it was claimed.
                let _ = ports.write8(3, ONE_SHOT_CHANNEL0);
                let _ = ports.write8(0, ticks as u8);
                let _ = ports.write8(0, (ticks >> 8) as u8);
                true
            }
            Timer::Hpet { regs, ticks: per, cycles: span } => {
                let ticks = (cycles as u128 * *per as u128).div_ceil(*span as u128).max(1) as u64;
                // Register errors cannot happen: the offsets are inside the claimed page.
                let now: u64 = regs.read(hpet::COUNTER).unwrap_or(0);
                let at = now.saturating_add(ticks);
                let _ = regs.write(hpet::TIMER0_COMPARATOR, at);
                regs.read::<u64>(hpet::COUNTER).is_ok_and(|after| after < at)
            }
        }
    }
}

/// Why the time service could not start.
#[derive(Debug)]
pub enum TimeServiceError {
    /// The broker would not give the timer out.
    Device(BrokerError),
    /// The kernel refused an object or a thread.
    Kernel(kaal_core::Error),
    /// The timer has no ports or no interrupt (not the device the service drives).
    Unusable { device: &'static str, why: &'static str },
}

impl From<kaal_core::Error> for TimeServiceError {
    fn from(e: kaal_core::Error) -> Self {
        TimeServiceError::Kernel(e)
    }
}

impl core::fmt::Display for TimeServiceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TimeServiceError::Device(e) => write!(f, "the time service cannot claim its timer: {e}"),
            TimeServiceError::Kernel(e) => write!(f, "the time service cannot start: {e}"),
            TimeServiceError::Unusable { device, why } => write!(f, "the time service cannot drive {device}: {why}"),
        }
    }
}

/// The running service: the endpoint clients call, and each client's wake notification.
pub struct TimeService {
    server: Server,
    wakes: Vec<Notification>,
    _thread: JoinHandle<()>,
}

impl core::fmt::Debug for TimeService {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "TimeService({} clients)", self.wakes.len())
    }
}

/// One client's targets: the notifications the service may signal, and their deadlines
/// (TSC cycles).
struct ClientState {
    targets: [Option<Notification>; MAX_TARGETS],
    deadlines: [Option<u64>; MAX_TARGETS],
}

impl TimeService {
    /// Claims `timer` (`pit` or `hpet`; its registers mapped into `vspace`, the root
    /// task's) and starts the service thread (on `threads`, at `priority`) for
    /// `clients` clients, badged `1..=clients`.
    pub fn start(
        broker: &mut Broker,
        timer: DeviceId,
        memory: &mut UntypedAllocator,
        vspace: &mut VSpace,
        threads: &mut Threads,
        clients: usize,
        priority: u8,
    ) -> Result<TimeService, TimeServiceError> {
        if clients > MAX_CLIENTS {
            return Err(TimeServiceError::Kernel(kaal_core::Error::InvalidSize {
                what: "time service clients",
                value: clients as u64,
                limit: MAX_CLIENTS as u64,
            }));
        }
        let server = ipc::channel(memory)?;
        let served = server.try_clone(memory.cspace())?;
        let events: Notification = memory.allocate()?;
        let badge = Badge::new(TIMER_EVENT).expect("fits every kernel's badge");
        let delivery = IrqDelivery::Shared { notification: &events, badge };
        let bundle = broker
            .request_device(timer, "time service", 0, delivery, memory, vspace)
            .map_err(TimeServiceError::Device)?;
        let Some(irq) = bundle.irq else {
            return Err(TimeServiceError::Unusable { device: "the timer", why: "it has no interrupt" });
        };
        let mmio = bundle.mmio.into_iter().next().map(|(_, region)| region);
        let timer = Timer::new(timer, bundle.ports, mmio)?;
        let mut wakes = Vec::with_capacity(clients);
        let mut states = Vec::with_capacity(clients);
        for _ in 0..clients {
            let wake: Notification = memory.allocate()?;
            let own = memory.cspace().copy(&wake, kaal_core::Rights::ALL)?;
            let mut targets: [Option<Notification>; MAX_TARGETS] = Default::default();
            targets[0] = Some(own);
            states.push(ClientState { targets, deadlines: [None; MAX_TARGETS] });
            wakes.push(wake);
        }
        // Slots for the notifications clients register (and one to receive into).
        let cspace = memory.cspace().split(clients * (MAX_TARGETS - 1) + 1)?;
        let config = ThreadConfig::new("time").priority(priority).stack_size(16 * 1024);
        let thread = threads.spawn(memory, config, move || {
            let mut service = Service { server: served, timer, irq, clients: states, cspace };
            service.run()
        })?;
        thread.bind_notification(&events)?;
        // The thread holds its own copy; this handle is not needed.
        let _ = events.into_cptr();
        Ok(TimeService { server, wakes, _thread: thread })
    }

    /// A client handle for client `index` (0-based), badged `index + 1`.
    pub fn client(&self, index: usize, cspace: &mut CSpace) -> Result<Client, kaal_core::Error> {
        let badge = Badge::new(index as u64 + 1).ok_or(kaal_core::Error::InvalidSize {
            what: "time service client",
            value: index as u64,
            limit: self.wakes.len() as u64,
        })?;
        self.server.client(badge, cspace)
    }

    /// Client `index`'s wake notification, to grant it (wait side).
    pub fn wake(&self, index: usize) -> Option<&Notification> {
        self.wakes.get(index)
    }
}

/// The service thread's state.
struct Service {
    server: Server,
    timer: Timer,
    irq: Irq,
    clients: Vec<ClientState>,
    cspace: CSpace,
}

impl Service {
    fn run(&mut self) {
        loop {
            let Ok(slot) = self.cspace.alloc_slot() else {
                // Cannot happen (the slots cover every target); serve without receiving.
                let received = self.server.recv();
                if let Some(reply) = self.handle(received.badge, &received.msg, None) {
                    self.server.reply(reply);
                }
                continue;
            };
            let (received, receipt) = self.server.recv_with_cap(slot);
            let cap = match receipt {
                CapReceipt::Received(cap) => Some(cap),
                CapReceipt::Nothing(slot) => {
                    self.cspace.free_slot(slot);
                    None
                }
            };
            let reply = self.handle(received.badge, &received.msg, cap);
            self.fire_and_rearm();
            // After a timer event nobody called, so there is nobody to answer.
            if let Some(reply) = reply {
                self.server.reply(reply);
            }
        }
    }

    /// One request, and its reply; or the timer's event, which needs none.
    fn handle(&mut self, badge: u64, msg: &Message, cap: Option<ipc::ReceivedCap>) -> Option<Message> {
        // Only the bound notification delivers this badge (clients have 1..=256), with
        // an empty message.
        if badge == TIMER_EVENT && msg.label() == 0 && msg.is_empty() && cap.is_none() {
            let _ = self.irq.ack();
            return None;
        }
        Some(self.request(badge, msg, cap))
    }

    /// A client's request.
    fn request(&mut self, badge: u64, msg: &Message, cap: Option<ipc::ReceivedCap>) -> Message {
        let Some(client) = badge.checked_sub(1).and_then(|i| self.clients.get_mut(i as usize)) else {
            if let Some(cap) = cap {
                cap.discard(&mut self.cspace);
            }
            return Message::new(errors::BAD_REQUEST);
        };
        let target = |word: u64| (word < MAX_TARGETS as u64).then_some(word as usize);
        match (msg.label(), msg.len(), cap) {
            (labels::WAKE_AT, 2, None) => match target(msg.word(1)).filter(|t| client.targets[*t].is_some()) {
                Some(t) => {
                    client.deadlines[t] = Some(msg.word(0));
                    Message::new(errors::OK)
                }
                None => Message::new(errors::BAD_TARGET),
            },
            (labels::CANCEL, 1, None) => match target(msg.word(0)).filter(|t| client.targets[*t].is_some()) {
                Some(t) => {
                    client.deadlines[t] = None;
                    Message::new(errors::OK)
                }
                None => Message::new(errors::BAD_TARGET),
            },
            (labels::REGISTER, 0, Some(cap)) => match client.targets.iter().position(Option::is_none) {
                Some(t) => match cap.expect::<kaal_core::cap::cap_type::Notification>(&mut self.cspace) {
                    Ok(notification) => {
                        client.targets[t] = Some(notification);
                        Message::with_words(errors::OK, [t as u64])
                    }
                    Err(_) => Message::new(errors::NOT_A_NOTIFICATION),
                },
                None => {
                    cap.discard(&mut self.cspace);
                    Message::new(errors::FULL)
                }
            },
            (labels::REGISTER, _, None) => Message::new(errors::NOT_A_NOTIFICATION),
            (_, _, cap) => {
                if let Some(cap) = cap {
                    cap.discard(&mut self.cspace);
                }
                Message::new(errors::BAD_REQUEST)
            }
        }
    }

    /// Signals every target whose deadline has passed, and arms the timer for the
    /// earliest one left (again, if that deadline passed while it was being armed).
    fn fire_and_rearm(&mut self) {
        while let Some((now, at)) = self.fire() {
            if self.timer.arm(at - now) {
                return;
            }
        }
    }

    /// Signals every target whose deadline has passed; the time and the earliest
    /// deadline left, if any.
    fn fire(&mut self) -> Option<(u64, u64)> {
        let now = Instant::now().as_cycles();
        let mut earliest: Option<u64> = None;
        for client in &mut self.clients {
            for (deadline, target) in client.deadlines.iter_mut().zip(&client.targets) {
                match *deadline {
                    Some(at) if at <= now => {
                        *deadline = None;
                        if let Some(notification) = target {
                            notification.signal();
                        }
                    }
                    Some(at) => earliest = Some(earliest.map_or(at, |e| e.min(at))),
                    None => {}
                }
            }
        }
        earliest.map(|at| (now, at))
    }
}
