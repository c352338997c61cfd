//! The two ends of a single-producer single-consumer ring and their signalling protocol.
//!
//! # Indices
//!
//! The producer writes slot `head`, then publishes it by storing `head + 1` (Release);
//! the consumer loads `head` (Acquire), reads slots up to it, then frees them by storing
//! `tail` (Release), which the producer loads (Acquire) before it reuses a slot. Each end
//! keeps its own index in private memory and only ever *reads* the peer's, so a hostile
//! peer can corrupt only the index it owns; that one is checked on every load: if
//! `head - tail` (wrapping) exceeds the capacity, the operation fails with
//! [`RingError::CorruptedHead`] or [`RingError::CorruptedTail`] and changes nothing.
//!
//! # Signal suppression
//!
//! As in seL4's sDDF queues, an end notifies the other only when the other announced
//! that it is about to sleep, by setting its `*_waiting` flag:
//!
//! * consumer, before sleeping: (C1) store `consumer_waiting = 1`; (C2) SeqCst fence;
//!   (C3) load `head`; sleep only if the ring is still empty.
//! * producer, after publishing: (P1) store `head` (Release); (P2) SeqCst fence;
//!   (P3) load `consumer_waiting`; if set, clear it and notify ([`Wake::Needed`]).
//!
//! No wake-up is lost: SeqCst fences are totally ordered. If C2 comes before P2, P3 sees
//! C1's flag, or a later clear; a clear is made either by the consumer after it decided
//! not to sleep, or by a producer that saw the flag and therefore notifies *after*
//! clearing, which wakes the consumer. If P2 comes before C2, C3 sees the new `head` and
//! the consumer does not sleep. A notification sent between C3 and the wait is not lost
//! because a [`Wait`] latches it (an seL4 notification word stays set). The producer
//! waiting for space is the mirror image (`producer_waiting`, `tail`, the consumer
//! notifies after freeing slots). A hostile peer can only cause spurious or missing
//! wake-ups for itself, or keep a blocked end waiting, as any unresponsive peer can.

use core::marker::PhantomData;
use core::sync::atomic::Ordering;

use bytemuck::Pod;
use kaal_core::profile::Counter;

use crate::layout::{LayoutError, RingLayout};
use crate::{Notify, SharedMemory, Wait, Wake};

/// Why a ring operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    Full,
    /// The producer's index is more than `capacity` ahead of ours: the producer is
    /// broken or hostile.
    CorruptedHead {
        head: u32,
        tail: u32,
        capacity: u32,
    },
    /// The consumer's index is behind ours by more than `capacity`, or ahead of ours.
    CorruptedTail {
        head: u32,
        tail: u32,
        capacity: u32,
    },
}

impl core::fmt::Display for RingError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Full => f.write_str("the ring is full"),
            Self::CorruptedHead { head, tail, capacity } => {
                write!(f, "corrupted ring: the producer's head {head} is not within {capacity} of our tail {tail}")
            }
            Self::CorruptedTail { head, tail, capacity } => {
                write!(f, "corrupted ring: the consumer's tail {tail} is not within {capacity} behind our head {head}")
            }
        }
    }
}

impl core::error::Error for RingError {}

/// The writing end of a ring of `T`s in memory `M`.
pub struct Producer<T, M> {
    memory: M,
    layout: RingLayout,
    /// Our index; the copy in shared memory is only written, never trusted.
    head: u32,
    items: PhantomData<fn(T)>,
}

/// The reading end of a ring of `T`s in memory `M`.
pub struct Consumer<T, M> {
    memory: M,
    layout: RingLayout,
    /// Our index; the copy in shared memory is only written, never trusted.
    tail: u32,
    items: PhantomData<fn() -> T>,
}

impl<T: Pod, M: SharedMemory> Producer<T, M> {
    /// Attaches to a ring whose header was initialised ([`RingLayout::init_header`]),
    /// continuing from the `head` stored there.
    pub fn new(memory: M, capacity: u32) -> Result<Self, LayoutError> {
        let layout = RingLayout::for_item::<T>(capacity)?;
        layout.check(&memory)?;
        let head = memory.load_u32(RingLayout::HEAD_OFFSET, Ordering::Relaxed);
        Ok(Producer { memory, layout, head, items: PhantomData })
    }

