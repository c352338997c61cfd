//! Single-threaded tests of bulk transfer: round trips, buffer recycling and descriptors
//! forged by a hostile peer.

mod common;

use common::{CountingNotify, StdMemory};
use kaal_ipc::{BulkDescriptor, BulkError, BulkLayout, BulkReceiver, BulkSender, Producer, SharedMemory, Wake};

const BUFFER_COUNT: u32 = 4;
const BUFFER_SIZE: u32 = 64;

/// The three regions of one bulk channel, initialised.
struct Regions {
    layout: BulkLayout,
    active: StdMemory,
    free: StdMemory,
    data: StdMemory,
}

impl Regions {
    fn new() -> Self {
        let layout = BulkLayout::new(BUFFER_COUNT, BUFFER_SIZE).unwrap();
        let ring_bytes = layout.ring_layout().bytes_needed();
        let regions = Regions {
            layout,
            active: StdMemory::new(ring_bytes),
            free: StdMemory::new(ring_bytes),
            data: StdMemory::new(layout.data_bytes() as usize),
        };
        layout.init_rings(&regions.active, &regions.free).unwrap();
        regions
    }

    fn sender(&self) -> BulkSender<&StdMemory, &StdMemory, &StdMemory> {
        BulkSender::new(&self.active, &self.free, &self.data, self.layout).unwrap()
    }

    fn receiver(&self) -> BulkReceiver<&StdMemory, &StdMemory, &StdMemory> {
        BulkReceiver::new(&self.active, &self.free, &self.data, self.layout).unwrap()
    }

    /// A hostile sender's view of the active ring.
    fn forge_active(&self) -> Producer<BulkDescriptor, &StdMemory> {
        Producer::new(&self.active, self.layout.ring_capacity()).unwrap()
    }
}

fn payload(message: u32) -> Vec<u8> {
    let len = (message as usize * 7) % (BUFFER_SIZE as usize + 1);
    (0..len).map(|i| (i as u32 * 31 + message) as u8).collect()
}

fn checksum(bytes: impl IntoIterator<Item = u8>) -> u32 {
    bytes.into_iter().fold(0x811c_9dc5, |hash, byte| (hash ^ byte as u32).wrapping_mul(0x0100_0193))
}

/// Checksums a payload where it lies, a word-sized chunk at a time.
fn checksum_in_place(data: &impl SharedMemory, offset: usize, len: usize) -> u32 {
    let mut chunk = [0u8; 8];
    let mut bytes = Vec::new();
    for start in (0..len).step_by(chunk.len()) {
        let count = chunk.len().min(len - start);
        data.read_bytes(offset + start, &mut chunk[..count]);
        bytes.extend_from_slice(&chunk[..count]);
    }
    checksum(bytes)
}

#[test]
fn payloads_round_trip_and_buffers_are_recycled() {
    let regions = Regions::new();
    let (mut sender, mut receiver) = (regions.sender(), regions.receiver());
    let notify = CountingNotify::default();
    let (mut sent, mut received) = (0u32, 0u32);
    let (mut sent_sum, mut received_sum) = (0u32, 0u32);
    // 30 messages through 4 buffers, up to 3 in flight.
    while received < 30 {
        for _ in 0..3.min(30 - sent) {
            let bytes = payload(sent);
            sender.send_notify(&bytes, &notify).unwrap();
            sent_sum = sent_sum.wrapping_add(checksum(bytes));
            sent += 1;
        }
        while let Some(sum) = receiver.receive_with(&notify, checksum_in_place).unwrap() {
            received_sum = received_sum.wrapping_add(sum);
            received += 1;
        }
    }
    assert_eq!(received_sum, sent_sum);
    assert_eq!(notify.calls.get(), 0, "nobody slept");
}

#[test]
fn sender_writes_in_place_and_receiver_copies_out() {
    let regions = Regions::new();
    let (mut sender, mut receiver) = (regions.sender(), regions.receiver());
    let wake = sender
        .send_with(|data, offset, capacity| {
            assert_eq!(capacity, BUFFER_SIZE as usize);
            data.write_bytes(offset, b"in place");
            8
        })
        .unwrap();
    assert_eq!(wake, Wake::NotNeeded);
    let buffer = receiver.receive().unwrap().unwrap();
    assert_eq!(buffer.len(), 8);
    let mut out = [0; 16];
    assert_eq!(receiver.read_payload(&buffer, &mut out), Ok(8));
    assert_eq!(&out[..8], b"in place");
    assert_eq!(receiver.read_payload(&buffer, &mut [0; 4]), Err(BulkError::OutputTooSmall { len: 8, available: 4 }));
    assert_eq!(receiver.release(buffer), Ok(Wake::NotNeeded));
}

#[test]
fn sender_runs_out_of_buffers_until_the_receiver_returns_one() {
    let regions = Regions::new();
    let (mut sender, mut receiver) = (regions.sender(), regions.receiver());
    for message in 0..BUFFER_COUNT {
        assert_eq!(sender.send(&payload(message)), Ok(Wake::NotNeeded));
    }
    assert_eq!(sender.send(b"one more"), Err(BulkError::NoFreeBuffer));
    assert_eq!(sender.request_free_buffer_signal(), Ok(true));
    let buffer = receiver.receive().unwrap().unwrap();
    assert_eq!(receiver.release(buffer), Ok(Wake::Needed), "the sender announced it sleeps");
    assert_eq!(sender.send(b"one more"), Ok(Wake::NotNeeded));
}

