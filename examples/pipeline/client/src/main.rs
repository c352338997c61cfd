//! The pipeline's client: asks the calculator server for results over the `calc`
//! channel, checks every answer against its own arithmetic, and keeps a checksum of
//! them that the logger must reproduce from the log.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;

use kaal_core::component::Component;
use kaal_core::ipc::Message;
use kaal_core::println;
use pipeline_api as api;

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(mut me: Component) -> Result<(), Box<dyn core::error::Error>> {
    let name = me.name();
    let calc = me.client("calc")?;
    let (mut ok, mut refused, mut wrong, mut checksum) = (0u64, 0u64, 0u64, 0u64);
    for i in 0..api::REQUESTS {
        let (op, a, b) = api::request(i);
        let reply = calc.call(Message::with_words(op, [a, b]));
        let (status, result) = (reply.label(), if reply.len() == 1 { reply.word(0) } else { 0 });
        let expected = api::apply(op, a, b);
        match (expected, status) {
            (Ok(value), api::OK) if value == result => ok += 1,
            (Err(why), got) if why == got => refused += 1,
            _ => {
                wrong += 1;
                println!(
                    "[{name}] request {i}: {a} {} {b} -> status {status}, {result}; expected {expected:?}",
                    api::symbol(op)
                );
            }
        }
        checksum = api::checksum(checksum, op, status, result);
    }
    println!(
        "[{name}] {} requests: {ok} answered, {refused} refused as expected, {wrong} wrong; checksum {checksum:#018x}",
        api::REQUESTS
    );
    calc.call(Message::new(api::SHUTDOWN));
    if wrong > 0 {
        return Err(format!("{wrong} of {} answers were wrong", api::REQUESTS).into());
    }
    Ok(())
}
