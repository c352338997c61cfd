//! `cargo kaal bench ipc`: what KaaL's IPC costs, measured on the real kernel.
//!
//! The root task measures; the peer component (another address space, same priority so
//! the kernel's IPC fastpath applies) serves. Under `-icount shift=0` the time-stamp
//! counter counts instructions, so every figure repeats. Results are printed as `BENCH`
//! lines for `kaal bench` to tabulate.
#![no_std]
#![no_main]

use ipc_bench_protocol as proto;
use kaal_alloc::{HeapConfig, UntypedAllocator};
use kaal_core::arch::cycles;
use kaal_core::ipc::{self, Client, LongMessage, Message};
use kaal_core::shared::SharedRegion;
use kaal_core::supervisor::{ComponentConfig, Grant, Supervisor};
use kaal_core::{println, sys, Badge, Error, Notification, RootTask};
use kaal_ipc::{BulkLayout, BulkSender, Producer, RingLayout, SharedMemory, Window};

kaal_core::root_task!(main);
kaal_alloc::global_heap!(HEAP);

const ROUND_TRIPS: u64 = 20_000;
const PINGS: u64 = 10_000;
const BULK_ROUNDS: u64 = 200;
const RING_MESSAGES: u64 = 100_000;
/// Where the root task maps the shared region.
const SHM_VADDR: u64 = 0x0000_5000_0000_0000;

/// Setting up the shared region failed: say why, and stop.
fn setup_error<E: core::fmt::Display>(e: E) -> Error {
    println!("ipc bench: cannot set up the shared region: {e}");
    Error::InvalidSize { what: "benchmark shared region", value: proto::REGION_BYTES as u64, limit: 0 }
}

fn report(name: &str, what: &str, iterations: u64, cycles: u64) {
    println!("BENCH result name={name} what=\"{what}\" iterations={iterations} cycles={cycles}");
}

fn main(rt: RootTask) -> Result<(), Error> {
    let RootTask { cspace, mut vspace, untypeds, asid_pool, bootinfo, .. } = rt;
    let mut memory = UntypedAllocator::new(untypeds, cspace);
    let heap = memory.sub_allocator(24, 32)?;
    kaal_alloc::heap::init(vspace.try_clone(memory.cspace())?, heap, HeapConfig::default())?;
    println!("ipc bench: TSC {} MHz (under -icount the counter counts instructions)", bootinfo.tsc_mhz());

    let server = ipc::channel(&mut memory)?;
    let client = server.client(Badge::new(1).expect("1 is a valid badge"), memory.cspace())?;
    let ping: Notification = memory.allocate()?;
    let pong: Notification = memory.allocate()?;
    let ping_go = memory.cspace().mint(&ping, kaal_core::Rights::WRITE, Badge::new(proto::PING_GO).expect("badge"))?;
    let ping_stop =
        memory.cspace().mint(&ping, kaal_core::Rights::WRITE, Badge::new(proto::PING_STOP).expect("badge"))?;

    // The shared region: headers initialised here, once, before either end attaches.
    let shm = SharedRegion::new(&mut memory, &mut vspace, SHM_VADDR, proto::REGION_BYTES)?;
    let window = |offset, size| Window::new(&shm, offset, size).map_err(setup_error);
    RingLayout::for_item::<u64>(proto::RING_CAPACITY).and_then(|l| l.init_header(&shm)).map_err(setup_error)?;
    let layout = BulkLayout::new(proto::BULK_BUFFERS, proto::BULK_BUFFER_BYTES).map_err(setup_error)?;
    let active = window(proto::BULK_ACTIVE_OFFSET, proto::BULK_RING_BYTES)?;
    let free = window(proto::BULK_FREE_OFFSET, proto::BULK_RING_BYTES)?;
    layout.init_rings(&active, &free).map_err(setup_error)?;
    let data: Notification = memory.allocate()?;
    let space: Notification = memory.allocate()?;
    let data_signal = memory.cspace().mint(&data, kaal_core::Rights::WRITE, Badge::new(1).expect("badge"))?;

    let root_vspace = vspace.try_clone(memory.cspace())?;
    let mut supervisor = Supervisor::new(&mut memory, asid_pool, root_vspace)?;
    let grants = [
        Grant::server("requests", &server),
        Grant::wait("ping", &ping),
        Grant::signal("pong", &pong, Badge::new(1).expect("badge")),
        Grant::region("shm", &shm, true),
        Grant::wait("data", &data),
        Grant::signal("space", &space, Badge::new(1).expect("badge")),
    ];
    let peer = ComponentConfig::builder()
        .name("peer")
        .image(kaal_core::component_image!("ipc-bench-peer"))
        .priority(255)
        .grants(&grants)
        .build();
    supervisor.spawn(&mut memory, peer)?;

    raw_round_trips(&client);
    wrapped_round_trips(&client);
    notification_ping_pong(&client, &ping_go, &ping_stop, &pong);
    endpoint_bulk(&client);
    let mut ring: Producer<u64, _> =
        Producer::new(window(proto::RING_OFFSET, 4096)?, proto::RING_CAPACITY).map_err(setup_error)?;
    ring_messages(&client, &mut ring, 1, &data_signal, &space, &pong);
    ring_messages(&client, &mut ring, 64, &data_signal, &space, &pong);
    let data_window = window(proto::BULK_DATA_OFFSET, layout.data_bytes() as usize)?;
    let mut bulk = BulkSender::new(active, free, data_window, layout).map_err(setup_error)?;
    ring_bulk(&client, &mut bulk, &data_signal, &space, &pong);

    println!("BENCH ratio what=\"KaaL wrapper / raw seL4 round trip\" over=wrapped_call under=raw_call max=1.05");
    println!("BENCH ratio what=\"ring, single / batched (64)\" over=ring_single under=ring_batch");
    println!(
        "BENCH ratio what=\"10 KiB: endpoint messages / ring + bulk buffer\" over=endpoint_10k under=ring_10k min=4"
    );
    client.call(Message::new(proto::DONE));
    let outcome = supervisor.run();
    println!("ipc bench: done ({} component exited cleanly)", outcome.succeeded);
    Ok(())
}

