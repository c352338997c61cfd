//! DDE-Linux, the build: Linux drivers compiled unmodified from Debian's `linux-source`.
//!
//! `kaal build` for a system whose `[network]` runs a Linux driver (and `kaal dde build
//! DRIVER` alone) does, each step cached under `target/kaal/dde/`:
//!
//! 1. **The source.** `apt-get download` of the pinned `linux-source-6.1` package (one
//!    139 MB download), checked against its sha256. From its tarball only what a driver
//!    build needs is unpacked: the headers, `scripts/`, `arch/x86`, `kernel/`, `lib/`,
//!    every Kconfig, Makefile and Kbuild file (Kconfig reads them all), and the drivers'
//!    directories. No Linux source is committed to KaaL.
//! 2. **The configuration**, one for all drivers (struct layouts depend on it, and
//!    the emulation is shared): `make tinyconfig`, every driver's options enabled
//!    and SMP, retpolines and the stack protector disabled (`scripts/config`), then
//!    `make olddefconfig` and a check that every option survived (Kconfig drops one it
//!    cannot satisfy without a word), then `make prepare0`: generated headers, 2 s.
//! 3. **The objects.** Each of the driver's `.c` files, and the real helpers it needs
//!    (`mii.c`, `crc32.c`, ...), compiled with kbuild's own flags (read from the command
//!    kbuild recorded for `asm-offsets.s`) changed as a user-level component needs:
//!    `-mcmodel=small` instead of `-mcmodel=kernel` (our images are linked below 2 GiB),
//!    no retpoline or return thunks. KaaL's shadow headers (`kaal-dde/shadow`) come
//!    first on the include path.
//! 4. **The gate.** Every object's code is decoded (iced-x86) and the build fails on an
//!    instruction a user-level thread cannot run (`cli`, `sti`, `hlt`, `in`/`out`,
//!    `%gs`-relative accesses, ...), naming the function.
//! 5. **The symbols.** What the objects call and do not define is listed: the kernel
//!    API the emulation must give. kaal-dde's C glue (`kaal-dde/glue`, compiled and
//!    gated the same way) defines most; [`stubs_source`] writes a weak stub for each
//!    function it does not, which stops the driver with the symbol's name; the
//!    driver's `module_init` functions are found from their `.initcall*` relocations
//!    and called by a generated `kaal_dde_initcalls`. The objects, the glue and the
//!    generated object go into one archive (`lib<driver>.a`), which services/nic-dde
//!    links.
//!
//! The cache key is a hash of the package's sha256, the configuration, the file list,
//! the compiler flags' recipe and the shadow headers' contents: a warm build reuses the
//! objects and compiles nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::assemble::scratch_name;
use crate::error::{Result, ToolError};
use crate::progress::{run, Reporter};

/// The environment variable through which `kaal build` names the driver's archive to
/// services/nic-dde's build script.
pub const ARCHIVE_ENV: &str = "KAAL_DDE_ARCHIVE";
/// And the driver's name (for its messages).
pub const DRIVER_ENV: &str = "KAAL_DDE_DRIVER";

/// The pinned Linux source package.
#[derive(Debug, Clone, Copy)]
pub struct LinuxSource {
    /// The Debian package.
    pub package: &'static str,
    /// Its version.
    pub version: &'static str,
    /// The `.deb`'s sha256.
    pub sha256: &'static str,
    /// The `.deb`'s size in bytes.
    pub bytes: u64,
    /// Where the archive keeps it (for fetching it by hand).
    pub url: &'static str,
    /// The tarball inside the package.
    pub tarball: &'static str,
    /// The tarball's top directory.
    pub top: &'static str,
}

/// Debian 12's Linux 6.1 source, as measured in `../shared/notes/dde-linux.md`.
pub const SOURCE: LinuxSource = LinuxSource {
    package: "linux-source-6.1",
    version: "6.1.192-3",
    sha256: "5259c57ca92092da39bd2ea803046da0e3c28f2b6a11ea20f6297468188ceb67",
    bytes: 139_330_232,
    url: "http://deb.debian.org/debian-security/pool/updates/main/l/linux/linux-source-6.1_6.1.192-3_all.deb",
    tarball: "./usr/src/linux-source-6.1.tar.xz",
    top: "linux-source-6.1",
};

/// A Linux driver KaaL knows how to build.
#[derive(Debug, Clone, Copy)]
pub struct LinuxDriver {
    /// Its name in system.toml (`driver = "8139cp"`).
    pub name: &'static str,
    /// The QEMU device it drives.
    pub device: &'static str,
    /// Kconfig options it needs (without `CONFIG_`). One configuration has every
    /// driver's options.
    pub enable: &'static [&'static str],
    /// Its source files and the real helpers it calls (Linux's own `lib/` code, compiled
    /// as it is, rather than written again in the emulation), each with the module name
    /// kbuild would give it.
    pub files: &'static [(&'static str, &'static str)],
    /// Headers kbuild makes with a host program first: (header, the program's source).
    /// They are made when the tree is configured (they depend on its options only).
    pub generated: &'static [(&'static str, &'static str)],
}

/// The drivers `kaal dde build` knows.
pub const DRIVERS: &[LinuxDriver] = &[
    LinuxDriver {
        name: "8139cp",
        device: "rtl8139",
        enable: &["NET_VENDOR_REALTEK", "8139CP", "MII", "CRC32", "BITREVERSE"],
        files: &[
            ("drivers/net/ethernet/realtek/8139cp.c", "8139cp"),
            ("drivers/net/mii.c", "mii"),
            ("lib/crc32.c", "crc32"),
            ("lib/bitrev.c", "bitrev"),
            ("lib/string.c", "string"),
            ("lib/ctype.c", "ctype"),
        ],
        generated: &[("lib/crc32table.h", "lib/gen_crc32table.c")],
    },
    LinuxDriver {
        name: "e1000",
        device: "e1000",
        enable: &["NET_VENDOR_INTEL", "E1000"],
        files: &[
            ("drivers/net/ethernet/intel/e1000/e1000_main.c", "e1000"),
            ("drivers/net/ethernet/intel/e1000/e1000_hw.c", "e1000"),
            ("drivers/net/ethernet/intel/e1000/e1000_ethtool.c", "e1000"),
            ("drivers/net/ethernet/intel/e1000/e1000_param.c", "e1000"),
            ("lib/string.c", "string"),
            ("lib/ctype.c", "ctype"),
            ("lib/find_bit.c", "find_bit"),
            ("lib/hweight.c", "hweight"),
        ],
        generated: &[],
    },
];

/// Options every driver build has: a 64-bit kernel with PCI and networking.
const ENABLE: &[&str] = &["64BIT", "PCI", "NET", "NETDEVICES", "ETHERNET", "PRINTK"];

/// Options that would put per-CPU `%gs` accesses, retpolines or canaries into the code,
/// or make drivers modules.
const DISABLE: &[&str] = &["SMP", "RETPOLINE", "STACKPROTECTOR", "STACKPROTECTOR_STRONG", "MODULES"];

