//! smoltcp's `phy::Device` over the NIC driver's queues (`kaal_ipc::net`).
//!
//! Received frames come off `RX_ACTIVE`; each is copied once out of its DMA buffer into
//! smoltcp's hands (the buffer region is shared memory, read with `read_bytes`) and the
//! buffer goes straight back on `RX_FREE`. A frame to send is built in a local array and
//! copied once into a free transmit buffer, which goes on `TX_ACTIVE`. Whether the driver
//! must be woken is gathered over a whole poll and signalled once ([`NicDevice::take_kick`]).
//!
//! Every descriptor the driver returns is checked ([`Ownership::take_back`]): a buffer
//! outside the region, one the driver does not hold or a length that is not a frame's is
//! dropped and counted, never used.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::cell::RefCell;

use kaal_ipc::net::{self, Kind, NetBuffer, Ownership, StackQueues};
use kaal_ipc::{RingError, SharedMemory, Wake};
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// What the device counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub received: u64,
    pub sent: u64,
    /// Descriptors from the driver that were refused.
    pub bad_descriptors: u64,
    /// Frames smoltcp wanted to send while every transmit buffer was out.
    pub tx_full: u64,
}

struct Inner<M, B> {
    queues: StackQueues<M>,
    buffers: B,
    /// Buffers out with the driver.
    rx_out: Ownership,
    tx_out: Ownership,
    /// Received frames not yet given to smoltcp.
    received: VecDeque<NetBuffer>,
    /// Transmit buffers the stack holds.
    tx_free: Vec<NetBuffer>,
    kick: Wake,
    counts: Counts,
    /// The first ring error (the driver corrupted an index): the device is dead.
    broken: Option<RingError>,
}

/// The NIC as smoltcp sees it.
pub struct NicDevice<M, B> {
    inner: RefCell<Inner<M, B>>,
}

impl<M: SharedMemory + Copy, B: SharedMemory> NicDevice<M, B> {
    /// Attaches to the queues and buffers and hands every receive buffer to the driver.
    pub fn new(queues: StackQueues<M>, buffers: B) -> Result<Self, RingError> {
        let mut inner = Inner {
            queues,
            buffers,
            rx_out: Ownership::new(Kind::Receive),
            tx_out: Ownership::new(Kind::Transmit),
            received: VecDeque::with_capacity(net::RX_BUFFERS),
            tx_free: (0..net::TX_BUFFERS).map(|i| Kind::Transmit.buffer(i)).collect(),
            kick: Wake::NotNeeded,
            counts: Counts::default(),
            broken: None,
        };
        for i in 0..net::RX_BUFFERS {
            let buffer = Kind::Receive.buffer(i);
            inner.rx_out.hand_out(&buffer).expect("each buffer once");
            let wake = inner.queues.rx_free.push(buffer)?;
            inner.kick = inner.kick.or(wake);
        }
        Ok(NicDevice { inner: RefCell::new(inner) })
    }

