//! The key-value server: a component that serves PUT, GET, SUBSCRIBE and STATS.
//!
//! Every request arrives with the badge of the client capability it came through, so
//! the server knows who is asking without trusting anything the client says. It keeps
//! its store on its own heap, which no client can touch, and checks every request:
//! a wrong label or length, or a capability of the wrong kind, gets an error reply.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use kaal_core::cap::cap_type;
use kaal_core::component::Component;
use kaal_core::ipc::{CapReceipt, Message};
use kaal_core::{println, Error, Notification};
use kv_api::KvError;

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

const MAX_KEYS: usize = 1024;

fn error(e: KvError) -> Message {
    Message::new(e as u64)
}

fn main(mut me: Component) -> Result<(), Error> {
    let name = me.name();
    let server = me.server("requests")?;
    let mut store: BTreeMap<u64, u64> = BTreeMap::new();
    // (badge of the subscriber, its notification)
    let mut subscribers: Vec<(u64, Notification)> = Vec::new();
    let mut served = 0u64;
    println!("[{name}] serving");
    loop {
        // Offer a slot for a capability with every request; SUBSCRIBE brings one.
        let slot = me.cspace().alloc_slot()?;
        let (request, receipt) = server.recv_with_cap(slot);
        let mut cap = match receipt {
            CapReceipt::Received(cap) => Some(cap),
            CapReceipt::Nothing(slot) => {
                me.cspace().free_slot(slot);
                None
            }
        };
        served += 1;
        let (client, msg) = (request.badge, request.msg);
        let reply = match (msg.label(), msg.len()) {
            (kv_api::PUT, 2) if store.len() < MAX_KEYS || store.contains_key(&msg.word(0)) => {
                store.insert(msg.word(0), msg.word(1));
                println!("[{name}] client {client}: put {} = {}", msg.word(0), msg.word(1));
                // Tell everyone else; the writer knows already.
                for (_, notification) in subscribers.iter().filter(|(who, _)| *who != client) {
                    notification.signal();
                }
                Message::new(0)
            }
            (kv_api::PUT, 2) => error(KvError::Full),
            (kv_api::GET, 1) => match store.get(&msg.word(0)) {
                Some(value) => Message::with_words(0, [*value]),
                None => error(KvError::NotFound),
            },
            (kv_api::SUBSCRIBE, 0) => match cap.take().map(|c| c.expect::<cap_type::Notification>(me.cspace())) {
                Some(Ok(notification)) => {
                    println!("[{name}] client {client}: subscribed with a notification capability");
                    subscribers.push((client, notification));
                    Message::new(0)
                }
                Some(Err(e)) => {
                    println!("[{name}] client {client}: SUBSCRIBE refused: {e}");
                    error(KvError::NeedsNotification)
                }
                None => error(KvError::NeedsNotification),
            },
            (kv_api::STATS, 0) => Message::with_words(0, [store.len() as u64, served]),
            (kv_api::SHUTDOWN, 0) if client == kv_api::ADMIN_BADGE => {
                println!("[{name}] shutting down at the administrator's request ({} keys stored)", store.len());
                server.reply(Message::new(0));
                return Ok(());
            }
            (kv_api::SHUTDOWN, 0) => {
                println!("[{name}] client {client}: SHUTDOWN refused (not the administrator)");
                error(KvError::NotAllowed)
            }
            (label, len) => {
                println!("[{name}] client {client}: bad request (label {label}, {len} words); refused");
                error(KvError::BadRequest)
            }
        };
        // A capability nobody asked for is deleted; its slot goes back.
        if let Some(unwanted) = cap {
            unwanted.discard(me.cspace());
        }
        server.reply(reply);
    }
}
