//! Sends the time service every malformed request it can think of, then checks that
//! the service still serves it (and, by the others' results, everyone else).
#![no_std]
#![no_main]

use kaal_abi::time::{errors, labels};
use kaal_core::component::Component;
use kaal_core::ipc::{Client, Message};
use kaal_core::time::{Duration, Instant, Timer};
use kaal_core::{println, Error};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn ask(service: &Client, what: &str, msg: Message) {
    let code = service.call(msg).label();
    println!("[prankster] {what} -> code {code}: {}", errors::describe(code));
}

fn main(mut me: Component) -> Result<(), Error> {
    let service = me.client(kaal_abi::time::GRANT)?;
    let wake = me.notification(kaal_abi::time::WAKE)?;

    ask(&service, "label 0", Message::new(0));
    ask(&service, "unknown label 77", Message::new(77));
    ask(&service, "WAKE_AT without a target", Message::from_slice(labels::WAKE_AT, &[5])?);
    ask(&service, "WAKE_AT for target 99", Message::from_slice(labels::WAKE_AT, &[5, 99])?);
    ask(&service, "CANCEL of unregistered target 3", Message::from_slice(labels::CANCEL, &[3])?);
    ask(&service, "REGISTER without a capability", Message::new(labels::REGISTER));
    ask(
        &service,
        "WAKE_AT with a capability attached",
        Message::from_slice(labels::WAKE_AT, &[5, 0])?.with_cap(&wake)?,
    );
    // Targets 1..=7 fill up; the eighth registration is refused.
    for i in 1..=8 {
        let reply = service.call(Message::new(labels::REGISTER).with_cap(&wake)?);
        if reply.label() != errors::OK {
            let code = reply.label();
            println!("[prankster] registration {i} -> code {code}: {}", errors::describe(code));
        }
    }
    // After all that, the service still serves this component.
    let timer = Timer::new(service, wake);
    let start = Instant::now();
    timer.sleep(Duration::from_millis(10))?;
    println!("[prankster] still served: sleep(10 ms) took {} us", start.elapsed().as_micros());
    Ok(())
}