/// What of the tarball a driver build unpacks (below its top directory). Kconfig reads
/// every Kconfig file of the tree, and kbuild its Makefiles.
const UNPACK: &[&str] = &[
    "Makefile",
    "Kconfig",
    "Kbuild",
    "include",
    "scripts",
    "arch/x86",
    "arch/Kconfig",
    "kernel",
    "lib",
    "tools/include",
    "tools/arch/x86",
    "drivers/net/mii.c",
    "drivers/net/ethernet/realtek",
    "drivers/net/ethernet/intel/e1000",
];

/// Changes when the steps change, so that an old cache is not used.
const RECIPE: u32 = 2;

/// A driver's compiled objects and what they need.
#[derive(Debug, Clone)]
pub struct LinuxBuild {
    pub driver: LinuxDriver,
    /// The objects, one per source file.
    pub objects: Vec<PathBuf>,
    /// Functions the objects call and do not define: the emulation provides them, or a
    /// generated stub reports them.
    pub calls: BTreeSet<String>,
    /// Those of `calls` the glue defines.
    pub emulated: BTreeSet<String>,
    /// Those it does not: each is a generated stub that stops the driver with its name.
    pub missing: BTreeSet<String>,
    /// Data the objects refer to and do not define (the glue defines these).
    pub data: BTreeSet<String>,
    /// The driver's initcalls (`module_init` functions), in the order they run.
    pub initcalls: Vec<String>,
    /// Bytes of code in the glue.
    pub glue_bytes: u64,
    /// Bytes of code in the objects.
    pub text_bytes: u64,
    /// The cache directory.
    pub dir: PathBuf,
    /// The objects and the generated stubs in one archive, for a component to link.
    pub archive: PathBuf,
    /// Whether this build compiled the objects (false: all came from the cache).
    pub compiled: bool,
}

/// Looks `name` up in [`DRIVERS`].
pub fn driver(name: &str) -> Result<LinuxDriver> {
    DRIVERS.iter().copied().find(|d| d.name == name).ok_or_else(|| {
        let known: Vec<&str> = DRIVERS.iter().map(|d| d.name).collect();
        ToolError::new(
            "choosing a Linux driver",
            format!("KaaL does not know how to build the Linux driver `{name}`"),
            format!("use one of: {}", known.join(", ")),
        )
    })
}

/// The shadow headers' directory in this checkout.
pub fn shadow_dir() -> PathBuf {
    crate::assemble::kaal_checkout().join("kaal-dde/shadow")
}

/// Builds `driver`'s objects under `kaal_dir/dde` (see the module's documentation).
pub fn build(driver: LinuxDriver, kaal_dir: &Path, shadow: &Path, reporter: &Reporter) -> Result<LinuxBuild> {
    build_without(driver, kaal_dir, shadow, &[], reporter)
}

/// [`build`], with the glue's definitions of the functions `without` left out of the
/// archive (system.toml's `without = [...]`): the driver gets their stubs instead, and
/// stops with the function's name when it calls one. For seeing what a driver does
/// with a function the emulation lacks.
pub fn build_without(
    driver: LinuxDriver,
    kaal_dir: &Path,
    shadow: &Path,
    without: &[String],
    reporter: &Reporter,
) -> Result<LinuxBuild> {
    let dde = kaal_dir.join("dde");
    let deb = fetch(&dde.join("debs"), reporter)?;
    let src = unpack(&deb, &dde, reporter)?;
    let key = cache_key(driver, shadow)?;
    let dir = dde.join(format!("{}-{key}", driver.name));
    // One configured tree for every driver: struct layouts (net_device, sk_buff, ...)
    // depend on the options, and the emulation's C must see the same ones as each
    // driver it serves. It depends on the options only, not on the shadow headers.
    let kbuild = format!("kbuild-{}", config_key());
    let obj = dde.join(&kbuild);
    if !obj.join(".kaal-prepared").exists() {
        // Prepared under a scratch name, then renamed: the objects are compiled with the
        // directory as the working directory, by relative paths, so it can move.
        let scratch = scratch_name(&dde, &kbuild);
        prepare(&src, &scratch, reporter).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&scratch);
        })?;
        if std::fs::rename(&scratch, &obj).is_err() {
            // Another build prepared it meanwhile.
            let _ = std::fs::remove_dir_all(&scratch);
            if !obj.join(".kaal-prepared").exists() {
                return Err(ToolError::new(
                    "configuring Linux",
                    format!("cannot move {} to {}", scratch.display(), obj.display()),
                    "delete target/kaal/dde and retry",
                ));
            }
        }
    }
    let flags = compiler_flags(&obj)?;
    let objects_dir = dir.join("objects");
    let mut objects = Vec::new();
    let mut compiled = false;
    let step = format!("compiling Linux {} ({} files)", driver.name, driver.files.len());
    let mut progress = None;
    for (file, module) in driver.files {
        let object = objects_dir.join(object_name(file));
        if !object.exists() {
            if progress.is_none() {
                progress = Some(reporter.step(step.clone()));
            }
            compile(&src, &obj, &flags, shadow, file, module, &object, reporter)?;
            compiled = true;
        }
        objects.push(object);
    }
    let glue = compile_glue(&obj, &flags, shadow, &objects_dir, reporter)?;
    let mut text_bytes = 0;
    let mut defined = BTreeSet::new();
    let mut calls = BTreeSet::new();
    let mut data = BTreeSet::new();
    let mut initcalls = Vec::new();
    let mut findings = Vec::new();
    let mut scans = Vec::new();
    for object in objects.iter().chain(&glue) {
        let bytes = std::fs::read(object).map_err(|e| ToolError::io("reading a Linux object", object, e))?;
        let scan = scan(&bytes).map_err(|cause| {
            ToolError::new(
                "reading a Linux object",
                format!("{}: {cause}", object.display()),
                "delete target/kaal/dde to build it again",
            )
        })?;
        findings.extend(scan.privileged.iter().cloned().map(|f| (object.clone(), f)));
        scans.push(scan);
    }
    let mut glue_scan = Scan::default();
    for scan in scans.split_off(objects.len()) {
        glue_scan.defined.extend(scan.defined);
        glue_scan.text_bytes += scan.text_bytes;
    }
    for (object, scan) in objects.iter().zip(scans) {
        text_bytes += scan.text_bytes;
        defined.extend(scan.defined);
        calls.extend(scan.calls);
        data.extend(scan.data);
        initcalls.extend(scan.initcalls.into_iter().map(|i| (object.clone(), i)));
    }
    if !findings.is_empty() {
        // Failed builds must not be taken from the cache next time.
        for object in objects.iter().chain(&glue) {
            let _ = std::fs::remove_file(object);
        }
        return Err(gate_error(driver.name, &findings));
    }
    calls.retain(|s| !defined.contains(s));
    data.retain(|s| !defined.contains(s) && !calls.contains(s));
    if let Some(progress) = progress {
        progress.done(format!("{} objects, {} KiB of code", objects.len(), text_bytes / 1024));
    }
    // What the glue does not give: stubs (the glue's own calls into Linux's helpers
    // and the emulation's Rust side are not the driver's).
    // (`kaal_dde_*` calls the shadow headers made are the Rust side's: kaal_dde::exports!.)
    let mut missing: BTreeSet<String> =
        calls.iter().filter(|s| !glue_scan.defined.contains(*s) && !s.starts_with("kaal_dde_")).cloned().collect();
    let undefined_data: BTreeSet<String> = data.iter().filter(|s| !glue_scan.defined.contains(*s)).cloned().collect();
    if !undefined_data.is_empty() {
        return Err(ToolError::new(
            format!("building Linux {}", driver.name),
            format!(
                "the driver refers to kernel data or functions (in ops tables) that kaal-dde's glue does not \
                 define: {}",
                undefined_data.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
            "define them in kaal-dde/glue/linux.c (a function the driver only takes the address of cannot be a \
             stub: it would be called later, from a table)",
        ));
    }
    initcalls.sort_by(|a, b| a.1.level.cmp(&b.1.level));
    if initcalls.is_empty() {
        return Err(ToolError::new(
            format!("building Linux {}", driver.name),
            "the driver's objects register no initcall (module_init), so nothing would start it",
            "check the driver's files in kaal's driver table (tools/kaal-compose/src/dde.rs)",
        ));
    }
    for symbol in without {
        if !calls.contains(symbol) || missing.contains(symbol) || symbol.starts_with("kaal_dde_") {
            return Err(ToolError::new(
                format!("building Linux {}", driver.name),
                format!(
                    "`without` names `{symbol}`, which is not a function Linux {} calls through the glue",
                    driver.name
                ),
                format!(
                    "name functions from the list `cargo kaal dde build {}` prints as the glue's, or remove `without`",
                    driver.name
                ),
            ));
        }
        missing.insert(symbol.clone());
    }
    let emulated = calls.iter().filter(|s| !missing.contains(*s)).cloned().collect();
    let archive =
        archive(driver, &obj, &flags, &objects_dir, &objects, &glue, &initcalls, &missing, without, reporter)?;
    Ok(LinuxBuild {
        driver,
        objects,
        calls,
        emulated,
        missing,
        data,
        initcalls: initcalls.into_iter().map(|(_, i)| i.function).collect(),
        text_bytes,
        glue_bytes: glue_scan.text_bytes,
        dir,
        archive,
        compiled,
    })
}

