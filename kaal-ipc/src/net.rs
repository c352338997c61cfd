//! The NIC protocol: packet buffers between a network card's driver and the network
//! stack, sDDF style.
//!
//! Two regions are shared by the driver (`nic`) and the stack (`net`):
//!
//! - **`nic-buffers`**, DMA memory ([`BUFFERS_BYTES`], physically contiguous, its
//!   physical address known to both): [`RX_BUFFERS`] receive buffers, then
//!   [`TX_BUFFERS`] transmit buffers, [`BUFFER_SIZE`] bytes each. The card reads and
//!   writes them itself; the driver never copies a frame.
//! - **`nic-queues`**: four rings of [`NetBuffer`] descriptors (`{offset, len}`), each
//!   in its own 4 KiB window ([`queue`]):
//!   - `RX_FREE`, stack to driver: empty buffers the card may fill;
//!   - `RX_ACTIVE`, driver to stack: buffers holding a received frame;
//!   - `TX_ACTIVE`, stack to driver: buffers holding a frame to send;
//!   - `TX_FREE`, driver to stack: buffers the card has sent, to be reused.
//!
//! Each buffer is always owned by exactly one side: the one that last took it off a
//! ring. Every ring has as many slots as there are buffers of its kind, so an honest
//! peer never finds one full.
//!
//! Wake-ups: the stack sleeps on `net-wake`, which the driver signals (badge bit 1); the
//! driver sleeps on its card's interrupt notification, which the stack may signal too
//! (`nic-kick`, badge bit 2). Each side signals only if the other said it is about to
//! sleep (the rings' waiting flags, [`crate::ring`]), once per batch.
//!
//! Neither side trusts the other: [`NetBuffer::check`] bounds every descriptor, and the
//! stack also checks that a buffer coming back is one the driver holds.

use bytemuck::{Pod, Zeroable};

use crate::ring::{Consumer, Producer};
use crate::window::Window;
use crate::SharedMemory;

/// Bytes per packet buffer (the e1000's receive buffer size).
pub const BUFFER_SIZE: usize = 2048;
/// The largest Ethernet frame, without the CRC (no jumbo frames).
pub const MAX_FRAME: usize = 1514;
/// The smallest frame a driver passes up: an Ethernet header.
pub const MIN_FRAME: usize = 14;
/// Receive buffers, then transmit buffers.
pub const RX_BUFFERS: usize = 256;
pub const TX_BUFFERS: usize = 256;
/// Bytes of `nic-buffers`.
pub const BUFFERS_BYTES: usize = (RX_BUFFERS + TX_BUFFERS) * BUFFER_SIZE;
/// Slots per ring (as many as buffers of a kind).
pub const QUEUE_SLOTS: u32 = 256;
/// Bytes of each ring's window in `nic-queues`.
pub const QUEUE_WINDOW: usize = 4096;
/// Bytes of `nic-queues`.
pub const QUEUES_BYTES: usize = 4 * QUEUE_WINDOW;
/// The regions' and notifications' names in system.toml (the tool adds them).
pub const BUFFERS: &str = "nic-buffers";
pub const QUEUES: &str = "nic-queues";
/// The notification the stack sleeps on; the driver signals it.
pub const STACK_WAKE: &str = "net-wake";
/// The stack's right to signal the driver's interrupt notification.
pub const DRIVER_KICK: &str = "nic-kick";
/// The badge bit the driver's signal sets on `net-wake`.
pub const DRIVER_BADGE: u64 = 1;
/// Where in `nic-queues` the driver describes the card, after the first ring's slots:
/// a `u32` [`INFO_MAGIC`] (stored last, with Release), then the MAC address (6 bytes).
pub const INFO_OFFSET: usize = QUEUE_WINDOW - 64;
pub const INFO_MAGIC: u32 = 0x4e49_4331;

