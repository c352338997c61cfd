//! A client granted only the disk's /pub, read-only, tries to get at more: paths that
//! climb out, writes, and hand-made requests with bad handles, lengths and paths. Each
//! gets an error, and the server goes on serving it and the other client.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;

use kaal_core::component::Component;
use kaal_core::println;
use kaal_posix::fs::raw_request;
use kaal_posix::proto::{self, op, open, Status};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

type Result<T> = core::result::Result<T, Box<dyn core::error::Error>>;

fn main(mut me: Component) -> Result<()> {
    kaal_posix::fs::init(&mut me)?;
    println!("[intruder] {}", describe("read /readme", read(b"/readme")?));
    for path in ["/../secret", "/../../hello.txt", "/./../pub/../secret", "/data/hello.txt"] {
        println!("[intruder] open {path}: {}", describe("", open_path(path.as_bytes(), open::READ)?));
    }
    println!("[intruder] create /mine: {}", describe("", open_path(b"/mine", open::WRITE | open::CREATE)?));
    let status = |op: u64, words: [u64; 4], buffer: &[u8]| raw_request(op, words, buffer).map(|(s, _)| s);
    println!("[intruder] read with handle 12345: {:?}", status(op::READ, [12345, 0, 16, 0], &[])?);
    let handle = open_path(b"/readme", open::READ)?.unwrap_or(0);
    println!("[intruder] read of u64::MAX bytes: {:?}", status(op::READ, [handle, 0, u64::MAX, 0], &[])?);
    println!("[intruder] a path longer than its buffer says: {:?}", status(op::STAT, [0, 0, 0, 0xffff], &[])?);
    println!("[intruder] a path that is not UTF-8: {:?}", status(op::STAT, [0, 0, 0, 3], &[0xff, 0xfe, 0xfd])?);
    println!("[intruder] open with unknown flags: {:?}", status(op::OPEN, [1 << 50, 0, 0, 7], b"/readme")?);
    println!("[intruder] operation 4242: {:?}", status(4242, [0; 4], &[])?);
    // Still served.
    println!("[intruder] {}", describe("read /readme again", read(b"/readme")?));
    Ok(())
}

fn describe(what: &str, r: core::result::Result<u64, Status>) -> alloc::string::String {
    match r {
        Ok(v) => alloc::format!("{what}: ok ({v})"),
        Err(s) => alloc::format!("{what}{}{:?}", if what.is_empty() { "" } else { ": " }, s),
    }
}

/// OPEN by hand: the handle, or the status.
fn open_path(path: &[u8], flags: u64) -> Result<core::result::Result<u64, Status>> {
    let (status, words) = raw_request(op::OPEN, [flags, 0, 0, proto::path_lengths(path.len(), 0)], path)?;
    Ok(if status == Status::Ok { Ok(words[0]) } else { Err(status) })
}

/// Reads a whole (small) file by hand: its length.
fn read(path: &[u8]) -> Result<core::result::Result<u64, Status>> {
    let handle = match open_path(path, open::READ)? {
        Ok(h) => h,
        Err(s) => return Ok(Err(s)),
    };
    let (status, words) = raw_request(op::READ, [handle, 0, 4096, 0], &[])?;
    raw_request(op::CLOSE, [handle, 0, 0, 0], &[])?;
    Ok(if status == Status::Ok { Ok(words[0]) } else { Err(status) })
}
