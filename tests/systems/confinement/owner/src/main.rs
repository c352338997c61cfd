//! The owner: writes the noticeboard, tells the intruder, then calls the vault and
//! checks every answer.
#![no_std]
#![no_main]

use kaal_core::component::Component;
use kaal_core::ipc::Message;
use kaal_core::{println, Error};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

const CALLS: u64 = 100;

fn main(mut me: Component) -> Result<(), Error> {
    let board = me.region("board")?;
    board.write_bytes(0, b"the vault is open on weekdays");
    let vault = me.client("vault")?;
    // The intruder (higher priority) wakes now and tries its luck; we carry on after.
    me.notification("ready")?.signal();
    let mut right = 0;
    for _ in 0..CALLS {
        let reply = vault.call(Message::new(1));
        right += (reply.label() == 0 && reply.word(0) == 0x5ec2e7) as u64;
    }
    vault.call(Message::new(2));
    println!("[owner] {right} of {CALLS} vault calls answered correctly");
    Ok(())
}
