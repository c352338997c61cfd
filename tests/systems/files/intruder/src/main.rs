//! A client granted only the disk's /pub, read-only, tries to get at more: paths that
//! climb out, writes, and hand-made requests with bad handles, lengths and paths. Each
//! gets an error, and the server goes on serving it and the other client.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;

use kaal_core::component::Component;
use kaal_core::ipc::Message;
use kaal_core::println;
use kaal_posix::proto::{self, op, open, Status};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(mut me: Component) -> Result<(), Box<dyn core::error::Error>> {
    // The channel and the buffer by hand, for requests kaal-posix would never send.
    let raw = me.client(proto::CHANNEL)?;
    let buffer = me.region("vfs-intruder")?;
    println!("[intruder] {}", describe("read /readme", fs_read(&raw, &buffer, "/readme")));
    for path in ["/../secret", "/../../hello.txt", "/./../pub/../secret", "/data/hello.txt"] {
        println!("[intruder] open {path}: {}", describe("", raw_open(&raw, &buffer, path, open::READ)));
    }
    println!("[intruder] create /mine: {}", describe("", raw_open(&raw, &buffer, "/mine", open::WRITE | open::CREATE)));
    let call = |label: u64, words: [u64; 4]| Status::from_u64(raw.call(Message::with_words(label, words)).label());
    println!("[intruder] read with handle 12345: {:?}", call(op::READ, [12345, 0, 16, 0]));
    println!("[intruder] read of u64::MAX bytes: {:?}", {
        let h = raw_open(&raw, &buffer, "/readme", open::READ).unwrap_or(0);
        call(op::READ, [h, 0, u64::MAX, 0])
    });
    println!("[intruder] a path longer than its buffer says: {:?}", call(op::STAT, [0, 0, 0, 0xffff]));
    buffer.write_bytes(0, &[0xff, 0xfe, 0xfd]);
    println!("[intruder] a path that is not UTF-8: {:?}", call(op::STAT, [0, 0, 0, 3]));
    println!("[intruder] open with unknown flags: {:?}", {
        buffer.write_bytes(0, b"/readme");
        call(op::OPEN, [1 << 50, 0, 0, 7])
    });
    println!("[intruder] operation 4242: {:?}", call(4242, [0; 4]));
    // Still served.
    println!("[intruder] {}", describe("read /readme again", fs_read(&raw, &buffer, "/readme")));
    Ok(())
}

fn describe(what: &str, r: Result<u64, Status>) -> alloc::string::String {
    match r {
        Ok(v) => alloc::format!("{what}: ok ({v})"),
        Err(s) => alloc::format!("{what}{}{:?}", if what.is_empty() { "" } else { ": " }, s),
    }
}

fn raw_open(
    raw: &kaal_core::ipc::Client,
    buffer: &kaal_core::shared::SharedRegion,
    path: &str,
    flags: u64,
) -> Result<u64, Status> {
    buffer.write_bytes(0, path.as_bytes());
    let reply = raw.call(Message::with_words(op::OPEN, [flags, 0, 0, proto::path_lengths(path.len(), 0)]));
    match Status::from_u64(reply.label()) {
        Status::Ok => Ok(reply.word(0)),
        s => Err(s),
    }
}

/// Reads a whole (small) file by hand: its length.
fn fs_read(raw: &kaal_core::ipc::Client, buffer: &kaal_core::shared::SharedRegion, path: &str) -> Result<u64, Status> {
    let h = raw_open(raw, buffer, path, open::READ)?;
    let reply = raw.call(Message::with_words(op::READ, [h, 0, 4096, 0]));
    let status = Status::from_u64(reply.label());
    raw.call(Message::with_words(op::CLOSE, [h, 0, 0, 0]));
    match status {
        Status::Ok => Ok(reply.word(0)),
        s => Err(s),
    }
}
