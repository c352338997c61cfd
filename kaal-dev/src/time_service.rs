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
//! The timer is a [`crate::oneshot::OneShot`] (the PIT takes several shots for a
//! deadline past 55 ms; the HPET one).
//!
//! The timer's interrupt arrives on a notification bound to the service thread, so one
//! `Recv` waits for both requests and the timer. Requests are checked word by word; a
//! hostile or confused client gets an error label and cannot disturb the others.

use alloc::vec::Vec;

use kaal_abi::time::{errors, labels, MAX_TARGETS};
use kaal_alloc::UntypedAllocator;
use kaal_core::cspace::CSpace;
use kaal_core::device::Irq;
use kaal_core::ipc::{self, CapReceipt, Client, Message, Server};
use kaal_core::thread::{JoinHandle, ThreadConfig, Threads};
use kaal_core::time::Instant;
use kaal_core::vspace::VSpace;
use kaal_core::{Badge, Notification};

use crate::broker::{Broker, BrokerError, IrqDelivery};
use crate::device::DeviceId;
use crate::oneshot::{ClaimError, OneShot, Unusable};

/// The badge the PIT's interrupt sets on the service thread's notification: above
/// every client badge (clients are numbered from 1, at most a few hundred), and inside
/// the 28 bits seL4 5.0.0's badges have.
const TIMER_EVENT: u64 = 1 << 27;
/// Client badges the service accepts (`1..=MAX_CLIENTS`).
pub const MAX_CLIENTS: usize = 256;

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
        let (timer, irq) =
            OneShot::claim(broker, timer, "time service", delivery, memory, vspace).map_err(|e| match e {
                ClaimError::Device(e) => TimeServiceError::Device(e),
                ClaimError::NoInterrupt => {
                    TimeServiceError::Unusable { device: "the timer", why: "it has no interrupt" }
                }
                ClaimError::Unusable(Unusable { device, why }) => TimeServiceError::Unusable { device, why },
            })?;
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
    timer: OneShot,
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
