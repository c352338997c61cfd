//! Model checking of the signalling protocol with loom.
//!
//! The test region keeps the ring's header in loom atomics and each slot in a
//! `loom::cell::UnsafeCell`, so loom explores the interleavings (up to a preemption
//! bound, see `checker`) and the values the memory model lets a load return. It reports
//! a deadlock when all threads sleep, which is how a lost wake-up shows, and a data race
//! if a slot could be read while it is written. Loom's types are used directly, so no
//! `--cfg loom` is needed.

use std::sync::atomic::Ordering;

use bytemuck::Pod;
use kaal_ipc::{BulkLayout, BulkReceiver, BulkSender, Consumer, Notify, Producer, RingLayout, SharedMemory, Wait};
use loom::cell::UnsafeCell;
use loom::sync::atomic::AtomicU32;
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

/// A shared region for loom: one atomic per header cache line (the layout puts one
/// word on each), then `chunk_size`-byte cells for the slots or buffers.
struct LoomRegionCells {
    size: usize,
    header_words: Vec<AtomicU32>,
    chunk_size: usize,
    chunks: Vec<UnsafeCell<Vec<u8>>>,
}

#[derive(Clone)]
struct LoomRegion(Arc<LoomRegionCells>);

impl LoomRegion {
    /// A region of `header_bytes` of header words followed by `chunk_count` cells.
    fn new(header_bytes: usize, chunk_size: usize, chunk_count: usize) -> Self {
        LoomRegion(Arc::new(LoomRegionCells {
            size: header_bytes + chunk_size * chunk_count,
            header_words: (0..header_bytes / 64).map(|_| AtomicU32::new(0)).collect(),
            chunk_size,
            chunks: (0..chunk_count).map(|_| UnsafeCell::new(vec![0; chunk_size])).collect(),
        }))
    }

    fn for_ring<T>(capacity: u32) -> Self {
        Self::new(RingLayout::SLOTS_OFFSET, size_of::<T>(), capacity as usize)
    }

    fn header_word(&self, offset: usize) -> &AtomicU32 {
        assert_eq!(offset % 64, 0, "header word at {offset} is not the start of a cache line");
        &self.0.header_words[offset / 64]
    }

    /// Calls `copy(chunk, range in chunk, range in caller's bytes)` for each chunk that
    /// `offset..offset + len` touches.
    fn for_each_chunk(
        &self,
        offset: usize,
        len: usize,
        mut copy: impl FnMut(&UnsafeCell<Vec<u8>>, usize, usize, usize),
    ) {
        let cells = &*self.0;
        let start = offset.checked_sub(cells.header_words.len() * 64).expect("byte copy inside the header");
        assert!(start + len <= cells.chunks.len() * cells.chunk_size, "byte copy beyond the region");
        let mut done = 0;
        while done < len {
            let at = start + done;
            let (chunk, within) = (at / cells.chunk_size, at % cells.chunk_size);
            let count = (cells.chunk_size - within).min(len - done);
            copy(&cells.chunks[chunk], within, done, count);
            done += count;
        }
    }
}

impl SharedMemory for LoomRegion {
    fn size(&self) -> usize {
        self.0.size
    }

    fn load_u32(&self, offset: usize, order: Ordering) -> u32 {
        self.header_word(offset).load(order)
    }

    fn store_u32(&self, offset: usize, value: u32, order: Ordering) {
        self.header_word(offset).store(value, order)
    }

    fn fence(&self, order: Ordering) {
        loom::sync::atomic::fence(order)
    }

    fn read_bytes(&self, offset: usize, out: &mut [u8]) {
        self.for_each_chunk(offset, out.len(), |chunk, within, done, count| {
            // SAFETY: loom checks that no write to this chunk runs concurrently.
            chunk.with(|bytes| out[done..done + count].copy_from_slice(unsafe { &(&*bytes)[within..within + count] }))
        })
    }

