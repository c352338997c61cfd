//! The Linux reference: Debian's own Linux kernel, booted in the same QEMU machine as
//! KaaL (TCG, [`qemu::CPU`], `-machine pc`, 512 MiB), running the same static benchmark
//! programs and serving the same host-side network transfers, so that `cargo kaal
//! bench compare` can put KaaL's figures beside Linux's.
//!
//! [`prepare`] does, each step cached under `target/kaal/linux-ref/`:
//!
//! 1. **The kernel**: the pinned [`KERNEL`] package (fetched by [`debian::fetch`] into
//!    `target/kaal/debs`), unpacked with `dpkg-deb -x` into `linux-ref/<version>/`.
//! 2. **The modules** the guest needs (virtio-blk over virtio-pci, e1000, ext4 for the
//!    ext2 disk): their dependencies are read from each `.ko`'s `.modinfo` section
//!    (`depends=`; the package has no `modules.dep`) and ordered so that each module
//!    comes after what it depends on.
//! 3. **The programs**: benches/posix/posix-bench.c and benches/compare/{fs-bench,netd}.c,
//!    each compiled with `musl-gcc -static` once per source's content.
//! 4. **The initramfs**: an uncompressed cpio archive ("newc", written here) with the
//!    pinned [`BUSYBOX`], its applets as symlinks, the modules, the programs,
//!    `/data/64k.bin` and `/init` ([`init_script`]). Named by its content's hash.
//!
//! [`run`] boots it in one of two modes (chosen on the kernel command line,
//! `kaal.mode=...`, which `/init` reads):
//!
//! * [`Mode::Instructions`]: `-icount shift=0` (one instruction is one nanosecond of
//!   virtual time, as KaaL's instruction benches run), and `/bin/posix-bench`.
//! * [`Mode::Wall`]: wall time. `/bin/fs-bench` on a fresh 160 MiB ext2 virtio-blk disk
//!   at `/mnt`, then networking (e1000, QEMU's user network) and `/bin/netd`; once it
//!   prints `BENCH ready` the host runs [`crate::netpeer::net_peer`] through forwarded
//!   ports, then writes [`STOP`] to the serial port, which `/init` waits for before it
//!   powers off.
//!
//! Both modes boot with `mitigations=off` unless `Wall { mitigations: true }` asks for
//! Debian's default (see [`Mode`]). Every mode also reports `boot_to_shell`: host wall time from QEMU's start to
//! `/init`'s [`SHELL_READY`] line (modules loaded, file systems mounted: where a shell
//! would start). Every wait is bounded, and QEMU is killed on every way out.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::debian::{self, Pinned};
use crate::error::{Result, ToolError};
use crate::progress::{run as run_command, Reporter};
use crate::qemu;

/// The kernel: Debian 12's Linux 6.1 (the same release as the DDE drivers' source).
pub const KERNEL: Pinned = Pinned {
    what: "the Linux reference kernel",
    package: "linux-image-6.1.0-57-amd64-unsigned",
    version: "6.1.192-3",
    sha256: "f43a8dbe0b318a5491880233bb20982dc9cc8ef103dd361cd56499eea15c5191",
    bytes: 70_584_724,
    url: "http://deb.debian.org/debian-security/pool/updates/main/l/linux/\
          linux-image-6.1.0-57-amd64-unsigned_6.1.192-3_amd64.deb",
};

/// The kernel's release (its `/lib/modules` directory and `vmlinuz-` suffix).
const RELEASE: &str = "6.1.0-57-amd64";

/// Debian 12's static busybox: the guest's shell and tools.
pub const BUSYBOX: Pinned = Pinned {
    what: "busybox for the Linux reference guest",
    package: "busybox-static",
    version: "1:1.35.0-4+deb12u1+b1",
    sha256: "3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744",
    bytes: 928_188,
    url: "http://deb.debian.org/debian/pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_amd64.deb",
};

/// The modules `/init` loads (their dependencies come first, found from `.modinfo`):
/// virtio-blk and its PCI transport, e1000, and ext4, which mounts ext2.
/// `crc32c_generic` is listed by name because ext4 and jbd2 ask for it as a soft
/// dependency (`softdep=pre: crypto-crc32c`, an alias), which `depends=` does not say.
pub const MODULES: &[&str] = &["crc32c_generic", "virtio_pci", "virtio_blk", "e1000", "ext4"];

/// The applets installed as symlinks to `/bin/busybox`.
const APPLETS: &[&str] = &[
    "sh", "true", "mount", "umount", "insmod", "ip", "poweroff", "echo", "cat", "mkdir", "sleep", "sync", "dmesg", "ls",
];

/// The line `/init` prints where a shell would start.
pub const SHELL_READY: &str = "LINUXREF shell ready";
/// The line `/init` prints just before it powers off.
pub const DONE: &str = "LINUXREF done";
/// What the host writes to the serial port when its network transfers are over.
pub const STOP: &str = "LINUXREF stop";
/// The line netd prints once it listens on every port.
const NET_READY: &str = "BENCH ready";

/// The programs, by their path in the guest and their source in the checkout.
const PROGRAMS: &[(&str, &str)] = &[
    ("bin/posix-bench", "benches/posix/posix-bench.c"),
    ("bin/fs-bench", "benches/compare/fs-bench.c"),
    ("bin/netd", "benches/compare/netd.c"),
];

