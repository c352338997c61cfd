//! Zero-copy bulk transfer, as in seL4's sDDF.
//!
//! A data region is split into `buffer_count` buffers of `buffer_size` bytes; buffer `i`
//! starts at `i * buffer_size`. Buffers travel as [`BulkDescriptor`]s on two rings:
//!
//! * `active` (sender -> receiver): buffers holding a payload of `len` bytes;
//! * `free` (receiver -> sender): buffers the receiver is done with.
//!
//! [`BulkLayout::init_rings`] puts every buffer on the free ring once, before use. The
//! sender takes a free buffer, writes the payload straight into the data region and
//! pushes its descriptor; the receiver pops it, works on the payload in place and pushes
//! the descriptor back on the free ring. Both rings have room for every buffer, so an
//! honest peer never finds either ring full.
//!
//! Each end validates every descriptor it pops: the offset must be the start of one of
//! the buffers and the length at most `buffer_size`. A hostile peer therefore cannot make
//! the other end touch memory outside the data region or another buffer's tail end.
//!
//! Both rings of one direction notify the same peer, so each operation reports a single
//! [`Wake`] for the two rings it touched.

use bytemuck::{Pod, Zeroable};

use crate::layout::{LayoutError, RingLayout};
use crate::ring::{Consumer, Producer, RingError};
use crate::{Notify, SharedMemory, Wait, Wake};

/// Names a buffer in the data region: its `offset` and the `len` bytes of payload in it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct BulkDescriptor {
    pub offset: u32,
    pub len: u32,
}

/// Why a bulk operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkError {
    EmptyLayout { buffer_count: u32, buffer_size: u32 },
    DataRegionTooLarge { buffer_count: u32, buffer_size: u32 },
    DataRegionTooSmall { needed: usize, available: usize },
    Layout(LayoutError),
    Ring(RingError),
    NoFreeBuffer,
    TooManyBuffers { buffer_count: u32 },
    PayloadTooLarge { len: usize, buffer_size: u32 },
    MisalignedDescriptor { offset: u32, buffer_size: u32 },
    DescriptorOutOfRange { offset: u32, data_bytes: u32 },
    DescriptorTooLong { len: u32, buffer_size: u32 },
    OutputTooSmall { len: usize, available: usize },
}

impl core::fmt::Display for BulkError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::EmptyLayout { buffer_count, buffer_size } => write!(
                f,
                "a bulk region needs at least one buffer of at least one byte (got {buffer_count} of {buffer_size})"
            ),
            Self::DataRegionTooLarge { buffer_count, buffer_size } => {
                write!(f, "{buffer_count} buffers of {buffer_size} bytes exceed the 4 GiB that u32 offsets can address")
            }
            Self::DataRegionTooSmall { needed, available } => {
                write!(f, "the data region has {available} bytes but {needed} are needed")
            }
            Self::Layout(e) => write!(f, "ring layout: {e}"),
            Self::Ring(e) => write!(f, "ring: {e}"),
            Self::NoFreeBuffer => f.write_str("no free buffer: all are with the receiver"),
            Self::TooManyBuffers { buffer_count } => {
                write!(f, "{buffer_count} buffers need a ring capacity above the largest power of two in u32")
            }
            Self::PayloadTooLarge { len, buffer_size } => {
                write!(f, "a payload of {len} bytes does not fit a buffer of {buffer_size}")
            }
            Self::MisalignedDescriptor { offset, buffer_size } => {
                write!(f, "descriptor offset {offset} is not the start of a buffer of {buffer_size} bytes")
            }
            Self::DescriptorOutOfRange { offset, data_bytes } => {
                write!(f, "descriptor offset {offset} is beyond the {data_bytes}-byte data region")
            }
            Self::DescriptorTooLong { len, buffer_size } => {
                write!(f, "descriptor length {len} exceeds the buffer size {buffer_size}")
            }
            Self::OutputTooSmall { len, available } => {
                write!(f, "the payload has {len} bytes but the output buffer only {available}")
            }
        }
    }
}

impl core::error::Error for BulkError {}

impl From<LayoutError> for BulkError {
    fn from(e: LayoutError) -> Self {
        Self::Layout(e)
    }
}

impl From<RingError> for BulkError {
    fn from(e: RingError) -> Self {
        Self::Ring(e)
    }
}

/// Geometry of a bulk channel: `buffer_count` buffers of `buffer_size` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BulkLayout {
    buffer_count: u32,
    buffer_size: u32,
    ring_layout: RingLayout,
}

