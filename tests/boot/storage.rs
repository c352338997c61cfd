//! Storage: the virtio-blk driver in a component, serving the block ring to a client,
//! on a disk image the test makes (and checks afterwards), and on the ext2 disk `kaal
//! build` makes from a directory.

use std::path::PathBuf;
use std::process::Command;

use kaal_compose::testing::{workspace_root, Boot};

/// Offset of the client's write test in a 4 MiB (1024-block) image: its last 8 blocks.
const WRITE_AT: usize = (1024 - 8) * 4096;

/// `len` bytes from a xorshift64 generator: the same each run, unlike any file system.
fn pattern(len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ *b as u64).wrapping_mul(0x100_0000_01b3))
}

/// A fresh 4 MiB image for one test, under target/.
fn image(name: &str) -> PathBuf {
    let dir = workspace_root().join("target/kaal/test-disks");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{}.img", std::process::id()));
    std::fs::write(&path, pattern(4 << 20)).unwrap();
    path
}

fn block_ring(kernel: &str) {
    let Some(boot) = Boot::new("tests/systems/block").on(kernel) else { return };
    let disk = image(&format!("block-{kernel}"));
    // `kaal run --disk data=IMAGE`: the test's image in place of the system's own.
    let run = boot.disk("data", &disk).run();
    let expected = fnv1a(&pattern(4 << 20)[..1 << 20]);
    run.assert_success()
        .assert_line("[kaal-root] device pci:00:10.0 -> disk")
        .assert_line("[disk] virtio-blk: 1024 blocks of 4 KiB, 5 requests in flight at most")
        .assert_line("[client] the disk has 1024 blocks of 4 KiB")
        .assert_line(&format!("[client] read 1 MiB in 16 requests: fnv1a {expected:#018x}"))
        .assert_line("[client] block 0 holds no ext2 superblock")
        .assert_line("(done), read it back (done), flushed (done): identical")
        .assert_line("[client] a flush behind 4 reads in flight: 5 of 5 answered OK")
        .assert_lines_in_order(&[
            "[client] a request for past the end of the disk -> status 2: the blocks are outside the disk",
            "[client] a request for no blocks -> status 2:",
            "[client] a request for outside the data region -> status 3: the buffer is outside the data region",
            "[client] a request for an unaligned buffer -> status 3:",
            "[client] a request for more than a request may move -> status 6: the request moves more blocks",
            "[client] a request for an unknown operation -> status 4: the driver does not know this operation",
        ])
        .assert_no_line("UNEXPECTED");
    let filled = run.value_after("[client] the request ring filled after ").expect("the ring-full line");
    let sent: u32 = filled.split_whitespace().next().unwrap().parse().unwrap();
    // The ring's 16 slots, plus what the driver had taken into its own.
    assert!(sent >= 16, "{filled}");
    assert!(filled.contains(&format!("{sent} answered, none dropped")), "{filled}");
    // The write reached the disk, and nothing else changed.
    let after = std::fs::read(&disk).unwrap();
    let mut want = pattern(4 << 20);
    for (i, byte) in want[WRITE_AT..WRITE_AT + 4 * 4096].iter_mut().enumerate() {
        *byte = (i * 7 + 3) as u8;
    }
    assert!(after == want, "the image differs from what the client wrote");
    let _ = std::fs::remove_file(&disk);
}

#[test]
fn a_virtio_blk_driver_serves_the_block_ring() {
    block_ring("5.0.0-debug");
}

#[test]
fn a_virtio_blk_driver_serves_the_block_ring_on_sel4_16_mcs() {
    block_ring("16.0.0-mcs-release");
}

