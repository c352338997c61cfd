//! Measures the raw block ring (64 MiB written and read back sequentially, in requests
//! of 64 KiB with four in flight, and the round trip of one 4 KiB read), then files
//! through kaal-posix and the VFS server: a 64 MiB file written and synced, read back,
//! the same read done by the server itself, and a small cached file read whole.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;

use kaal_core::arch::{cycles, tsc_hz};
use kaal_core::component::Component;
use kaal_core::println;
use kaal_ipc::block::{describe, op, status, BlockClient, BlockRequest, BLOCK_SIZE};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

const TOTAL: u64 = 64 << 20;
const CHUNK: u32 = 16;
const IN_FLIGHT: u32 = 4;
const ROUND_TRIPS: u32 = 1000;

type Failure = Box<dyn core::error::Error>;

/// Moves `TOTAL` bytes with `op`, keeping `IN_FLIGHT` requests on the ring: the cycles.
fn stream(disk: &mut BlockClient, op: u32) -> Result<u64, Failure> {
    let chunks = (TOTAL / (CHUNK as u64 * BLOCK_SIZE as u64)) as u32;
    let request = |i: u32| BlockRequest {
        op,
        id: i,
        block: (i * CHUNK) as u64,
        count: CHUNK,
        offset: (i % IN_FLIGHT) * CHUNK * BLOCK_SIZE as u32,
    };
    let start = cycles();
    let mut next = 0;
    while next < IN_FLIGHT {
        if !disk.submit(request(next))? {
            return Err("the request ring was full".into());
        }
        next += 1;
    }
    for _ in 0..chunks {
        let response = disk.wait()?;
        if response.status != status::OK {
            println!("request {} failed: {}", response.id, describe(response.status));
            return Err("a request failed".into());
        }
        if next < chunks {
            // The answered request's buffer is free again: reuse it for the next one.
            if !disk.submit(request(next))? {
                return Err("the request ring was full".into());
            }
            next += 1;
        }
    }
    Ok(cycles() - start)
}

fn main(mut me: Component) -> Result<(), Failure> {
    let mut disk = BlockClient::granted(&mut me, "blk-req", "blk-resp", "blk-data")?;
    let (blocks, _) = disk.info()?;
    if blocks * (BLOCK_SIZE as u64) < TOTAL {
        return Err("the scratch disk is smaller than 64 MiB".into());
    }
    let hz = tsc_hz().unwrap_or(1_000_000_000);
    let pattern: alloc::vec::Vec<u8> = (0..256 * 1024).map(|i| (i * 31 + 7) as u8).collect();
    disk.data().write_bytes(0, &pattern);
    let requests = TOTAL / (CHUNK as u64 * BLOCK_SIZE as u64);
    let written = stream(&mut disk, op::WRITE)?;
    println!(
        "BENCH result name=raw_write what=\"raw block ring: 64 MiB sequential write\" iterations={requests} cycles={written} bytes={TOTAL} hz={hz}"
    );
    let read = stream(&mut disk, op::READ)?;
    println!(
        "BENCH result name=raw_read what=\"raw block ring: 64 MiB sequential read\" iterations={requests} cycles={read} bytes={TOTAL} hz={hz}"
    );
    let start = cycles();
    for i in 0..ROUND_TRIPS {
        let answer = disk.call(BlockRequest { op: op::READ, id: i, block: i as u64, count: 1, offset: 0 })?;
        if answer != status::OK {
            return Err("a 4 KiB read failed".into());
        }
    }
    let elapsed = cycles() - start;
    println!(
        "BENCH result name=raw_4k what=\"raw block ring: one 4 KiB read, round trip\" iterations={ROUND_TRIPS} cycles={elapsed}"
    );
    // Outside the timed parts: every chunk read back is what was written.
    let mut matching = 0;
    let mut chunk = alloc::vec![0u8; CHUNK as usize * BLOCK_SIZE];
    for i in 0..requests as u32 {
        let request = BlockRequest { op: op::READ, id: i, block: (i * CHUNK) as u64, count: CHUNK, offset: 0 };
        if disk.call(request)? == status::OK {
            disk.data().read_bytes(0, &mut chunk);
            let at = (i % IN_FLIGHT) as usize * chunk.len();
            matching += u32::from(chunk[..] == pattern[at..at + chunk.len()]);
        }
    }
    println!("raw read-back: {matching} of {requests} chunks match what was written");
    files(&mut me, hz)
}

/// The file rows.
fn files(me: &mut Component, hz: u64) -> Result<(), Failure> {
    use kaal_posix::fs::{self, File};
    use kaal_posix::io::{Read, Write};

    kaal_posix::fs::init(me)?;
    let block: alloc::vec::Vec<u8> = (0..1 << 20).map(|i| (i * 13 + i / 4096) as u8).collect();
    let start = cycles();
    let mut file = File::create("/data/big")?;
    for _ in 0..TOTAL >> 20 {
        file.write_all(&block)?;
    }
    file.sync_all()?;
    drop(file);
    let written = cycles() - start;
    println!(
        "BENCH result name=vfs_write what=\"file: 64 MiB sequential write + fsync (kaal-posix)\" iterations=64 cycles={written} bytes={TOTAL} hz={hz} min-mb-s=30"
    );

    let mut file = File::open("/data/big")?;
    let mut chunk = alloc::vec![0u8; 1 << 20];
    let (mut total, mut matching, mut steps) = (0u64, 0u64, 0u64);
    let start = cycles();
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        // The check is a compare of what was read, cheap next to the read.
        matching +=
            u64::from(chunk[..n].iter().enumerate().all(|(i, b)| *b == block[(total as usize + i) % (1 << 20)]));
        total += n as u64;
        steps += 1;
    }
    let read = cycles() - start;
    println!(
        "BENCH result name=vfs_read what=\"file: 64 MiB sequential read (kaal-posix)\" iterations={steps} cycles={read} bytes={total} hz={hz} min-mb-s=100"
    );
    let (bytes, in_server) = File::open("/data/big")?.measure_read_in_server()?;
    println!(
        "BENCH result name=vfs_server_read what=\"file: the same read inside the VFS server\" iterations={steps} cycles={in_server} bytes={bytes} hz={hz}"
    );
    println!("BENCH ratio what=\"file read: client / in-server\" over=vfs_read under=vfs_server_read max=1.2");
    println!("file read-back: {matching} of {steps} reads match what was written, {total} bytes");

    fs::write("/data/small", &block[..1024])?;
    let mut small = alloc::vec::Vec::new();
    let reads = 1000;
    let start = cycles();
    for _ in 0..reads {
        small.clear();
        File::open("/data/small")?.read_to_end(&mut small)?;
    }
    let elapsed = cycles() - start;
    println!(
        "BENCH result name=vfs_small what=\"file: a cached 1 KiB file read whole (open, read, close)\" iterations={reads} cycles={elapsed}"
    );
    fs::remove_file("/data/big")?;
    fs::sync()?;
    Ok(())
}
