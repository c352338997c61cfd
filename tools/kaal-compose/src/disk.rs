//! A system's disks (`[disks.NAME]`): finding or making each image, and the QEMU
//! arguments that attach it as a virtio-blk function at the slot the system gave it.
//!
//! A disk made from a directory is an ext2 image `kaal build` makes with `mke2fs -t ext2
//! -b 4096 -d DIR`, under `target/kaal/disks/`. It is made again only when the directory
//! (its files' names, sizes and modification times) or the size changes, so what a run
//! wrote to it is still there for the next run, and for the host to look at. An image the
//! system names is attached in place: the guest writes to that file.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Result, ToolError};
use crate::progress::{run, Reporter};
use crate::system::{Disk, DiskSource};

/// A disk as QEMU gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedDisk {
    pub name: String,
    /// The image file.
    pub path: PathBuf,
    pub read_only: bool,
    pub slot: u8,
}

impl AttachedDisk {
    /// QEMU's `-drive` and `-device` arguments for it.
    pub fn qemu_args(&self) -> [String; 4] {
        let id = format!("kaal-disk-{}", self.name);
        let read_only = if self.read_only { ",readonly=on" } else { "" };
        [
            "-drive".into(),
            format!("file={},if=none,format=raw,id={id}{read_only}", self.path.display()),
            "-device".into(),
            format!("virtio-blk-pci,drive={id},addr={:#04x}", self.slot),
        ]
    }
}

/// Finds or makes each of `disks` (declared in the system.toml in `base`, called
/// `system`), with `overrides` (`kaal run --disk NAME=IMAGE`) in place of the declared
/// sources. `scratch` is where made images go.
pub fn prepare(
    disks: &[Disk],
    base: &Path,
    file: &str,
    overrides: &[(String, PathBuf)],
    scratch: &Path,
    reporter: &Reporter,
) -> Result<Vec<AttachedDisk>> {
    for (name, _) in overrides {
        if !disks.iter().any(|d| &d.name == name) {
            let known: Vec<&str> = disks.iter().map(|d| d.name.as_str()).collect();
            return Err(ToolError::new(
                format!("attaching disk {name}"),
                format!("{file} declares no disk `{name}`"),
                if known.is_empty() {
                    format!("declare it in {file} as [disks.{name}]")
                } else {
                    format!("the disks are: {}", known.join(", "))
                },
            ));
        }
    }
    let mut attached = Vec::new();
    for disk in disks {
        let step = format!("preparing disk {}", disk.name);
        let path = match (overrides.iter().find(|(n, _)| *n == disk.name), &disk.source) {
            (Some((_, image)), _) => existing_image(image, &step, "check the path given to --disk")?,
            (None, DiskSource::Image(image)) => existing_image(
                &base.join(image),
                &step,
                &format!(
                    "fix `image` in [disks.{}] ({file}:{}); it is relative to {file}'s directory",
                    disk.name, disk.line
                ),
            )?,
            (None, DiskSource::Directory { dir, size, packages, programs }) => {
                let dir = base.join(dir);
                if !dir.is_dir() {
                    return Err(ToolError::new(
                        step,
                        format!("{} is not a directory ([disks.{}] in {file}:{})", dir.display(), disk.name, disk.line),
                        format!("create it, or fix `directory`; it is relative to {file}'s directory"),
                    ));
                }
                let contents = if packages.is_empty() && programs.is_empty() {
                    dir
                } else {
                    let stage = scratch.join(format!("{}.root", disk.name));
                    stage_with_packages(&dir, packages, &stage, &scratch.join("debs"), &step, reporter)?;
                    for program in programs {
                        build_program(program, base, &stage, &scratch.join("programs"), &step, reporter)?;
                    }
                    stage
                };
                make_ext2(&contents, *size, &scratch.join(format!("{}.img", disk.name)), &step, reporter)?
            }
        };
        attached.push(AttachedDisk { name: disk.name.clone(), path, read_only: disk.read_only, slot: disk.slot });
    }
    Ok(attached)
}