/// The fs benchmark's disk, as benches/fs's: 160 MiB of empty ext2.
const DISK_BYTES: u64 = 160 << 20;

/// How long each run may take (the whole of it, in wall time).
const INSTRUCTIONS_LIMIT: Duration = Duration::from_secs(300);
const WALL_LIMIT: Duration = Duration::from_secs(900);
/// From QEMU's start to [`SHELL_READY`] (17-20 s under TCG measured on a busy 2-core host; 49 s
/// under `-icount`).
const BOOT_LIMIT: Duration = Duration::from_secs(240);
/// From [`DONE`] to QEMU's exit (poweroff).
const POWEROFF_LIMIT: Duration = Duration::from_secs(20);

/// Changes when what goes into the initramfs changes in a way its content hash would
/// not show (none today: the hash covers every byte).
const RECIPE: u32 = 1;

/// What a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Instruction counts (`-icount shift=0`): posix-bench, with `mitigations=off` as
    /// the wall-time comparison (Debian's default adds 15 instructions to a getppid, 329
    /// to 344, and 2% to a fork+execve).
    Instructions,
    /// Wall time: the fs bench and the network transfers. `mitigations: false` boots
    /// with `mitigations=off` (seL4 5.0.0 has no Meltdown page-table isolation, and
    /// under TCG PTI makes every kernel entry flush QEMU's TLB).
    Wall { mitigations: bool },
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Instructions => "instructions",
            Mode::Wall { .. } => "wall",
        }
    }

    /// The kernel command line.
    fn append(self) -> String {
        let mut line = format!("console=ttyS0 quiet panic=-1 kaal.mode={}", self.name());
        if self != (Mode::Wall { mitigations: true }) {
            line += " mitigations=off";
        }
        line
    }
}

/// A prepared guest.
#[derive(Debug, Clone)]
pub struct Guest {
    /// `target/kaal/linux-ref`.
    pub dir: PathBuf,
    /// The kernel: `vmlinux`, uncompressed from Debian's `vmlinuz`.
    pub kernel: PathBuf,
    /// The initramfs.
    pub initramfs: PathBuf,
    /// The modules `/init` loads, in order.
    pub modules: Vec<String>,
}

/// What a run printed.
#[derive(Debug, Clone)]
pub struct LinuxRun {
    /// `BENCH result` and `BENCH failed` lines: the guest's, the host peer's, and
    /// `boot_to_shell`.
    pub lines: Vec<String>,
    /// Host wall time from QEMU's start to [`SHELL_READY`].
    pub boot_to_shell: Duration,
    /// Everything the serial port printed, one entry per line.
    pub serial: Vec<String>,
}

/// Fetches and unpacks the kernel and busybox, finds the modules, builds the programs
/// and the initramfs. A second call does no work but hashing.
pub fn prepare(kaal_dir: &Path, reporter: &Reporter) -> Result<Guest> {
    let dir = kaal_dir.join("linux-ref");
    let debs = kaal_dir.join("debs");
    let kernel_deb = debian::fetch(&KERNEL, &debs, reporter)?;
    let kernel_root = unpack(&KERNEL, &kernel_deb, &dir.join(KERNEL.version), reporter)?;
    let busybox_deb = debian::fetch(&BUSYBOX, &debs, reporter)?;
    let busybox_root =
        unpack(&BUSYBOX, &busybox_deb, &dir.join(BUSYBOX.file_name().trim_end_matches(".deb")), reporter)?;

    let step = "finding the Linux reference guest's modules";
    let tree = kernel_root.join("lib/modules").join(RELEASE).join("kernel");
    let index = module_index(&tree).map_err(|why| {
        ToolError::new(step, why, format!("delete {} to unpack the kernel package again", kernel_root.display()))
    })?;
    let modules = load_order(MODULES, |name| {
        let path = index.get(name).ok_or_else(|| format!("no module {name}.ko under {}", tree.display()))?;
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        depends(&bytes).map_err(|why| format!("{}: {why}", path.display()))
    })
    .map_err(|why| {
        ToolError::new(
            step,
            why,
            format!(
                "the modules KaaL loads ({}) are those of {} {}",
                MODULES.join(", "),
                KERNEL.package,
                KERNEL.version
            ),
        )
    })?;

    let programs = dir.join("programs");
    let mut archive = Cpio::default();
    for d in ["bin", "dev", "proc", "sys", "mnt", "data", "tmp", "lib", "lib/modules"] {
        archive.dir(d);
    }
    archive.char_device("dev/console", 5, 1);
    let busybox = busybox_root.join("bin/busybox");
    archive.file("bin/busybox", 0o755, &read(&busybox, "building the initramfs")?);
    for applet in APPLETS {
        archive.symlink(&format!("bin/{applet}"), "busybox");
    }
    for module in &modules {
        let path = &index[module.as_str()];
        archive.file(&format!("lib/modules/{module}.ko"), 0o644, &read(path, "building the initramfs")?);
    }
    for (path, source) in PROGRAMS {
        let built = compile(&crate::assemble::kaal_checkout().join(source), &programs, reporter)?;
        archive.file(path, 0o755, &read(&built, "building the initramfs")?);
    }
    archive.file("data/64k.bin", 0o644, &sixty_four_k());
    archive.file("init", 0o755, init_script(&modules).as_bytes());
    let bytes = archive.finish();
    let hash: String =
        Sha256::digest([&RECIPE.to_le_bytes()[..], &bytes].concat())[..8].iter().map(|b| format!("{b:02x}")).collect();
    let initramfs = dir.join(format!("initramfs-{hash}.cpio"));
    if !initramfs.is_file() {
        let step = "writing the Linux reference guest's initramfs";
        let partial = initramfs.with_extension(format!("partial-{}", std::process::id()));
        std::fs::write(&partial, &bytes).map_err(|e| ToolError::io(step, &partial, e))?;
        std::fs::rename(&partial, &initramfs).map_err(|e| ToolError::io(step, &initramfs, e))?;
        reporter.info(format!("initramfs {} ({} KiB)", initramfs.display(), bytes.len() / 1024));
    }
    let kernel = uncompressed(&kernel_root.join("boot").join(format!("vmlinuz-{RELEASE}")), reporter)?;
    Ok(Guest { dir, kernel, initramfs, modules })
}

