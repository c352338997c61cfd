//! Answers each request with its word plus one, for ever. It becomes passive at its
//! first receive (system.toml says `passive = true`), so it runs only on its callers'
//! scheduling contexts.
#![no_std]
#![no_main]

use kaal_core::component::Component;
use kaal_core::ipc::Message;
use kaal_core::{println, Error};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(mut me: Component) -> Result<(), Error> {
    let server = me.server("calc")?;
    println!("[server] ready; waiting for callers");
    let mut request = server.recv();
    let mut served = 0u64;
    loop {
        served += 1;
        if served == 1 {
            println!("[server] first request, running on the caller's scheduling context");
        }
        request = server.reply_recv(Message::with_words(0, [request.msg.word(0) + 1]));
    }
}