/// Publishes the card's MAC address for the stack (the driver, once, at start).
pub fn publish_mac(queues: &impl SharedMemory, mac: [u8; 6]) {
    queues.write_bytes(INFO_OFFSET + 4, &mac);
    queues.store_u32(INFO_OFFSET, INFO_MAGIC, core::sync::atomic::Ordering::Release);
}

/// The card's MAC address, once the driver published it.
pub fn published_mac(queues: &impl SharedMemory) -> Option<[u8; 6]> {
    if queues.load_u32(INFO_OFFSET, core::sync::atomic::Ordering::Acquire) != INFO_MAGIC {
        return None;
    }
    let mut mac = [0; 6];
    queues.read_bytes(INFO_OFFSET + 4, &mut mac);
    Some(mac)
}

const _: () = assert!(QUEUE_SLOTS as usize >= RX_BUFFERS && QUEUE_SLOTS as usize >= TX_BUFFERS);
const _: () = assert!(256 + QUEUE_SLOTS as usize * core::mem::size_of::<NetBuffer>() <= INFO_OFFSET);

/// The rings, by window in `nic-queues`.
pub mod queue {
    pub const RX_FREE: usize = 0;
    pub const RX_ACTIVE: usize = 1;
    pub const TX_ACTIVE: usize = 2;
    pub const TX_FREE: usize = 3;
}

/// One packet buffer: where it starts in `nic-buffers`, and how many bytes of it hold a
/// frame (0 for an empty receive buffer).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct NetBuffer {
    pub offset: u32,
    pub len: u32,
}

/// What is wrong with a descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadBuffer {
    /// Not the start of a buffer of the expected kind.
    Offset(u32),
    /// Longer than a frame (or, received, shorter than an Ethernet header).
    Length(u32),
    /// A buffer the sender does not hold (returned twice, or never handed out).
    NotHeld(u32),
}

impl core::fmt::Display for BadBuffer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BadBuffer::Offset(o) => write!(f, "offset {o:#x} is not a packet buffer of this kind"),
            BadBuffer::Length(l) => write!(f, "length {l} is not a frame's ({MIN_FRAME}..={MAX_FRAME} bytes)"),
            BadBuffer::NotHeld(o) => write!(f, "buffer {o:#x} came back but was not handed out"),
        }
    }
}

/// Which buffers a descriptor may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Receive,
    Transmit,
}

impl Kind {
    /// The buffers of this kind: their first offset and count.
    pub const fn range(self) -> (usize, usize) {
        match self {
            Kind::Receive => (0, RX_BUFFERS),
            Kind::Transmit => (RX_BUFFERS * BUFFER_SIZE, TX_BUFFERS),
        }
    }

    /// Buffer `i` of this kind.
    pub const fn buffer(self, i: usize) -> NetBuffer {
        NetBuffer { offset: (self.range().0 + i * BUFFER_SIZE) as u32, len: 0 }
    }
}

impl NetBuffer {
    /// Checks that this names a buffer of `kind` holding a frame (`with_frame`) or any
    /// length up to a buffer's; returns the buffer's index among its kind.
    pub fn check(&self, kind: Kind, with_frame: bool) -> Result<usize, BadBuffer> {
        let (first, count) = kind.range();
        let offset = self.offset as usize;
        if offset < first || !(offset - first).is_multiple_of(BUFFER_SIZE) || (offset - first) / BUFFER_SIZE >= count {
            return Err(BadBuffer::Offset(self.offset));
        }
        let len = self.len as usize;
        if (with_frame && !(MIN_FRAME..=MAX_FRAME).contains(&len)) || len > BUFFER_SIZE {
            return Err(BadBuffer::Length(self.len));
        }
        Ok((offset - first) / BUFFER_SIZE)
    }
}

/// Which buffers a side has handed to the other: a bit per buffer, so that a buffer
/// coming back that was not out is caught.
#[derive(Debug, Clone)]
pub struct Ownership {
    kind: Kind,
    out: [u64; 4],
}