    fn write_bytes(&self, offset: usize, data: &[u8]) {
        self.for_each_chunk(offset, data.len(), |chunk, within, done, count| {
            // SAFETY: loom checks that no other access to this chunk runs concurrently.
            chunk.with_mut(|bytes| unsafe {
                (&mut *bytes)[within..within + count].copy_from_slice(&data[done..done + count])
            })
        })
    }
}

/// An seL4-like notification: a signal sets a flag that the next wait consumes.
#[derive(Default)]
struct LoomNotification {
    signalled: Mutex<bool>,
    woken: Condvar,
}

impl Notify for LoomNotification {
    fn notify(&self) {
        *self.signalled.lock().unwrap() = true;
        self.woken.notify_one();
    }
}

impl Wait for LoomNotification {
    fn wait(&self) {
        let mut signalled = self.signalled.lock().unwrap();
        while !*signalled {
            signalled = self.woken.wait(signalled).unwrap();
        }
        *signalled = false;
    }
}

/// Loom with a preemption bound: unbounded runs take minutes, because the blocking loops
/// can retry after each spurious wake-up. Why small bounds suffice: a lost wake-up needs
/// the consumer's announce-then-recheck (C1-C3 in the ring docs) to overlap the
/// producer's publish-then-check (P1-P3), which takes two preemptions (into the window
/// and back out); a third covers a wake-up racing the other end's next request. A load
/// returning an older store is not a preemption, so loom explores weak-memory outcomes
/// at any bound. Each model also passed with bound 5 (about 2 minutes in all), and each
/// fails within a second at these bounds when a fence is removed or the flag is checked
/// before `head` is published.
fn checker(preemption_bound: usize) -> loom::model::Builder {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemption_bound);
    builder
}

fn new_ring<T: Pod>(capacity: u32) -> LoomRegion {
    let ring = LoomRegion::for_ring::<T>(capacity);
    RingLayout::for_item::<T>(capacity).unwrap().init_header(&ring).unwrap();
    ring
}

/// Capacity 2, 3 items: the producer must sleep for space at least once, the consumer
/// may sleep for items; each item must arrive once and in order.
#[test]
fn blocking_push_and_pop_lose_no_wake_up() {
    checker(3).check(|| {
        let ring = new_ring::<u32>(2);
        let items_ready = Arc::new(LoomNotification::default());
        let space_ready = Arc::new(LoomNotification::default());

        let producer = thread::spawn({
            let (ring, items_ready, space_ready) = (ring.clone(), items_ready.clone(), space_ready.clone());
            move || {
                let mut producer = Producer::<u32, _>::new(ring, 2).unwrap();
                for item in 1..=3 {
                    producer.push_blocking(item, &*items_ready, &*space_ready).unwrap();
                }
            }
        });
        let mut consumer = Consumer::<u32, _>::new(ring, 2).unwrap();
        for expected in 1..=3 {
            assert_eq!(consumer.pop_blocking(&*items_ready, &*space_ready), Ok(expected));
        }
        producer.join().unwrap();
        assert_eq!(consumer.pop(), Ok(None), "no item twice");
    });
}

/// Batches: the producer publishes 3 items with `push_batch_blocking` (sleeping for space
/// through `request_space_signal`); the consumer drains with `pop_batch_blocking`.
#[test]
fn batches_lose_no_wake_up() {
    checker(4).check(|| {
        let ring = new_ring::<u32>(2);
        let items_ready = Arc::new(LoomNotification::default());
        let space_ready = Arc::new(LoomNotification::default());

        let producer = thread::spawn({
            let (ring, items_ready, space_ready) = (ring.clone(), items_ready.clone(), space_ready.clone());
            move || {
                let mut producer = Producer::<u32, _>::new(ring, 2).unwrap();
                producer.push_batch_blocking(&[1, 2, 3], &*items_ready, &*space_ready).unwrap();
            }
        });
        let mut consumer = Consumer::<u32, _>::new(ring, 2).unwrap();
        let mut received = Vec::new();
        while received.len() < 3 {
            let mut out = [0; 2];
            let popped = consumer.pop_batch_blocking(&mut out, &*items_ready, &*space_ready).unwrap();
            received.extend_from_slice(&out[..popped]);
        }
        producer.join().unwrap();
        assert_eq!(received, [1, 2, 3]);
    });
}

