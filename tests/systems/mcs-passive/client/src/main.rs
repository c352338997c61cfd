//! Calls the passive server and checks every answer.
#![no_std]
#![no_main]

use kaal_core::arch::cycles;
use kaal_core::component::Component;
use kaal_core::ipc::Message;
use kaal_core::{println, Error};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

const CALLS: u64 = 1000;

fn main(mut me: Component) -> Result<(), Error> {
    let calc = me.client("calc")?;
    let start = cycles();
    let mut wrong = 0;
    for i in 0..CALLS {
        if calc.call(Message::with_words(1, [i])).word(0) != i + 1 {
            wrong += 1;
        }
    }
    let per_call = (cycles() - start) / CALLS;
    println!("[client] {CALLS} calls to the passive server: {} answered correctly, {wrong} wrong", CALLS - wrong);
    println!("[client] {per_call} TSC cycles per round trip");
    Ok(())
}
