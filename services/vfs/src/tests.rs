//! Host tests of the server's logic on real ext2 images made by `mke2fs`, checked by
//! `e2fsck` afterwards.

use std::cell::RefCell;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::string::String;
use std::vec::Vec;
use std::{format, vec};

use alloc::boxed::Box;
use kaal_posix::proto::{self, op, open, Kind, Stat, Status};

use crate::cache::{BlockCache, Disk, DiskError, BLOCK};
use crate::config;
use crate::ext2::Ext2;
use crate::ramfs::Ramfs;
use crate::vfs::{Buffer, Slot, Vfs};

struct FileDisk {
    file: std::fs::File,
    blocks: u64,
    read_only: bool,
}

impl Disk for FileDisk {
    fn capacity(&self) -> u64 {
        self.blocks
    }
    fn read_only(&self) -> bool {
        self.read_only
    }
    fn read(&mut self, block: u64, out: &mut [u8]) -> Result<(), DiskError> {
        self.file.seek(SeekFrom::Start(block * BLOCK as u64)).map_err(|_| DiskError::Io)?;
        self.file.read_exact(out).map_err(|_| DiskError::Io)
    }
    fn write(&mut self, block: u64, data: &[u8]) -> Result<(), DiskError> {
        self.file.seek(SeekFrom::Start(block * BLOCK as u64)).map_err(|_| DiskError::Io)?;
        self.file.write_all(data).map_err(|_| DiskError::Io)
    }
    fn flush(&mut self) -> Result<(), DiskError> {
        self.file.sync_data().map_err(|_| DiskError::Io)
    }
}

struct VecBuffer(RefCell<Vec<u8>>);

impl Buffer for VecBuffer {
    fn size(&self) -> usize {
        self.0.borrow().len()
    }
    fn read(&self, at: usize, out: &mut [u8]) {
        out.copy_from_slice(&self.0.borrow()[at..at + out.len()]);
    }
    fn write(&self, at: usize, data: &[u8]) {
        self.0.borrow_mut()[at..at + data.len()].copy_from_slice(data);
    }
}

