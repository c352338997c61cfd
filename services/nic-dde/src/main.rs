//! The network card's driver component when system.toml asks for a Linux driver
//! (`[network] driver = { type = "dde-linux", linux = "8139cp" }`): component `nic`
//! runs the unmodified Linux driver over kaal-dde and serves the network stack (`net`)
//! through the same four rings and shared buffers as KaaL's native drivers
//! (`kaal_ipc::net`), so the stack cannot tell them apart.
//!
//! Unlike services/nic-e1000 it copies each frame once: the Linux driver sends from and
//! receives into socket buffers it allocates itself (in the component's DMA pool), so a
//! frame to send is copied from the stack's buffer into one, and a received frame from
//! one into a buffer the stack gave for receiving.
//!
//! Each wake-up (the card's interrupt, or the stack's `nic-kick`, on one notification)
//! runs the driver's interrupt handler if it was the card, acknowledges the interrupt
//! after it (shared level-triggered INTx), runs the NAPI polls it scheduled, then moves
//! frames both ways and signals the stack once.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;

use kaal_core::component::Component;

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

#[cfg(kaal_dde_linked)]
kaal_dde::exports!();

/// The Linux driver linked in (`kaal build` names it).
#[cfg(kaal_dde_linked)]
const DRIVER: &str = env!("KAAL_DDE_LINKED");

#[cfg(not(kaal_dde_linked))]
fn main(me: Component) -> Result<(), Box<dyn core::error::Error>> {
    Err(alloc::format!(
        "component {} was built without a Linux driver (plain cargo build): build the system with `cargo kaal \
         build`, which compiles the driver named in system.toml and links it in",
        me.name()
    )
    .into())
}

#[cfg(kaal_dde_linked)]
fn main(mut me: Component) -> Result<(), Box<dyn core::error::Error>> {
    serve::run(&mut me, DRIVER)
}

#[cfg(kaal_dde_linked)]
mod serve {
    use alloc::boxed::Box;
    use alloc::collections::VecDeque;

    use kaal_core::component::Component;
    use kaal_core::println;
    use kaal_core::shared::SharedRegion;
    use kaal_dde::{LinuxDevice, Transmit};
    use kaal_dev::Driver;
    use kaal_ipc::net::{self, DriverQueues, Kind, NetBuffer, Ownership};
    use kaal_ipc::Wake;

    type Queues = DriverQueues<&'static SharedRegion>;

    /// What the component counts.
    #[derive(Debug, Default)]
    struct Counts {
        received: u64,
        sent: u64,
        /// Descriptors from the stack that were refused.
        refused: u64,
        /// Frames the driver received with no buffer from the stack to put them in.
        no_buffer: u64,
        /// Frames the driver refused to send.
        dropped: u64,
    }

    pub fn run(me: &mut Component, driver: &'static str) -> Result<(), Box<dyn core::error::Error>> {
        let name = me.name();
        let mut nic: LinuxDevice = kaal_dev::device_grant::claim_granted(me)?;
        let buffers = me.region(net::BUFFERS)?;
        if buffers.size() < net::BUFFERS_BYTES {
            return Err(alloc::format!(
                "region {} must be {} bytes (it is {}): rebuild with `cargo kaal build`",
                net::BUFFERS,
                net::BUFFERS_BYTES,
                buffers.size()
            )
            .into());
        }
        let queues: &'static SharedRegion = Box::leak(Box::new(me.region(net::QUEUES)?));
        let mut q = Queues::attach(queues)?;
        let wake = me.notification(net::STACK_WAKE)?;
        // The driver's timers and sleeping work items wake the component through the
        // time service, on the notification its interrupt arrives on.
        let timer = me.timer()?;
        let Some(irq) = nic.interrupt() else { return Err("the Linux driver's device has no interrupt".into()) };
        let target = timer.register(irq.notification())?;
        let mac = kaal_dde::start(name, driver)?;
        net::publish_mac(queues, mac);
        let [a, b, c, d, e, f] = mac;
        println!(
            "[{name}] Linux {driver} (DDE-Linux): MAC {a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}, link {}",
            if kaal_dde::link_up() { "up" } else { "down" }
        );
        while kaal_dde::take_link_change().is_some() {}
        serve(&mut nic, &mut q, &buffers, &wake, (&timer, target), name)
    }