/// The C glue's directory in this checkout.
pub fn glue_dir() -> PathBuf {
    crate::assemble::kaal_checkout().join("kaal-dde/glue")
}

/// Compiles kaal-dde's C glue (kaal-dde/glue/*.c) with the drivers' flags, into
/// objects named by a hash of all the glue's files: changing the glue does not compile
/// the driver again.
fn compile_glue(
    obj: &Path,
    flags: &[String],
    shadow: &Path,
    objects_dir: &Path,
    reporter: &Reporter,
) -> Result<Vec<PathBuf>> {
    let glue = glue_dir();
    let mut hasher = Sha256::new();
    for file in GLUE_SOURCES.iter().chain(GLUE_HEADERS) {
        let path = glue.join(file);
        let text = std::fs::read(&path).map_err(|e| ToolError::io("reading kaal-dde's glue", &path, e))?;
        hasher.update(file.as_bytes());
        hasher.update(&text);
    }
    let hash = hex(&hasher.finalize()[..8]);
    let mut objects = Vec::new();
    for file in GLUE_SOURCES {
        let object = objects_dir.join(format!("kaal-glue-{hash}-{}", object_name(file)));
        if !object.exists() {
            let progress = reporter.step(format!("compiling kaal-dde's glue (kaal-dde/glue/{file})"));
            compile(&glue, obj, flags, shadow, file, "kaal_dde", &object, reporter)?;
            progress.done("done");
        }
        objects.push(object);
    }
    Ok(objects)
}

/// The glue's C files, and the headers they include (kaal-dde/glue).
const GLUE_SOURCES: &[&str] = &["linux.c", "tasks.c"];
const GLUE_HEADERS: &[&str] = &["kaal_dde.h", "glue.h"];

/// Symbols a KaaL image defines itself (kaal-core's `__image_support!`): Linux's own
/// (lib/string.c's memcmp) are made weak so the image's win.
const IMAGE_DEFINES: &[&str] = &["memcpy", "memmove", "memset", "memcmp", "bcmp"];

