//! The vault: answers GET with its secret, counting callers by badge, until its owner
//! (badge 1, the only client system.toml gives it) says STOP.
#![no_std]
#![no_main]

use kaal_core::component::Component;
use kaal_core::ipc::Message;
use kaal_core::{println, Error};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

const GET: u64 = 1;
const STOP: u64 = 2;
const SECRET: u64 = 0x5ec2e7;

fn main(mut me: Component) -> Result<(), Error> {
    let vault = me.server("vault")?;
    let (mut from_owner, mut from_others) = (0u64, 0u64);
    let mut request = vault.recv();
    loop {
        if request.badge == 1 {
            from_owner += 1;
        } else {
            from_others += 1;
        }
        match request.msg.label() {
            STOP => {
                vault.reply(Message::new(0));
                break;
            }
            GET => request = vault.reply_recv(Message::with_words(0, [SECRET])),
            _ => request = vault.reply_recv(Message::new(1)),
        }
    }
    println!("[vault] served {from_owner} calls from the owner and {from_others} from anyone else");
    Ok(())
}
