//! Measures files through kaal-posix and the VFS server: a 64 MiB file written and
//! synced, read back, the same read done by the server itself, the same number of bytes
//! read raw from the disk by the server, and a small cached file read whole.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec::Vec;

use kaal_core::arch::{cycles, tsc_hz};
use kaal_core::component::Component;
use kaal_core::println;
use kaal_posix::fs::{self, File};
use kaal_posix::io::{Read, Write};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

const TOTAL: u64 = 64 << 20;
const SMALL_READS: u32 = 1000;

fn main(mut me: Component) -> Result<(), Box<dyn core::error::Error>> {
    kaal_posix::fs::init(&mut me)?;
    let hz = tsc_hz().unwrap_or(1_000_000_000);
    let block: Vec<u8> = (0..1 << 20).map(|i| (i * 13 + i / 4096) as u8).collect();

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
        // A compare of what was read, cheap next to the read.
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
    let (raw, raw_cycles) = fs::measure_disk_read_in_server("/data", TOTAL)?;
    println!(
        "BENCH result name=raw_read what=\"raw block ring: 64 MiB read from the disk by the VFS server\" iterations={steps} cycles={raw_cycles} bytes={raw} hz={hz}"
    );
    println!("BENCH ratio what=\"file read: client / in-server\" over=vfs_read under=vfs_server_read max=1.2");
    println!("BENCH ratio what=\"file read in the server / raw disk read\" over=vfs_server_read under=raw_read");
    println!("file read-back: {matching} of {steps} reads match what was written, {total} bytes");

    fs::write("/data/small", &block[..1024])?;
    let mut small = Vec::new();
    let start = cycles();
    for _ in 0..SMALL_READS {
        small.clear();
        File::open("/data/small")?.read_to_end(&mut small)?;
    }
    let elapsed = cycles() - start;
    println!(
        "BENCH result name=vfs_small what=\"file: a cached 1 KiB file read whole (open, read, close)\" iterations={SMALL_READS} cycles={elapsed}"
    );
    println!(
        "small file: {} bytes, {}",
        small.len(),
        if small[..] == block[..1024] { "as written" } else { "DIFFERENT" }
    );
    fs::remove_file("/data/big")?;
    Ok(())
}