/// `lib<driver>.a`: the objects, the glue, and a generated object with weak stubs for
/// every function the driver calls that the glue does not define (each stops the driver
/// with the function's name) and `kaal_dde_initcalls`, which runs the driver's
/// initcalls. The initcall functions are static in Linux's objects, so the archive's
/// copies of them get a global name for each (`kaal_initcall_N`, added by objcopy).
/// Made again only when the generated source changes.
#[allow(clippy::too_many_arguments)]
fn archive(
    driver: LinuxDriver,
    obj: &Path,
    flags: &[String],
    objects_dir: &Path,
    objects: &[PathBuf],
    glue: &[PathBuf],
    initcalls: &[(PathBuf, Initcall)],
    missing: &BTreeSet<String>,
    without: &[String],
    reporter: &Reporter,
) -> Result<PathBuf> {
    let step = format!("archiving Linux {} with its stubs", driver.name);
    let names: Vec<String> = (0..initcalls.len()).map(|i| format!("kaal_initcall_{i}")).collect();
    let mut source = stubs_source(driver.name, missing);
    source.push_str(&initcalls_source(&names));
    // The glue's hash is in its objects' names: a new glue makes a new archive.
    for object in glue {
        source.push_str(&format!("/* glue: {} */\n", object.file_name().unwrap_or_default().to_string_lossy()));
    }
    // An archive without some of the glue's functions is another archive (two builds
    // of one driver, with and without, may run at once).
    let variant = match without {
        [] => String::new(),
        _ => format!("_without_{}", hex(&Sha256::digest(without.join(",").as_bytes())[..4])),
    };
    let stubs_c = objects_dir.join(format!("kaal-stubs{variant}.c"));
    let stubs_o = objects_dir.join(format!("kaal-stubs{variant}.o"));
    let archive_name = format!("lib{}{variant}.a", driver.name.replace('-', "_"));
    let archive = objects_dir.join(&archive_name);
    if std::fs::read_to_string(&stubs_c).is_ok_and(|old| old == source) && stubs_o.exists() && archive.exists() {
        return Ok(archive);
    }
    let scratch_c = scratch_name(objects_dir, &format!("kaal-stubs{variant}.c"));
    std::fs::write(&scratch_c, &source).map_err(|e| ToolError::io(&step, &scratch_c, e))?;
    let scratch = scratch_name(objects_dir, &format!("kaal-stubs{variant}.o"));
    let mut cc = Command::new("gcc");
    cc.current_dir(obj).args(flags).args(["-x", "c", "-c", "-o"]).arg(&scratch).arg(&scratch_c);
    run(&mut cc, &step, reporter, "a generated stub did not compile; delete target/kaal/dde and retry")?;
    let bytes = std::fs::read(&scratch).map_err(|e| ToolError::io(&step, &scratch, e))?;
    let found = scan(&bytes).map_err(|cause| ToolError::new(&step, cause, "delete target/kaal/dde and retry"))?;
    if !found.privileged.is_empty() {
        let findings: Vec<(PathBuf, Privileged)> = found.privileged.into_iter().map(|f| (stubs_o.clone(), f)).collect();
        return Err(gate_error(driver.name, &findings));
    }
    std::fs::rename(&scratch, &stubs_o).map_err(|e| ToolError::io(&step, &stubs_o, e))?;
    // The archive's copies of the objects: the image's string functions win, and
    // each initcall gets its global name.
    let copies = objects_dir.join(format!("archived{variant}"));
    std::fs::create_dir_all(&copies).map_err(|e| ToolError::io(&step, &copies, e))?;
    let mut members = Vec::new();
    for object in objects.iter().chain(glue) {
        let copy = copies.join(object.file_name().unwrap_or_default());
        let mut objcopy = Command::new("objcopy");
        for symbol in IMAGE_DEFINES {
            objcopy.arg(format!("--weaken-symbol={symbol}"));
        }
        if glue.contains(object) {
            // The functions left out: renamed, so the stubs define them.
            for symbol in without {
                objcopy.arg(format!("--redefine-sym={symbol}=kaal_left_out_{symbol}"));
            }
        }
        for ((from, call), name) in initcalls.iter().zip(&names) {
            if from == object {
                objcopy.arg(format!("--add-symbol={name}={}:{:#x},global,function", call.section, call.offset));
            }
        }
        objcopy.arg(object).arg(&copy);
        run(&mut objcopy, &step, reporter, "install binutils (apt-get install binutils)")?;
        members.push(copy);
    }
    let scratch_a = scratch_name(objects_dir, &archive_name);
    let mut ar = Command::new("ar");
    ar.arg("rcs").arg(&scratch_a).args(&members).arg(&stubs_o);
    run(&mut ar, &step, reporter, "install binutils (apt-get install binutils)")?;
    std::fs::rename(&scratch_a, &archive).map_err(|e| ToolError::io(&step, &archive, e))?;
    // The source last: it marks the stubs and archive as made from it.
    std::fs::rename(&scratch_c, &stubs_c).map_err(|e| ToolError::io(&step, &stubs_c, e))?;
    Ok(archive)
}

/// C source of `kaal_dde_initcalls`, which calls `names` in order and stops at the
/// first that fails (returning its error).
fn initcalls_source(names: &[String]) -> String {
    let mut text = String::new();
    for name in names {
        text.push_str(&format!("int {name}(void);\n"));
    }
    text.push_str("int kaal_dde_initcalls(void)\n{\n\tint err;\n\n");
    for name in names {
        text.push_str(&format!("\terr = {name}();\n\tif (err)\n\t\treturn err;\n"));
    }
    text.push_str("\treturn 0;\n}\n");
    text
}

/// The downloaded, checked package.
/// The pinned source package as [`crate::debian`] fetches it.
const SOURCE_DEB: crate::debian::Pinned = crate::debian::Pinned {
    what: "Linux's source",
    package: SOURCE.package,
    version: SOURCE.version,
    sha256: SOURCE.sha256,
    bytes: SOURCE.bytes,
    url: SOURCE.url,
};

fn fetch(debs: &Path, reporter: &Reporter) -> Result<PathBuf> {
    crate::debian::fetch(&SOURCE_DEB, debs, reporter)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The unpacked part of the source tree (made once: into a scratch directory, then
/// renamed, so a build cut off half way leaves nothing that looks finished).
fn unpack(deb: &Path, dde: &Path, reporter: &Reporter) -> Result<PathBuf> {
    let hash = hex(&Sha256::digest(UNPACK.join("\n").as_bytes())[..4]);
    let src = dde.join(format!("linux-{}-{hash}", SOURCE.version));
    if src.join("Makefile").exists() {
        return Ok(src);
    }
    let step = format!("unpacking Linux {} (headers, scripts, the drivers' files)", SOURCE.version);
    let progress = reporter.step(&step);
    let scratch = scratch_name(dde, &src.file_name().unwrap_or_default().to_string_lossy());
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).map_err(|e| ToolError::io(&step, &scratch, e))?;
    let members: Vec<String> = UNPACK.iter().map(|p| format!("{}/{p}", SOURCE.top)).collect();
    let script = format!(
        "set -o pipefail; dpkg-deb --fsys-tarfile '{deb}' | tar -xO '{tarball}' | xz -dc | \
         tar -x -C '{dir}' --strip-components=1 --wildcards --no-wildcards-match-slash {members} \
         --wildcards-match-slash '{top}/*Kconfig*' '{top}/*/Makefile' '{top}/*/Kbuild'",
        deb = deb.display(),
        tarball = SOURCE.tarball,
        dir = scratch.display(),
        members = members.iter().map(|m| format!("'{m}'")).collect::<Vec<_>>().join(" "),
        top = SOURCE.top,
    );
    let mut cmd = Command::new("bash");
    cmd.args(["-c", &script]);
    run(
        &mut cmd,
        &step,
        reporter,
        "install dpkg, tar and xz-utils (apt-get install dpkg tar xz-utils), or delete the .deb to fetch it again",
    )
    .inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&scratch);
    })?;
    match std::fs::rename(&scratch, &src) {
        Ok(()) => {}
        // Another build unpacked it meanwhile.
        Err(_) if src.join("Makefile").exists() => {
            let _ = std::fs::remove_dir_all(&scratch);
        }
        Err(e) => return Err(ToolError::io(&step, &src, e)),
    }
    progress.done(format!("{}", src.display()));
    Ok(src)
}

/// The options every driver build is configured with: [`ENABLE`] and what each of
/// [`DRIVERS`] needs.
fn enabled_options() -> impl Iterator<Item = &'static str> {
    ENABLE.iter().chain(DRIVERS.iter().flat_map(|d| d.enable)).copied()
}

/// The hash naming the configured kbuild directory.
fn config_key() -> String {
    let mut hasher = Sha256::new();
    hasher.update(format!("recipe {RECIPE}\n{}\n", SOURCE.sha256));
    for option in enabled_options() {
        hasher.update(format!("+{option}\n"));
    }
    for option in DISABLE {
        hasher.update(format!("-{option}\n"));
    }
    for (header, generator) in DRIVERS.iter().flat_map(|d| d.generated) {
        hasher.update(format!("{header} {generator}\n"));
    }
    hex(&hasher.finalize()[..6])
}

