//! Storage: the virtio-blk driver in a component, serving the block ring to a client,
//! on a disk image the test makes (and checks afterwards).

use std::path::PathBuf;

use kaal_compose::testing::{workspace_root, Boot};

/// Offset of block 300 (the client's write test) in the image.
const WRITE_AT: usize = 300 * 4096;

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
    let drive = format!("file={},if=none,format=raw,id=disk0", disk.display());
    let run = boot.qemu_args(["-drive", &drive, "-device", "virtio-blk-pci,drive=disk0,addr=05"]).run();
    let expected = fnv1a(&pattern(4 << 20)[..1 << 20]);
    run.assert_success()
        .assert_line("[kaal-root] device pci:00:05.0 -> disk")
        .assert_line("[disk] virtio-blk: 1024 blocks of 4 KiB, 5 requests in flight at most")
        .assert_line(&format!("[client] read 1 MiB in 16 requests: fnv1a {expected:#018x}"))
        .assert_line("(done), read it back (done), flushed (done): identical")
        .assert_lines_in_order(&[
            "[client] a request for past the end of the disk -> status 2: the blocks are outside the disk",
            "[client] a request for no blocks -> status 2:",
            "[client] a request for outside the data region -> status 3: the buffer is outside the data region",
            "[client] a request for an unaligned buffer -> status 3:",
            "[client] a request for more than a request may move -> status 3:",
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
