//! Lesson 04: components that talk.
//!
//! Part 1: a key-value server and two clients, each a component in its own address
//! space, connected by one endpoint. The root task creates the endpoint, mints one
//! badged client capability per client, and grants each component only what it needs.
//!
//! Part 2: a producer and a consumer share a ring in memory mapped into both, and wake
//! each other with notifications only when the other side is about to sleep.
#![no_std]
#![no_main]

use kaal_alloc::{HeapConfig, UntypedAllocator};
use kaal_core::ipc;
use kaal_core::shared::SharedRegion;
use kaal_core::supervisor::{ComponentConfig, Grant, Supervisor};
use kaal_core::{println, Badge, Error, Notification, RootTask};
use kaal_ipc::RingLayout;
use kv_api::KvClient;

kaal_core::root_task!(main);
kaal_alloc::global_heap!(HEAP);

/// Where the root task maps the ring (it only initialises the header).
const RING_VADDR: u64 = 0x0000_5000_0000_0000;
const RING_BYTES: usize = 4096;

fn badge(value: u64) -> Badge {
    Badge::new(value).expect("small non-zero badges are valid")
}

fn main(rt: RootTask) -> Result<(), Error> {
    let RootTask { cspace, mut vspace, untypeds, asid_pool, .. } = rt;
    let mut memory = UntypedAllocator::new(untypeds, cspace);
    let heap = memory.sub_allocator(24, 32)?;
    kaal_alloc::heap::init(vspace.try_clone(memory.cspace())?, heap, HeapConfig::default())?;
    let root_vspace = vspace.try_clone(memory.cspace())?;
    let mut supervisor = Supervisor::new(&mut memory, asid_pool, root_vspace)?;

    println!("== part 1: a key-value server and two clients over an endpoint");
    let requests = ipc::channel(&mut memory)?;
    let alice = requests.client(badge(1), memory.cspace())?;
    let bob = requests.client(badge(2), memory.cspace())?;
    let admin = KvClient::new(requests.client(badge(kv_api::ADMIN_BADGE), memory.cspace())?);
    let alice_updates: Notification = memory.allocate()?;
    let bob_updates: Notification = memory.allocate()?;

    let server_grants = [Grant::server("requests", &requests)];
    let alice_grants = [Grant::client("kv", &alice), Grant::notification("updates", &alice_updates)];
    // Bob also gets an unrelated endpoint, which he will offer where a notification is due.
    let unrelated = ipc::channel(&mut memory)?;
    let bob_other = unrelated.client(badge(3), memory.cspace())?;
    let bob_grants =
        [Grant::client("kv", &bob), Grant::notification("updates", &bob_updates), Grant::client("other", &bob_other)];
    let server_image = kaal_core::component_image!("kv-server");
    let client_image = kaal_core::component_image!("kv-client");
    supervisor.spawn(
        &mut memory,
        ComponentConfig::builder().name("kv-server").image(server_image).grants(&server_grants).build(),
    )?;
    supervisor.spawn(
        &mut memory,
        ComponentConfig::builder().name("alice").image(client_image).grants(&alice_grants).build(),
    )?;
    supervisor
        .spawn(&mut memory, ComponentConfig::builder().name("bob").image(client_image).grants(&bob_grants).build())?;

    // Wait for both clients, then shut the server down with the admin capability.
    let mut clients_done = 0;
    while clients_done < 2 {
        let event = supervisor.next_event();
        println!("[supervisor] {event}");
        if matches!(event, kaal_core::supervisor::Event::Exited { component: "alice" | "bob", .. }) {
            clients_done += 1;
        }
    }
    match admin.stats() {
        Ok((keys, served)) => println!("[root] server stats: {keys} keys, {served} requests"),
        Err(e) => println!("[root] stats failed: {e}"),
    }
    if let Err(e) = admin.shutdown() {
        println!("[root] shutdown refused: {e}");
    }
    let report = supervisor.run();
    println!(
        "after part 1: {} components succeeded, {} failed, {} faulted",
        report.succeeded, report.failed, report.faulted
    );

    println!("== part 2: a producer and a consumer over a shared ring");
    let ring = SharedRegion::new(&mut memory, &mut vspace, RING_VADDR, RING_BYTES)?;
    RingLayout::for_item::<u64>(ring_api::CAPACITY)
        .and_then(|layout| layout.init_header(&ring))
        .map_err(|_| Error::InvalidSize { what: "ring", value: RING_BYTES as u64, limit: RING_BYTES as u64 })?;
    let data_ready: Notification = memory.allocate()?;
    let space_free: Notification = memory.allocate()?;
    let producer_grants = [
        Grant::region("ring", &ring, true),
        Grant::signal("data-ready", &data_ready, badge(1)),
        Grant::wait("space-free", &space_free),
    ];
    let consumer_grants = [
        Grant::region("ring", &ring, true),
        Grant::wait("data-ready", &data_ready),
        Grant::signal("space-free", &space_free, badge(1)),
    ];
    let producer = kaal_core::component_image!("ring-producer");
    let consumer = kaal_core::component_image!("ring-consumer");
    supervisor.spawn(
        &mut memory,
        ComponentConfig::builder().name("consumer").image(consumer).grants(&consumer_grants).build(),
    )?;
    supervisor.spawn(
        &mut memory,
        ComponentConfig::builder().name("producer").image(producer).grants(&producer_grants).build(),
    )?;
    let report = supervisor.run();
    println!(
        "after part 2: {} components succeeded, {} failed, {} faulted",
        report.succeeded, report.failed, report.faulted
    );
    Ok(())
}