/// The hash naming a driver's cache directory.
fn cache_key(driver: LinuxDriver, shadow: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(config_key());
    for (file, module) in driver.files {
        hasher.update(format!("{file} {module}\n"));
    }
    let mut headers = Vec::new();
    let mut pending = vec![shadow.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let read = std::fs::read_dir(&dir).map_err(|e| {
            ToolError::new(
                "reading the DDE shadow headers",
                format!("{}: {e}", dir.display()),
                "run kaal from a KaaL checkout (kaal-dde/shadow holds them)",
            )
        })?;
        for entry in read.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                headers.push(path);
            }
        }
    }
    headers.sort();
    for header in headers {
        let text = std::fs::read(&header).map_err(|e| ToolError::io("reading the DDE shadow headers", &header, e))?;
        hasher.update(header.strip_prefix(shadow).unwrap_or(&header).to_string_lossy().as_bytes());
        hasher.update(&text);
    }
    Ok(hex(&hasher.finalize()[..8]))
}

/// Configures and prepares a kbuild output directory for every driver KaaL builds.
fn prepare(src: &Path, obj: &Path, reporter: &Reporter) -> Result<()> {
    let step = "configuring Linux for KaaL's drivers (tinyconfig, olddefconfig, prepare0)".to_string();
    let progress = reporter.step(&step);
    let _ = std::fs::remove_dir_all(obj);
    std::fs::create_dir_all(obj).map_err(|e| ToolError::io(&step, obj, e))?;
    let make = |target: &str| {
        let mut cmd = Command::new("make");
        cmd.current_dir(src).arg(format!("O={}", obj.display())).arg(target);
        cmd
    };
    let fix = "install flex, bison and bc (apt-get install flex bison bc); or delete target/kaal/dde and retry";
    run(&mut make("tinyconfig"), &step, reporter, fix)?;
    let mut config = Command::new(src.join("scripts/config"));
    config.current_dir(src).arg("--file").arg(obj.join(".config"));
    for option in enabled_options() {
        config.args(["--enable", option]);
    }
    for option in DISABLE {
        config.args(["--disable", option]);
    }
    run(&mut config, &step, reporter, fix)?;
    run(&mut make("olddefconfig"), &step, reporter, fix)?;
    let text = std::fs::read_to_string(obj.join(".config")).map_err(|e| ToolError::io(&step, obj, e))?;
    let lost = lost_options(&text, enabled_options(), DISABLE.iter().copied());
    if !lost.is_empty() {
        return Err(ToolError::new(
            &step,
            format!("Kconfig did not keep these options (a dependency is missing): {}", lost.join(", ")),
            format!("see {} and the options' `depends on` in Kconfig", obj.join(".config").display()),
        ));
    }
    let mut prepare = make("prepare0");
    prepare.arg("-j2");
    run(&mut prepare, &step, reporter, fix)?;
    // Headers kbuild would make with host programs, for every driver: here, before the
    // tree is renamed into place, so that no build ever sees one half written.
    for (header, generator) in DRIVERS.iter().flat_map(|d| d.generated) {
        generate(src, obj, header, generator, reporter)?;
    }
    std::fs::write(obj.join(".kaal-prepared"), "").map_err(|e| ToolError::io(&step, obj, e))?;
    // (`obj` is a scratch name, renamed into place by the caller.)
    progress.done("prepared");
    Ok(())
}

/// The options of `enable` that `config` (a .config) does not have set to `y`, and
/// those of `disable` it has set.
fn lost_options<'a>(
    config: &str,
    enable: impl Iterator<Item = &'a str>,
    disable: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let set: BTreeSet<&str> =
        config.lines().filter_map(|l| l.strip_suffix("=y")).filter_map(|l| l.strip_prefix("CONFIG_")).collect();
    let mut lost: Vec<String> =
        enable.filter(|o| !set.contains(o)).map(|o| format!("CONFIG_{o} (wanted on)")).collect();
    lost.extend(disable.filter(|o| set.contains(o)).map(|o| format!("CONFIG_{o} (wanted off)")));
    lost
}

/// kbuild's C flags, from the command it recorded for `asm-offsets.s` in `make
/// prepare0`, changed for a user-level component.
fn compiler_flags(obj: &Path) -> Result<Vec<String>> {
    let cmd_file = obj.join("arch/x86/kernel/.asm-offsets.s.cmd");
    let text = std::fs::read_to_string(&cmd_file).map_err(|e| {
        ToolError::new(
            "reading kbuild's compiler flags",
            format!("{}: {e}", cmd_file.display()),
            "delete target/kaal/dde to configure Linux again",
        )
    })?;
    let line = text.lines().next().unwrap_or_default();
    let command = line.split_once(":=").map(|(_, c)| c).unwrap_or_default();
    user_level_flags(command).ok_or_else(|| {
        ToolError::new(
            "reading kbuild's compiler flags",
            format!("{} holds no gcc command: {line}", cmd_file.display()),
            "delete target/kaal/dde to configure Linux again",
        )
    })
}

/// kbuild's flags from a recorded gcc `command` (which compiled one file), without what
/// names that file, and changed to build code for a KaaL component:
/// `-mcmodel=small` for `-mcmodel=kernel`, no retpolines, return thunks, mcount or
/// patchable entries, and no stack protector.
fn user_level_flags(command: &str) -> Option<Vec<String>> {
    let mut words = command.split_whitespace();
    if words.next()? != "gcc" {
        return None;
    }
    let mut flags = Vec::new();
    let mut words = words.peekable();
    while let Some(word) = words.next() {
        match word {
            "-o" => {
                words.next();
            }
            "-S"
            | "-c"
            | "-fverbose-asm"
            | "-pg"
            | "-mfentry"
            | "-mrecord-mcount"
            | "-mindirect-branch-register"
            | "-mindirect-branch-cs-prefix" => {}
            // The directory of the file compiled (`-I $(srctree)/. -I ./.`).
            "-I" if words.peek().is_some_and(|d| d.ends_with("/.")) => {
                words.next();
            }
            "-mcmodel=kernel" => flags.push("-mcmodel=small".to_string()),
            w if w.starts_with("-Wp,-MMD") || w.starts_with("-DKBUILD_") || w.starts_with("-D__KBUILD_MODNAME") => {}
            w if w.starts_with("-mindirect-branch=")
                || w.starts_with("-mfunction-return=")
                || w.starts_with("-mharden-sls=")
                || w.starts_with("-fpatchable-function-entry=")
                || w.starts_with("-fstack-protector") => {}
            w if w.ends_with(".c") && !w.starts_with('-') => {}
            w => flags.push(w.to_string()),
        }
    }
    flags.push("-fno-stack-protector".to_string());
    Some(flags)
}

