//! Single-threaded tests of the ring: index arithmetic, batching, corruption by a hostile
//! peer and the signal-suppression flags.

mod common;

use std::cell::Cell;
use std::sync::atomic::Ordering;

use bytemuck::{Pod, Zeroable};
use common::{CountingNotify, MustNotWait, StdMemory, StoreCounter};
use kaal_ipc::{Consumer, LayoutError, Producer, RingError, RingLayout, SharedMemory, Wake};

fn ring_memory<T>(capacity: u32) -> StdMemory {
    let layout = RingLayout::for_item::<T>(capacity).unwrap();
    let memory = StdMemory::new(layout.bytes_needed());
    layout.init_header(&memory).unwrap();
    memory
}

fn ends<T: Pod>(memory: &StdMemory, capacity: u32) -> (Producer<T, &StdMemory>, Consumer<T, &StdMemory>) {
    (Producer::new(memory, capacity).unwrap(), Consumer::new(memory, capacity).unwrap())
}

/// Pops one item from a ring whose producer never waits for space.
fn pop_item<T: Pod, M: SharedMemory>(consumer: &mut Consumer<T, M>) -> Option<T> {
    consumer.pop().unwrap().map(|(item, wake)| {
        assert_eq!(wake, Wake::NotNeeded);
        item
    })
}

#[test]
fn items_come_out_in_order_until_full_and_empty() {
    let memory = ring_memory::<u64>(4);
    let (mut producer, mut consumer) = ends::<u64>(&memory, 4);
    assert_eq!(consumer.pop(), Ok(None));
    for item in 10..14 {
        assert_eq!(producer.push(item), Ok(Wake::NotNeeded));
    }
    assert_eq!(producer.push(14), Err(RingError::Full));
    assert_eq!((producer.occupied(), consumer.available()), (Ok(4), Ok(4)));
    for expected in 10..14 {
        assert_eq!(pop_item(&mut consumer), Some(expected));
    }
    assert_eq!(consumer.pop(), Ok(None));
    assert_eq!(producer.push(14), Ok(Wake::NotNeeded));
    assert_eq!(pop_item(&mut consumer), Some(14));
}

#[test]
fn indices_wrap_around_u32_max() {
    let memory = ring_memory::<u32>(4);
    let start = u32::MAX - 5;
    memory.store_u32(RingLayout::HEAD_OFFSET, start, Ordering::Relaxed);
    memory.store_u32(RingLayout::TAIL_OFFSET, start, Ordering::Relaxed);
    let (mut producer, mut consumer) = ends::<u32>(&memory, 4);
    // 40 items through 4 slots, up to 3 in flight, crossing index 2^32 on the way.
    let mut next_in = 0;
    let mut next_out = 0;
    for round in 0..20 {
        for _ in 0..(round % 3 + 1) {
            if producer.push(next_in).is_ok() {
                next_in += 1;
            }
        }
        while let Some(item) = pop_item(&mut consumer) {
            assert_eq!(item, next_out);
            next_out += 1;
        }
    }
    assert_eq!(next_out, next_in);
    let head = memory.load_u32(RingLayout::HEAD_OFFSET, Ordering::Relaxed);
    assert_eq!(head, start.wrapping_add(next_in));
    assert!(head < start, "the head should have wrapped past u32::MAX");
    // A full ring across the wrap is still seen as full, not as empty.
    memory.store_u32(RingLayout::HEAD_OFFSET, u32::MAX - 1, Ordering::Relaxed);
    memory.store_u32(RingLayout::TAIL_OFFSET, u32::MAX - 1, Ordering::Relaxed);
    let (mut producer, mut consumer) = ends::<u32>(&memory, 4);
    assert_eq!(producer.push_batch(&[1, 2, 3, 4, 5]), Ok((4, Wake::NotNeeded)));
    assert_eq!(memory.load_u32(RingLayout::HEAD_OFFSET, Ordering::Relaxed), 2);
    assert_eq!(producer.push(6), Err(RingError::Full));
    let mut out = [0; 8];
    assert_eq!(consumer.pop_batch(&mut out), Ok((4, Wake::NotNeeded)));
    assert_eq!(out[..4], [1, 2, 3, 4]);
}