/// The kernel itself, out of Debian's `vmlinuz` (a bzImage whose payload is one xz
/// stream): `vmlinux-<release>` beside it, made once. QEMU boots it through its PVH
/// entry (`CONFIG_PVH=y`). Booting `vmlinuz` works too, but its own decompressor runs
/// under TCG for about 9 s of every boot, which is neither Linux's boot nor KaaL's to
/// compare with; the kernel that runs is the same.
fn uncompressed(vmlinuz: &Path, reporter: &Reporter) -> Result<PathBuf> {
    const XZ_MAGIC: &[u8] = b"\xfd7zXZ\0";
    let step = "uncompressing the Linux reference guest's kernel";
    let vmlinux = vmlinuz.with_file_name(format!("vmlinux-{RELEASE}"));
    if std::fs::read(&vmlinux).is_ok_and(|b| b.starts_with(b"\x7fELF")) {
        return Ok(vmlinux);
    }
    let image = read(vmlinuz, step)?;
    let at = image.windows(XZ_MAGIC.len()).position(|w| w == XZ_MAGIC).ok_or_else(|| {
        ToolError::new(
            step,
            format!("{} holds no xz stream (is it Debian's CONFIG_KERNEL_XZ kernel?)", vmlinuz.display()),
            format!("delete {} to unpack the package again", vmlinuz.parent().unwrap_or(vmlinuz).display()),
        )
    })?;
    let partial = vmlinux.with_extension(format!("partial-{}", std::process::id()));
    let out = std::fs::File::create(&partial).map_err(|e| ToolError::io(step, &partial, e))?;
    let mut xz = Command::new("xz");
    xz.args(["-dcq", "--single-stream"]).stdin(std::process::Stdio::piped()).stdout(out);
    reporter.command(&xz);
    let mut child = xz.spawn().map_err(|e| {
        ToolError::new(step, format!("cannot run xz: {e}"), "install xz-utils: apt-get install xz-utils")
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write as _;
        // The bytes after the stream (the bzImage's trailer) are ignored by --single-stream.
        let _ = stdin.write_all(&image[at..]);
    }
    let status = child.wait().map_err(|e| ToolError::new(step, format!("waiting for xz: {e}"), "retry"))?;
    let elf = std::fs::read(&partial).is_ok_and(|b| b.starts_with(b"\x7fELF"));
    if !status.success() || !elf {
        let _ = std::fs::remove_file(&partial);
        return Err(ToolError::new(
            step,
            format!("xz could not uncompress the kernel in {} into an ELF file ({status})", vmlinuz.display()),
            format!("delete {} to unpack the package again", vmlinuz.parent().unwrap_or(vmlinuz).display()),
        ));
    }
    std::fs::rename(&partial, &vmlinux).map_err(|e| ToolError::io(step, &vmlinux, e))?;
    Ok(vmlinux)
}

fn read(path: &Path, step: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| ToolError::io(step, path, e))
}

/// `/data/64k.bin`: what posix-bench reads (64 KiB; its contents do not matter).
fn sixty_four_k() -> Vec<u8> {
    (0..64 * 1024u32).map(|i| (i % 251) as u8).collect()
}