    fn serve(
        nic: &mut LinuxDevice,
        q: &mut Queues,
        buffers: &SharedRegion,
        wake: &kaal_core::Notification,
        (timer, target): (&kaal_core::time::Timer, kaal_core::time::WakeTarget),
        name: &str,
    ) -> Result<(), Box<dyn core::error::Error>> {
        let mut counts = Counts::default();
        let mut rx_held = Ownership::new(Kind::Receive);
        let mut tx_held = Ownership::new(Kind::Transmit);
        // Buffers the stack gave for receiving, and frames it gave to send that the
        // driver's queue had no room for yet.
        let mut for_receiving: VecDeque<NetBuffer> = VecDeque::new();
        let mut to_send: VecDeque<NetBuffer> = VecDeque::new();
        let mut to_stack_rx: VecDeque<NetBuffer> = VecDeque::new();
        let mut to_stack_tx: VecDeque<NetBuffer> = VecDeque::new();
        let mut frame = [0u8; net::BUFFER_SIZE];
        let mut polls_pending = true;
        let mut deadline = None;
        loop {
            // 1. The driver's timers and work items, then its scheduled polls: received
            //    frames, into the stack's buffers.
            let tasks_runnable = kaal_dde::run();
            if polls_pending {
                polls_pending = kaal_dde::poll();
            }
            while let Some(up) = kaal_dde::take_link_change() {
                println!("[{name}] link {}", if up { "up" } else { "down" });
            }
            while let Some((buffer, _)) = q.rx_free.pop()? {
                if net::accept(&mut rx_held, &buffer, false, &mut counts.refused) {
                    for_receiving.push_back(buffer);
                }
            }
            while let Some(received) = kaal_dde::take_received() {
                let Some(buffer) = for_receiving.pop_front() else {
                    counts.no_buffer += 1;
                    continue;
                };
                let len = received.len().min(net::BUFFER_SIZE);
                if len < net::MIN_FRAME {
                    for_receiving.push_front(buffer);
                    continue;
                }
                buffers.write_bytes(buffer.offset as usize, &received[..len]);
                let filled = NetBuffer { len: len as u32, ..buffer };
                rx_held.take_back(&filled, true).map_err(|e| alloc::format!("a receive buffer: {e}"))?;
                counts.received += 1;
                to_stack_rx.push_back(filled);
            }

            // 2. Frames to send, copied into the driver's socket buffers.
            while let Some((buffer, _)) = q.tx_active.pop()? {
                if net::accept(&mut tx_held, &buffer, true, &mut counts.refused) {
                    to_send.push_back(buffer);
                } else {
                    to_stack_tx.push_back(NetBuffer { len: 0, ..buffer });
                }
            }
            while let Some(buffer) = to_send.front().copied() {
                let len = buffer.len as usize;
                buffers.read_bytes(buffer.offset as usize, &mut frame[..len]);
                match kaal_dde::transmit(&frame[..len]) {
                    Transmit::Busy => break,
                    Transmit::Sent => counts.sent += 1,
                    Transmit::Dropped(errno) => {
                        counts.dropped += 1;
                        if counts.dropped <= 8 {
                            println!("[{name}] the driver dropped a {len}-byte frame: error {errno}");
                        }
                    }
                }
                to_send.pop_front();
                let done = NetBuffer { len: 0, ..buffer };
                tx_held.take_back(&done, false).map_err(|e| alloc::format!("a transmit buffer: {e}"))?;
                to_stack_tx.push_back(done);
            }

            let mut signal = Wake::NotNeeded;
            signal = signal.or(net::give(&mut q.rx_active, &mut to_stack_rx)?);
            signal = signal.or(net::give(&mut q.tx_free, &mut to_stack_tx)?);
            signal.signal(wake);
            if polls_pending || tasks_runnable {
                continue;
            }
            let next = kaal_dde::next_deadline();
            if next != deadline {
                match next {
                    Some(at) => timer.wake_at(at, target)?,
                    None => timer.cancel(target)?,
                }
                deadline = next;
            }

            // 3. Sleep until the card or the stack has something, unless it already has.
            if !q.rx_free.request_signal()? {
                continue;
            }
            if !q.tx_active.request_signal()? {
                q.rx_free.cancel_signal();
                continue;
            }
            let Some(irq) = nic.interrupt() else { return Err("the Linux driver's device has no interrupt".into()) };
            let bits = irq.wait();
            q.rx_free.cancel_signal();
            q.tx_active.cancel_signal();
            if bits == 0 {
                // The time service (its signal is unbadged): a deadline passed.
                deadline = None;
            }
            // The handler first, then the acknowledgement (kaal_dev::kit::dispatch).
            if kaal_dev::kit::dispatch(nic, bits)? {
                polls_pending = true;
            }
        }
    }
}