/// Copies `dir` to `stage` and unpacks the Debian `packages` over it (each downloaded
/// once into `debs` by `apt-get download`, from the Debian archive this machine's apt
/// uses; nothing is installed on the host).
fn stage_with_packages(
    dir: &Path,
    packages: &[String],
    stage: &Path,
    debs: &Path,
    step: &str,
    reporter: &Reporter,
) -> Result<()> {
    if stage.exists() {
        std::fs::remove_dir_all(stage).map_err(|e| ToolError::io(step, stage, e))?;
    }
    std::fs::create_dir_all(stage).map_err(|e| ToolError::io(step, stage, e))?;
    std::fs::create_dir_all(debs).map_err(|e| ToolError::io(step, debs, e))?;
    let mut copy = Command::new("cp");
    copy.arg("-a").arg(dir.join(".")).arg(stage);
    run(&mut copy, step, reporter, "check that the directory is readable and target/ writable")?;
    for package in packages {
        let deb = match downloaded(debs, package)? {
            Some(deb) => deb,
            None => {
                let mut download = Command::new("apt-get");
                download.current_dir(debs).args(["download", "-q", package]);
                run(
                    &mut download,
                    step,
                    reporter,
                    "check the package name; if apt does not know it yet, run `apt-get update` (KaaL fetches \
                     Debian packages with apt-get download: on Debian, `apt-get install apt`)",
                )?;
                downloaded(debs, package)?.ok_or_else(|| {
                    ToolError::new(
                        step,
                        format!("apt-get download {package} left no {package}_*.deb in {}", debs.display()),
                        "run `apt-get download` by hand there to see why",
                    )
                })?
            }
        };
        let mut unpack = Command::new("dpkg-deb");
        unpack.arg("-x").arg(&deb).arg(stage);
        run(&mut unpack, step, reporter, "install dpkg (apt-get install dpkg), or delete the .deb to fetch it again")?;
        reporter.info(format!("unpacked {} into disk contents {}", deb.display(), stage.display()));
    }
    Ok(())
}

/// Builds `program` (sources relative to `base`) for Linux into `stage` at its path:
/// a C file with `musl-gcc -static`, a Rust crate with the host toolchain for
/// x86_64-unknown-linux-gnu and `+crt-static` (cargo's own target directory under
/// `out`, so rebuilds are incremental).
fn build_program(
    program: &crate::system::Program,
    base: &Path,
    stage: &Path,
    out: &Path,
    step: &str,
    reporter: &Reporter,
) -> Result<()> {
    use crate::system::ProgramSource;
    let dest = stage.join(program.path.trim_start_matches('/'));
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| ToolError::io(step, parent, e))?;
    }
    std::fs::create_dir_all(out).map_err(|e| ToolError::io(step, out, e))?;
    let built = match &program.source {
        ProgramSource::C(source) => {
            let source = base.join(source);
            let built = out.join("c").join(program.path.trim_start_matches('/').replace('/', "_"));
            let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
            // Built again only when the source is newer, so the image's contents (and so
            // whether the image is made again) change only with the program.
            if modified(&built).is_none() || modified(&source) > modified(&built) {
                std::fs::create_dir_all(out.join("c")).map_err(|e| ToolError::io(step, out, e))?;
                let mut cc = Command::new("musl-gcc");
                cc.args(["-static", "-O2", "-Wall", "-o"]).arg(&built).arg(&source);
                run(&mut cc, step, reporter, "fix the C program, or install musl-gcc: apt-get install musl-tools")?;
            }
            built
        }
        ProgramSource::Rust(dir) => {
            let manifest = base.join(dir).join("Cargo.toml");
            let target = out.join("cargo");
            let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
            cargo
                .args(["build", "--release", "--quiet", "--target", "x86_64-unknown-linux-gnu", "--manifest-path"])
                .arg(&manifest)
                .arg("--target-dir")
                .arg(&target)
                .env("RUSTFLAGS", "-C target-feature=+crt-static")
                .env_remove("CARGO_ENCODED_RUSTFLAGS");
            run(
                &mut cargo,
                step,
                reporter,
                "fix the Rust program (it is built with the host toolchain, std and all, as a static glibc binary); \
                 static glibc comes with libc6-dev",
            )?;
            let name = crate_name(&manifest).ok_or_else(|| {
                ToolError::new(step, format!("{} has no [package] name", manifest.display()), "give the crate a name")
            })?;
            target.join("x86_64-unknown-linux-gnu/release").join(&name)
        }
    };
    // The copy keeps the build's time, which the image's fingerprint looks at.
    std::fs::copy(&built, &dest).map_err(|e| ToolError::io(step, &built, e))?;
    let time = std::fs::metadata(&built).and_then(|m| m.modified()).map_err(|e| ToolError::io(step, &built, e))?;
    std::fs::File::options()
        .write(true)
        .open(&dest)
        .and_then(|f| f.set_modified(time))
        .map_err(|e| ToolError::io(step, &dest, e))?;
    reporter.info(format!("built {} into the disk image", program.path));
    Ok(())
}