/// The system's own disk: `kaal build` makes an ext2 image of `disk-files/` with mke2fs;
/// the driver reads its superblock, the client's write lands in free blocks, and the host
/// finds the image clean with `e2fsck -fn` and the files in it with `debugfs`. `kaal run`
/// says where the writable image is.
#[test]
fn kaal_build_makes_an_ext2_disk_from_a_directory() {
    if kaal_compose::testing::Boot::new("tests/systems/block").on("5.0.0-debug").is_none() {
        return;
    }
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["kaal", "run", "tests/systems/block"])
        .current_dir(workspace_root())
        .output()
        .expect("cargo runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("[client] the disk has 1024 blocks of 4 KiB"), "{text}");
    assert!(text.contains("[client] block 0 holds an ext2 superblock: 1024 blocks of 4096 bytes, "), "{text}");
    assert!(text.contains("read it back (done), flushed (done): identical"), "{text}");
    let line =
        text.lines().find(|l| l.starts_with("[kaal] disk data (writable): ")).unwrap_or_else(|| panic!("{text}"));
    let image = PathBuf::from(line.trim_start_matches("[kaal] disk data (writable): "));
    assert!(image.starts_with(workspace_root().join("target/kaal/disks")), "{}", image.display());
    let fsck = Command::new("e2fsck").arg("-fn").arg(&image).output().expect("e2fsck runs");
    assert!(fsck.status.success(), "e2fsck -fn {}: {}", image.display(), String::from_utf8_lossy(&fsck.stdout));
    let cat = Command::new("debugfs").args(["-R", "cat /hello.txt"]).arg(&image).output().expect("debugfs runs");
    assert_eq!(String::from_utf8_lossy(&cat.stdout), "Hello from seL4!\n");
    let cat = Command::new("debugfs").args(["-R", "cat /notes/one.txt"]).arg(&image).output().expect("debugfs runs");
    assert_eq!(String::from_utf8_lossy(&cat.stdout), "a file in a directory\n");
}

/// Files for an image: `(path, contents)`, sizes from empty to 3 MiB, some nested, all
/// different.
fn generated_files() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let sizes = [0usize, 1, 100, 4095, 4096, 4097, 65_536, 200_000, 1 << 20, 3 << 20];
    let bytes = pattern(4 << 20);
    for (i, size) in sizes.iter().enumerate() {
        let dir = ["", "sub/", "sub/deeper/"][i % 3];
        files.push((format!("gen/{dir}file-{i:02}-{size}"), bytes[i * 1000..i * 1000 + size].to_vec()));
    }
    files.push(("hello.txt".into(), b"Hello from seL4!\n".to_vec()));
    files.push(("secret".into(), b"only the writer\n".to_vec()));
    files.push(("pub/readme".into(), b"for everyone\n".to_vec()));
    files
}

