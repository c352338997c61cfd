//! Every file operation a shell needs, on ext2 (at /data) and ramfs (at /), through
//! kaal-posix; then checksums of the files the host generated under /data/gen, for the
//! host to compare with its own.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use kaal_core::component::Component;
use kaal_core::println;
use kaal_core::time::Instant;
use kaal_posix::fs::{self, File, OpenOptions};
use kaal_posix::io::{ErrorKind, Read, Seek, SeekFrom, Write};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

type Result<T> = core::result::Result<T, Box<dyn core::error::Error>>;

fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, b| (h ^ *b as u64).wrapping_mul(0x100_0000_01b3))
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 4096) as u8).collect()
}

/// Prints `checksum PATH SIZE FNV` for every file under `dir`, depth first, sorted, at
/// most `depth` levels down (a directory loop on a corrupt disk would go on forever). A
/// file or directory that cannot be read is reported, and the rest are still read.
fn checksums(dir: &str, depth: usize) -> usize {
    if depth == 0 {
        println!("[writer] {dir}: deeper than 16 levels (a directory loop?); not going further");
        return 0;
    }
    let listed: core::result::Result<Vec<fs::DirEntry>, _> = fs::read_dir(dir).and_then(|d| d.collect());
    let mut entries = match listed {
        Ok(entries) => entries,
        Err(e) => {
            println!("[writer] checksum {dir}: ERROR {e}");
            return 0;
        }
    };
    entries.sort_by(|a, b| a.file_name().cmp(b.file_name()));
    let mut files = 0;
    for entry in entries {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            files += checksums(&path, depth - 1);
            continue;
        }
        match checksum(&path) {
            Ok((size, hash)) => {
                println!("[writer] checksum {} {size} {hash:#018x}", path.trim_start_matches("/data/"));
                files += 1;
            }
            Err(e) => println!("[writer] checksum {}: ERROR {e}", path.trim_start_matches("/data/")),
        }
    }
    files
}

fn checksum(path: &str) -> core::result::Result<(u64, u64), kaal_posix::io::Error> {
    let mut file = File::open(path)?;
    let mut chunk = alloc::vec![0u8; 128 * 1024];
    let (mut hash, mut size) = (0xcbf2_9ce4_8422_2325u64, 0u64);
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            return Ok((size, hash));
        }
        hash = fnv1a(hash, &chunk[..n]);
        size += n as u64;
    }
}

fn main(mut me: Component) -> Result<()> {
    // Every request is bounded: a VFS server that stopped gives errors, not a hang.
    let timer = me.timer()?;
    kaal_posix::fs::init_with_timeout(&mut me, timer, kaal_core::time::Duration::from_secs(30))?;
    let start = Instant::now();
    let files = checksums("/data/gen", 16);
    println!("[writer] read {files} generated files in {} ms", start.elapsed().as_millis());

    // Directories, files, renames, links, deletes on ext2.
    fs::create_dir_all("/data/work/a/b")?;
    fs::create_dir("/data/work/empty")?;
    println!("[writer] ✓ made /data/work/a/b and /data/work/empty");
    let big = pattern(1 << 20);
    let start = Instant::now();
    fs::write("/data/work/a/b/big.bin", &big)?;
    let back = fs::read("/data/work/a/b/big.bin")?;
    println!(
        "[writer] ✓ wrote /data/work/a/b/big.bin (1 MiB) and read it back: {} ({} ms)",
        if back == big { "identical" } else { "DIFFERENT" },
        start.elapsed().as_millis()
    );
    let mut note = File::create("/data/work/note.txt")?;
    note.write_all(b"first line\n")?;
    drop(note);
    let mut note = OpenOptions::new().append(true).open("/data/work/note.txt")?;
    note.write_all(b"second line\n")?;
    drop(note);
    let mut note = OpenOptions::new().read(true).write(true).open("/data/work/note.txt")?;
    note.seek(SeekFrom::Start(6))?;
    note.write_all(b"LINE")?;
    note.seek(SeekFrom::Start(0))?;
    let mut text = String::new();
    note.read_to_string(&mut text)?;
    drop(note);
    println!("[writer] ✓ append and seek: {:?}", text);
    fs::rename("/data/work/note.txt", "/data/work/renamed.txt")?;
    println!("[writer] ✓ renamed note.txt -> renamed.txt");
    fs::write("/data/work/delete-me", b"short-lived")?;
    fs::remove_file("/data/work/delete-me")?;
    println!("[writer] ✓ removed delete-me");
    fs::hard_link("/data/work/renamed.txt", "/data/work/hard")?;
    println!("[writer] ✓ hard link: {} links", fs::metadata("/data/work/hard")?.nlink());
    fs::symlink("a/b/big.bin", "/data/work/sym")?;
    println!(
        "[writer] ✓ symlink sym -> {}: {} bytes through it",
        fs::read_link("/data/work/sym")?,
        fs::metadata("/data/work/sym")?.len()
    );
    File::options().write(true).open("/data/work/a/b/big.bin")?.set_len(5000)?;
    println!("[writer] ✓ set_len: big.bin is {} bytes", fs::metadata("/data/work/a/b/big.bin")?.len());
    fs::remove_dir("/data/work/empty")?;
    println!("[writer] ✓ removed directory empty");
    let mut names: Vec<String> = fs::read_dir("/data/work")?
        .map(|e| e.map(|e| String::from(e.file_name())))
        .collect::<core::result::Result<_, _>>()?;
    names.sort();
    println!("[writer] ✓ listing /data/work: {}", names.join(" "));
    // A directory of many names, removed again.
    fs::create_dir("/data/work/many")?;
    for i in 0..200 {
        fs::write(&alloc::format!("/data/work/many/file-{i:03}"), b"x")?;
    }
    let count = fs::read_dir("/data/work/many")?.count();
    fs::remove_dir_all("/data/work/many")?;
    println!("[writer] ✓ 200 files in one directory: listed {count}, removed them all");

    // Errors carry a kind and the path.
    for (what, result) in [
        ("open a missing file", File::open("/data/work/missing").map(|_| ())),
        ("remove a non-empty directory", fs::remove_dir("/data/work/a")),
        ("create a file that exists", File::create_new("/data/work/hard").map(|_| ())),
        ("reach outside the mounts", File::open("/etc/passwd").map(|_| ())),
        ("rename across file systems", fs::rename("/data/work/hard", "/hard")),
    ] {
        match result {
            Ok(()) => println!("[writer] UNEXPECTED: {what} succeeded"),
            Err(e) => println!("[writer] ✓ {what}: {e}"),
        }
    }

    // ramfs at /.
    fs::create_dir_all("/tmp/x")?;
    fs::write("/tmp/x/hello", b"ram")?;
    println!("[writer] ✓ ramfs: {:?}", fs::read_to_string("/tmp/x/hello")?);

    fs::sync()?;
    println!("[writer] synced");
    if fs::exists("/data/kill-test")? {
        // The test stops QEMU while this runs: what was synced must survive.
        println!("[writer] writing without sync until QEMU is stopped");
        let junk = pattern(256 * 1024);
        let mut i = 0u64;
        loop {
            let name = alloc::format!("/data/unsynced-{}", i % 8);
            match fs::write(&name, &junk) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::StorageFull => fs::remove_file(&name)?,
                Err(e) => return Err(e.into()),
            }
            if i % 8 == 7 {
                fs::rename("/data/unsynced-0", "/data/unsynced-renamed")?;
                fs::remove_file("/data/unsynced-renamed")?;
            }
            i += 1;
        }
    }
    Ok(())
}
