//! A key-value client. Two instances run, "alice" and "bob", each with its own badged
//! capability to the server, so the server can tell them apart.
#![no_std]
#![no_main]

use kaal_core::component::Component;
use kaal_core::ipc::Message;
use kaal_core::{println, Error};
use kv_api::KvClient;

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(mut me: Component) -> Result<(), Error> {
    let name = me.name();
    let kv = KvClient::new(me.client("kv")?);
    let updates = me.notification("updates")?;
    match name {
        "alice" => {
            match kv.subscribe(&updates) {
                Ok(()) => println!("[alice] subscribed"),
                Err(e) => println!("[alice] subscribe failed: {e}"),
            }
            kv.put(1, 100).ok();
            println!("[alice] put 1 = 100; waiting for someone else to store something");
            updates.wait();
            println!("[alice] notified of an update");
            match kv.get(2) {
                Ok(v) => println!("[alice] get 2 -> {v} (stored by bob)"),
                Err(e) => println!("[alice] get 2 -> {e}"),
            }
        }
        _ => {
            // Store only once alice has subscribed and stored key 1, whatever order the
            // scheduler ran us in.
            while kv.get(1).is_err() {
                kaal_core::thread::yield_now();
            }
            println!("[{name}] get 1 -> 100 (alice is ready)");
            kv.put(2, 4242).ok();
            println!("[{name}] put 2 = 4242");
            match kv.get(99) {
                Ok(v) => println!("[{name}] get 99 -> {v}"),
                Err(e) => println!("[{name}] get 99 -> error: {e}"),
            }
            // Nonsense: a PUT with one word, and a label the server does not know.
            println!("[{name}] malformed PUT -> {:?}", kv.call_raw(Message::with_words(kv_api::PUT, [7])).map(|_| ()));
            println!("[{name}] unknown request -> {:?}", kv.call_raw(Message::new(77)).map(|_| ()));
            // SUBSCRIBE with the wrong kind of capability is refused by its type, which the
            // server checks with the kernel rather than trusting the sender. (Attaching the
            // endpoint the call goes through would not do: seL4 passes that as a badge.)
            let other = me.client("other")?;
            let wrong = Message::new(kv_api::SUBSCRIBE).with_client(&other)?;
            println!("[{name}] SUBSCRIBE with an endpoint -> {:?}", kv.call_raw(wrong).map(|_| ()));
            println!("[{name}] SHUTDOWN -> {:?}", kv.shutdown());
            match kv.stats() {
                Ok((keys, served)) => println!("[{name}] server stats: {keys} keys, {served} requests served"),
                Err(e) => println!("[{name}] server stats failed: {e}"),
            }
        }
    }
    Ok(())
}