#[test]
fn batches_fill_what_fits_and_publish_with_one_store() {
    let memory = ring_memory::<u16>(8);
    let head_stores = StoreCounter { memory: &memory, offset: RingLayout::HEAD_OFFSET, stores: Cell::new(0) };
    let tail_stores = StoreCounter { memory: &memory, offset: RingLayout::TAIL_OFFSET, stores: Cell::new(0) };
    let mut producer = Producer::<u16, _>::new(&head_stores, 8).unwrap();
    let mut consumer = Consumer::<u16, _>::new(&tail_stores, 8).unwrap();
    let items: Vec<u16> = (100..110).collect();

    assert_eq!(producer.push_batch(&items), Ok((8, Wake::NotNeeded)));
    assert_eq!(head_stores.stores.get(), 1);
    assert_eq!(producer.push_batch(&items), Ok((0, Wake::NotNeeded)));
    assert_eq!(head_stores.stores.get(), 1, "nothing pushed, nothing published");

    let mut out = [0; 3];
    assert_eq!(consumer.pop_batch(&mut out), Ok((3, Wake::NotNeeded)));
    assert_eq!(out, [100, 101, 102]);
    assert_eq!(tail_stores.stores.get(), 1);

    assert_eq!(producer.push_batch(&items[8..]), Ok((2, Wake::NotNeeded)));
    let mut out = [0; 16];
    assert_eq!(consumer.pop_batch(&mut out), Ok((7, Wake::NotNeeded)));
    assert_eq!(out[..7], [103, 104, 105, 106, 107, 108, 109]);
    assert_eq!(tail_stores.stores.get(), 2);
    assert_eq!(consumer.pop_batch(&mut out), Ok((0, Wake::NotNeeded)));
    assert_eq!(producer.push_batch(&[]), Ok((0, Wake::NotNeeded)));
}

#[test]
fn head_beyond_capacity_is_reported_not_read() {
    let memory = ring_memory::<u32>(8);
    let (mut producer, mut consumer) = ends::<u32>(&memory, 8);
    assert_eq!(producer.push_batch(&[1, 2, 3]), Ok((3, Wake::NotNeeded)));
    assert_eq!(pop_item(&mut consumer), Some(1));
    let tail = memory.load_u32(RingLayout::TAIL_OFFSET, Ordering::Relaxed);

    // The peer claims more items than the ring can hold ...
    let bad_head = tail.wrapping_add(8 + 5);
    memory.store_u32(RingLayout::HEAD_OFFSET, bad_head, Ordering::Relaxed);
    let corrupted = Some(RingError::CorruptedHead { head: bad_head, tail, capacity: 8 });
    assert_eq!(consumer.pop().err(), corrupted);
    assert_eq!(consumer.pop_batch(&mut [0; 4]).err(), corrupted);
    assert_eq!(consumer.available().err(), corrupted);
    assert_eq!(consumer.request_signal().err(), corrupted);
    assert_eq!(memory.load_u32(RingLayout::CONSUMER_WAITING_OFFSET, Ordering::Relaxed), 0, "request withdrawn");
    assert_eq!(consumer.pop_blocking(&MustNotWait, &CountingNotify::default()).err(), corrupted);
    // ... or moves its head backwards.
    memory.store_u32(RingLayout::HEAD_OFFSET, tail.wrapping_sub(1), Ordering::Relaxed);
    assert!(matches!(consumer.pop(), Err(RingError::CorruptedHead { .. })));
    // Errors change nothing: once the head is sane again, the ring goes on.
    memory.store_u32(RingLayout::HEAD_OFFSET, tail.wrapping_add(2), Ordering::Relaxed);
    assert_eq!(pop_item(&mut consumer), Some(2));
    assert_eq!(pop_item(&mut consumer), Some(3));
    assert_eq!(consumer.pop(), Ok(None));
}

#[test]
fn tail_beyond_head_is_reported() {
    let memory = ring_memory::<u32>(4);
    let (mut producer, _consumer) = ends::<u32>(&memory, 4);
    assert_eq!(producer.push(7), Ok(Wake::NotNeeded));
    // A tail ahead of the head would make the ring look emptier than empty.
    memory.store_u32(RingLayout::TAIL_OFFSET, 3, Ordering::Relaxed);
    let corrupted = Some(RingError::CorruptedTail { head: 1, tail: 3, capacity: 4 });
    assert_eq!(producer.push(8).err(), corrupted);
    assert_eq!(producer.push_batch(&[8, 9]).err(), corrupted);
    assert_eq!(producer.request_space_signal().err(), corrupted);
    assert_eq!(producer.push_blocking(8, &CountingNotify::default(), &MustNotWait).err(), corrupted);
    assert_eq!(memory.load_u32(RingLayout::HEAD_OFFSET, Ordering::Relaxed), 1, "nothing published");
}

#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
struct Message {
    kind: u8,
    flags: u8,
    length: u16,
    value: f32,
}

#[test]
fn any_bytes_the_peer_writes_into_a_slot_read_as_a_value() {
    let memory = ring_memory::<Message>(2);
    let (_producer, mut consumer) = ends::<Message>(&memory, 2);
    let layout = consumer.layout();
    memory.write_bytes(layout.slot_offset(0), &[0xff; 8]);
    memory.store_u32(RingLayout::HEAD_OFFSET, 1, Ordering::Release);
    let message = pop_item(&mut consumer).unwrap();
    assert_eq!((message.kind, message.flags, message.length), (0xff, 0xff, 0xffff));
    assert!(message.value.is_nan());
}