impl BulkLayout {
    pub fn new(buffer_count: u32, buffer_size: u32) -> Result<Self, BulkError> {
        if buffer_count == 0 || buffer_size == 0 {
            return Err(BulkError::EmptyLayout { buffer_count, buffer_size });
        }
        if buffer_count.checked_mul(buffer_size).is_none() {
            return Err(BulkError::DataRegionTooLarge { buffer_count, buffer_size });
        }
        // Both rings must hold every buffer at once.
        let ring_capacity =
            buffer_count.checked_next_power_of_two().ok_or(BulkError::TooManyBuffers { buffer_count })?;
        let ring_layout = RingLayout::for_item::<BulkDescriptor>(ring_capacity.max(2))?;
        Ok(BulkLayout { buffer_count, buffer_size, ring_layout })
    }

    pub fn buffer_count(&self) -> u32 {
        self.buffer_count
    }

    pub fn buffer_size(&self) -> u32 {
        self.buffer_size
    }

    /// Bytes the data region needs.
    pub fn data_bytes(&self) -> u32 {
        // Cannot overflow: checked in `new`.
        self.buffer_count * self.buffer_size
    }

    /// Capacity of both rings: the smallest power of two (at least 2) that holds every
    /// buffer.
    pub fn ring_capacity(&self) -> u32 {
        self.ring_layout.capacity()
    }

    /// Layout of the active and of the free ring; each needs its own region of
    /// `bytes_needed()` bytes.
    pub fn ring_layout(&self) -> RingLayout {
        self.ring_layout
    }

    /// Zeroes both ring headers and puts every buffer on the free ring. Done once,
    /// before the sender and receiver attach.
    pub fn init_rings(&self, active: &impl SharedMemory, free: &impl SharedMemory) -> Result<(), BulkError> {
        let ring_layout = self.ring_layout();
        ring_layout.init_header(active)?;
        ring_layout.init_header(free)?;
        let mut free_ring = Producer::<BulkDescriptor, _>::new(free, ring_layout.capacity())?;
        for index in 0..self.buffer_count {
            let descriptor = BulkDescriptor { offset: index * self.buffer_size, len: 0 };
            // Nobody is attached yet, so nobody waits for a signal.
            let _no_one_waits = free_ring.push(descriptor)?;
        }
        Ok(())
    }

    fn check_data(&self, data: &impl SharedMemory) -> Result<(), BulkError> {
        let (needed, available) = (self.data_bytes() as usize, data.size());
        if available < needed {
            return Err(BulkError::DataRegionTooSmall { needed, available });
        }
        Ok(())
    }

    /// Checks that `offset` starts a buffer of the region.
    fn check_offset(&self, offset: u32) -> Result<usize, BulkError> {
        if offset >= self.data_bytes() {
            return Err(BulkError::DescriptorOutOfRange { offset, data_bytes: self.data_bytes() });
        }
        if !offset.is_multiple_of(self.buffer_size) {
            return Err(BulkError::MisalignedDescriptor { offset, buffer_size: self.buffer_size });
        }
        Ok(offset as usize)
    }

    fn check_len(&self, len: u32) -> Result<usize, BulkError> {
        if len > self.buffer_size {
            return Err(BulkError::DescriptorTooLong { len, buffer_size: self.buffer_size });
        }
        Ok(len as usize)
    }
}

/// A received buffer, valid for the receiver's data region: `offset..offset + len` lies
/// inside one buffer. Hand it back with [`BulkReceiver::release`].
#[derive(Debug, PartialEq, Eq)]
pub struct BulkBuffer {
    offset: usize,
    len: usize,
}

