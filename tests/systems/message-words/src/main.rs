//! A message owns its words until it is sent.
//!
//! Words past the fourth travel in the IPC buffer, and so do the arguments of every
//! kernel invocation. This system builds a six-word message, then mints a client (a
//! `CNode_Mint` invocation, which writes its own arguments into the IPC buffer), and only
//! then sends the message. The server thread, for its part, mints a client of its own
//! after receiving and before reading the words. Words 4 and 5 must arrive intact, and
//! come back intact in the reply.
#![no_std]
#![no_main]

use kaal_alloc::UntypedAllocator;
use kaal_core::ipc::{self, LongMessage};
use kaal_core::thread::{ThreadConfig, Threads};
use kaal_core::{println, Badge, Error, ExitStatus, RootTask};

kaal_core::root_task!(main);

const WORDS: [u64; 6] = [10, 11, 12, 13, 0x4444_4444_4444_4444, 0x5555_5555_5555_5555];
const LABEL: u64 = 7;

fn main(rt: RootTask) -> Result<ExitStatus, Error> {
    let RootTask { cspace, vspace, untypeds, .. } = rt;
    let mut memory = UntypedAllocator::new(untypeds, cspace);
    let server = ipc::channel(&mut memory)?;
    let first = server.client(Badge::new(1).expect("1 is a badge"), memory.cspace())?;
    // A thread serves the endpoint; the root task keeps a server handle to mint with.
    let worker = server.try_clone(memory.cspace())?;

    // The server thread gets its own slots for the client it mints after receiving.
    let mut server_slots = memory.cspace().split(4)?;
    let mut threads = Threads::new(vspace.try_clone(memory.cspace())?, Threads::DEFAULT_REGION)?;
    let serving = threads.spawn(&mut memory, ThreadConfig::new("server").priority(200), move || {
        let server = worker;
        let request = server.recv_long();
        // A kernel invocation between receiving and reading the words.
        let minted = server.client(Badge::new(9).expect("9 is a badge"), &mut server_slots);
        let mut words = [0u64; 8];
        let n = request.msg.copy_words(&mut words);
        let reply = LongMessage::from_slice(request.msg.label(), &words[..n]).expect("six words fit");
        // And one between building the reply and sending it.
        let minted_again = server.client(Badge::new(10).expect("10 is a badge"), &mut server_slots);
        server.reply(reply);
        (request.badge, n, words, minted.is_ok() && minted_again.is_ok())
    })?;

    let msg = LongMessage::from_slice(LABEL, &WORDS)?;
    // CNode_Mint between building the message and sending it.
    let _second = server.client(Badge::new(2).expect("2 is a badge"), memory.cspace())?;
    let reply = first.call_long(msg);
    let (badge, received, words, minted) =
        threads.join(serving).map_err(|_| Error::InvalidSize { what: "server thread", value: 0, limit: 0 })?;

    println!("server received {received} words with badge {badge}: {:x?}", &words[..received]);
    let back: [u64; 6] = core::array::from_fn(|i| reply.word(i));
    println!("reply carried label {} and {:x?}", reply.label(), back);
    let ok = received == 6 && words[..6] == WORDS && back == WORDS && reply.label() == LABEL && minted && badge == 1;
    if ok {
        println!("words 4 and 5 arrived intact: {:#x} {:#x}", words[4], words[5]);
        Ok(ExitStatus::Success)
    } else {
        println!("MISMATCH: the message lost words between building and sending");
        Ok(ExitStatus::ERROR)
    }
}