#[test]
fn producer_signals_only_a_consumer_that_announced_it_sleeps() {
    let memory = ring_memory::<u32>(4);
    let (mut producer, mut consumer) = ends::<u32>(&memory, 4);
    let waiting = || memory.load_u32(RingLayout::CONSUMER_WAITING_OFFSET, Ordering::Relaxed);

    assert_eq!(producer.push(1), Ok(Wake::NotNeeded));
    assert_eq!(consumer.request_signal(), Ok(false), "an item is there, do not sleep");
    assert_eq!(waiting(), 0);
    assert_eq!(pop_item(&mut consumer), Some(1));

    assert_eq!(consumer.request_signal(), Ok(true));
    assert_eq!(waiting(), 1);
    assert_eq!(producer.push(2), Ok(Wake::Needed));
    assert_eq!(waiting(), 0, "the producer clears the flag it acts on");
    assert_eq!(producer.push(3), Ok(Wake::NotNeeded));

    let notify = CountingNotify::default();
    let mut out = [0; 4];
    assert_eq!(consumer.pop_batch(&mut out), Ok((2, Wake::NotNeeded)));
    assert_eq!(consumer.request_signal(), Ok(true));
    assert_eq!(producer.push_batch_notify(&[4, 5, 6], &notify), Ok(3));
    assert_eq!(notify.calls.get(), 1, "one notification for the whole batch");
    assert_eq!(producer.push_notify(7, &notify), Ok(()));
    assert_eq!(notify.calls.get(), 1);

    assert_eq!(consumer.pop_batch(&mut out), Ok((4, Wake::NotNeeded)));
    assert_eq!(consumer.request_signal(), Ok(true));
    consumer.cancel_signal();
    assert_eq!(producer.push(8), Ok(Wake::NotNeeded), "a cancelled request is not served");
}

#[test]
fn consumer_signals_a_producer_waiting_for_space() {
    let memory = ring_memory::<u32>(2);
    let (mut producer, mut consumer) = ends::<u32>(&memory, 2);
    assert_eq!(producer.request_space_signal(), Ok(false), "not full");
    assert_eq!(producer.push_batch(&[1, 2]), Ok((2, Wake::NotNeeded)));
    assert_eq!(producer.request_space_signal(), Ok(true));
    assert_eq!(consumer.pop(), Ok(Some((1, Wake::Needed))));
    assert_eq!(consumer.pop(), Ok(Some((2, Wake::NotNeeded))));

    assert_eq!(producer.push_batch(&[3, 4]), Ok((2, Wake::NotNeeded)));
    assert_eq!(producer.request_space_signal(), Ok(true));
    let notify = CountingNotify::default();
    assert_eq!(consumer.pop_batch_notify(&mut [0; 2], &notify), Ok(2));
    assert_eq!(notify.calls.get(), 1);
    assert_eq!(consumer.pop_notify(&notify), Ok(None));
    assert_eq!(notify.calls.get(), 1);
}

#[test]
fn any_non_zero_waiting_flag_counts_as_set_and_is_cleared() {
    let memory = ring_memory::<u32>(2);
    let (mut producer, _consumer) = ends::<u32>(&memory, 2);
    memory.store_u32(RingLayout::CONSUMER_WAITING_OFFSET, 0xdead_beef, Ordering::Relaxed);
    assert_eq!(producer.push(1), Ok(Wake::Needed));
    assert_eq!(memory.load_u32(RingLayout::CONSUMER_WAITING_OFFSET, Ordering::Relaxed), 0);
}

#[test]
fn blocking_calls_do_not_sleep_when_they_can_proceed() {
    let memory = ring_memory::<u32>(2);
    let (mut producer, mut consumer) = ends::<u32>(&memory, 2);
    let notify = CountingNotify::default();
    producer.push_blocking(1, &notify, &MustNotWait).unwrap();
    assert_eq!(consumer.pop_blocking(&MustNotWait, &notify), Ok(1));
    assert_eq!(notify.calls.get(), 0);
}

#[test]
fn ends_attach_only_to_a_large_enough_region() {
    let layout = RingLayout::for_item::<u64>(16).unwrap();
    let memory = StdMemory::new(layout.bytes_needed() - 1);
    let too_small = LayoutError::RegionTooSmall { needed: layout.bytes_needed(), available: layout.bytes_needed() - 1 };
    assert_eq!(Producer::<u64, _>::new(&memory, 16).err(), Some(too_small));
    assert_eq!(Consumer::<u64, _>::new(&memory, 16).err(), Some(too_small));
    assert_eq!(layout.init_header(&memory), Err(too_small));
    assert_eq!(Producer::<u64, _>::new(&memory, 3).err(), Some(LayoutError::InvalidCapacity { capacity: 3 }));
}

#[test]
fn errors_name_their_cause() {
    let corrupted = RingError::CorruptedHead { head: 20, tail: 2, capacity: 8 };
    assert_eq!(corrupted.to_string(), "corrupted ring: the producer's head 20 is not within 8 of our tail 2");
    assert_eq!(RingError::Full.to_string(), "the ring is full");
    let too_small = LayoutError::RegionTooSmall { needed: 300, available: 4096 };
    assert_eq!(too_small.to_string(), "the shared region has 4096 bytes but the ring needs 300");
}