/// An ext2 image made by `mke2fs -d` from `files`, for one test, under target/.
fn ext2_image(name: &str, files: &[(String, Vec<u8>)]) -> PathBuf {
    let dir = workspace_root().join("target/kaal/test-disks").join(format!("{name}-{}.d", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, data) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    let image = dir.with_extension("img");
    let _ = std::fs::remove_file(&image);
    let out = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext2", "-b", "4096", "-d"])
        .arg(&dir)
        .arg(&image)
        .arg("64M")
        .output()
        .expect("mke2fs runs (apt install e2fsprogs)");
    assert!(out.status.success(), "mke2fs: {}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
    image
}

fn debugfs(image: &std::path::Path, request: &str) -> String {
    let out = Command::new("debugfs").args(["-R", request]).arg(image).output().expect("debugfs runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn e2fsck(image: &std::path::Path, flag: &str) -> (i32, String) {
    let out = Command::new("e2fsck").arg(flag).arg(image).output().expect("e2fsck runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The writer's checksum lines against the host's own for every generated file.
fn assert_checksums(run: &kaal_compose::qemu::BootOutcome, files: &[(String, Vec<u8>)]) {
    let generated: Vec<&(String, Vec<u8>)> = files.iter().filter(|(p, _)| p.starts_with("gen/")).collect();
    for (path, data) in &generated {
        let want = format!("[writer] checksum {path} {} {:#018x}", data.len(), fnv1a(data));
        assert!(run.serial.iter().any(|l| l.contains(&want)), "missing `{want}`\n{}", run.serial.join("\n"));
    }
    run.assert_line(&format!("[writer] read {} generated files in", generated.len()));
}

/// A client writes, renames, deletes and makes directories on an ext2 disk the host
/// made; the host compares checksums of the files it generated, then finds the image
/// clean with `e2fsck -fn` and the changes in it with `debugfs`. A second client,
/// granted only `/pub` read-only, gets an error for every way out, and nothing it
/// sends disturbs the server.
#[test]
fn a_client_works_with_files_on_ext2_and_another_cannot_leave_its_grant() {
    let Some(boot) = Boot::new("tests/systems/files").on("5.0.0-debug") else { return };
    let files = generated_files();
    let image = ext2_image("files", &files);
    let run = boot.disk("data", &image).run();
    run.assert_success()
        .assert_line("[vfs] data: ext2 on disk-data")
        .assert_line("[vfs] serving 2 file system(s) to 2 client(s)")
        .assert_line("[writer] ✓ wrote /data/work/a/b/big.bin (1 MiB) and read it back: identical")
        .assert_line("[writer] ✓ append and seek: \"first LINE\\nsecond line\\n\"")
        .assert_line("[writer] ✓ hard link: 2 links")
        .assert_line("[writer] ✓ symlink sym -> a/b/big.bin: 1048576 bytes through it")
        .assert_line("[writer] ✓ set_len: big.bin is 5000 bytes")
        .assert_line("[writer] ✓ listing /data/work: a hard renamed.txt sym")
        .assert_line("[writer] ✓ 200 files in one directory: listed 200, removed them all")
        .assert_line("[writer] ✓ open a missing file: open /data/work/missing: not found")
        .assert_line("[writer] ✓ remove a non-empty directory: remove_dir /data/work/a: the directory is not empty")
        .assert_line("[writer] ✓ create a file that exists: open /data/work/hard: it already exists")
        .assert_line("[writer] ✓ reach outside the mounts: open /etc/passwd: not found")
        .assert_line("[writer] ✓ rename across file systems: rename /data/work/hard: the two paths are on different")
        .assert_line("[writer] ✓ ramfs: \"ram\"")
        .assert_line("[writer] synced")
        .assert_line("[intruder] read /readme: ok (13)")
        .assert_lines_in_order(&[
            "[intruder] open /../secret: NotFound",
            "[intruder] open /../../hello.txt: NotFound",
            "[intruder] open /./../pub/../secret: NotFound",
            "[intruder] open /data/hello.txt: NotFound",
            "[intruder] create /mine: PermissionDenied",
            "[intruder] read with handle 12345: BadHandle",
            "[intruder] read of u64::MAX bytes: InvalidInput",
            "[intruder] a path longer than its buffer says: InvalidInput",
            "[intruder] a path that is not UTF-8: InvalidInput",
            "[intruder] open with unknown flags: InvalidInput",
            "[intruder] operation 4242: BadRequest",
            "[intruder] read /readme again: ok (13)",
        ])
        .assert_no_line("UNEXPECTED")
        .assert_no_line("faulted:");
    assert_checksums(&run, &files);
    let (code, report) = e2fsck(&image, "-fn");
    assert_eq!(code, 0, "e2fsck -fn {}:\n{report}", image.display());
    assert_eq!(debugfs(&image, "cat /work/renamed.txt"), "first LINE\nsecond line\n");
    assert_eq!(debugfs(&image, "cat /work/hard"), "first LINE\nsecond line\n");
    let listing = debugfs(&image, "ls /work");
    for name in ["a", "hard", "renamed.txt", "sym"] {
        assert!(listing.split_whitespace().any(|w| w == name), "{name} missing from /work: {listing}");
    }
    for name in ["note.txt", "delete-me", "empty", "many"] {
        assert!(!listing.split_whitespace().any(|w| w == name), "{name} still in /work: {listing}");
    }
    assert!(debugfs(&image, "stat /work/sym").contains("Fast link dest: \"a/b/big.bin\""));
    assert!(debugfs(&image, "stat /work/a/b/big.bin").contains("Size: 5000"));
    let _ = std::fs::remove_file(&image);
}

/// What was synced survives QEMU being stopped in the middle of more writes: `e2fsck`
/// finds the image clean, or repairs it (`-p`) without touching the synced files.
#[test]
fn synced_files_survive_qemu_being_killed() {
    let Some(boot) = Boot::new("tests/systems/files").on("5.0.0-debug") else { return };
    let mut files = generated_files();
    files.push(("kill-test".into(), Vec::new()));
    let image = ext2_image("kill", &files);
    // QEMU is killed (as at a timeout) 2 s into the writes that are never synced,
    // rather than at a 40 s timeout: the test waited 38 s for nothing.
    let boot = boot.disk("data", &image).timeout(std::time::Duration::from_secs(90));
    let ((), run) = boot.run_with(|session| {
        session
            .wait_for_line("[writer] writing without sync until QEMU is stopped", std::time::Duration::from_secs(80))
            .expect("the writer starts its unsynced writes");
        std::thread::sleep(std::time::Duration::from_secs(2));
    });
    assert!(matches!(run.verdict, kaal_compose::qemu::Verdict::Stopped), "{}", run.summary());
    run.assert_line("[writer] synced").assert_line("[writer] writing without sync until QEMU is stopped");
    let (code, report) = e2fsck(&image, "-fn");
    eprintln!("e2fsck -fn after the kill: exit {code}{}", if code == 0 { " (clean)" } else { "; repairing with -p" });
    if code != 0 {
        // Metadata was mid-update: the repair must keep everything synced.
        let (code, repair) = e2fsck(&image, "-p");
        assert!(code <= 1, "e2fsck -p could not repair {}:\n{report}\n{repair}", image.display());
        assert_eq!(e2fsck(&image, "-fn").0, 0, "still inconsistent after e2fsck -p");
    }
    assert_eq!(debugfs(&image, "cat /work/renamed.txt"), "first LINE\nsecond line\n");
    for (path, data) in files.iter().filter(|(p, _)| p.starts_with("gen/")) {
        let out = Command::new("debugfs").args(["-R", &format!("cat /{path}")]).arg(&image).output().unwrap();
        assert!(out.stdout == *data, "{path} changed");
    }
    let _ = std::fs::remove_file(&image);
}

/// Corrupt and truncated images: the VFS server names the file system, the disk and
/// the problem, its clients get errors with their paths, and nothing panics or hangs.
#[test]
fn a_corrupt_ext2_image_gives_clear_errors() {
    let Some(boot) = Boot::new("tests/systems/files").on("5.0.0-debug") else { return };
    let files = generated_files();
    let good = std::fs::read(ext2_image("corrupt", &files)).unwrap();
    let dir = workspace_root().join("target/kaal/test-disks");
    // 1. No superblock.
    let mut bad = good.clone();
    bad[1080..1082].copy_from_slice(&[0, 0]);
    let magic = dir.join(format!("magic-{}.img", std::process::id()));
    std::fs::write(&magic, &bad).unwrap();
    // 2. Truncated to 8 of its 64 MiB.
    let short = dir.join(format!("short-{}.img", std::process::id()));
    std::fs::write(&short, &good[..8 << 20]).unwrap();
    // 3. A file whose block pointer lies past the disk's end, and a directory linked into itself.
    let pointers = dir.join(format!("pointers-{}.img", std::process::id()));
    std::fs::write(&pointers, &good).unwrap();
    for request in ["sif /gen/file-00-0 block[0] 9999999", "sif /gen/file-00-0 size 4096", "link /gen /gen/sub/loop"] {
        let out = Command::new("debugfs").args(["-w", "-R", request]).arg(&pointers).output().unwrap();
        assert!(out.status.success(), "debugfs {request}");
    }
    for (image, vfs_says, writer_says) in [
        (&magic, "there is no ext2 superblock (bad magic number)", "the file system on disk is corrupt"),
        (
            &short,
            "the superblock's geometry is invalid (or the image is truncated)",
            "the file system on disk is corrupt",
        ),
        (&pointers, "", ""),
    ] {
        let run = boot.clone().disk("data", image).run();
        run.assert_no_line("panicked").assert_no_line("faulted:");
        assert!(!matches!(run.verdict, kaal_compose::qemu::Verdict::Timeout { .. }), "{} hung", image.display());
        if !vfs_says.is_empty() {
            run.assert_line(&format!(
                "[vfs] ERROR: file system `data` (ext2 on disk-data): cannot mount it: {vfs_says}"
            ))
            .assert_line(writer_says)
            .assert_line("[intruder] read /readme: Corrupt");
        } else {
            // It mounts; the bad file gives an error, the loop ends, the rest reads.
            run.assert_line("[writer] checksum gen/file-00-0: ERROR")
                .assert_line("deeper than 16 levels (a directory loop?)")
                .assert_line("[writer] checksum gen/sub/file-01-1 1 ")
                .assert_line("[intruder] read /readme: ok (13)");
        }
        let _ = std::fs::remove_file(image);
    }
}