/// Unpacks `deb` into `dest` once: the stamp there records the package's sha256.
fn unpack(pinned: &Pinned, deb: &Path, dest: &Path, reporter: &Reporter) -> Result<PathBuf> {
    let step = format!("unpacking {} {}", pinned.package, pinned.version);
    let stamp = dest.join(".kaal-unpacked");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == pinned.sha256) {
        return Ok(dest.to_path_buf());
    }
    let partial = dest.with_extension(format!("partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).map_err(|e| ToolError::io(&step, &partial, e))?;
    let mut cmd = Command::new("dpkg-deb");
    cmd.arg("-x").arg(deb).arg(&partial);
    let fix = format!("install dpkg (apt-get install dpkg), or delete {} to fetch it again", deb.display());
    if let Err(e) = run_command(&mut cmd, &step, reporter, &fix) {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(e);
    }
    std::fs::write(partial.join(".kaal-unpacked"), pinned.sha256).map_err(|e| ToolError::io(&step, &partial, e))?;
    let _ = std::fs::remove_dir_all(dest);
    std::fs::rename(&partial, dest).map_err(|e| ToolError::io(&step, dest, e))?;
    reporter.info(format!("unpacked {} into {}", deb.display(), dest.display()));
    Ok(dest.to_path_buf())
}

/// Compiles the C program `source` with `musl-gcc -static` into `out`, once per source
/// content: `out/<name>-<hash>`.
fn compile(source: &Path, out: &Path, reporter: &Reporter) -> Result<PathBuf> {
    const FLAGS: &[&str] = &["-static", "-O2", "-Wall", "-Wextra", "-Werror"];
    let step = format!("compiling {} for the Linux reference guest", source.display());
    let text = read(source, &step)?;
    let key = [FLAGS.join(" ").as_bytes(), &text].concat();
    let hash: String = Sha256::digest(key)[..6].iter().map(|b| format!("{b:02x}")).collect();
    let stem = source.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let built = out.join(format!("{stem}-{hash}"));
    if built.is_file() {
        return Ok(built);
    }
    std::fs::create_dir_all(out).map_err(|e| ToolError::io(&step, out, e))?;
    let partial = built.with_extension("partial");
    let mut cc = Command::new("musl-gcc");
    cc.args(FLAGS).arg("-o").arg(&partial).arg(source);
    run_command(&mut cc, &step, reporter, "fix the C program, or install musl-gcc: apt-get install musl-tools")?;
    std::fs::rename(&partial, &built).map_err(|e| ToolError::io(&step, &built, e))?;
    Ok(built)
}

/// Every module under `tree`, by name (the file's name without `.ko`, with `-` as `_`,
/// as the kernel names modules).
fn module_index(tree: &Path) -> std::result::Result<BTreeMap<String, PathBuf>, String> {
    let mut index = BTreeMap::new();
    let mut pending = vec![tree.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Some(name) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".ko")) {
                index.insert(name.replace('-', "_"), path);
            }
        }
    }
    Ok(index)
}

/// The modules a module depends on: the `depends=` entry of its `.modinfo` section
/// (NUL-separated `key=value` strings), in the order it lists them.
pub fn depends(ko: &[u8]) -> std::result::Result<Vec<String>, String> {
    let elf = xmas_elf::ElfFile::new(ko).map_err(|e| format!("not an ELF object: {e}"))?;
    let section = elf.find_section_by_name(".modinfo").ok_or("it has no .modinfo section")?;
    let data = match section.get_data(&elf).map_err(|e| format!("cannot read .modinfo: {e}"))? {
        xmas_elf::sections::SectionData::Undefined(data) => data,
        _ => return Err(".modinfo is not a section of bytes".into()),
    };
    Ok(modinfo_depends(data))
}

/// `depends=` of a `.modinfo` section's contents.
fn modinfo_depends(modinfo: &[u8]) -> Vec<String> {
    modinfo
        .split(|&b| b == 0)
        .filter_map(|entry| entry.strip_prefix(b"depends="))
        .flat_map(|list| String::from_utf8_lossy(list).split(',').map(str::to_string).collect::<Vec<_>>())
        .filter(|name| !name.is_empty())
        .collect()
}

/// `roots` and everything they depend on (from `depends_of`), each once, each after
/// what it depends on; otherwise in the order they are named. A cycle is an error.
pub fn load_order(
    roots: &[&str],
    mut depends_of: impl FnMut(&str) -> std::result::Result<Vec<String>, String>,
) -> std::result::Result<Vec<String>, String> {
    fn visit(
        name: &str,
        depends_of: &mut dyn FnMut(&str) -> std::result::Result<Vec<String>, String>,
        path: &mut Vec<String>,
        order: &mut Vec<String>,
    ) -> std::result::Result<(), String> {
        if order.iter().any(|m| m == name) {
            return Ok(());
        }
        if path.iter().any(|m| m == name) {
            return Err(format!("the modules depend on each other in a cycle: {} -> {name}", path.join(" -> ")));
        }
        path.push(name.to_string());
        for dependency in depends_of(name)? {
            visit(&dependency, depends_of, path, order)?;
        }
        path.pop();
        order.push(name.to_string());
        Ok(())
    }
    let mut order = Vec::new();
    for root in roots {
        visit(root, &mut depends_of, &mut Vec::new(), &mut order)?;
    }
    Ok(order)
}

/// `/init`: mounts, loads `modules` in order, prints [`SHELL_READY`], runs the mode the
/// kernel command line names (`kaal.mode=`), prints [`DONE`] and powers off.
pub fn init_script(modules: &[String]) -> String {
    let insmods: String = modules
        .iter()
        .map(|m| {
            format!("insmod /lib/modules/{m}.ko || echo \"BENCH failed name=boot_to_shell why=\\\"insmod {m}\\\"\"\n")
        })
        .collect();
    format!(
        r#"#!/bin/sh
# The Linux reference guest's /init, written by tools/kaal-compose/src/linuxref.rs.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
{insmods}echo "{SHELL_READY}"
case " $(cat /proc/cmdline) " in
*" kaal.mode=instructions "*)
    /bin/posix-bench
    ;;
*" kaal.mode=wall "*)
    if mount -t ext2 /dev/vda /mnt; then
        /bin/fs-bench
        umount /mnt
    else
        echo 'BENCH failed name=vfs_write why="cannot mount /dev/vda"'
    fi
    if ip link set lo up && ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 &&
        ip route add default via 10.0.2.2; then
        /bin/netd </dev/null &
        # The host writes "{STOP}" when its transfers are over (bounded, in case it never does).
        while read -r -t 1200 line; do
            case "$line" in *"{STOP}"*) break ;; esac
        done
    else
        echo 'BENCH failed name=tcp_in why="cannot bring up eth0"'
    fi
    ;;