fn raw_round_trips(client: &Client) {
    // SAFETY: the client side is used only to call.
    let ep = unsafe { client.raw_cptr() };
    client.call(Message::new(proto::PHASE_RAW));
    let info = sys::message_info(0, 0, 0, 1);
    let mut check = 0u64;
    let mut run = |n: u64| {
        let start = cycles();
        for i in 0..n {
            // SAFETY: a Call on our own endpoint client; registers only.
            let r = unsafe { sys::syscall(sys::syscall::seL4_SysCall, ep, info, [i, 0, 0, 0]) };
            check = check.wrapping_add(r.mr[0]);
        }
        cycles() - start
    };
    run(100);
    let spent = run(ROUND_TRIPS);
    client.call(Message::new(proto::STOP));
    println!("raw round trips: checksum {check}");
    report("raw_call", "raw seL4 Call + ReplyRecv round trip (2 address spaces)", ROUND_TRIPS, spent);
}

fn wrapped_round_trips(client: &Client) {
    client.call(Message::new(proto::PHASE_WRAPPED));
    let mut check = 0u64;
    let mut run = |n: u64| {
        let start = cycles();
        for i in 0..n {
            check = check.wrapping_add(client.call(Message::with_words(0, [i])).word(0));
        }
        cycles() - start
    };
    run(100);
    let spent = run(ROUND_TRIPS);
    client.call(Message::new(proto::STOP));
    println!("wrapped round trips: checksum {check}");
    report("wrapped_call", "KaaL Client::call + Server::reply_recv round trip", ROUND_TRIPS, spent);
}

fn notification_ping_pong(client: &Client, go: &Notification, stop: &Notification, pong: &Notification) {
    client.call(Message::new(proto::PHASE_NOTIFY));
    let run = |n: u64| {
        let start = cycles();
        for _ in 0..n {
            go.signal();
            pong.wait();
        }
        cycles() - start
    };
    run(100);
    let spent = run(PINGS);
    stop.signal();
    // Two signal -> wait hops per round trip.
    report("signal_wait", "Signal -> Wait (one hop, half a ping-pong)", PINGS * 2, spent);
}

/// The 10 KiB payload: prepared once, before timing; word 0 carries the round number,
/// so every transfer differs.
fn payload() -> [u64; proto::BULK_BYTES / 8] {
    core::array::from_fn(|i| proto::payload_word(0, i as u64))
}

/// The wrapping sum of a payload whose word 0 is `round`.
fn payload_sum(payload: &[u64], round: u64) -> u64 {
    payload[1..].iter().fold(round, |acc, w| acc.wrapping_add(*w))
}

