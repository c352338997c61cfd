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