/// Makes a header kbuild would make with a host program (crc32's tables), in the kbuild
/// output directory where the sources' `-I ./dir` finds it.
fn generate(src: &Path, obj: &Path, header: &str, generator: &str, reporter: &Reporter) -> Result<()> {
    let step = format!("generating Linux's {header}");
    let out = obj.join(header);
    let dir = out.parent().unwrap_or(obj);
    std::fs::create_dir_all(dir).map_err(|e| ToolError::io(&step, dir, e))?;
    let program = out.with_extension("generator");
    let source = src.join(generator);
    let mut cc = Command::new("gcc");
    // `#include "../include/generated/autoconf.h"` resolves through `-I obj/lib`.
    cc.arg("-O2").arg("-I").arg(dir).arg("-I").arg(source.parent().unwrap_or(src)).arg("-o").arg(&program).arg(&source);
    run(&mut cc, &step, reporter, "install gcc (apt-get install gcc)")?;
    reporter.debug(format!("running {}", program.display()));
    let made = Command::new(&program).output().map_err(|e| ToolError::io(&step, &program, e))?;
    if !made.status.success() {
        return Err(ToolError::new(
            &step,
            format!("{} failed: {}", program.display(), String::from_utf8_lossy(&made.stderr).trim()),
            "delete target/kaal/dde and retry",
        ));
    }
    std::fs::write(&out, made.stdout).map_err(|e| ToolError::io(&step, &out, e))
}

fn object_name(file: &str) -> String {
    file.trim_end_matches(".c").replace('/', "__") + ".o"
}

/// Compiles one Linux source file (through a scratch name, then renamed: an object
/// that exists is a finished one).
#[allow(clippy::too_many_arguments)]
fn compile(
    src: &Path,
    obj: &Path,
    flags: &[String],
    shadow: &Path,
    file: &str,
    module: &str,
    object: &Path,
    reporter: &Reporter,
) -> Result<()> {
    let step = format!("compiling Linux's {file}");
    let dir = object.parent().unwrap_or(obj);
    std::fs::create_dir_all(dir).map_err(|e| ToolError::io(&step, dir, e))?;
    let scratch = scratch_name(dir, &object.file_name().unwrap_or_default().to_string_lossy());
    let source = src.join(file);
    let source_dir = Path::new(file).parent().unwrap_or(Path::new("."));
    let base = Path::new(file).file_stem().unwrap_or_default().to_string_lossy().replace('-', "_");
    let mut cc = Command::new("gcc");
    cc.current_dir(obj);
    // The shadow headers come before Linux's own.
    let mut shadowed = false;
    for flag in flags {
        cc.arg(flag);
        if flag == "-nostdinc" && !shadowed {
            cc.arg("-I").arg(shadow);
            shadowed = true;
        }
    }
    if !shadowed {
        cc.arg("-I").arg(shadow);
    }
    cc.arg("-I").arg(src.join(source_dir)).arg("-I").arg(Path::new(".").join(source_dir));
    cc.arg(format!("-DKBUILD_MODFILE=\"{}\"", file.trim_end_matches(".c")))
        .arg(format!("-DKBUILD_BASENAME=\"{base}\""))
        .arg(format!("-DKBUILD_MODNAME=\"{module}\""))
        .arg(format!("-D__KBUILD_MODNAME=kmod_{module}"))
        .arg("-c")
        .arg("-o")
        .arg(&scratch)
        .arg(&source);
    run(
        &mut cc,
        &step,
        reporter,
        "this file needs something KaaL's shadow headers or configuration lack; see the error above",
    )?;
    std::fs::rename(&scratch, object).map_err(|e| ToolError::io(&step, object, e))
}

/// An instruction a user-level thread cannot run, found by the gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Privileged {
    /// The function it is in (or the section, for code outside any function symbol).
    pub function: String,
    /// Its offset in the function.
    pub offset: u64,
    /// What it is (`cli`, `a %gs-relative access (mov)`).
    pub what: String,
}

/// What [`scan`] finds in one relocatable object.
#[derive(Debug, Default, Clone)]
pub struct Scan {
    /// Global symbols it defines.
    pub defined: BTreeSet<String>,
    /// Undefined symbols it calls.
    pub calls: BTreeSet<String>,
    /// Undefined symbols it refers to otherwise (data, or a function's address).
    pub data: BTreeSet<String>,
    /// Privileged instructions in its code.
    pub privileged: Vec<Privileged>,
    /// Bytes of code.
    pub text_bytes: u64,
    /// The functions its `.initcall*` sections point at (`module_init`'s, static):
    /// (initcall level, the function's section, its offset there, its name), in order.
    pub initcalls: Vec<Initcall>,
}

/// A function an object registers with `module_init` (or another initcall level).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Initcall {
    /// The level (`6` for `.initcall6.init`, device drivers).
    pub level: String,
    /// The section the function is in (`.init.text`).
    pub section: String,
    /// Its offset there.
    pub offset: u64,
    /// Its name (a local symbol).
    pub function: String,
}

/// Reads a relocatable x86_64 ELF object: its symbols, and the privileged instructions
/// in its executable sections (decoded with iced-x86 from each function's start, so
/// bytes inside other instructions are never mistaken for one).
pub fn scan(bytes: &[u8]) -> std::result::Result<Scan, String> {
    use xmas_elf::sections::{SectionData, ShType, SHF_EXECINSTR};
    use xmas_elf::symbol_table::{Binding, Entry, Type};
    let elf = xmas_elf::ElfFile::new(bytes).map_err(|e| format!("not an ELF object: {e}"))?;
    let mut out = Scan::default();
    // Functions by section: (start, size, name).
    let mut functions: BTreeMap<u16, Vec<(u64, u64, String)>> = BTreeMap::new();
    let mut names: Vec<(String, bool)> = Vec::new();
    // Each symbol's section and value, and whether it is a section's own symbol.
    let mut places: Vec<(u16, u64, bool)> = Vec::new();
    for section in elf.section_iter() {
        if section.get_type() != Ok(ShType::SymTab) {
            continue;
        }
        let Ok(SectionData::SymbolTable64(symbols)) = section.get_data(&elf) else {
            return Err("its symbol table is not a 64-bit one".into());
        };
        for symbol in symbols {
            let name = symbol.get_name(&elf).unwrap_or_default().to_string();
            let index = symbol.shndx();
            let global = matches!(symbol.get_binding(), Ok(Binding::Global) | Ok(Binding::Weak));
            names.push((name.clone(), index == 0 && global && !name.is_empty()));
            places.push((index, symbol.value(), symbol.get_type() == Ok(Type::Section)));
            if index != 0 && global && !name.is_empty() {
                out.defined.insert(name.clone());
            }
            if symbol.get_type() == Ok(Type::Func) && index != 0 {
                functions.entry(index).or_default().push((symbol.value(), symbol.size(), name));
            }
        }
    }
    // Undefined symbols: called (a PLT32 relocation, `call`/`jmp`) or otherwise referred to.
    for section in elf.section_iter() {
        if section.get_type() != Ok(ShType::Rela) {
            continue;
        }
        let Ok(SectionData::Rela64(relas)) = section.get_data(&elf) else { continue };
        for rela in relas {
            let Some((name, undefined)) = names.get(rela.get_symbol_table_index() as usize) else { continue };
            if !undefined {
                continue;
            }
            // R_X86_64_PLT32 (4) is what gcc emits for a call or tail jump; any other
            // relocation (PC32, 32S, 64) refers to data or takes a function's address.
            if rela.get_type() == 4 {
                out.calls.insert(name.clone());
            } else {
                out.data.insert(name.clone());
            }
        }
    }
    out.data.retain(|s| !out.calls.contains(s));
    // Initcalls: `.long fn - .` in `.initcallN.init`, relocated against the function or
    // (gas's choice for a local symbol) its section plus the function's offset.
    let section_names: Vec<String> = elf.section_iter().map(|s| s.get_name(&elf).unwrap_or("").to_string()).collect();
    for section in elf.section_iter() {
        let name = section.get_name(&elf).unwrap_or("");
        let Some(level) = name.strip_prefix(".rela.initcall").and_then(|l| l.strip_suffix(".init")) else { continue };
        let Ok(SectionData::Rela64(relas)) = section.get_data(&elf) else { continue };
        for rela in relas {
            let Some(&(index, value, is_section)) = places.get(rela.get_symbol_table_index() as usize) else {
                continue;
            };
            let offset = if is_section { rela.get_addend() } else { value };
            let function = functions
                .get(&index)
                .and_then(|f| f.iter().find(|(start, _, _)| *start == offset))
                .map(|(_, _, name)| name.clone());
            let (Some(function), Some(section)) = (function, section_names.get(index as usize)) else {
                return Err(format!("initcall in {name} points at no function"));
            };
            out.initcalls.push(Initcall { level: level.to_string(), section: section.clone(), offset, function });
        }
    }
    for (index, section) in elf.section_iter().enumerate() {
        if section.get_type() != Ok(ShType::ProgBits) || section.flags() & SHF_EXECINSTR == 0 {
            continue;
        }
        let code = section.raw_data(&elf);
        out.text_bytes += code.len() as u64;
        let section_name = section.get_name(&elf).unwrap_or("?").to_string();
        let mut spans = functions.remove(&(index as u16)).unwrap_or_default();
        spans.sort();
        if spans.is_empty() {
            spans.push((0, code.len() as u64, section_name.clone()));
        }
        for (start, size, name) in spans {
            let end = (start + size).min(code.len() as u64);
            if start >= end {
                continue;
            }
            out.privileged.extend(privileged_in(&code[start as usize..end as usize], &name));
        }
    }
    Ok(out)
}

