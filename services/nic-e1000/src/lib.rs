//! The e1000 network card's driver component, which the tool adds for `[network]` with
//! `nic = "e1000"`: component `nic` claims the card and moves frames between it and the
//! network stack (`net`) through the shared DMA buffers and the four rings of
//! `kaal_ipc::net`, until the system ends.
//!
//! It never copies a frame: the card reads and writes the stack's buffers in
//! `nic-buffers` directly, at physical addresses the driver computes from the region's
//! own, after checking every descriptor the stack hands it (a descriptor outside the
//! region would otherwise let the card write anywhere in memory).
//!
//! It is interrupt-driven and batches: each wake-up (the card's interrupt, or the
//! stack's `nic-kick` signal, on the same notification) takes everything the stack
//! queued, tells the card once per ring, hands back everything the card finished, and
//! signals the stack once, only if it said it sleeps.
#![no_std]

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::VecDeque;

use drv_e1000::E1000;
use kaal_core::component::Component;
use kaal_core::println;
use kaal_core::shared::SharedRegion;
use kaal_dev::Driver;
use kaal_ipc::net::{self, DriverQueues, Kind, NetBuffer, Ownership};
use kaal_ipc::Wake;

type Queues = DriverQueues<&'static SharedRegion>;

/// What the driver counts.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub received: u64,
    pub sent: u64,
    /// Descriptors from the stack that were refused (outside the region, too long,
    /// already held).
    pub refused: u64,
}

/// Claims the card and serves the stack for as long as `keep_going` says (it is asked
/// after every wake-up; KaaL's component asks forever, a test's may stop).
pub fn run(me: &mut Component, keep_going: impl FnMut(&Counts) -> bool) -> Result<(), Box<dyn core::error::Error>> {
    let name = me.name();
    let mut nic: E1000 = kaal_dev::device_grant::claim_granted(me)?;
    let (buffers, info) = me.region_with_info(net::BUFFERS)?;
    if info.paddr == 0 || buffers.size() < net::BUFFERS_BYTES {
        return Err(alloc::format!(
            "region {} must be {} bytes of DMA memory (it is {} bytes, physical address {:#x}): rebuild with `cargo \
             kaal build`",
            net::BUFFERS,
            net::BUFFERS_BYTES,
            buffers.size(),
            info.paddr
        )
        .into());
    }
    let queues: &'static SharedRegion = Box::leak(Box::new(me.region(net::QUEUES)?));
    let mut q = Queues::attach(queues)?;
    let wake = me.notification(net::STACK_WAKE)?;
    let mac = nic.init_for_buffers()?;
    net::publish_mac(queues, mac);
    let [a, b, c, d, e, f] = mac;
    println!(
        "[{name}] e1000: MAC {a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}, link {}, {} receive and {} transmit \
         buffers shared with the stack",
        if nic.link_up()? { "up" } else { "down" },
        net::RX_BUFFERS,
        net::TX_BUFFERS
    );
    serve(&mut nic, &mut q, &wake, info.paddr, keep_going)
}

fn serve(
    nic: &mut E1000,
    q: &mut Queues,
    wake: &kaal_core::Notification,
    base: u64,
    mut keep_going: impl FnMut(&Counts) -> bool,
) -> Result<(), Box<dyn core::error::Error>> {
    let mut counts = Counts::default();
    // Buffers the driver holds: the card's, and those waiting for room in its rings.
    let mut rx_held = Ownership::new(Kind::Receive);
    let mut tx_held = Ownership::new(Kind::Transmit);
    let mut to_post: VecDeque<NetBuffer> = VecDeque::new();
    let mut to_send: VecDeque<NetBuffer> = VecDeque::new();
    // Buffers for the stack that found its ring full (only if it corrupts its index).
    let mut to_stack_rx: VecDeque<NetBuffer> = VecDeque::new();
    let mut to_stack_tx: VecDeque<NetBuffer> = VecDeque::new();
    while keep_going(&counts) {
        // 1. Everything the stack queued.
        while let Some((buffer, w)) = q.rx_free.pop()? {
            let _: Wake = w; // The stack never waits for space: its rings hold all buffers.
            if net::accept(&mut rx_held, &buffer, false, &mut counts.refused) {
                to_post.push_back(buffer);
            }
        }
        while let Some((buffer, _)) = q.tx_active.pop()? {
            if net::accept(&mut tx_held, &buffer, true, &mut counts.refused) {
                to_send.push_back(buffer);
            } else {
                // Not sent, but not lost either if it is one of the stack's buffers.
                to_stack_tx.push_back(NetBuffer { len: 0, ..buffer });
            }
        }
        while let Some(buffer) = to_post.front() {
            if !nic.post_receive(base + buffer.offset as u64, buffer.offset)? {
                break;
            }
            to_post.pop_front();
        }
        while let Some(buffer) = to_send.front() {
            if !nic.transmit(base + buffer.offset as u64, buffer.len as usize, buffer.offset)? {
                break;
            }
            to_send.pop_front();
        }
        nic.flush()?;

        // 2. Everything the card finished, back to the stack.
        while let Some(received) = nic.take_received()? {
            let buffer = NetBuffer { offset: received.token, len: received.len as u32 };
            if received.len < net::MIN_FRAME {
                // An error frame: the buffer goes straight back to the card.
                to_post.push_back(NetBuffer { len: 0, ..buffer });
                continue;
            }
            rx_held.take_back(&buffer, true).map_err(|e| alloc::format!("the card returned a buffer: {e}"))?;
            counts.received += 1;
            to_stack_rx.push_back(buffer);
        }
        while let Some(token) = nic.take_sent()? {
            let buffer = NetBuffer { offset: token, len: 0 };
            tx_held.take_back(&buffer, false).map_err(|e| alloc::format!("the card returned a buffer: {e}"))?;
            counts.sent += 1;
            to_stack_tx.push_back(buffer);
        }
        let mut signal = Wake::NotNeeded;
        signal = signal.or(net::give(&mut q.rx_active, &mut to_stack_rx)?);
        signal = signal.or(net::give(&mut q.tx_free, &mut to_stack_tx)?);
        signal.signal(wake);
        if !to_post.is_empty() {
            // Error frames to repost: loop once more rather than sleep with them.
            let (rx, _) = nic.buffers_held();
            if rx + 1 < drv_e1000::BUFFER_RING {
                continue;
            }
        }

        // 3. Sleep until the card or the stack has something, unless it already has.
        if !q.rx_free.request_signal()? {
            continue;
        }
        if !q.tx_active.request_signal()? {
            q.rx_free.cancel_signal();
            continue;
        }
        let Some(irq) = nic.interrupt() else { return Err("the e1000 driver has no interrupt".into()) };
        let bits = irq.wait();
        q.rx_free.cancel_signal();
        q.tx_active.cancel_signal();
        kaal_dev::kit::dispatch(nic, bits)?;
    }
    Ok(())
}
