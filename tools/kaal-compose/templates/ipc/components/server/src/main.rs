//! The counter server: keeps a count per client, told apart by the badge of the
//! capability each client calls through (the root task mints one per client).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::collections::BTreeMap;

use counter_api as api;
use kaal_core::component::Component;
use kaal_core::ipc::Message;
use kaal_core::{println, Error};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(mut me: Component) -> Result<(), Error> {
    let name = me.name();
    let counter = me.server("counter")?;
    let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
    println!("[{name}] serving");
    let mut request = counter.recv();
    loop {
        let (client, msg) = (request.badge, request.msg);
        let reply = match (msg.label(), msg.len()) {
            (api::ADD, 1) => {
                let count = counts.entry(client).or_default();
                *count += msg.word(0);
                Message::with_words(api::OK, [*count])
            }
            (api::TOTALS, 0) => {
                let mine = counts.get(&client).copied().unwrap_or(0);
                Message::with_words(api::OK, [mine, counts.values().sum()])
            }
            (label, len) => {
                println!("[{name}] client {client}: bad request (label {label}, {len} words)");
                Message::new(api::BAD_REQUEST)
            }
        };
        request = counter.reply_recv(reply);
    }
}