#[test]
fn oversized_payload_is_refused_without_losing_the_buffer() {
    let regions = Regions::new();
    let (mut sender, mut receiver) = (regions.sender(), regions.receiver());
    let too_large = vec![0; BUFFER_SIZE as usize + 1];
    let refused = Err(BulkError::PayloadTooLarge { len: too_large.len(), buffer_size: BUFFER_SIZE });
    assert_eq!(sender.send(&too_large), refused);
    assert_eq!(sender.send_with(|_, _, capacity| capacity + 1), refused);
    for message in 0..BUFFER_COUNT {
        assert_eq!(sender.send(&payload(message)), Ok(Wake::NotNeeded), "every buffer is still there");
    }
    for message in 0..BUFFER_COUNT {
        let buffer = receiver.receive().unwrap().unwrap();
        let mut out = [0; BUFFER_SIZE as usize];
        let len = receiver.read_payload(&buffer, &mut out).unwrap();
        assert_eq!(out[..len], payload(message));
        assert_eq!(receiver.release(buffer), Ok(Wake::NotNeeded));
    }
}

#[test]
fn receiver_rejects_descriptors_outside_its_buffers() {
    let regions = Regions::new();
    let mut receiver = regions.receiver();
    let mut hostile = regions.forge_active();
    let data_bytes = regions.layout.data_bytes();
    let forged = [
        (
            BulkDescriptor { offset: data_bytes, len: 1 },
            BulkError::DescriptorOutOfRange { offset: data_bytes, data_bytes },
        ),
        (
            BulkDescriptor { offset: u32::MAX, len: u32::MAX },
            BulkError::DescriptorOutOfRange { offset: u32::MAX, data_bytes },
        ),
        (BulkDescriptor { offset: 3, len: 1 }, BulkError::MisalignedDescriptor { offset: 3, buffer_size: BUFFER_SIZE }),
        (
            BulkDescriptor { offset: BUFFER_SIZE, len: BUFFER_SIZE + 1 },
            BulkError::DescriptorTooLong { len: BUFFER_SIZE + 1, buffer_size: BUFFER_SIZE },
        ),
    ];
    for (descriptor, error) in forged {
        assert_eq!(hostile.push(descriptor), Ok(Wake::NotNeeded));
        assert_eq!(receiver.receive(), Err(error));
    }
    // A valid descriptor after the forged ones still gets through.
    regions.data.write_bytes(2 * BUFFER_SIZE as usize, b"ok");
    assert_eq!(hostile.push(BulkDescriptor { offset: 2 * BUFFER_SIZE, len: 2 }), Ok(Wake::NotNeeded));
    let buffer = receiver.receive().unwrap().unwrap();
    assert_eq!((buffer.offset(), buffer.len()), (2 * BUFFER_SIZE as usize, 2));
    assert_eq!(receiver.with_payload(&buffer, checksum_in_place), checksum(*b"ok"));
}

#[test]
fn receiver_reports_a_corrupted_active_ring() {
    let regions = Regions::new();
    let mut receiver = regions.receiver();
    regions.active.store_u32(kaal_ipc::RingLayout::HEAD_OFFSET, 1000, std::sync::atomic::Ordering::Relaxed);
    assert!(matches!(receiver.receive(), Err(BulkError::Ring(kaal_ipc::RingError::CorruptedHead { .. }))));
}

#[test]
fn sender_rejects_forged_free_buffers() {
    let regions = Regions::new();
    let mut sender = regions.sender();
    // The sender takes every honest buffer, then a hostile receiver returns one that is
    // not a buffer.
    for message in 0..BUFFER_COUNT {
        assert_eq!(sender.send(&payload(message)), Ok(Wake::NotNeeded));
    }
    let mut hostile = Producer::<BulkDescriptor, _>::new(&regions.free, regions.layout.ring_capacity()).unwrap();
    assert_eq!(hostile.push(BulkDescriptor { offset: 5, len: 0 }), Ok(Wake::NotNeeded));
    assert_eq!(sender.send(b"x"), Err(BulkError::MisalignedDescriptor { offset: 5, buffer_size: BUFFER_SIZE }));
    assert_eq!(sender.send(b"x"), Err(BulkError::NoFreeBuffer));
}

#[test]
fn layouts_and_regions_are_checked() {
    assert_eq!(BulkLayout::new(0, 64), Err(BulkError::EmptyLayout { buffer_count: 0, buffer_size: 64 }));
    assert_eq!(
        BulkLayout::new(1 << 20, 1 << 13),
        Err(BulkError::DataRegionTooLarge { buffer_count: 1 << 20, buffer_size: 1 << 13 })
    );
    assert_eq!(BulkLayout::new((1 << 31) + 1, 1), Err(BulkError::TooManyBuffers { buffer_count: (1 << 31) + 1 }));
    assert_eq!(BulkLayout::new(1, 4096).unwrap().ring_capacity(), 2);
    assert_eq!(BulkLayout::new(5, 4096).unwrap().ring_capacity(), 8);

    let regions = Regions::new();
    let small_data = StdMemory::new(100);
    assert_eq!(
        BulkSender::new(&regions.active, &regions.free, &small_data, regions.layout).err(),
        Some(BulkError::DataRegionTooSmall { needed: 256, available: 100 })
    );
    assert_eq!(
        BulkError::DescriptorOutOfRange { offset: 256, data_bytes: 256 }.to_string(),
        "descriptor offset 256 is beyond the 256-byte data region"
    );
}
