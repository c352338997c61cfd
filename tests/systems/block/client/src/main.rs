//! Exercises the block driver over the block ring: reads with several requests in
//! flight (checksummed, for the host to compare with the image it made), a write read
//! back, every kind of bad request, and a full request ring.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec;

use kaal_core::component::Component;
use kaal_core::println;
use kaal_core::time::Duration;
use kaal_ipc::block::{describe, op, status, BlockClient, BlockRequest, BlockResponse, BLOCK_SIZE};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

/// Blocks per request, and requests in flight per round (the data region's 256 KiB).
const CHUNK: u32 = 16;
const IN_FLIGHT: u32 = 4;
/// The write test writes the disk's last blocks but this many (the host checks them
/// afterwards; on an ext2 disk they are free).
const WRITE_FROM_END: u64 = 8;

fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, b| (h ^ *b as u64).wrapping_mul(0x100_0000_01b3))
}

fn request(op: u32, id: u32, block: u64, count: u32, offset: u32) -> BlockRequest {
    BlockRequest { op, id, block, count, offset }
}

fn main(mut me: Component) -> Result<(), Box<dyn core::error::Error>> {
    let fail = |e: kaal_ipc::RingError| -> Box<dyn core::error::Error> { Box::new(e) };
    let mut disk = BlockClient::granted(&mut me, "disk-req", "disk-resp", "disk-data")?;
    // Every wait for an answer is bounded: a driver that stopped must not hang the client.
    let timer = me.timer()?;
    let next = move |disk: &mut BlockClient| -> Result<BlockResponse, Box<dyn core::error::Error>> {
        match disk.wait_timeout(&timer, Duration::from_secs(2))? {
            Some(response) => Ok(response),
            None => Err("UNEXPECTED: the disk did not answer within 2 s".into()),
        }
    };
    let (capacity, read_only) = disk.info().map_err(fail)?;
    println!("[client] the disk has {capacity} blocks of 4 KiB{}", if read_only { ", read-only" } else { "" });

    // 1. The first MiB, four requests of 64 KiB in flight at a time.
    let start = kaal_core::time::Instant::now();
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let mut chunk = vec![0u8; CHUNK as usize * BLOCK_SIZE];
    for round in 0..(256 / (CHUNK * IN_FLIGHT)) {
        for i in 0..IN_FLIGHT {
            let block = ((round * IN_FLIGHT + i) * CHUNK) as u64;
            let sent = disk.submit(request(op::READ, i, block, CHUNK, i * CHUNK * BLOCK_SIZE as u32)).map_err(fail)?;
            assert_sent(sent);
        }
        let mut done = 0u32;
        for _ in 0..IN_FLIGHT {
            let response = next(&mut disk)?;
            if response.status != status::OK {
                println!("[client] UNEXPECTED: read {} failed: {}", response.id, describe(response.status));
            }
            done |= 1 << response.id;
        }
        if done != (1 << IN_FLIGHT) - 1 {
            println!("[client] UNEXPECTED: answers for requests {done:#b}");
        }
        for i in 0..IN_FLIGHT as usize {
            disk.data().read_bytes(i * chunk.len(), &mut chunk);
            hash = fnv1a(hash, &chunk);
        }
    }
    println!(
        "[client] read 1 MiB in {} requests: fnv1a {hash:#018x} ({} us)",
        256 / CHUNK,
        start.elapsed().as_micros()
    );
    // Block 0 of an ext2 disk holds the superblock at byte 1024.
    let status = disk.call(request(op::READ, 99, 0, 1, 0)).map_err(fail)?;
    let mut block0 = vec![0u8; BLOCK_SIZE];
    disk.data().read_bytes(0, &mut block0);
    let word = |at: usize| u32::from_le_bytes([block0[at], block0[at + 1], block0[at + 2], block0[at + 3]]);
    if status == status::OK && u16::from_le_bytes([block0[1080], block0[1081]]) == 0xef53 {
        println!(
            "[client] block 0 holds an ext2 superblock: {} blocks of {} bytes, {} free",
            word(1028),
            1024 << word(1048),
            word(1036)
        );
    } else {
        println!("[client] block 0 holds no ext2 superblock");
    }
    let write_at = capacity - WRITE_FROM_END;

    // 2. A write, read back.
    let pattern: alloc::vec::Vec<u8> = (0..4 * BLOCK_SIZE).map(|i| (i * 7 + 3) as u8).collect();
    disk.data().write_bytes(0, &pattern);
    let wrote = disk.call(request(op::WRITE, 100, write_at, 4, 0)).map_err(fail)?;
    disk.data().write_bytes(0, &vec![0; 4 * BLOCK_SIZE]);
    let read = disk.call(request(op::READ, 101, write_at, 4, 0)).map_err(fail)?;
    let flushed = disk.call(request(op::FLUSH, 102, 0, 0, 0)).map_err(fail)?;
    let mut back = vec![0u8; 4 * BLOCK_SIZE];
    disk.data().read_bytes(0, &mut back);
    println!(
        "[client] wrote 16 KiB at block {write_at} ({}), read it back ({}), flushed ({}): {}",
        describe(wrote),
        describe(read),
        describe(flushed),
        if back == pattern { "identical" } else { "DIFFERENT" }
    );

    // 3. A FLUSH behind reads in flight: the driver holds it until they are done.
    for i in 0..IN_FLIGHT {
        let sent = disk.submit(request(op::READ, 300 + i, (i * CHUNK) as u64, CHUNK, i * CHUNK * BLOCK_SIZE as u32))?;
        assert_sent(sent);
    }
    assert_sent(disk.submit(request(op::FLUSH, 310, 0, 0, 0))?);
    let mut ok = 0;
    for _ in 0..=IN_FLIGHT {
        ok += u32::from(next(&mut disk)?.status == status::OK);
    }
    println!("[client] a flush behind {IN_FLIGHT} reads in flight: {ok} of {} answered OK", IN_FLIGHT + 1);

    // 4. Bad requests: each is answered, with the reason.
    let bad = [
        ("past the end of the disk", request(op::READ, 200, u64::MAX - 1, 1, 0)),
        ("no blocks", request(op::READ, 201, 0, 0, 0)),
        ("outside the data region", request(op::READ, 202, 0, 1, 256 * 1024)),
        ("an unaligned buffer", request(op::READ, 203, 0, 1, 100)),
        ("more than a request may move", request(op::READ, 204, 0, 64, 0)),
        ("an unknown operation", request(77, 205, 0, 1, 0)),
    ];
    for (what, bad) in bad {
        let answer = disk.call(bad).map_err(fail)?;
        println!("[client] a request for {what} -> status {answer}: {}", describe(answer));
    }

    // 5. Fill the request ring: the driver takes what it has slots for, the ring holds the
    //    rest, and every request is answered.
    let mut sent = 0;
    while disk.submit(request(op::READ, 1000 + sent, sent as u64, 1, 0)).map_err(fail)? {
        sent += 1;
        if sent == 1000 {
            break;
        }
    }
    let mut answered = 0;
    while answered < sent {
        let response = next(&mut disk)?;
        answered += u32::from(response.status == status::OK && response.id >= 1000);
    }
    println!("[client] the request ring filled after {sent} requests; {answered} answered, none dropped");
    Ok(())
}

fn assert_sent(sent: bool) {
    if !sent {
        println!("[client] UNEXPECTED: the request ring was full");
    }
}