/// The `[package] name` of the crate whose manifest is at `manifest`.
fn crate_name(manifest: &Path) -> Option<String> {
    let text = std::fs::read_to_string(manifest).ok()?;
    let value: toml::Table = text.parse().ok()?;
    value.get("package")?.get("name")?.as_str().map(str::to_string)
}

/// The downloaded `.deb` of `package` in `debs`, if there is one.
fn downloaded(debs: &Path, package: &str) -> Result<Option<PathBuf>> {
    let read = std::fs::read_dir(debs).map_err(|e| ToolError::io("looking for downloaded packages", debs, e))?;
    let prefix = format!("{package}_");
    Ok(read.filter_map(|entry| entry.ok().map(|e| e.path())).find(|path| {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        name.starts_with(&prefix) && name.ends_with(".deb")
    }))
}

fn existing_image(path: &Path, step: &str, fix: &str) -> Result<PathBuf> {
    if !path.is_file() {
        return Err(ToolError::new(step, format!("the disk image {} does not exist", path.display()), fix));
    }
    let path = path.canonicalize().map_err(|e| ToolError::io(step, path, e))?;
    if path.to_string_lossy().contains(',') {
        // QEMU's -drive takes comma-separated options; KaaL does not escape them.
        return Err(ToolError::new(
            step,
            format!("the disk image's path {} has a comma, which QEMU's -drive cannot take", path.display()),
            "move or rename the image (or its directory) to a path without commas",
        ));
    }
    Ok(path)
}

/// What the image made from `dir` depends on: every file's relative path, size and
/// modification time, and the image's size.
fn fingerprint(dir: &Path, size: u64) -> Result<String> {
    let mut entries = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        let read = std::fs::read_dir(&at).map_err(|e| ToolError::io("reading a disk's directory", &at, e))?;
        for entry in read {
            let entry = entry.map_err(|e| ToolError::io("reading a disk's directory", &at, e))?;
            let meta = std::fs::symlink_metadata(entry.path())
                .map_err(|e| ToolError::io("reading a disk's directory", &entry.path(), e))?;
            // A directory's own time changes whenever an entry is added (staging adds
            // packages and programs each build); its entries are listed themselves.
            let modified = if meta.is_dir() {
                0
            } else {
                meta.modified()
                    .ok()
                    .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos())
            };
            let relative = entry.path().strip_prefix(dir).map(Path::to_path_buf).unwrap_or_default();
            entries.push(format!("{}\t{}\t{modified}", relative.display(), meta.len()));
            if meta.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    entries.sort();
    Ok(format!("ext2 4096 {size} {}\n{}\n", dir.display(), entries.join("\n")))
}

/// The ext2 image of `dir` at `image`, made again only if `dir` or `size` changed.
fn make_ext2(dir: &Path, size: u64, image: &Path, step: &str, reporter: &Reporter) -> Result<PathBuf> {
    let stamp = image.with_extension("img.made-from");
    let wanted = fingerprint(dir, size)?;
    if image.is_file() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return existing_image(image, step, "check that target/ is writable");
    }
    if let Some(parent) = image.parent() {
        std::fs::create_dir_all(parent).map_err(|e| ToolError::io(step, parent, e))?;
    }
    let _ = std::fs::remove_file(image);
    let mut cmd = Command::new("mke2fs");
    cmd.args(["-q", "-F", "-t", "ext2", "-b", "4096", "-d"]).arg(dir).arg(image).arg(format!("{}k", size / 1024));
    reporter.command(&cmd);
    let out = cmd.output().map_err(|e| {
        ToolError::new(step, format!("cannot run mke2fs: {e}"), "install e2fsprogs: apt-get install e2fsprogs")
    })?;
    if !out.status.success() {
        return Err(ToolError::new(
            step,
            format!("mke2fs -d {} failed: {}", dir.display(), String::from_utf8_lossy(&out.stderr).trim()),
            "make the disk bigger (`size` in its [disks] table) if the files do not fit",
        ));
    }
    std::fs::write(&stamp, wanted).map_err(|e| ToolError::io(step, &stamp, e))?;
    reporter.info(format!("disk image {} made from {}", image.display(), dir.display()));
    existing_image(image, step, "check that target/ is writable")
}
