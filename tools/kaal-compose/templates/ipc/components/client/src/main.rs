//! A client of the counter server: adds 1..=10 and reads the totals back.
#![no_std]
#![no_main]

use counter_api as api;
use kaal_core::component::Component;
use kaal_core::ipc::Message;
use kaal_core::{println, Error};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(mut me: Component) -> Result<(), Error> {
    let name = me.name();
    let counter = me.client("counter")?;
    for n in 1..=10 {
        let reply = counter.call(Message::with_words(api::ADD, [n]));
        if reply.label() != api::OK {
            println!("[{name}] ADD {n} was refused");
        }
    }
    let totals = counter.call(Message::new(api::TOTALS));
    println!("[{name}] my count is {}, the server's total is {}", totals.word(0), totals.word(1));
    Ok(())
}
