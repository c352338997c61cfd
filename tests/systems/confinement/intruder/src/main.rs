//! The intruder: tries to reach what it was not granted. Every attempt must fail with
//! an error, and the last one, a write to its read-only grant, must stop it.
//!
//! It forges capability pointers with `unsafe`: that is exactly what a malicious
//! program can do, and exactly what seL4's capability lookup makes harmless.
#![no_std]
#![no_main]

use kaal_core::cap::{cap_type, Cap};
use kaal_core::component::Component;
use kaal_core::ipc::{Client, Message};
use kaal_core::{println, Error, Rights};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(mut me: Component) -> Result<(), Error> {
    // Wait until the owner has written the board (and is about to start on the vault).
    me.notification("ready")?.wait();

    // 1. Asking by name for what others were granted.
    println!("[intruder] me.client(\"vault\") -> {}", me.client("vault").map(|_| "granted").unwrap_err());
    println!("[intruder] me.server(\"board\") -> {}", me.server("board").map(|_| "granted").unwrap_err());

    // 2. What its CNode really holds, according to the kernel.
    let held: heapless::Vec<(u64, &str), 16> = me.capabilities()?.take(16).collect();
    println!("[intruder] my CNode holds {} capabilities:", held.len());
    for (slot, what) in &held {
        println!("[intruder]   slot {slot}: {what}");
    }

    // 3. Forged pointers: the root task's well-known slots (ASID control, the I/O
    //    ports; the root's IRQ control and ASID pool are at 4 and 6, which in a component
    //    hold its heap lock's notification and its log-ring signal) and slots where other
    //    components hold grants. On an MCS kernel slot 7 is the component's own reply
    //    object, which the listing above shows; a slot it holds is not a forgery.
    for slot in [5u64, 7, 9, 10].into_iter().filter(|s| !held.iter().any(|(h, _)| h == s)) {
        // SAFETY: deliberately forged; the kernel decides what it refers to (nothing).
        let forged = unsafe { Cap::<cap_type::IrqControl>::from_cptr(slot) };
        match me.cspace().copy(&forged, Rights::ALL) {
            Ok(stolen) => println!("[intruder] UNEXPECTED: copied slot {slot} into {stolen:?}"),
            Err(e) => println!("[intruder] copying slot {slot} -> {e}"),
        }
    }
    // SAFETY: as above.
    let forged = Client::from_endpoint(unsafe { Cap::<cap_type::Endpoint>::from_cptr(9) }, None);
    let reply = forged.call(Message::new(1));
    println!(
        "[intruder] calling through slot 9 -> reply label {} (seL4 error code), {} words",
        reply.label(),
        reply.len()
    );

    // 4. Its one grant is read-only: reading works, writing faults.
    let board = me.region("board")?;
    let mut text = [0u8; 29];
    board.read_bytes(0, &mut text);
    println!("[intruder] the board says: {}", core::str::from_utf8(&text).unwrap_or("?"));
    println!("[intruder] writing to the read-only board at {:#x} ...", board.vaddr());
    // `board.write_u64` would refuse (the handle knows the grant is read-only); a raw
    // store shows that the kernel refuses too: the page is mapped read-only.
    // SAFETY: deliberately wrong; the mapping is read-only, so this faults.
    unsafe { core::ptr::write_volatile(board.vaddr() as *mut u64, 0xbad) };
    println!("[intruder] UNEXPECTED: the write went through");
    Ok(())
}