    /// Takes what the driver returned: received frames and sent transmit buffers.
    /// Returns whether anything came.
    pub fn harvest(&mut self) -> bool {
        let inner = self.inner.get_mut();
        if inner.broken.is_some() {
            return false;
        }
        let mut any = false;
        loop {
            match inner.queues.rx_active.pop() {
                Ok(Some((buffer, _))) => {
                    any = true;
                    // One of ours (else it is dropped), with a frame's length (else it
                    // goes straight back to the driver, empty).
                    let empty = NetBuffer { len: 0, ..buffer };
                    if inner.rx_out.take_back(&empty, false).is_err() {
                        inner.counts.bad_descriptors += 1;
                    } else if buffer.check(Kind::Receive, true).is_ok() {
                        inner.received.push_back(buffer);
                    } else {
                        inner.counts.bad_descriptors += 1;
                        inner.rx_out.hand_out(&empty).expect("just taken back");
                        match inner.queues.rx_free.push(empty) {
                            Ok(wake) => inner.kick = inner.kick.or(wake),
                            Err(e) => {
                                inner.broken = Some(e);
                                return any;
                            }
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    inner.broken = Some(e);
                    return any;
                }
            }
        }
        loop {
            match inner.queues.tx_free.pop() {
                Ok(Some((buffer, _))) => {
                    any = true;
                    match inner.tx_out.take_back(&buffer, false) {
                        Ok(_) => inner.tx_free.push(NetBuffer { len: 0, ..buffer }),
                        Err(_) => inner.counts.bad_descriptors += 1,
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    inner.broken = Some(e);
                    return any;
                }
            }
        }
        any
    }

    /// Whether the driver must be signalled for what was queued since the last call.
    pub fn take_kick(&mut self) -> bool {
        core::mem::replace(&mut self.inner.get_mut().kick, Wake::NotNeeded).is_needed()
    }

    /// Announces that the stack is about to sleep until the driver returns something:
    /// false (nothing announced) if something came meanwhile.
    pub fn request_signal(&mut self) -> Result<bool, RingError> {
        let inner = self.inner.get_mut();
        if inner.broken.is_some() {
            // Nothing will come from a driver that corrupted its rings.
            return Ok(true);
        }
        // Frames waiting are work, unless they wait for a transmit buffer (a reply
        // needs one): then only the driver returning one helps.
        if !inner.received.is_empty() && !inner.tx_free.is_empty() {
            return Ok(false);
        }
        if !inner.queues.rx_active.request_signal()? {
            return Ok(false);
        }
        if !inner.queues.tx_free.request_signal()? {
            inner.queues.rx_active.cancel_signal();
            return Ok(false);
        }
        Ok(true)
    }

    /// Withdraws [`request_signal`](Self::request_signal) after waking.
    pub fn cancel_signal(&mut self) {
        let inner = self.inner.get_mut();
        inner.queues.rx_active.cancel_signal();
        inner.queues.tx_free.cancel_signal();
    }

    pub fn counts(&self) -> Counts {
        self.inner.borrow().counts
    }

    /// Whether every transmit buffer is out with the driver: nothing can be sent until
    /// it returns one.
    pub fn tx_exhausted(&self) -> bool {
        self.inner.borrow().tx_free.is_empty()
    }

    /// Transmit buffers out with the driver (sent, not yet returned).
    pub fn tx_outstanding(&self) -> usize {
        self.inner.borrow().tx_out.outstanding()
    }

    /// Why the device stopped, if it did: the driver corrupted a ring.
    pub fn broken(&self) -> Option<RingError> {
        self.inner.borrow().broken
    }
}

impl<M: SharedMemory + Copy, B: SharedMemory> phy::Device for NicDevice<M, B> {
    type RxToken<'a>
        = RxToken<'a, M, B>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a, M, B>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let inner = self.inner.get_mut();
        // A reply needs a transmit buffer; without one the frame waits.
        if inner.broken.is_some() || inner.tx_free.is_empty() {
            return None;
        }
        let buffer = inner.received.pop_front()?;
        Some((RxToken { device: &self.inner, buffer }, TxToken { device: &self.inner }))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        let inner = self.inner.get_mut();
        if inner.broken.is_some() {
            return None;
        }
        if inner.tx_free.is_empty() {
            inner.counts.tx_full += 1;
            return None;
        }
        Some(TxToken { device: &self.inner })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = net::MAX_FRAME;
        // At most this many frames in one burst: what the transmit ring holds, less
        // room for ACKs of the other connections (smoltcp#949: without a bound the
        // device refuses frames the socket already counted as sent).
        caps.max_burst_size = Some(net::TX_BUFFERS / 2);
        caps
    }
}

pub struct RxToken<'a, M, B> {
    device: &'a RefCell<Inner<M, B>>,
    buffer: NetBuffer,
}

pub struct TxToken<'a, M, B> {
    device: &'a RefCell<Inner<M, B>>,
}

impl<M: SharedMemory + Copy, B: SharedMemory> phy::RxToken for RxToken<'_, M, B> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let mut frame = [0u8; net::BUFFER_SIZE];
        let len = self.buffer.len as usize;
        {
            let mut inner = self.device.borrow_mut();
            inner.buffers.read_bytes(self.buffer.offset as usize, &mut frame[..len]);
            inner.counts.received += 1;
            // The buffer goes back to the driver before smoltcp looks at the copy.
            let empty = NetBuffer { len: 0, ..self.buffer };
            if inner.rx_out.hand_out(&empty).is_ok() {
                match inner.queues.rx_free.push(empty) {
                    Ok(wake) => inner.kick = inner.kick.or(wake),
                    Err(e) => inner.broken = Some(e),
                }
            }
        }
        f(&frame[..len])
    }
}

impl<M: SharedMemory + Copy, B: SharedMemory> phy::TxToken for TxToken<'_, M, B> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = [0u8; net::BUFFER_SIZE];
        let len = len.min(net::MAX_FRAME);
        let result = f(&mut frame[..len]);
        let mut inner = self.device.borrow_mut();
        // `receive` and `transmit` hand out a token only with a free buffer, and one
        // token at a time is consumed.
        let Some(buffer) = inner.tx_free.pop() else {
            inner.counts.tx_full += 1;
            return result;
        };
        inner.buffers.write_bytes(buffer.offset as usize, &frame[..len]);
        let full = NetBuffer { len: len.max(net::MIN_FRAME) as u32, ..buffer };
        if inner.tx_out.hand_out(&full).is_ok() {
            match inner.queues.tx_active.push(full) {
                Ok(wake) => {
                    inner.kick = inner.kick.or(wake);
                    inner.counts.sent += 1;
                }
                Err(e) => inner.broken = Some(e),
            }
        }
        result
    }
}