/// The privileged instructions in one function's code.
fn privileged_in(code: &[u8], function: &str) -> Vec<Privileged> {
    use iced_x86::{Decoder, DecoderOptions, Mnemonic, Register};
    let mut found = Vec::new();
    let mut decoder = Decoder::with_ip(64, code, 0, DecoderOptions::NONE);
    while decoder.can_decode() {
        let instruction = decoder.decode();
        let mnemonic = instruction.mnemonic();
        let what = match mnemonic {
            Mnemonic::Cli
            | Mnemonic::Sti
            | Mnemonic::Hlt
            | Mnemonic::In
            | Mnemonic::Insb
            | Mnemonic::Insw
            | Mnemonic::Insd
            | Mnemonic::Out
            | Mnemonic::Outsb
            | Mnemonic::Outsw
            | Mnemonic::Outsd
            | Mnemonic::Lgdt
            | Mnemonic::Lidt
            | Mnemonic::Lldt
            | Mnemonic::Ltr
            | Mnemonic::Rdmsr
            | Mnemonic::Wrmsr
            | Mnemonic::Invlpg
            | Mnemonic::Invd
            | Mnemonic::Wbinvd
            | Mnemonic::Swapgs
            | Mnemonic::Clts
            | Mnemonic::Lmsw
            | Mnemonic::Sysret
            | Mnemonic::Sysexit
            | Mnemonic::Xsetbv
            | Mnemonic::Monitor
            | Mnemonic::Mwait
            // At user level popf silently keeps IF: an interrupt state saved and restored
            // with pushf/popf would be wrong without any fault.
            | Mnemonic::Pushfq
            | Mnemonic::Popfq => Some(format!("{mnemonic:?}").to_lowercase()),
            Mnemonic::Mov
                if [instruction.op0_register(), instruction.op1_register()]
                    .iter()
                    .any(|&r| (Register::CR0..=Register::CR15).contains(&r) || (Register::DR0..=Register::DR15).contains(&r)) =>
            {
                Some("a control or debug register access (mov)".to_string())
            }
            Mnemonic::INVALID => None,
            _ if instruction.segment_prefix() == Register::GS => {
                Some(format!("a %gs-relative access ({})", format!("{mnemonic:?}").to_lowercase()))
            }
            _ => None,
        };
        if let Some(what) = what {
            found.push(Privileged { function: function.to_string(), offset: instruction.ip(), what });
        }
    }
    found
}

fn gate_error(driver: &str, findings: &[(PathBuf, Privileged)]) -> ToolError {
    let mut lines: Vec<String> = findings
        .iter()
        .take(12)
        .map(|(object, f)| {
            format!(
                "{} in {}+{:#x} ({})",
                f.what,
                f.function,
                f.offset,
                object.file_name().unwrap_or_default().to_string_lossy()
            )
        })
        .collect();
    if findings.len() > 12 {
        lines.push(format!("... and {} more", findings.len() - 12));
    }
    ToolError::new(
        format!("checking Linux {driver}'s objects for privileged instructions"),
        format!("{} instruction(s) a user-level component cannot run:\n{}", findings.len(), lines.join("\n")),
        "they come from a header KaaL does not shadow yet: add a shadow header in kaal-dde/shadow that routes \
         the operation to the emulation (as asm/irqflags.h does for cli/sti)",
    )
}