/// 10 KiB per transfer as endpoint messages of up to 120 words. The peer copies each
/// message out of its IPC buffer (the next message overwrites it) and sums it.
fn endpoint_bulk(client: &Client) {
    client.call(Message::new(proto::PHASE_ENDPOINT_BULK));
    let mut payload = payload();
    let mut mismatches = 0;
    let mut run = |rounds: u64| {
        let start = cycles();
        for round in 0..rounds {
            payload[0] = round;
            let mut sum = 0u64;
            for (chunk, words) in payload.chunks(proto::WORDS_PER_MESSAGE).enumerate() {
                let msg = LongMessage::from_slice(1 + chunk as u64, words).expect("120 words fit in a message");
                sum = sum.wrapping_add(client.call(msg).word(0));
            }
            if sum != payload_sum(&payload, round) {
                mismatches += 1;
            }
        }
        cycles() - start
    };
    run(5);
    let spent = run(BULK_ROUNDS);
    client.call(Message::new(proto::STOP));
    println!("endpoint bulk: {mismatches} checksum mismatches");
    report("endpoint_10k", "10 KiB as endpoint messages (11 calls of <= 120 words)", BULK_ROUNDS, spent);
}

fn ring_messages<M: SharedMemory>(
    client: &Client,
    ring: &mut Producer<u64, M>,
    batch: usize,
    data: &Notification,
    space: &Notification,
    done: &Notification,
) {
    client.call(Message::with_words(proto::PHASE_RING, [RING_MESSAGES, batch as u64]));
    let mut chunk = [0u64; 64];
    let start = cycles();
    let mut sent = 0u64;
    let mut expected = 0u64;
    while sent < RING_MESSAGES {
        let n = ((RING_MESSAGES - sent) as usize).min(batch);
        for (k, slot) in chunk[..n].iter_mut().enumerate() {
            *slot = sent + k as u64;
            expected = expected.wrapping_add(*slot);
        }
        let mut pushed = 0;
        while pushed < n {
            let result = if batch == 1 {
                ring.push_notify(chunk[0], data).map(|_| 1)
            } else {
                ring.push_batch_notify(&chunk[pushed..n], data)
            };
            match result {
                Ok(0) | Err(kaal_ipc::RingError::Full) => {
                    if ring.request_space_signal().unwrap_or(false) {
                        space.wait();
                    }
                }
                Ok(k) => pushed += k,
                Err(e) => {
                    println!("ring error: {e}");
                    return;
                }
            }
        }
        sent += n as u64;
    }
    done.wait();
    let spent = cycles() - start;
    let sum = client.call(Message::new(proto::STOP)).word(0);
    println!("ring, batch {batch}: {} (sum {sum})", if sum == expected { "sums match" } else { "SUM MISMATCH" });
    let (name, what) = if batch == 1 {
        ("ring_single", "ring push + pop per message, one at a time (2 address spaces)")
    } else {
        ("ring_batch", "ring push + pop per message, batches of 64 (2 address spaces)")
    };
    report(name, what, RING_MESSAGES, spent);
}

/// 10 KiB per transfer written once into a shared bulk buffer; the peer sums it in
/// place and hands the buffer back. Transfers pipeline through the 8 buffers.
fn ring_bulk<A: SharedMemory, F: SharedMemory, D: SharedMemory>(
    client: &Client,
    bulk: &mut BulkSender<A, F, D>,
    data: &Notification,
    space: &Notification,
    done: &Notification,
) {
    client.call(Message::with_words(proto::PHASE_RING_BULK, [BULK_ROUNDS]));
    let mut payload = payload();
    let mut expected = 0u64;
    let start = cycles();
    for round in 0..BULK_ROUNDS {
        payload[0] = round;
        let sent = bulk.send_blocking_with(data, space, |region, offset, _capacity| {
            region.write_bytes(offset, bytemuck::cast_slice(&payload));
            proto::BULK_BYTES
        });
        if let Err(e) = sent {
            println!("bulk error: {e}");
            return;
        }
        expected = expected.wrapping_add(payload_sum(&payload, round));
    }
    done.wait();
    let spent = cycles() - start;
    let total = client.call(Message::new(proto::STOP)).word(0);
    println!("ring bulk: {}", if total == expected { "sums match" } else { "SUM MISMATCH" });
    report("ring_10k", "10 KiB through a bulk buffer + descriptor ring (zero-copy)", BULK_ROUNDS, spent);
}
