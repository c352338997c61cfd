//! Two real threads pushing many items through small rings with the blocking calls:
//! nothing is lost, reordered or stuck, and notifications are rare when both keep up.

mod common;

use std::thread;

use common::{Notification, StdMemory};
use kaal_ipc::{BulkLayout, BulkReceiver, BulkSender, Consumer, Producer, RingLayout, SharedMemory};

const ITEMS: u64 = 100_000;
const CAPACITY: u32 = 64;

fn mix(checksum: u64, item: u64) -> u64 {
    (checksum ^ item).wrapping_mul(0x0000_0100_0000_01b3)
}

#[test]
fn blocking_ring_moves_every_item_once_in_order() {
    let layout = RingLayout::for_item::<u64>(CAPACITY).unwrap();
    let memory = StdMemory::new(layout.bytes_needed());
    layout.init_header(&memory).unwrap();
    let items_ready = Notification::default();
    let space_ready = Notification::default();

    let (sent, received) = thread::scope(|scope| {
        let producer = scope.spawn(|| {
            let mut producer = Producer::<u64, _>::new(&memory, CAPACITY).unwrap();
            (0..ITEMS).fold(0, |checksum, item| {
                producer.push_blocking(item, &items_ready, &space_ready).unwrap();
                mix(checksum, item)
            })
        });
        let consumer = scope.spawn(|| {
            let mut consumer = Consumer::<u64, _>::new(&memory, CAPACITY).unwrap();
            (0..ITEMS).fold(0, |checksum, expected| {
                let item = consumer.pop_blocking(&items_ready, &space_ready).unwrap();
                assert_eq!(item, expected);
                mix(checksum, item)
            })
        });
        (producer.join().unwrap(), consumer.join().unwrap())
    });

    assert_eq!(sent, received);
    let consumer = Consumer::<u64, _>::new(&memory, CAPACITY).unwrap();
    assert_eq!(consumer.available(), Ok(0), "nothing left over");
    let (to_consumer, to_producer) = (items_ready.signals(), space_ready.signals());
    println!("{ITEMS} items: {to_consumer} notifications to the consumer, {to_producer} to the producer");
    assert!(to_consumer + to_producer < ITEMS as usize);
}

#[test]
fn blocking_bulk_transfer_moves_every_payload() {
    const MESSAGES: u32 = 20_000;
    let layout = BulkLayout::new(8, 256).unwrap();
    let ring_bytes = layout.ring_layout().bytes_needed();
    let (active, free) = (StdMemory::new(ring_bytes), StdMemory::new(ring_bytes));
    let data = StdMemory::new(layout.data_bytes() as usize);
    layout.init_rings(&active, &free).unwrap();
    let to_receiver = Notification::default();
    let to_sender = Notification::default();
    let payload = |message: u32| -> Vec<u8> { (0..message % 257).map(|i| (i ^ message) as u8).collect() };

    thread::scope(|scope| {
        scope.spawn(|| {
            let mut sender = BulkSender::new(&active, &free, &data, layout).unwrap();
            for message in 0..MESSAGES {
                sender.send_blocking(&payload(message), &to_receiver, &to_sender).unwrap();
            }
        });
        scope.spawn(|| {
            let mut receiver = BulkReceiver::new(&active, &free, &data, layout).unwrap();
            for message in 0..MESSAGES {
                let bytes = receiver
                    .receive_blocking_with(&to_receiver, &to_sender, |data, offset, len| {
                        let mut bytes = vec![0; len];
                        data.read_bytes(offset, &mut bytes);
                        bytes
                    })
                    .unwrap();
                assert_eq!(bytes, payload(message));
            }
        });
    });
    println!(
        "{MESSAGES} payloads: {} notifications to the receiver, {} to the sender",
        to_receiver.signals(),
        to_sender.signals()
    );
}
