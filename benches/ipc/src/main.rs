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
use kaal_core::ipc::{self, Client, Message};
use kaal_core::process::{Grant, ProcessConfig, Supervisor};
use kaal_core::{println, sys, Badge, Error, Notification, RootTask};

kaal_core::root_task!(main);
kaal_alloc::global_heap!(HEAP);

const ROUND_TRIPS: u64 = 20_000;
const PINGS: u64 = 10_000;
const BULK_ROUNDS: u64 = 200;

fn report(name: &str, what: &str, iterations: u64, cycles: u64) {
    println!("BENCH result name={name} what=\"{what}\" iterations={iterations} cycles={cycles}");
}

fn main(rt: RootTask) -> Result<(), Error> {
    let RootTask { cspace, vspace, untypeds, asid_pool, bootinfo, .. } = rt;
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

    let root_vspace = vspace.try_clone(memory.cspace())?;
    let mut supervisor = Supervisor::new(&mut memory, asid_pool, root_vspace)?;
    let grants = [
        Grant::server("requests", &server),
        Grant::wait("ping", &ping),
        Grant::signal("pong", &pong, Badge::new(1).expect("badge")),
    ];
    let peer = ProcessConfig::builder()
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

    println!("BENCH ratio what=\"KaaL wrapper / raw seL4 round trip\" over=wrapped_call under=raw_call max=1.05");
    client.call(Message::new(proto::DONE));
    let outcome = supervisor.run();
    println!("ipc bench: done ({} component exited cleanly)", outcome.succeeded);
    Ok(())
}

fn raw_round_trips(client: &Client) {
    let ep = client.endpoint().cptr();
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
    let mut run = |n: u64| {
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

fn endpoint_bulk(client: &Client) {
    client.call(Message::new(proto::PHASE_ENDPOINT_BULK));
    let words = (proto::BULK_BYTES / 8) as u64;
    let mut chunk = [0u64; proto::WORDS_PER_MESSAGE];
    let mut mismatches = 0;
    let mut run = |rounds: u64| {
        let start = cycles();
        for round in 0..rounds {
            let mut sent = 0u64;
            while sent < words {
                let n = (words - sent).min(proto::WORDS_PER_MESSAGE as u64) as usize;
                let mut sum = 0;
                for (k, w) in chunk[..n].iter_mut().enumerate() {
                    *w = proto::payload_word(round, sent + k as u64);
                    sum = proto::checksum(sum, *w);
                }
                let msg = Message::from_slice(1, &chunk[..n]).expect("120 words fit in a message");
                if client.call(msg).word(0) != sum {
                    mismatches += 1;
                }
                sent += n as u64;
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