fn clock() -> u32 {
    1_780_000_000
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tmp/vfs-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// An ext2 image of `mb` MiB made by mke2fs from `files`.
fn image(name: &str, mb: u32, files: &[(&str, &[u8])]) -> PathBuf {
    let dir = scratch(&format!("{name}.d"));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, data) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    let img = scratch(&format!("{name}.img"));
    let _ = std::fs::remove_file(&img);
    let out = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext2", "-b", "4096", "-d"])
        .arg(&dir)
        .arg(&img)
        .arg(format!("{mb}M"))
        .output()
        .expect("mke2fs (apt install e2fsprogs)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    img
}

fn e2fsck(img: &Path) -> (i32, String) {
    let out = Command::new("e2fsck").arg("-fn").arg(img).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn debugfs(img: &Path, cmd: &str) -> String {
    let out = Command::new("debugfs").args(["-R", cmd]).arg(img).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn mount_ext2(img: &Path, read_only: bool, cache_blocks: usize) -> Result<Ext2<FileDisk>, crate::ext2::MountError> {
    let file = std::fs::OpenOptions::new().read(true).write(!read_only).open(img).unwrap();
    let blocks = file.metadata().unwrap().len() / BLOCK as u64;
    Ext2::mount(BlockCache::new(FileDisk { file, blocks, read_only }, cache_blocks, 64), read_only, clock)
}

struct Session {
    vfs: Vfs,
    buf: VecBuffer,
}

impl Session {
    /// Client 1 (`app`) sees ramfs at `/` and the ext2 image at `/data`; client 2
    /// (`guest`) sees the image's `/pub` read-only at `/`.
    fn new(img: &Path) -> Session {
        let text = "filesystem 0 scratch ramfs 1048576\nfilesystem 1 data ext2 disk-data 0\n\
                    client 1 app vfs-app vfs-app-done\nclient 2 guest vfs-guest vfs-guest-done\n\
                    mount 1 / 0 / rw\nmount 1 /data 1 / rw\nmount 2 / 1 /pub ro\n";
        let cfg = config::parse(text).unwrap();
        let ext2 = mount_ext2(img, false, 256).unwrap();
        let slots = vec![Slot::Mounted(Box::new(Ramfs::new(1 << 20, clock))), Slot::Mounted(Box::new(ext2))];
        Session { vfs: Vfs::new(&cfg, slots), buf: VecBuffer(RefCell::new(vec![0; proto::DATA + 256 * 1024])) }
    }

    fn call(&mut self, badge: u64, op: u64, w: [u64; 3], p1: &str, p2: &str, data: &[u8]) -> Result<[u64; 4], Status> {
        self.buf.write(0, p1.as_bytes());
        self.buf.write(proto::PATH_MAX, p2.as_bytes());
        self.buf.write(proto::DATA, data);
        let (status, reply) =
            self.vfs.request(badge, op, [w[0], w[1], w[2], proto::path_lengths(p1.len(), p2.len())], &self.buf);
        if status == Status::Ok {
            Ok(reply)
        } else {
            Err(status)
        }
    }

    fn open(&mut self, badge: u64, path: &str, flags: u64) -> Result<u64, Status> {
        self.call(badge, op::OPEN, [flags, 0, 0], path, "", &[]).map(|w| w[0])
    }

    fn write_file(&mut self, path: &str, data: &[u8]) -> Result<(), Status> {
        let h = self.open(1, path, open::WRITE | open::CREATE | open::TRUNCATE)?;
        let mut result = Ok(());
        for (i, chunk) in data.chunks(200 * 1024).enumerate() {
            result =
                self.call(1, op::WRITE, [h, (i * 200 * 1024) as u64, chunk.len() as u64], "", "", chunk).map(|_| ());
            if result.is_err() {
                break;
            }
        }
        // Closed either way, as a File is when dropped.
        self.call(1, op::CLOSE, [h, 0, 0], "", "", &[])?;
        result
    }

    fn read_file(&mut self, badge: u64, path: &str) -> Result<Vec<u8>, Status> {
        let h = self.open(badge, path, open::READ)?;
        let mut out = Vec::new();
        loop {
            let n = self.call(badge, op::READ, [h, out.len() as u64, 128 * 1024], "", "", &[])?[0] as usize;
            if n == 0 {
                break;
            }
            let mut chunk = vec![0; n];
            self.buf.read(proto::DATA, &mut chunk);
            out.extend_from_slice(&chunk);
        }
        self.call(badge, op::CLOSE, [h, 0, 0], "", "", &[])?;
        Ok(out)
    }

    fn list(&mut self, badge: u64, path: &str) -> Result<Vec<(String, Kind)>, Status> {
        let h = self.open(badge, path, open::READ | open::DIRECTORY)?;
        let mut names = Vec::new();
        loop {
            // A small area, so that listings take several requests.
            let w = self.call(badge, op::READDIR, [h, 0, 64], "", "", &[])?;
            if w[0] == 0 {
                break;
            }
            let mut bytes = vec![0; w[1] as usize];
            self.buf.read(proto::DATA, &mut bytes);
            let mut at = 0;
            while at < bytes.len() {
                let len = bytes[at + 1] as usize;
                names.push((
                    String::from_utf8(bytes[at + 10..at + 10 + len].to_vec()).unwrap(),
                    Kind::from_u8(bytes[at]),
                ));
                at += 10 + len;
            }
        }
        self.call(badge, op::CLOSE, [h, 0, 0], "", "", &[])?;
        names.sort();
        Ok(names)
    }

    fn stat(&mut self, badge: u64, path: &str) -> Result<Stat, Status> {
        self.call(badge, op::STAT, [0; 3], path, "", &[]).map(Stat::from_words)
    }

    fn simple(&mut self, op: u64, p1: &str, p2: &str) -> Result<(), Status> {
        self.call(1, op, [0; 3], p1, p2, &[]).map(|_| ())
    }
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[test]
fn every_file_operation_on_ext2_leaves_an_image_e2fsck_finds_clean() {
    let img = image("ops", 64, &[("hello.txt", b"Hello from seL4!\n"), ("pub/readme", b"public"), ("notes/a", b"a")]);
    let mut s = Session::new(&img);
    assert_eq!(s.read_file(1, "/data/hello.txt").unwrap(), b"Hello from seL4!\n");
    // Files: 3 MiB (indirect blocks), rewrite in the middle, append, truncate.
    let big = pattern(3 << 20, 7);
    s.write_file("/data/dir/big", &big).unwrap_err(); // no such directory yet
    s.simple(op::MKDIR, "/data/dir", "").unwrap();
    assert_eq!(s.simple(op::MKDIR, "/data/dir", ""), Err(Status::AlreadyExists));
    s.write_file("/data/dir/big", &big).unwrap();
    assert_eq!(s.read_file(1, "/data/dir/big").unwrap(), big);
    let h = s.open(1, "/data/dir/big", open::WRITE | open::APPEND).unwrap();
    s.call(1, op::WRITE, [h, proto::APPEND, 5], "", "", b"tail!").unwrap();
    s.call(1, op::TRUNCATE, [h, 100_000, 0], "", "", &[]).unwrap();
    s.call(1, op::CLOSE, [h, 0, 0], "", "", &[]).unwrap();
    assert_eq!(s.stat(1, "/data/dir/big").unwrap().size, 100_000);
    // Renames, links, symlinks, deletes.
    s.write_file("/data/dir/small", b"small file").unwrap();
    s.simple(op::RENAME, "/data/dir/small", "/data/moved").unwrap();
    assert_eq!(s.stat(1, "/data/dir/small"), Err(Status::NotFound));
    s.simple(op::LINK, "/data/moved", "/data/hard").unwrap();
    assert_eq!(s.stat(1, "/data/hard").unwrap().links, 2);
    s.simple(op::SYMLINK, "/data/sym", "dir/big").unwrap();
    assert_eq!(s.stat(1, "/data/sym").unwrap().size, 100_000);
    s.simple(op::SYMLINK, "/data/long", &"x/".repeat(100)).unwrap();
    s.simple(op::UNLINK, "/data/moved", "").unwrap();
    assert_eq!(s.read_file(1, "/data/hard").unwrap(), b"small file");
    assert_eq!(s.simple(op::RMDIR, "/data/dir", ""), Err(Status::DirectoryNotEmpty));
    assert_eq!(s.simple(op::UNLINK, "/data/dir", ""), Err(Status::IsADirectory));
    assert_eq!(s.simple(op::RENAME, "/data/dir", "/data/dir/inside"), Err(Status::InvalidInput));
    // A file deleted while open stays readable until closed, then is freed.
    s.write_file("/data/doomed", &pattern(200_000, 3)).unwrap();
    let h = s.open(1, "/data/doomed", open::READ).unwrap();
    s.simple(op::UNLINK, "/data/doomed", "").unwrap();
    assert_eq!(s.call(1, op::READ, [h, 0, 10], "", "", &[]).unwrap()[0], 10);
    s.call(1, op::CLOSE, [h, 0, 0], "", "", &[]).unwrap();
    // Many names in one directory, and a listing over several requests.
    s.simple(op::MKDIR, "/data/many", "").unwrap();
    for i in 0..300 {
        s.write_file(&format!("/data/many/file-{i:04}"), b"x").unwrap();
    }
    assert_eq!(s.list(1, "/data/many").unwrap().len(), 300);
    for i in 0..300 {
        s.simple(op::UNLINK, &format!("/data/many/file-{i:04}"), "").unwrap();
    }
    s.simple(op::RMDIR, "/data/many", "").unwrap();
    let top = s.list(1, "/data").unwrap();
    let names: Vec<&str> = top.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["dir", "hard", "hello.txt", "long", "lost+found", "notes", "pub", "sym"]);
    s.simple(op::SYNC, "", "").unwrap();
    s.vfs.unmount_all().unwrap();
    let (code, report) = e2fsck(&img);
    assert_eq!(code, 0, "{report}");
    assert!(debugfs(&img, "cat /hard").contains("small file"));
    assert!(debugfs(&img, "stat /sym").contains("Fast link dest: \"dir/big\""));
}

#[test]
fn a_client_cannot_reach_outside_its_grant() {
    let img = image("grant", 16, &[("secret", b"top secret"), ("pub/readme", b"public"), ("pub/up", b"")]);
    let mut s = Session::new(&img);
    // Client 2 sees only /pub, read-only.
    assert_eq!(s.read_file(2, "/readme").unwrap(), b"public");
    assert_eq!(s.read_file(2, "/../secret"), Err(Status::NotFound));
    assert_eq!(s.read_file(2, "/../../../secret"), Err(Status::NotFound));
    assert_eq!(s.open(2, "/new", open::WRITE | open::CREATE), Err(Status::PermissionDenied));
    assert_eq!(s.call(2, op::UNLINK, [0; 3], "/readme", "", &[]), Err(Status::PermissionDenied));
    // A link planted by the writer cannot lead the reader out either.
    s.simple(op::SYMLINK, "/data/pub/escape", "../secret").unwrap();
    s.simple(op::SYMLINK, "/data/pub/abs", "/../secret").unwrap();
    assert_eq!(s.read_file(2, "/escape"), Err(Status::NotFound));
    assert_eq!(s.read_file(2, "/abs"), Err(Status::NotFound));
    s.simple(op::SYMLINK, "/data/pub/loop", "loop").unwrap();
    assert_eq!(s.read_file(2, "/loop"), Err(Status::FilesystemLoop));
    // Bad words: handles, lengths, flags, paths.
    assert_eq!(s.call(2, op::READ, [99, 0, 10], "", "", &[]), Err(Status::BadHandle));
    assert_eq!(s.call(2, op::READ, [u64::MAX, 0, 10], "", "", &[]), Err(Status::BadHandle));
    let h = s.open(2, "/readme", open::READ).unwrap();
    assert_eq!(s.call(2, op::READ, [h, 0, u64::MAX], "", "", &[]), Err(Status::InvalidInput));
    assert_eq!(s.call(2, op::WRITE, [h, 0, 1], "", "", &[]), Err(Status::BadHandle));
    assert_eq!(s.call(2, op::READ, [h, u64::MAX - 1, 10], "", "", &[]).map(|w| w[0]), Ok(0));
    assert_eq!(s.call(2, op::OPEN, [1 << 40, 0, 0], "/readme", "", &[]), Err(Status::InvalidInput));
    assert_eq!(s.call(2, op::OPEN, [open::READ, 0, 0,], &"a/".repeat(3000), "", &[]), Err(Status::InvalidInput));
    s.buf.write(0, &[0xff, 0xfe]);
    assert_eq!(s.vfs.request(2, op::STAT, [0, 0, 0, 2], &s.buf).0, Status::InvalidInput);
    assert_eq!(s.vfs.request(9, op::STAT, [0, 0, 0, 0], &s.buf).0, Status::PermissionDenied);
    assert_eq!(s.call(2, 999, [0; 3], "", "", &[]), Err(Status::BadRequest));
    // Client 2's handles are not client 1's.
    assert_eq!(s.call(1, op::READ, [h, 0, 10], "", "", &[]), Err(Status::BadHandle));
    // Renames across file systems are refused.
    s.write_file("/tmpfile", b"ram").unwrap();
    assert_eq!(s.simple(op::RENAME, "/tmpfile", "/data/tmpfile"), Err(Status::CrossesDevices));
    // The writer's view still works and the image is intact.
    assert_eq!(s.read_file(1, "/data/secret").unwrap(), b"top secret");
    s.vfs.unmount_all().unwrap();
    assert_eq!(e2fsck(&img).0, 0);
}

#[test]
fn corrupt_images_give_mount_errors_that_name_the_problem() {
    let good = image("corrupt", 8, &[("f", b"data")]);
    let bytes = std::fs::read(&good).unwrap();
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut magic = bytes.clone();
    magic[1080] = 0;
    magic[1081] = 0;
    cases.push(("bad magic", magic));
    cases.push(("truncated", bytes[..1 << 20].to_vec()));
    let mut geometry = bytes.clone();
    geometry[1048] = 30; // log block size 2^40
    cases.push(("bad block size", geometry));
    let mut count = bytes.clone();
    count[1028..1032].copy_from_slice(&0u32.to_le_bytes()); // zero inodes per ... blocks count
    cases.push(("zero block count", count));
    for (what, data) in cases {
        let path = scratch(&format!("corrupt-{}.img", what.replace(' ', "-")));
        std::fs::write(&path, data).unwrap();
        match mount_ext2(&path, true, 64) {
            Ok(_) => panic!("{what}: mounted"),
            Err(e) => assert!(!e.problem.is_empty(), "{what}"),
        }
    }
}

#[test]
fn the_cache_reads_ahead_and_writes_back_in_runs() {
    struct Counting {
        data: Vec<u8>,
        reads: Vec<(u64, usize)>,
        writes: Vec<(u64, usize)>,
    }
    impl Disk for Counting {
        fn capacity(&self) -> u64 {
            (self.data.len() / BLOCK) as u64
        }
        fn read_only(&self) -> bool {
            false
        }
        fn read(&mut self, block: u64, out: &mut [u8]) -> Result<(), DiskError> {
            self.reads.push((block, out.len() / BLOCK));
            out.copy_from_slice(&self.data[block as usize * BLOCK..][..out.len()]);
            Ok(())
        }
        fn write(&mut self, block: u64, data: &[u8]) -> Result<(), DiskError> {
            self.writes.push((block, data.len() / BLOCK));
            self.data[block as usize * BLOCK..][..data.len()].copy_from_slice(data);
            Ok(())
        }
        fn flush(&mut self) -> Result<(), DiskError> {
            Ok(())
        }
    }
    let disk = Counting { data: pattern(1024 * BLOCK, 5), reads: Vec::new(), writes: Vec::new() };
    let mut cache = BlockCache::new(disk, 512, 64);
    let mut block = vec![0u8; BLOCK];
    for b in 0..256 {
        cache.read_block(b, &mut block).unwrap();
    }
    // Sequential reads: the window grows 4, 8, 16, 32, 64, 64 ...
    assert!(cache.disk().reads.len() <= 8, "{:?}", cache.disk().reads);
    for b in (600..700).rev() {
        cache.write_block(b, &vec![b as u8; BLOCK]).unwrap();
    }
    cache.flush().unwrap();
    assert_eq!(cache.disk().writes, vec![(600, 100)]);
    cache.read_block(650, &mut block).unwrap();
    assert_eq!(block, vec![650u16 as u8; BLOCK]);
}

#[test]
fn ramfs_keeps_to_its_size_and_frees_what_is_deleted() {
    let img = image("ramfs", 8, &[]);
    let mut s = Session::new(&img);
    // Written 200 KiB at a time: the writes up to the limit land, the next one fails.
    assert_eq!(s.write_file("/big", &vec![1; 2 << 20]), Err(Status::StorageFull));
    let partial = s.stat(1, "/big").unwrap().size;
    assert!(partial > 0 && partial < 1 << 20 && partial.is_multiple_of(200 * 1024), "{partial}");
    s.simple(op::UNLINK, "/big", "").unwrap();
    s.write_file("/a", &vec![1; 600_000]).unwrap();
    assert_eq!(s.write_file("/b", &vec![1; 600_000]), Err(Status::StorageFull));
    s.simple(op::UNLINK, "/a", "").unwrap();
    s.write_file("/b", &vec![2; 600_000]).unwrap();
    s.simple(op::MKDIR, "/d", "").unwrap();
    s.simple(op::RENAME, "/b", "/d/c").unwrap();
    assert_eq!(s.list(1, "/").unwrap(), vec![(String::from("d"), Kind::Directory)]);
    assert_eq!(s.read_file(1, "/d/c").unwrap(), vec![2; 600_000]);
}

/// Not a test: how long the host takes for a 64 MiB file (run with --ignored --nocapture).
#[test]
#[ignore]
fn host_timing_of_a_large_file() {
    let img = image("timing", 160, &[]);
    let mut s = Session::new(&img);
    let data = pattern(64 << 20, 9);
    let t = std::time::Instant::now();
    s.write_file("/data/big", &data).unwrap();
    s.simple(op::SYNC, "", "").unwrap();
    std::println!("write {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let back = s.read_file(1, "/data/big").unwrap();
    std::println!("read {:?}", t.elapsed());
    assert!(back == data);
}

#[test]
fn ramfs_directory_moves_walk_up_not_down_and_renames_are_charged() {
    use crate::fsys::FileSystem;
    let mut fs = Ramfs::new(4 << 20, clock);
    let root = fs.root();
    // A chain 5000 deep, made by moving the top into a new directory again and again.
    let mut top = fs.create_dir(root, b"d").unwrap();
    for _ in 0..5000 {
        let t = fs.create_dir(root, b"t").unwrap();
        fs.rename(root, b"d", t, b"d").unwrap();
        fs.rename(root, b"t", root, b"d").unwrap();
        top = t;
    }
    let mut deepest = top;
    while let Some(next) = fs.lookup(deepest, b"d").unwrap() {
        deepest = next;
    }
    // Moving the top under its deepest descendant is refused, without recursion.
    assert_eq!(fs.rename(root, b"d", deepest, b"x").unwrap_err().status, Status::InvalidInput);
    // Longer names cost bytes: renaming short names to long ones fills the ramfs, and
    // a refused rename changes nothing.
    let f = fs.create_file(root, b"f").unwrap();
    fs.write(f, 0, &vec![0; 2 << 20]).unwrap();
    let mut full = false;
    for i in 0..10_000u32 {
        let short = format!("{i}");
        if fs.create_file(root, short.as_bytes()).is_err() {
            full = true;
            break;
        }
        let long = format!("{i:0>250}");
        if let Err(e) = fs.rename(root, short.as_bytes(), root, long.as_bytes()) {
            assert_eq!(e.status, Status::StorageFull);
            assert!(fs.lookup(root, short.as_bytes()).unwrap().is_some(), "a refused rename keeps the old name");
            full = true;
            break;
        }
    }
    assert!(full, "the ramfs never filled");
    let space = fs.space();
    assert!(space.free_blocks <= space.blocks);
}

#[test]
fn a_full_ext2_directory_refuses_the_next_name_and_stays_consistent() {
    let img = image("bigdir", 32, &[]);
    let mut s = Session::new(&img);
    s.simple(op::MKDIR, "/data/d", "").unwrap();
    let mut made = 0;
    let mut refused = None;
    for i in 0..4000 {
        let h = s.open(1, &format!("/data/d/a-file-named-{i:06}"), open::WRITE | open::CREATE);
        match h {
            Ok(h) => {
                s.call(1, op::CLOSE, [h, 0, 0], "", "", &[]).unwrap();
                made += 1;
            }
            Err(status) => {
                refused = Some(status);
                break;
            }
        }
    }
    std::println!("made {made} names, then {refused:?}");
    s.simple(op::SYNC, "", "").unwrap();
    s.vfs.unmount_all().unwrap();
    let (code, report) = e2fsck(&img);
    assert_eq!(code, 0, "{report}");
    if let Some(status) = refused {
        assert!(made > 1000, "{made}");
        assert!(matches!(status, Status::StorageFull | Status::Unsupported), "{status:?}");
    }
}