/// C source for weak stubs of the functions `missing`: each stops the driver with the
/// symbol's name through the emulation's `kaal_dde_unimplemented` (so a newcomer reads
/// "8139cp called netif_carrier_off, not emulated yet" instead of a crash). The
/// emulation's own definition of a function replaces its stub at the link.
pub fn stubs_source(driver: &str, missing: &BTreeSet<String>) -> String {
    let mut text = format!(
        "/* Generated by kaal for Linux {driver}: a weak stub for each function it calls and does not define. */\n\
         void kaal_dde_unimplemented(const char *driver, const char *symbol) __attribute__((noreturn));\n"
    );
    for symbol in missing {
        text.push_str(&format!(
            "void {symbol}(void) __attribute__((weak, noreturn));\nvoid {symbol}(void) {{ kaal_dde_unimplemented(\"{driver}\", \"{symbol}\"); }}\n"
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORDED: &str = "gcc -Wp,-MMD,arch/x86/kernel/.asm-offsets.s.d -nostdinc -I/l/arch/x86/include \
        -include /l/include/linux/kconfig.h -D__KERNEL__ -fno-PIE -mno-red-zone -mcmodel=kernel \
        -mindirect-branch=thunk-extern -mindirect-branch-register -mfunction-return=thunk-extern \
        -fstack-protector-strong -O2 -I /l/. -I ./. -DKBUILD_MODFILE='\"./asm-offsets\"' \
        -DKBUILD_BASENAME='\"asm_offsets\"' -DKBUILD_MODNAME='\"asm_offsets\"' -D__KBUILD_MODNAME=kmod_asm_offsets \
        -fverbose-asm -S -o arch/x86/kernel/asm-offsets.s /l/arch/x86/kernel/asm-offsets.c";

    #[test]
    fn kbuild_flags_become_user_level_ones() {
        let flags = user_level_flags(RECORDED).expect("a gcc command");
        assert_eq!(
            flags,
            [
                "-nostdinc",
                "-I/l/arch/x86/include",
                "-include",
                "/l/include/linux/kconfig.h",
                "-D__KERNEL__",
                "-fno-PIE",
                "-mno-red-zone",
                "-mcmodel=small",
                "-O2",
                "-fno-stack-protector"
            ]
        );
        assert!(user_level_flags("cc -c x.c").is_none());
    }

    #[test]
    fn options_kconfig_dropped_are_named() {
        let config = "CONFIG_NET=y\nCONFIG_PCI=y\n# CONFIG_SMP is not set\nCONFIG_MODULES=y\n";
        let lost = lost_options(config, ["NET", "PCI", "8139CP"].into_iter(), ["SMP", "MODULES"].into_iter());
        assert_eq!(lost, ["CONFIG_8139CP (wanted on)", "CONFIG_MODULES (wanted off)"]);
    }

    /// `source` compiled by gcc into an object in a scratch directory of its own (named
    /// after `what`): the directory, to remove, and the object.
    fn gcc_object(what: &str, source: &str) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("kaal-dde-{what}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (c, object) = (dir.join(format!("{what}.c")), dir.join(format!("{what}.o")));
        std::fs::write(&c, source).unwrap();
        let status =
            Command::new("gcc").args(["-O2", "-fno-pic", "-c", "-o"]).arg(&object).arg(&c).status().expect("gcc runs");
        assert!(status.success(), "gcc could not compile {}", c.display());
        (dir, object)
    }

    /// An object compiled by gcc: the gate finds its `cli`, `outb` and `%gs` load by
    /// function, and its symbols are sorted into defined, called and referred to.
    #[test]
    fn the_gate_names_the_function_of_a_privileged_instruction() {
        let (dir, object) = gcc_object(
            "gate",
            "extern int counter; extern void helper(int);\n\
             void quiet(void) { helper(counter); }\n\
             void bad_irq_off(void) { __asm__ volatile(\"cli\"); helper(1); }\n\
             void bad_port(void) { __asm__ volatile(\"outb %%al, $0x80\" :: \"a\"(0)); }\n\
             unsigned long bad_percpu(void) { unsigned long v; __asm__ volatile(\"movq %%gs:0x28, %0\" : \"=r\"(v)); return v; }\n\
             /* cli's byte (0xfa) inside another instruction is no cli. */\n\
             unsigned long fine(void) { return 0xfafafafaUL; }\n",
        );
        let scan = scan(&std::fs::read(&object).unwrap()).expect("an ELF object");
        let found: Vec<(&str, &str)> = scan.privileged.iter().map(|p| (p.function.as_str(), p.what.as_str())).collect();
        assert_eq!(found, [("bad_irq_off", "cli"), ("bad_port", "out"), ("bad_percpu", "a %gs-relative access (mov)")]);
        assert!(scan.defined.contains("quiet") && scan.defined.contains("fine"));
        assert_eq!(scan.calls.iter().collect::<Vec<_>>(), ["helper"]);
        assert_eq!(scan.data.iter().collect::<Vec<_>>(), ["counter"]);
        let error = gate_error("bad", &scan.privileged.iter().map(|p| (object.clone(), p.clone())).collect::<Vec<_>>());
        assert!(error.to_string().contains("cli in bad_irq_off+0x"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Initcalls are found from their section's relocations, as Linux's module_init
    /// leaves them (`.long fn - .` against a static function, which gas writes as the
    /// function's section plus its offset), in level order once sorted; the generated
    /// `kaal_dde_initcalls` calls them in order and stops at the first error.
    #[test]
    fn initcalls_are_found_by_their_relocations() {
        let (dir, object) = gcc_object(
            "initcalls",
            "static int __attribute__((section(\".init.text\"), used)) first_init(void) { return 0; }\n\
             static int __attribute__((section(\".init.text\"), used)) second_init(void) { return 1; }\n\
             int plain(void) { return 2; }\n\
             __asm__(\".section .initcall6.init,\\\"a\\\"\\n.long second_init - .\\n.previous\");\n\
             __asm__(\".section .initcall4.init,\\\"a\\\"\\n.long first_init - .\\n.previous\");\n",
        );
        let mut found = scan(&std::fs::read(&object).unwrap()).expect("an ELF object").initcalls;
        found.sort_by(|a, b| a.level.cmp(&b.level));
        let names: Vec<(&str, &str, &str)> =
            found.iter().map(|i| (i.level.as_str(), i.section.as_str(), i.function.as_str())).collect();
        assert_eq!(names, [("4", ".init.text", "first_init"), ("6", ".init.text", "second_init")]);
        assert!(found[1].offset > 0, "second_init is after first_init in .init.text");
        let text = initcalls_source(&["kaal_initcall_0".into(), "kaal_initcall_1".into()]);
        let order = (text.find("err = kaal_initcall_0()").unwrap(), text.find("err = kaal_initcall_1()").unwrap());
        assert!(order.0 < order.1 && text.contains("if (err)\n\t\treturn err;"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A package that is not the pinned one is refused, with the pinned version and
    /// where to get it, and is not marked as checked.
    #[test]
    fn a_mismatched_source_package_names_the_pinned_one() {
        let debs = std::env::temp_dir().join(format!("kaal-dde-debs-{}", std::process::id()));
        std::fs::create_dir_all(&debs).unwrap();
        let name = format!("{}_{}_all.deb", SOURCE.package, SOURCE.version);
        std::fs::write(debs.join(&name), b"not the package").unwrap();
        let error = fetch(&debs, &Reporter::QUIET).expect_err("a wrong package");
        assert!(error.cause.contains(SOURCE.sha256) && error.cause.contains(SOURCE.version), "{error}");
        assert!(error.help.contains(SOURCE.url), "{error}");
        assert!(!debs.join(format!("{name}.sha256-checked")).exists());
        std::fs::remove_dir_all(&debs).unwrap();
    }

    #[test]
    fn stubs_name_the_driver_and_the_symbol() {
        let missing: BTreeSet<String> = ["netif_carrier_off".to_string()].into();
        let text = stubs_source("8139cp", &missing);
        assert!(text.contains("void netif_carrier_off(void) __attribute__((weak, noreturn));"), "{text}");
        assert!(text
            .contains("void netif_carrier_off(void) { kaal_dde_unimplemented(\"8139cp\", \"netif_carrier_off\"); }"));
    }
}