    pub fn layout(&self) -> RingLayout {
        self.layout
    }

    pub fn memory(&self) -> &M {
        &self.memory
    }

    /// Number of items pushed but not yet freed by the consumer.
    pub fn occupied(&self) -> Result<u32, RingError> {
        let tail = self.memory.load_u32(RingLayout::TAIL_OFFSET, Ordering::Acquire);
        let occupied = self.head.wrapping_sub(tail);
        let capacity = self.layout.capacity();
        if occupied > capacity {
            return Err(RingError::CorruptedTail { head: self.head, tail, capacity });
        }
        Ok(occupied)
    }

    /// Pushes one item. [`RingError::Full`] if there is no free slot.
    pub fn push(&mut self, item: T) -> Result<Wake, RingError> {
        if self.occupied()? == self.layout.capacity() {
            kaal_core::profile::count(Counter::RingFull);
            return Err(RingError::Full);
        }
        kaal_core::profile::count(Counter::RingPush);
        self.write_slot(self.head, &item);
        Ok(self.publish(self.head.wrapping_add(1)))
    }

    /// Pushes as many of `items` as fit (possibly none) and publishes them with one
    /// index store, so the consumer needs at most one notification.
    pub fn push_batch(&mut self, items: &[T]) -> Result<(usize, Wake), RingError> {
        let free = (self.layout.capacity() - self.occupied()?) as usize;
        let count = free.min(items.len());
        if count == 0 {
            if !items.is_empty() {
                kaal_core::profile::count(Counter::RingFull);
            }
            return Ok((0, Wake::NotNeeded));
        }
        kaal_core::profile::count(Counter::RingPush);
        for (index, item) in (0..).map(|i: u32| self.head.wrapping_add(i)).zip(&items[..count]) {
            self.write_slot(index, item);
        }
        // `count <= capacity <= 2^31`, so it fits in a u32.
        Ok((count, self.publish(self.head.wrapping_add(count as u32))))
    }

    /// [`push`](Self::push), notifying the consumer if it is waiting.
    pub fn push_notify(&mut self, item: T, notify: &impl Notify) -> Result<(), RingError> {
        self.push(item)?.signal(notify);
        Ok(())
    }

    /// [`push_batch`](Self::push_batch), notifying the consumer (once) if it is waiting.
    /// Returns how many items were pushed.
    pub fn push_batch_notify(&mut self, items: &[T], notify: &impl Notify) -> Result<usize, RingError> {
        let (pushed, wake) = self.push_batch(items)?;
        wake.signal(notify);
        Ok(pushed)
    }