*)
    echo "BENCH failed name=boot_to_shell why=\"no kaal.mode= on the kernel command line\""
    ;;
esac
echo "{DONE}"
poweroff -f
"#
    )
}

/// A cpio archive in the "newc" format (what the kernel unpacks as an initramfs):
/// each entry a 110-byte ASCII header (`070701` and 13 eight-digit hex fields), its
/// NUL-terminated name padded to 4 bytes, its data padded to 4 bytes; a
/// `TRAILER!!!` entry ends it. Owners are root, times 0, so equal contents give equal
/// archives.
#[derive(Debug, Default)]
pub struct Cpio {
    bytes: Vec<u8>,
    inode: u32,
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

impl Cpio {
    /// A directory (mode 0755). Parents come before what they hold.
    pub fn dir(&mut self, path: &str) {
        self.entry(path, S_IFDIR | 0o755, 2, (0, 0), b"");
    }

    /// A regular file.
    pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) {
        self.entry(path, S_IFREG | mode, 1, (0, 0), data);
    }

    /// A symbolic link to `target`.
    pub fn symlink(&mut self, path: &str, target: &str) {
        self.entry(path, S_IFLNK | 0o777, 1, (0, 0), target.as_bytes());
    }

    /// A character device node (mode 0600).
    pub fn char_device(&mut self, path: &str, major: u32, minor: u32) {
        self.entry(path, S_IFCHR | 0o600, 1, (major, minor), b"");
    }

    /// The archive, with its trailer.
    pub fn finish(mut self) -> Vec<u8> {
        self.inode = u32::MAX;
        self.entry("TRAILER!!!", 0, 1, (0, 0), b"");
        self.bytes
    }

    fn entry(&mut self, name: &str, mode: u32, links: u32, (rdev_major, rdev_minor): (u32, u32), data: &[u8]) {
        self.inode = self.inode.wrapping_add(1);
        let fields = [
            self.inode,
            mode,
            0, // uid
            0, // gid
            links,
            0, // mtime
            data.len() as u32,
            0, // the archive's device: major, minor
            0,
            rdev_major,
            rdev_minor,
            name.len() as u32 + 1,
            0, // check (newc has none)
        ];
        self.bytes.extend_from_slice(b"070701");
        for field in fields {
            self.bytes.extend_from_slice(format!("{field:08x}").as_bytes());
        }
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        self.pad();
        self.bytes.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
    }
}