impl BulkBuffer {
    pub fn offset(&self) -> usize {
        self.offset
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The sending end: pushes filled buffers on the active ring (memory `A`), takes free
/// ones from the free ring (memory `F`), writes payloads into the data region `D`.
pub struct BulkSender<A, F, D> {
    active: Producer<BulkDescriptor, A>,
    free: Consumer<BulkDescriptor, F>,
    data: D,
    layout: BulkLayout,
    /// A buffer taken from the free ring but not sent because the send failed.
    spare_offset: Option<usize>,
    /// A wake-up for the receiver from the free ring, reported by the next send.
    owed_wake: Wake,
}

impl<A: SharedMemory, F: SharedMemory, D: SharedMemory> BulkSender<A, F, D> {
    /// Attaches to rings set up by [`BulkLayout::init_rings`].
    pub fn new(active: A, free: F, data: D, layout: BulkLayout) -> Result<Self, BulkError> {
        layout.check_data(&data)?;
        let capacity = layout.ring_capacity();
        Ok(BulkSender {
            active: Producer::new(active, capacity)?,
            free: Consumer::new(free, capacity)?,
            data,
            layout,
            spare_offset: None,
            owed_wake: Wake::NotNeeded,
        })
    }

    pub fn layout(&self) -> BulkLayout {
        self.layout
    }

    pub fn data(&self) -> &D {
        &self.data
    }

    /// Sends `payload`, copied into a free buffer. [`BulkError::NoFreeBuffer`] if the
    /// receiver holds every buffer.
    pub fn send(&mut self, payload: &[u8]) -> Result<Wake, BulkError> {
        if payload.len() > self.layout.buffer_size as usize {
            return Err(BulkError::PayloadTooLarge { len: payload.len(), buffer_size: self.layout.buffer_size });
        }
        self.send_with(|data, offset, _capacity| {
            data.write_bytes(offset, payload);
            payload.len()
        })
    }

    /// Sends a payload that `fill(data, offset, capacity)` writes in place at `offset`
    /// (at most `capacity` bytes); `fill` returns the payload's length.
    pub fn send_with(&mut self, fill: impl FnOnce(&D, usize, usize) -> usize) -> Result<Wake, BulkError> {
        let offset = self.take_free_buffer()?;
        let buffer_size = self.layout.buffer_size;
        let len = fill(&self.data, offset, buffer_size as usize);
        if len > buffer_size as usize {
            self.spare_offset = Some(offset);
            return Err(BulkError::PayloadTooLarge { len, buffer_size });
        }
        // Offsets and lengths were checked against the u32-sized region.
        match self.active.push(BulkDescriptor { offset: offset as u32, len: len as u32 }) {
            Ok(wake) => Ok(wake.or(core::mem::replace(&mut self.owed_wake, Wake::NotNeeded))),
            Err(error) => {
                // Only a hostile receiver lets the active ring fill up.
                self.spare_offset = Some(offset);
                Err(error.into())
            }
        }
    }

    /// [`send`](Self::send), notifying the receiver if needed.
    pub fn send_notify(&mut self, payload: &[u8], notify: &impl Notify) -> Result<(), BulkError> {
        self.send(payload)?.signal(notify);
        Ok(())
    }

    /// Sends `payload`, sleeping on `wait_for_buffer` while no buffer is free.
    pub fn send_blocking(
        &mut self,
        payload: &[u8],
        notify: &impl Notify,
        wait_for_buffer: &impl Wait,
    ) -> Result<(), BulkError> {
        if payload.len() > self.layout.buffer_size as usize {
            return Err(BulkError::PayloadTooLarge { len: payload.len(), buffer_size: self.layout.buffer_size });
        }
        self.send_blocking_with(notify, wait_for_buffer, |data, offset, _capacity| {
            data.write_bytes(offset, payload);
            payload.len()
        })
    }

    /// [`send_with`](Self::send_with), sleeping on `wait_for_buffer` while no buffer is
    /// free; `fill` runs once, when a buffer is ready (zero-copy: the payload is written
    /// straight into shared memory).
    pub fn send_blocking_with(
        &mut self,
        notify: &impl Notify,
        wait_for_buffer: &impl Wait,
        fill: impl FnOnce(&D, usize, usize) -> usize,
    ) -> Result<(), BulkError> {
        let mut requested = false;
        // Wait for a free buffer first, so `fill` is not spent on a failed attempt.
        while self.spare_offset.is_none() {
            match self.take_free_buffer() {
                Ok(offset) => self.spare_offset = Some(offset),
                Err(BulkError::NoFreeBuffer) => {
                    requested = true;
                    if self.free.request_signal()? {
                        wait_for_buffer.wait();
                    }
                }
                Err(error) => return Err(error),
            }
        }
        if requested {
            self.free.cancel_signal();
        }
        self.send_with(fill)?.signal(notify);
        Ok(())
    }

    /// Announces that the sender is about to sleep until a buffer is returned; see
    /// [`Consumer::request_signal`].
    pub fn request_free_buffer_signal(&mut self) -> Result<bool, BulkError> {
        Ok(self.spare_offset.is_none() && self.free.request_signal()?)
    }

    /// Withdraws a [`request_free_buffer_signal`](Self::request_free_buffer_signal).
    pub fn cancel_free_buffer_signal(&mut self) {
        self.free.cancel_signal();
    }

    fn take_free_buffer(&mut self) -> Result<usize, BulkError> {
        if let Some(offset) = self.spare_offset.take() {
            return Ok(offset);
        }
        let (descriptor, wake) = self.free.pop()?.ok_or(BulkError::NoFreeBuffer)?;
        self.owed_wake = self.owed_wake.or(wake);
        // The free ring's `len` means nothing; only the offset must name a buffer.
        self.layout.check_offset(descriptor.offset)
    }
}

/// The receiving end: pops filled buffers from the active ring (memory `A`), reads
/// payloads in the data region `D`, returns buffers on the free ring (memory `F`).
pub struct BulkReceiver<A, F, D> {
    active: Consumer<BulkDescriptor, A>,
    free: Producer<BulkDescriptor, F>,
    data: D,
    layout: BulkLayout,
    /// A wake-up for the sender from the active ring, reported by the next `release`.
    owed_wake: Wake,
}

impl<A: SharedMemory, F: SharedMemory, D: SharedMemory> BulkReceiver<A, F, D> {
    /// Attaches to rings set up by [`BulkLayout::init_rings`].
    pub fn new(active: A, free: F, data: D, layout: BulkLayout) -> Result<Self, BulkError> {
        layout.check_data(&data)?;
        let capacity = layout.ring_capacity();
        Ok(BulkReceiver {
            active: Consumer::new(active, capacity)?,
            free: Producer::new(free, capacity)?,
            data,
            layout,
            owed_wake: Wake::NotNeeded,
        })
    }

    pub fn layout(&self) -> BulkLayout {
        self.layout
    }

    pub fn data(&self) -> &D {
        &self.data
    }

    /// Takes the next filled buffer, if any. A descriptor that does not name a buffer
    /// of the region is dropped with an error; the next call goes on with the one after.
    pub fn receive(&mut self) -> Result<Option<BulkBuffer>, BulkError> {
        let Some((descriptor, wake)) = self.active.pop()? else {
            return Ok(None);
        };
        self.owed_wake = self.owed_wake.or(wake);
        let offset = self.layout.check_offset(descriptor.offset)?;
        let len = self.layout.check_len(descriptor.len)?;
        Ok(Some(BulkBuffer { offset, len }))
    }

    /// Calls `read(data, offset, len)` to work on `buffer`'s payload in place.
    pub fn with_payload<R>(&self, buffer: &BulkBuffer, read: impl FnOnce(&D, usize, usize) -> R) -> R {
        read(&self.data, buffer.offset, buffer.len)
    }

    /// Copies `buffer`'s payload to the start of `out`; returns its length.
    pub fn read_payload(&self, buffer: &BulkBuffer, out: &mut [u8]) -> Result<usize, BulkError> {
        let available = out.len();
        let target = out.get_mut(..buffer.len).ok_or(BulkError::OutputTooSmall { len: buffer.len, available })?;
        self.data.read_bytes(buffer.offset, target);
        Ok(buffer.len)
    }

    /// Returns `buffer` to the sender on the free ring.
    pub fn release(&mut self, buffer: BulkBuffer) -> Result<Wake, BulkError> {
        // The offset was checked on receipt, so it fits in a u32.
        let descriptor = BulkDescriptor { offset: buffer.offset as u32, len: 0 };
        let wake = self.free.push(descriptor)?;
        Ok(wake.or(core::mem::replace(&mut self.owed_wake, Wake::NotNeeded)))
    }

    /// Receives one buffer, if any, lets `read(data, offset, len)` work on its payload in
    /// place, releases it and notifies the sender if needed.
    pub fn receive_with<R>(
        &mut self,
        notify: &impl Notify,
        read: impl FnOnce(&D, usize, usize) -> R,
    ) -> Result<Option<R>, BulkError> {
        let Some(buffer) = self.receive()? else {
            return Ok(None);
        };
        let result = self.with_payload(&buffer, read);
        self.release(buffer)?.signal(notify);
        Ok(Some(result))
    }

    /// [`receive_with`](Self::receive_with), sleeping on `wait` while nothing arrived.
    pub fn receive_blocking_with<R>(
        &mut self,
        wait: &impl Wait,
        notify: &impl Notify,
        read: impl FnOnce(&D, usize, usize) -> R,
    ) -> Result<R, BulkError> {
        let mut requested = false;
        loop {
            if let Some(buffer) = self.receive()? {
                if requested {
                    self.active.cancel_signal();
                }
                let result = self.with_payload(&buffer, read);
                self.release(buffer)?.signal(notify);
                return Ok(result);
            }
            requested = true;
            if self.active.request_signal()? {
                wait.wait();
            }
        }
    }

    /// Announces that the receiver is about to sleep until a buffer arrives; see
    /// [`Consumer::request_signal`].
    pub fn request_signal(&mut self) -> Result<bool, BulkError> {
        Ok(self.active.request_signal()?)
    }

    /// Withdraws a [`request_signal`](Self::request_signal).
    pub fn cancel_signal(&mut self) {
        self.active.cancel_signal();
    }
}
