//! Lesson 06: files.
//!
//! The component writes a file, reads it back and lists a directory, first on the
//! ramfs mounted at `/`, then on the ext2 disk at `/data`. It never names a disk, a
//! driver or the VFS server: `mounts` in system.toml decide what it sees, and
//! kaal-posix turns `std::fs`-style calls into requests to the server.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;

use kaal_core::component::Component;
use kaal_core::println;
use kaal_posix::fs::{self, File};
use kaal_posix::io::{Read, Write};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(mut me: Component) -> Result<(), Box<dyn core::error::Error>> {
    // Connect to the VFS server (the grants system.toml's `mounts` asked for).
    kaal_posix::fs::init(&mut me)?;

    for (what, dir) in [("ramfs", "/notes"), ("ext2", "/data/notes")] {
        println!("== {what}: {dir}");
        fs::create_dir_all(dir)?;
        let path = alloc::format!("{dir}/hello.txt");
        let mut file = File::create(&path)?;
        file.write_all(b"Hello from seL4!")?;
        file.sync_all()?;
        println!("✓ Wrote file {path}");

        let mut text = alloc::string::String::new();
        File::open(&path)?.read_to_string(&mut text)?;
        println!("✓ Read file: {text}");

        fs::write(&alloc::format!("{dir}/second.txt"), b"another file")?;
        let mut entries: alloc::vec::Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by(|a, b| a.file_name().cmp(b.file_name()));
        println!("✓ Listing of {dir}:");
        for entry in entries {
            println!("    {:<12} {:>6} bytes", entry.file_name(), entry.metadata()?.len());
        }
    }

    // The disk also holds what `kaal build` put there.
    println!("✓ {}", fs::read_to_string("/data/welcome.txt")?.trim_end());

    // Errors say what, where and why.
    if let Err(e) = File::open("/data/no-such-file") {
        println!("✓ An error names the path: {e}");
    }
    fs::sync()?;
    println!("✓ Synced: the disk image is consistent now");
    Ok(())
}