const _: () = assert!(RX_BUFFERS <= 256 && TX_BUFFERS <= 256);

impl Ownership {
    /// Nothing handed out yet.
    pub const fn new(kind: Kind) -> Self {
        Ownership { kind, out: [0; 4] }
    }

    /// Records that `buffer` goes to the peer.
    pub fn hand_out(&mut self, buffer: &NetBuffer) -> Result<(), BadBuffer> {
        let i = buffer.check(self.kind, false)?;
        if self.out[i / 64] & (1 << (i % 64)) != 0 {
            return Err(BadBuffer::NotHeld(buffer.offset));
        }
        self.out[i / 64] |= 1 << (i % 64);
        Ok(())
    }

    /// Checks `buffer` coming back from the peer (with a frame or not) and records it as
    /// ours again.
    pub fn take_back(&mut self, buffer: &NetBuffer, with_frame: bool) -> Result<usize, BadBuffer> {
        let i = buffer.check(self.kind, with_frame)?;
        if self.out[i / 64] & (1 << (i % 64)) == 0 {
            return Err(BadBuffer::NotHeld(buffer.offset));
        }
        self.out[i / 64] &= !(1 << (i % 64));
        Ok(i)
    }

    /// Buffers out with the peer.
    pub fn outstanding(&self) -> usize {
        self.out.iter().map(|w| w.count_ones() as usize).sum()
    }
}

/// A ring in its window of `nic-queues`.
pub type Queue<M> = Window<M>;

/// A NIC driver's check of a descriptor the stack queued: it must be one of the
/// buffers of `held`'s kind (with a frame in it, for `with_frame`), and not one the
/// driver holds already; then the driver holds it. A refused one is counted in
/// `refused`, and the first 8 are logged. (The rings of every NIC driver component:
/// services/nic-e1000, services/nic-dde.)
pub fn accept(held: &mut Ownership, buffer: &NetBuffer, with_frame: bool, refused: &mut u64) -> bool {
    let checked = buffer.check(held.kind, with_frame).and_then(|_| held.hand_out(buffer));
    if let Err(e) = checked {
        *refused += 1;
        if *refused <= 8 {
            kaal_core::println!("[nic] refused a descriptor from the stack: {e}");
        }
        return false;
    }
    true
}

/// Pushes what `pending` holds onto `ring` (one of the driver's rings to the stack),
/// keeping what does not fit; whether the stack must be woken.
pub fn give<M: SharedMemory>(
    ring: &mut Producer<NetBuffer, Queue<M>>,
    pending: &mut alloc::collections::VecDeque<NetBuffer>,
) -> Result<crate::Wake, crate::RingError> {
    let mut wake = crate::Wake::NotNeeded;
    while let Some(buffer) = pending.front() {
        match ring.push(*buffer) {
            Ok(w) => wake = wake.or(w),
            Err(crate::RingError::Full) => break,
            Err(e) => return Err(e),
        }
        pending.pop_front();
    }
    Ok(wake)
}

fn window<M: SharedMemory + Copy>(queues: M, which: usize) -> Result<Queue<M>, crate::WindowError> {
    Window::new(queues, which * QUEUE_WINDOW, QUEUE_WINDOW)
}

/// Why the queues cannot be attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueuesError {
    Window(crate::WindowError),
    Layout(crate::LayoutError),
}

impl core::fmt::Display for QueuesError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            QueuesError::Window(e) => write!(f, "region {QUEUES}: {e}"),
            QueuesError::Layout(e) => write!(f, "region {QUEUES}: {e:?}"),
        }
    }
}

impl core::error::Error for QueuesError {}

/// The driver's ends of the four rings.
pub struct DriverQueues<M> {
    pub rx_free: Consumer<NetBuffer, Queue<M>>,
    pub rx_active: Producer<NetBuffer, Queue<M>>,
    pub tx_active: Consumer<NetBuffer, Queue<M>>,
    pub tx_free: Producer<NetBuffer, Queue<M>>,
}