/// One consumer serves two rings on one notification through `request_signal`; two
/// producers push one item each and notify that same notification.
#[test]
fn multiplexed_request_signal_loses_no_wake_up() {
    checker(3).check(|| {
        let rings = [new_ring::<u32>(2), new_ring::<u32>(2)];
        let items_ready = Arc::new(LoomNotification::default());

        let producers = [10, 20].map(|item| {
            let (ring, items_ready) = (rings[item / 10 - 1].clone(), items_ready.clone());
            thread::spawn(move || {
                let mut producer = Producer::<u32, _>::new(ring, 2).unwrap();
                producer.push_notify(item as u32, &*items_ready).unwrap();
            })
        });
        let mut consumers = rings.map(|ring| Consumer::<u32, _>::new(ring, 2).unwrap());
        let mut received = Vec::new();
        while received.len() < 2 {
            for consumer in &mut consumers {
                while let Some((item, wake)) = consumer.pop().unwrap() {
                    assert!(!wake.is_needed(), "no producer waits for space");
                    received.push(item);
                }
            }
            if received.len() == 2 {
                break;
            }
            // Sleep only if every ring agrees it is empty after the announcement.
            let mut all_empty = true;
            for consumer in &mut consumers {
                all_empty &= consumer.request_signal().unwrap();
            }
            if all_empty {
                items_ready.wait();
            } else {
                consumers.iter_mut().for_each(Consumer::cancel_signal);
            }
        }
        producers.into_iter().for_each(|producer| producer.join().unwrap());
        received.sort();
        assert_eq!(received, [10, 20]);
    });
}

/// Bulk transfer with one buffer and two payloads: the sender must sleep until the
/// receiver returns the buffer, and the receiver until the sender fills it.
#[test]
fn bulk_transfer_loses_no_wake_up() {
    checker(3).check(|| {
        let layout = BulkLayout::new(1, 4).unwrap();
        let ring_capacity = layout.ring_capacity();
        let descriptor_size = size_of::<kaal_ipc::BulkDescriptor>();
        let active = LoomRegion::new(RingLayout::SLOTS_OFFSET, descriptor_size, ring_capacity as usize);
        let free = LoomRegion::new(RingLayout::SLOTS_OFFSET, descriptor_size, ring_capacity as usize);
        // The data region has no header: make it start at 0 with one 4-byte cell.
        let data = LoomRegion::new(0, 4, 1);
        layout.init_rings(&active, &free).unwrap();
        let to_receiver = Arc::new(LoomNotification::default());
        let to_sender = Arc::new(LoomNotification::default());

        let sender = thread::spawn({
            let (active, free, data) = (active.clone(), free.clone(), data.clone());
            let (to_receiver, to_sender) = (to_receiver.clone(), to_sender.clone());
            move || {
                let mut sender = BulkSender::new(active, free, data, layout).unwrap();
                for payload in [*b"one", *b"two"] {
                    sender.send_blocking(&payload, &*to_receiver, &*to_sender).unwrap();
                }
            }
        });
        let mut receiver = BulkReceiver::new(active, free, data, layout).unwrap();
        for expected in [*b"one", *b"two"] {
            let payload = receiver
                .receive_blocking_with(&*to_receiver, &*to_sender, |data, offset, len| {
                    let mut payload = [0; 3];
                    data.read_bytes(offset, &mut payload[..len]);
                    payload
                })
                .unwrap();
            assert_eq!(payload, expected);
        }
        sender.join().unwrap();
    });
}