    /// Pushes one item, sleeping on `wait_for_space` while the ring is full.
    pub fn push_blocking(
        &mut self,
        item: T,
        notify: &impl Notify,
        wait_for_space: &impl Wait,
    ) -> Result<(), RingError> {
        let mut requested = false;
        loop {
            match self.push(item) {
                Ok(wake) => {
                    if requested {
                        // After a spurious wake-up our flag may still be set.
                        self.cancel_space_signal();
                    }
                    wake.signal(notify);
                    return Ok(());
                }
                Err(RingError::Full) => {
                    requested = true;
                    if self.request_space_signal()? {
                        wait_for_space.wait();
                    }
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Pushes all of `items`, in batches as room allows, notifying the consumer at most
    /// once per batch and sleeping on `wait_for_space` while the ring is full.
    pub fn push_batch_blocking(
        &mut self,
        items: &[T],
        notify: &impl Notify,
        wait_for_space: &impl Wait,
    ) -> Result<(), RingError> {
        let mut sent = 0;
        while sent < items.len() {
            match self.push_batch_notify(&items[sent..], notify)? {
                0 => {
                    if self.request_space_signal()? {
                        wait_for_space.wait();
                    }
                }
                pushed => sent += pushed,
            }
        }
        Ok(())
    }

    /// Announces that the producer is about to sleep until the consumer frees a slot.
    /// Returns true if it may sleep; false, with the request withdrawn, if a slot became
    /// free meanwhile.
    pub fn request_space_signal(&mut self) -> Result<bool, RingError> {
        self.memory.store_u32(RingLayout::PRODUCER_WAITING_OFFSET, 1, Ordering::Relaxed);
        self.memory.fence(Ordering::SeqCst);
        match self.occupied() {
            Ok(occupied) if occupied == self.layout.capacity() => Ok(true),
            other => {
                self.cancel_space_signal();
                other.map(|_| false)
            }
        }
    }

    /// Withdraws a [`request_space_signal`](Self::request_space_signal).
    pub fn cancel_space_signal(&mut self) {
        self.memory.store_u32(RingLayout::PRODUCER_WAITING_OFFSET, 0, Ordering::Relaxed);
    }

    fn write_slot(&self, index: u32, item: &T) {
        self.memory.write_bytes(self.layout.slot_offset(index), bytemuck::bytes_of(item));
    }

    /// Steps P1-P3 of the protocol in the module docs.
    fn publish(&mut self, head: u32) -> Wake {
        self.head = head;
        self.memory.store_u32(RingLayout::HEAD_OFFSET, head, Ordering::Release);
        self.memory.fence(Ordering::SeqCst);
        take_waiting_flag(&self.memory, RingLayout::CONSUMER_WAITING_OFFSET)
    }
}

impl<T: Pod, M: SharedMemory> Consumer<T, M> {
    /// Attaches to a ring whose header was initialised ([`RingLayout::init_header`]),
    /// continuing from the `tail` stored there.
    pub fn new(memory: M, capacity: u32) -> Result<Self, LayoutError> {
        let layout = RingLayout::for_item::<T>(capacity)?;
        layout.check(&memory)?;
        let tail = memory.load_u32(RingLayout::TAIL_OFFSET, Ordering::Relaxed);
        Ok(Consumer { memory, layout, tail, items: PhantomData })
    }

    pub fn layout(&self) -> RingLayout {
        self.layout
    }

    pub fn memory(&self) -> &M {
        &self.memory
    }

    /// Number of items published and not yet popped.
    pub fn available(&self) -> Result<u32, RingError> {
        let head = self.memory.load_u32(RingLayout::HEAD_OFFSET, Ordering::Acquire);
        let available = head.wrapping_sub(self.tail);
        let capacity = self.layout.capacity();
        if available > capacity {
            return Err(RingError::CorruptedHead { head, tail: self.tail, capacity });
        }
        Ok(available)
    }

    /// Pops one item, if any. The [`Wake`] says whether the producer waits for space and
    /// must be notified.
    pub fn pop(&mut self) -> Result<Option<(T, Wake)>, RingError> {
        if self.available()? == 0 {
            return Ok(None);
        }
        let item = self.read_slot(self.tail);
        Ok(Some((item, self.release(self.tail.wrapping_add(1)))))
    }

    /// Pops up to `out.len()` items into `out` and frees their slots with one index
    /// store. Returns how many were popped and whether the producer must be notified.
    pub fn pop_batch(&mut self, out: &mut [T]) -> Result<(usize, Wake), RingError> {
        let count = (self.available()? as usize).min(out.len());
        if count == 0 {
            return Ok((0, Wake::NotNeeded));
        }
        for (index, item) in (0..).map(|i: u32| self.tail.wrapping_add(i)).zip(&mut out[..count]) {
            *item = self.read_slot(index);
        }
        // `count <= capacity <= 2^31`, so it fits in a u32.
        Ok((count, self.release(self.tail.wrapping_add(count as u32))))
    }

    /// [`pop`](Self::pop), notifying the producer if it waits for space.
    pub fn pop_notify(&mut self, notify_space: &impl Notify) -> Result<Option<T>, RingError> {
        Ok(self.pop()?.map(|(item, wake)| {
            wake.signal(notify_space);
            item
        }))
    }

    /// [`pop_batch`](Self::pop_batch), notifying the producer (once) if it waits for space.
    pub fn pop_batch_notify(&mut self, out: &mut [T], notify_space: &impl Notify) -> Result<usize, RingError> {
        let (popped, wake) = self.pop_batch(out)?;
        wake.signal(notify_space);
        Ok(popped)
    }

    /// Pops one item, sleeping on `wait` while the ring is empty.
    pub fn pop_blocking(&mut self, wait: &impl Wait, notify_space: &impl Notify) -> Result<T, RingError> {
        let mut requested = false;
        loop {
            if let Some(item) = self.pop_notify(notify_space)? {
                if requested {
                    // After a spurious wake-up our flag may still be set.
                    self.cancel_signal();
                }
                return Ok(item);
            }
            requested = true;
            if self.request_signal()? {
                wait.wait();
            }
        }
    }

    /// Pops one item, sleeping on `wait` while the ring is empty, until `expired` says
    /// the wait is over: `Ok(None)` then. `wait` must return by the deadline (a timed
    /// wait, such as kaal-ipc's `Deadline`), and spurious wake-ups are harmless.
    pub fn pop_until(
        &mut self,
        wait: &impl Wait,
        notify_space: &impl Notify,
        expired: impl Fn() -> bool,
    ) -> Result<Option<T>, RingError> {
        loop {
            if let Some(item) = self.pop_notify(notify_space)? {
                return Ok(Some(item));
            }
            if !self.request_signal()? {
                // Items arrived while announcing: serve them.
                continue;
            }
            if expired() {
                self.cancel_signal();
                // One last look: the producer may have pushed after the check.
                return self.pop_notify(notify_space);
            }
            wait.wait();
            self.cancel_signal();
        }
    }

    /// Fills `out` with what is there, sleeping on `wait` until at least one item is;
    /// notifies the producer (once) if it waits for space. Returns how many it took.
    pub fn pop_batch_blocking(
        &mut self,
        out: &mut [T],
        wait: &impl Wait,
        notify_space: &impl Notify,
    ) -> Result<usize, RingError> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            match self.pop_batch_notify(out, notify_space)? {
                0 => {
                    if self.request_signal()? {
                        wait.wait();
                    }
                }
                popped => return Ok(popped),
            }
        }
    }

    /// Announces that the consumer is about to sleep until the producer publishes items
    /// (steps C1-C3 in the module docs). Returns true if it may sleep; false, with the
    /// request withdrawn, if items arrived meanwhile.
    ///
    /// A component that serves several rings on one notification calls this on each; if
    /// any returns false it [`cancel_signal`](Self::cancel_signal)s the others and
    /// serves the rings again instead of sleeping.
    pub fn request_signal(&mut self) -> Result<bool, RingError> {
        self.memory.store_u32(RingLayout::CONSUMER_WAITING_OFFSET, 1, Ordering::Relaxed);
        self.memory.fence(Ordering::SeqCst);
        match self.available() {
            Ok(0) => Ok(true),
            other => {
                self.cancel_signal();
                other.map(|_| false)
            }
        }
    }

    /// Withdraws a [`request_signal`](Self::request_signal).
    pub fn cancel_signal(&mut self) {
        self.memory.store_u32(RingLayout::CONSUMER_WAITING_OFFSET, 0, Ordering::Relaxed);
    }

    fn read_slot(&self, index: u32) -> T {
        let mut item = T::zeroed();
        self.memory.read_bytes(self.layout.slot_offset(index), bytemuck::bytes_of_mut(&mut item));
        item
    }

    /// The mirror of [`Producer::publish`]: frees slots up to `tail`, then checks whether
    /// the producer sleeps waiting for space.
    fn release(&mut self, tail: u32) -> Wake {
        self.tail = tail;
        self.memory.store_u32(RingLayout::TAIL_OFFSET, tail, Ordering::Release);
        self.memory.fence(Ordering::SeqCst);
        take_waiting_flag(&self.memory, RingLayout::PRODUCER_WAITING_OFFSET)
    }
}

/// Clears the peer's waiting flag at `offset` if it is set (any non-zero value counts).
/// The caller must notify on `Needed`: that notification comes after the clear, so it
/// also wakes a peer that set the flag again in between.
fn take_waiting_flag(memory: &impl SharedMemory, offset: usize) -> Wake {
    if memory.load_u32(offset, Ordering::Relaxed) == 0 {
        return Wake::NotNeeded;
    }
    memory.store_u32(offset, 0, Ordering::Relaxed);
    Wake::Needed
}