/// The stack's ends of the four rings.
pub struct StackQueues<M> {
    pub rx_free: Producer<NetBuffer, Queue<M>>,
    pub rx_active: Consumer<NetBuffer, Queue<M>>,
    pub tx_active: Producer<NetBuffer, Queue<M>>,
    pub tx_free: Consumer<NetBuffer, Queue<M>>,
}

impl<M: SharedMemory + Copy> DriverQueues<M> {
    /// The driver's ends of the rings in `queues` (region `nic-queues`).
    pub fn attach(queues: M) -> Result<Self, QueuesError> {
        let w = |which| window(queues, which).map_err(QueuesError::Window);
        let l = QueuesError::Layout;
        Ok(DriverQueues {
            rx_free: Consumer::new(w(queue::RX_FREE)?, QUEUE_SLOTS).map_err(l)?,
            rx_active: Producer::new(w(queue::RX_ACTIVE)?, QUEUE_SLOTS).map_err(l)?,
            tx_active: Consumer::new(w(queue::TX_ACTIVE)?, QUEUE_SLOTS).map_err(l)?,
            tx_free: Producer::new(w(queue::TX_FREE)?, QUEUE_SLOTS).map_err(l)?,
        })
    }
}

impl<M: SharedMemory + Copy> StackQueues<M> {
    /// The stack's ends of the rings in `queues` (region `nic-queues`).
    pub fn attach(queues: M) -> Result<Self, QueuesError> {
        let w = |which| window(queues, which).map_err(QueuesError::Window);
        let l = QueuesError::Layout;
        Ok(StackQueues {
            rx_free: Producer::new(w(queue::RX_FREE)?, QUEUE_SLOTS).map_err(l)?,
            rx_active: Consumer::new(w(queue::RX_ACTIVE)?, QUEUE_SLOTS).map_err(l)?,
            tx_active: Producer::new(w(queue::TX_ACTIVE)?, QUEUE_SLOTS).map_err(l)?,
            tx_free: Consumer::new(w(queue::TX_FREE)?, QUEUE_SLOTS).map_err(l)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_are_checked() {
        assert_eq!(Kind::Receive.buffer(3).check(Kind::Receive, false), Ok(3));
        assert_eq!(Kind::Transmit.buffer(0).check(Kind::Transmit, false), Ok(0));
        assert_eq!(Kind::Transmit.buffer(0).check(Kind::Receive, false), Err(BadBuffer::Offset(0x80000)));
        assert!(NetBuffer { offset: 1, len: 0 }.check(Kind::Receive, false).is_err());
        assert!(NetBuffer { offset: u32::MAX, len: 0 }.check(Kind::Transmit, false).is_err());
        let frame = |len| NetBuffer { offset: 2048, len };
        assert_eq!(frame(60).check(Kind::Receive, true), Ok(1));
        assert_eq!(frame(13).check(Kind::Receive, true), Err(BadBuffer::Length(13)));
        assert_eq!(frame(1515).check(Kind::Receive, true), Err(BadBuffer::Length(1515)));
        assert_eq!(frame(3000).check(Kind::Receive, false), Err(BadBuffer::Length(3000)));
    }

    #[test]
    fn ownership_catches_a_buffer_returned_twice_or_never_lent() {
        let mut o = Ownership::new(Kind::Receive);
        let b = Kind::Receive.buffer(255);
        assert_eq!(o.take_back(&b, false), Err(BadBuffer::NotHeld(b.offset)));
        o.hand_out(&b).unwrap();
        assert_eq!(o.hand_out(&b), Err(BadBuffer::NotHeld(b.offset)));
        assert_eq!(o.outstanding(), 1);
        assert_eq!(o.take_back(&NetBuffer { len: 100, ..b }, true), Ok(255));
        assert_eq!(o.take_back(&b, false), Err(BadBuffer::NotHeld(b.offset)));
        assert_eq!(o.outstanding(), 0);
    }
}
