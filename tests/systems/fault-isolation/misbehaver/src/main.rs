//! A component that misbehaves on purpose, in the way its instance name says. The
//! `unsafe` blocks are the misbehaviour under test.
#![no_std]
#![no_main]

use kaal_core::component::Component;
use kaal_core::ipc::Message;
use kaal_core::{println, sys, Cap, ExitStatus};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(me: Component) -> ExitStatus {
    let name = me.name();
    for step in 0..3 {
        println!("[{name}] step {step}");
        kaal_core::thread::yield_now();
    }
    match name {
        "vm-fault" => {
            println!("[{name}] writing to unmapped address 0xdead0000");
            // SAFETY: none; this write faults on purpose.
            unsafe { core::ptr::write_volatile(0xdead_0000 as *mut u64, 1) };
        }
        "bad-syscall" => {
            println!("[{name}] making syscall number 42");
            // SAFETY: none; the kernel does not know syscall 42 and raises a fault.
            unsafe { sys::syscall(42, 0, 0, [0; 4]) };
        }
        "cap-fault" => {
            // An empty slot that exists would only make the invocation fail with an error;
            // a pointer outside the CSpace (a guard mismatch) makes the lookup fail, and
            // the kernel raises a capability fault.
            println!("[{name}] calling through capability pointer 0xdead00000000, which no slot has");
            // SAFETY: the pointer resolves to nothing; the call faults on the lookup.
            let nothing: kaal_core::Endpoint = unsafe { Cap::from_cptr(0xdead_0000_0000) };
            nothing.call(Message::new(1));
        }
        "hostile" => {
            println!("[{name}] sending a made-up message to the supervisor");
            // SAFETY: slot 3 is our supervisor endpoint; the message is garbage on purpose.
            let supervisor: kaal_core::Endpoint = unsafe { Cap::from_cptr(SUPERVISOR_SLOT) };
            supervisor.send(Message::with_words(0x1234, [7, 7, 7]));
            println!("[{name}] still here");
            return ExitStatus::Success;
        }
        _ => {}
    }
    println!("[{name}] unreachable: the misbehaviour did not stop me");
    ExitStatus::Failure(9)
}

/// Where every component finds its supervisor endpoint (kaal_abi::startup::slots).
const SUPERVISOR_SLOT: u64 = 3;