/// QEMU, killed when this is dropped (every way out of [`run`]).
struct Qemu {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Qemu {
    fn spawn(mut cmd: Command, step: &str) -> Result<Qemu> {
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = qemu::spawn(&mut cmd, step)?;
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take();
        std::thread::spawn(move || {
            let Some(stdout) = stdout else { return };
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                let text = qemu::strip_ansi(&String::from_utf8_lossy(&line).replace('\r', ""));
                if tx.send(text.trim_end_matches('\n').to_string()).is_err() {
                    return;
                }
                line.clear();
            }
        });
        let stderr = child.stderr.take().map(|mut stderr| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
                text
            })
        });
        Ok(Qemu { stdin: child.stdin.take(), child, lines, stderr })
    }

    /// Waits up to `limit` for QEMU to exit by itself.
    fn wait_exit(&mut self, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if self.child.try_wait().ok().flatten().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// QEMU's standard error so far (it is read to the end once QEMU has exited).
    fn stderr(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr.take().and_then(|t| t.join().ok()).unwrap_or_default()
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh empty ext2 disk for the fs bench, removed when dropped.
struct Disk(PathBuf);

impl Disk {
    fn make(dir: &Path, reporter: &Reporter) -> Result<Disk> {
        let step = "making the Linux reference guest's disk";
        std::fs::create_dir_all(dir).map_err(|e| ToolError::io(step, dir, e))?;
        // One per run, even for runs at once in one process (test threads).
        static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let disk = Disk(dir.join(format!("fs-disk-{}-{run}.img", std::process::id())));
        let _ = std::fs::remove_file(&disk.0);
        let mut cmd = Command::new("mke2fs");
        cmd.args(["-q", "-F", "-t", "ext2", "-b", "4096"]).arg(&disk.0).arg(format!("{}k", DISK_BYTES / 1024));
        run_command(&mut cmd, step, reporter, "install e2fsprogs (apt-get install e2fsprogs), and check target/")?;
        Ok(disk)
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// QEMU's arguments for `guest` in `mode`, with its disk and forwarded ports.
fn qemu_command(guest: &Guest, mode: Mode, disk: Option<&Path>, ports: Option<crate::netpeer::Ports>) -> Command {
    let mut extra_args = vec!["-append".to_string(), mode.append()];
    if let Some(disk) = disk {
        // Attached as KaaL's systems attach their first disk.
        let attached = crate::disk::AttachedDisk {
            name: "files".into(),
            path: disk.to_path_buf(),
            read_only: false,
            slot: crate::system::Disk::FIRST_SLOT,
        };
        extra_args.extend(attached.qemu_args());
    }
    if let Some(ports) = ports {
        // The card KaaL's systems get, at the same slot, with the same options.
        let network = crate::system::Network {
            nic: crate::system::NicKind::E1000,
            address: crate::system::Address::Dhcp,
            forwards: ports.forwards(),
            driver: None,
            linux: None,
            linux_without: Vec::new(),
        };
        extra_args.extend(qemu::network_args(&network, &network.forwards));
    }
    let config = qemu::QemuConfig { icount: mode == Mode::Instructions, extra_args, ..Default::default() };
    qemu::command(&guest.kernel, &guest.initramfs, &config)
}

/// The `BENCH result`/`BENCH failed` line in `line`, if there is one (a kernel message
/// may have been printed in front of it).
fn bench_line(line: &str) -> Option<&str> {
    let at = line.find("BENCH result ").or_else(|| line.find("BENCH failed "))?;
    Some(&line[at..])
}

/// Boots `guest` in `mode` and collects what it measured.
pub fn run(guest: &Guest, mode: Mode, reporter: &Reporter) -> Result<LinuxRun> {
    let step = format!("running the Linux reference guest ({})", mode.append());
    let disk = match mode {
        Mode::Wall { .. } => Some(Disk::make(&guest.dir, reporter)?),
        Mode::Instructions => None,
    };
    let ports = matches!(mode, Mode::Wall { .. }).then(crate::netpeer::Ports::free);
    let cmd = qemu_command(guest, mode, disk.as_ref().map(|d| d.0.as_path()), ports);
    reporter.command(&cmd);
    let limit = if mode == Mode::Instructions { INSTRUCTIONS_LIMIT } else { WALL_LIMIT };
    let progress = reporter.step(format!("{step}, at most {} s", limit.as_secs()));
    let started = Instant::now();
    let mut guest_qemu = Qemu::spawn(cmd, &step)?;
    let mut serial: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    let (mut boot_to_shell, mut peer_done, mut done) = (None, false, false);
    let tail = |serial: &[String]| serial[serial.len().saturating_sub(15)..].join("\n");
    while !done {
        let deadline = started + if boot_to_shell.is_none() { BOOT_LIMIT } else { limit };
        let Some(wait) = deadline.checked_duration_since(Instant::now()) else {
            progress.fail();
            let waited = if boot_to_shell.is_none() { "reach its shell" } else { "finish" };
            return Err(ToolError::new(
                &step,
                format!(
                    "the guest did not {waited} in {} s; QEMU was stopped. Its last lines:\n{}",
                    deadline.duration_since(started).as_secs(),
                    tail(&serial)
                ),
                "run it again on a less busy machine; with KAAL_LOG=debug the guest's output is shown as it runs",
            ));
        };
        let line = match guest_qemu.lines.recv_timeout(wait) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        reporter.debug(format!("linux-ref: {line}"));
        if boot_to_shell.is_none() && line.contains(SHELL_READY) {
            boot_to_shell = Some(started.elapsed());
        }
        if let Some(bench) = bench_line(&line) {
            lines.push(bench.to_string());
        }
        done = line.contains(DONE);
        if let (Some(ports), false, true) = (ports, peer_done, line.contains(NET_READY)) {
            serial.push(line);
            lines.extend(crate::netpeer::net_peer(ports));
            peer_done = true;
            // /init waits for this line to power off.
            let stop =
                guest_qemu.stdin.as_mut().map(|s| s.write_all(format!("{STOP}\n").as_bytes()).and_then(|_| s.flush()));
            if let Some(Err(e)) = stop {
                reporter.info(format!("could not tell the Linux reference guest to stop ({e}): QEMU will be stopped"));
                break;
            }
            continue;
        }
        serial.push(line);
    }
    // poweroff -f ends QEMU; if it does not within the limit, it is killed.
    let exited = guest_qemu.wait_exit(if done { POWEROFF_LIMIT } else { Duration::ZERO });
    let stderr = guest_qemu.stderr();
    drop(guest_qemu);
    drop(disk);
    let Some(boot_to_shell) = boot_to_shell else {
        progress.fail();
        return Err(ToolError::new(
            &step,
            format!(
                "QEMU ended before the guest reached its shell{}. Its last lines:\n{}",
                if stderr.trim().is_empty() { String::new() } else { format!(" (QEMU said: {})", stderr.trim()) },
                tail(&serial)
            ),
            format!(
                "check that {} boots (`file` should call it an ELF executable, Linux's vmlinux)",
                guest.kernel.display()
            ),
        ));
    };
    if ports.is_some() && !peer_done {
        progress.fail();
        return Err(ToolError::new(
            &step,
            format!("the guest's network services never said `{NET_READY}`. Its last lines:\n{}", tail(&serial)),
            "look at the guest's output above for netd's or ip's error (benches/compare/netd.c)",
        ));
    }
    if !done {
        progress.fail();
        return Err(ToolError::new(
            &step,
            format!("QEMU ended before /init finished. Its last lines:\n{}", tail(&serial)),
            "look at the guest's output for a panic or an error of /init",
        ));
    }
    if !exited {
        reporter.info(format!(
            "the Linux reference guest did not power off within {} s: QEMU was stopped",
            POWEROFF_LIMIT.as_secs()
        ));
    }
    lines.push(crate::compare::boot_line(boot_to_shell));
    progress.done(format!("{} lines, boot to shell {:.2} s", lines.len(), boot_to_shell.as_secs_f64()));
    Ok(LinuxRun { lines, boot_to_shell, serial })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cpio "newc" entry read back: name, mode, rdev, data.
    type Entry = (String, u32, (u32, u32), Vec<u8>);

    fn parse_cpio(mut bytes: &[u8]) -> Vec<Entry> {
        let mut entries = Vec::new();
        let field = |header: &[u8], i: usize| {
            u32::from_str_radix(std::str::from_utf8(&header[6 + 8 * i..14 + 8 * i]).unwrap(), 16).unwrap()
        };
        let padded = |n: usize| n.div_ceil(4) * 4;
        loop {
            assert_eq!(&bytes[..6], b"070701", "every header starts with the newc magic");
            let (mode, size, rdev, name_len) =
                (field(bytes, 1), field(bytes, 6), (field(bytes, 9), field(bytes, 10)), field(bytes, 11));
            let name = String::from_utf8(bytes[110..110 + name_len as usize - 1].to_vec()).unwrap();
            assert_eq!(bytes[110 + name_len as usize - 1], 0, "the name ends with a NUL");
            let data_at = padded(110 + name_len as usize);
            let data = bytes[data_at..data_at + size as usize].to_vec();
            bytes = &bytes[padded(data_at + size as usize)..];
            if name == "TRAILER!!!" {
                assert!(bytes.is_empty(), "nothing after the trailer");
                return entries;
            }
            entries.push((name, mode, rdev, data));
        }
    }

    #[test]
    fn cpio_newc_archive_reads_back() {
        let mut archive = Cpio::default();
        archive.dir("bin");
        archive.file("bin/busybox", 0o755, b"hello");
        archive.symlink("bin/sh", "busybox");
        archive.char_device("dev/console", 5, 1);
        archive.file("init", 0o755, b"");
        let bytes = archive.finish();
        assert_eq!(bytes.len() % 4, 0);
        let entries = parse_cpio(&bytes);
        let summary: Vec<String> = entries
            .iter()
            .map(|(name, mode, rdev, data)| format!("{name} {mode:o} {rdev:?} {}", String::from_utf8_lossy(data)))
            .collect();
        assert_eq!(
            summary,
            [
                "bin 40755 (0, 0) ",
                "bin/busybox 100755 (0, 0) hello",
                "bin/sh 120777 (0, 0) busybox",
                "dev/console 20600 (5, 1) ",
                "init 100755 (0, 0) ",
            ]
        );
        // The first header, field by field.
        let first = ["070701", "00000001", "000041ed", "00000000", "00000000", "00000002", "00000000", "00000000"]
            .concat()
            + &["00000000", "00000000", "00000000", "00000000", "00000004", "00000000", "bin\0"].concat();
        assert_eq!(&bytes[..114], first.as_bytes(), "inode 1, a directory 0755, 2 links, a 4-byte name");
    }

    /// The host's cpio (if there is one) lists the archive as written.
    #[test]
    fn host_cpio_lists_the_archive() {
        if !crate::host::on_path("cpio") {
            eprintln!("no cpio on this host: the archive is checked by parsing it back only");
            return;
        }
        let mut archive = Cpio::default();
        archive.dir("bin");
        archive.file("bin/busybox", 0o755, b"hello");
        archive.symlink("bin/sh", "busybox");
        let mut cpio =
            Command::new("cpio").args(["-t", "--quiet"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        cpio.stdin.take().unwrap().write_all(&archive.finish()).unwrap();
        let out = cpio.wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "bin\nbin/busybox\nbin/sh\n");
    }

    #[test]
    fn the_pinned_packages_are_named_as_in_the_pool() {
        assert_eq!(KERNEL.file_name(), "linux-image-6.1.0-57-amd64-unsigned_6.1.192-3_amd64.deb");
        assert!(KERNEL.url.starts_with("http://deb.debian.org/debian-security/pool/updates/main/l/linux/"));
        assert_eq!(BUSYBOX.file_name(), "busybox-static_1.35.0-4+deb12u1+b1_amd64.deb");
    }

    #[test]
    fn modinfo_depends_lists_the_entry() {
        let modinfo = b"license=GPL\0softdep=pre: crypto-crc32c\0depends=jbd2,mbcache,crc16\0name=ext4\0";
        assert_eq!(modinfo_depends(modinfo), ["jbd2", "mbcache", "crc16"]);
        assert!(modinfo_depends(b"depends=\0name=e1000\0").is_empty());
        assert!(modinfo_depends(b"name=x\0").is_empty());
    }

    /// Dependencies come first, each module once, otherwise in the order named; a
    /// cycle and an unknown module are errors.
    #[test]
    fn load_order_puts_dependencies_first() {
        let graph: BTreeMap<&str, &[&str]> = [
            ("virtio_blk", &["virtio", "virtio_ring"][..]),
            ("virtio_pci", &["virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio"][..]),
            ("virtio", &[][..]),
            ("virtio_ring", &[][..]),
            ("virtio_pci_modern_dev", &[][..]),
            ("virtio_pci_legacy_dev", &[][..]),
            ("e1000", &[][..]),
            ("a", &["b"][..]),
            ("b", &["a"][..]),
        ]
        .into();
        let depends_of = |name: &str| {
            graph.get(name).map(|d| d.iter().map(|s| s.to_string()).collect()).ok_or(format!("no module {name}"))
        };
        assert_eq!(
            load_order(&["virtio_pci", "virtio_blk", "e1000"], depends_of).unwrap(),
            [
                "virtio_ring",
                "virtio_pci_modern_dev",
                "virtio_pci_legacy_dev",
                "virtio",
                "virtio_pci",
                "virtio_blk",
                "e1000"
            ]
        );
        assert!(load_order(&["a"], depends_of).unwrap_err().contains("cycle: a -> b -> a"));
        assert_eq!(load_order(&["nope"], depends_of).unwrap_err(), "no module nope");
    }

    /// `depends` reads a real object's `.modinfo` (one compiled here, as the kernel's
    /// modpost would lay it out).
    #[test]
    fn depends_reads_an_objects_modinfo() {
        let dir = std::env::temp_dir().join(format!("kaal-linuxref-modinfo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (source, object) = (dir.join("m.c"), dir.join("m.ko"));
        std::fs::write(
            &source,
            "__attribute__((section(\".modinfo\"), used)) static const char info[] = \
             \"license=GPL\\0depends=virtio,virtio_ring\\0name=m\";\n",
        )
        .unwrap();
        let status = Command::new("gcc").arg("-c").arg(&source).arg("-o").arg(&object).status().unwrap();
        assert!(status.success());
        assert_eq!(depends(&std::fs::read(&object).unwrap()).unwrap(), ["virtio", "virtio_ring"]);
        assert!(depends(b"not an object").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// /init loads the modules in order before the shell line, runs each mode, and is a
    /// shell script the host's sh accepts.
    #[test]
    fn init_script_loads_modules_then_runs_the_mode() {
        let modules = ["virtio".to_string(), "virtio_blk".to_string()];
        let script = init_script(&modules);
        assert!(script.starts_with("#!/bin/sh\n"));
        let at = |text: &str| script.find(text).unwrap_or_else(|| panic!("no {text:?} in:\n{script}"));
        assert!(at("mount -t devtmpfs") < at("insmod /lib/modules/virtio.ko"));
        assert!(at("insmod /lib/modules/virtio.ko") < at("insmod /lib/modules/virtio_blk.ko"));
        assert!(at("insmod /lib/modules/virtio_blk.ko") < at(SHELL_READY));
        assert!(at(SHELL_READY) < at("/bin/posix-bench") && at(SHELL_READY) < at("/bin/fs-bench"));
        assert!(at("/bin/fs-bench") < at("/bin/netd") && at("/bin/netd") < at(STOP));
        assert!(at(DONE) < at("poweroff -f"));
        let check = Command::new("sh").arg("-n").arg("-c").arg(&script).status().unwrap();
        assert!(check.success(), "sh -n refuses:\n{script}");
    }

    #[test]
    fn the_command_line_names_the_mode_and_the_mitigations() {
        assert_eq!(Mode::Instructions.append(), "console=ttyS0 quiet panic=-1 kaal.mode=instructions mitigations=off");
        assert!(Mode::Wall { mitigations: false }.append().ends_with("kaal.mode=wall mitigations=off"));
        assert!(!Mode::Wall { mitigations: true }.append().contains("mitigations"));
        let guest =
            Guest { dir: "lr".into(), kernel: "lr/vmlinuz".into(), initramfs: "lr/i.cpio".into(), modules: vec![] };
        let ports = crate::netpeer::Ports { sink: 1, source: 2, http: 3 };
        let args =
            |cmd: Command| cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ");
        let wall = args(qemu_command(&guest, Mode::Wall { mitigations: false }, Some(Path::new("d.img")), Some(ports)));
        assert!(wall.contains("-machine pc") && wall.contains(&format!("-cpu {}", qemu::CPU)), "{wall}");
        assert!(wall.contains("-kernel lr/vmlinuz -initrd lr/i.cpio") && !wall.contains("-icount"), "{wall}");
        assert!(
            wall.contains(
                "user,id=kaalnet0,hostfwd=tcp:127.0.0.1:1-:5001,hostfwd=tcp:127.0.0.1:2-:5002,hostfwd=tcp:127.0.0.1:3-:80"
            ),
            "{wall}"
        );
        assert!(wall.contains("-device e1000,netdev=kaalnet0,addr=0a,romfile="), "{wall}");
        assert!(wall.contains("file=d.img,if=none,format=raw,id=kaal-disk-files"), "{wall}");
        assert!(wall.contains("virtio-blk-pci,drive=kaal-disk-files,addr=0x10"), "{wall}");
        let instructions = args(qemu_command(&guest, Mode::Instructions, None, None));
        assert!(instructions.contains("-icount shift=0") && !instructions.contains("-netdev"), "{instructions}");
    }

    #[test]
    fn bench_lines_are_found_after_kernel_messages() {
        assert_eq!(
            bench_line("[  1.2] e1000: link up BENCH result name=x iterations=1 cycles=2"),
            Some("BENCH result name=x iterations=1 cycles=2")
        );
        assert_eq!(bench_line("BENCH failed name=x why=\"y\""), Some("BENCH failed name=x why=\"y\""));
        assert_eq!(bench_line("BENCH ready"), None);
    }
}
