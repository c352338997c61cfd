//! Building the seL4 kernel from source, cached by a hash of its inputs.
//!
//! Where the source comes from ([`locate_source`]): `KAAL_SEL4_SOURCE` when it holds the
//! version asked for; else the system's `[kernel] source` (a tree, or a git URL and tag
//! cloned once into `target/kaal/sources/`); else, for 5.0.0 only, the crates.io carrier
//! (`sel4-sys` 0.0.28, fetched by cargo). No registry carries 16.0.0, so a 16.0.0 system
//! without a source stops here, before anything builds.
//!
//! **seL4 5.0.0** (standalone Makefile):
//! 1. Copy `seL4/` into `target/kaal/kernel/<hash>/src` and patch the copy:
//!    * `tools/*.py` shebangs `python` -> `python3` (the Makefile runs some by shebang);
//!    * `tools/circular_includes.py` skips GCC >= 9's `# 0 "file"` linemarkers;
//!    * `include/plat/pc99/autoconf.h` is rendered from the [`KernelConfig`].
//! 2. Run the Makefile with a python venv holding `six`, `ply`, `tempita`.
//!
//! **seL4 16.0.0** (CMake + ninja, out of tree; the source is never written to):
//! 1. Render a CMake settings file from the [`KernelConfig`] (for the verified
//!    configuration, the kernel's own `configs/X64_verified.cmake` and nothing else).
//! 2. `cmake -G Ninja -C settings.cmake` and `ninja kernel.elf`, with CMake, ninja and the
//!    generators' packages from PyPI in a second venv.
//! 3. Keep the generated `gen_config.h` headers, from which `kaal-core`'s bindings take
//!    the configuration the kernel was really built with.
//!
//! Both then `objcopy` the result to ELF32, because QEMU's multiboot loader takes nothing
//! else.
//!
//! The hash covers everything that changes the binary: the recipe version (bump it when
//! the steps above change), the kernel version and source, the rendered settings, the
//! build flags and the compiler version. A build holds a lock on its directory, so
//! parallel builds and tests never race, and a build counts only once its marker is
//! written.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use kaal_sel4::{KernelConfig, KernelSource, KernelVersion};
use sha2::{Digest, Sha256};

use crate::error::{Result, ToolError};
use crate::progress::Reporter;
use crate::project::Project;
use crate::system::KernelSourceSpec;

/// Version of the 5.0.0 build recipe in this file; part of the cache key.
pub const RECIPE_VERSION: u32 = 2;
/// Version of the 16.0.0 (CMake) build recipe; part of its cache key.
pub const CMAKE_RECIPE_VERSION: u32 = 1;
/// `WARNINGS` for the 5.0.0 kernel Makefile: its defaults plus what GCC 12 needs.
const WARNINGS: &str = "all error strict-prototypes missing-prototypes nested-externs missing-declarations \
                        undef pointer-arith no-nonnull no-address-of-packed-member no-array-bounds";
/// Python packages for 5.0.0's generators, pinned to versions verified with it.
/// (The PyPI metapackage `sel4-deps` targets modern seL4 and does not fit.)
const PYTHON_PACKAGES: &[&str] = &["six==1.17.0", "ply==3.11", "Tempita==0.6.0"];
/// Python packages for 16.0.0's CMake build and generators: CMake and ninja themselves,
/// and what `sel4-deps` would pull in for an x86 kernel, pinned to the versions verified
/// with it on this project's machines.
const CMAKE_PACKAGES: &[&str] = &[
    "cmake==4.4.5",
    "ninja==1.13.2",
    "Jinja2==3.1.6",
    "lxml==6.1.3",
    "ply==3.11",
    "PyYAML==6.0.4",
    "six==1.17.0",
    "future==1.0.0",
    "pyfdt==0.3",
    "jsonschema==4.26.0",
];
/// Marker written when a build is complete.
const COMPLETE: &str = "kaal-sel4-complete";
/// Marker written when a git clone is complete.
const CLONED: &str = ".kaal-cloned";

/// A built kernel.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// The build directory.
    pub dir: PathBuf,
    /// The ELF32 image QEMU boots.
    pub image: PathBuf,
    /// The config the kernel was built with, as TOML (for image builds).
    pub config_file: PathBuf,
    /// The settings it was built with.
    pub config: KernelConfig,
    /// The pristine kernel source.
    pub source: KernelSource,
    /// Whether the build came from the cache.
    pub cache_hit: bool,
    /// Short input hash.
    pub hash: String,
}

fn make_args(src: &Path, config: &KernelConfig) -> Vec<String> {
    let mut args = vec![
        "-f".into(),
        src.join("Makefile").display().to_string(),
        format!("SOURCE_ROOT={}", src.display()),
        "ARCH=x86".into(),
        "PLAT=pc99".into(),
        "SEL4_ARCH=x86_64".into(),
        "PYTHON=python3".into(),
        format!("WARNINGS={WARNINGS}"),
        "kernel.elf".into(),
    ];
    if config.debug_build {
        // Required for debug builds: defines ksKernelEntry and builds capdl.c, which
        // CONFIG_DEBUG_BUILD needs.
        args.insert(args.len() - 1, "DEBUG=1".into());
    }
    args
}

fn compiler_version() -> String {
    Command::new("gcc")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_else(|| "unknown gcc".into())
}

/// A fingerprint of a source tree: every file's path and contents, so an edited tree
/// builds afresh and a copied or re-extracted one (new modification times, same files)
/// does not. Hashing seL4 16.0.0's 13 MB takes a few tens of milliseconds.
fn tree_fingerprint(root: &Path) -> String {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, [u8; 32])>) {
        let Ok(entries) = fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            // Git's own files, and python's bytecode caches (written by anything that
            // runs the tree's generators), are not the source.
            let name = name.to_string_lossy();
            if name.starts_with(".git") || name == "__pycache__" || name.ends_with(".pyc") {
                continue;
            }
            let Ok(meta) = fs::metadata(&path) else { continue };
            if meta.is_dir() {
                walk(&path, root, out);
            } else {
                let rel = path.strip_prefix(root).unwrap_or(&path).display().to_string();
                // An unreadable file still counts, by its size.
                let digest = match fs::read(&path) {
                    Ok(bytes) => Sha256::digest(bytes).into(),
                    Err(_) => Sha256::digest(meta.len().to_le_bytes()).into(),
                };
                out.push((rel, digest));
            }
        }
    }
    let mut files = Vec::new();
    walk(root, root, &mut files);
    files.sort();
    let mut h = Sha256::new();
    for (rel, digest) in &files {
        h.update(rel.as_bytes());
        h.update([0]);
        h.update(digest);
    }
    let digest = h.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The cache key for a kernel built from `config` and `source`.
pub fn input_hash(config: &KernelConfig, source: &KernelSource) -> String {
    let mut h = Sha256::new();
    h.update(format!("recipe {RECIPE_VERSION}\n"));
    match config.version {
        KernelVersion::V5_0_0 => {
            // The carrier's tree is fixed by its version; a tree named by path may not be.
            h.update(format!("seL4 5.0.0 from sel4-sys {}\n", kaal_sel4::source::SEL4_SYS_VERSION));
            if !source.is_carrier() {
                h.update(tree_fingerprint(source.root()));
            }
            h.update(config.autoconf_h());
            h.update(make_args(Path::new("src"), config).join(" "));
            h.update(compiler_version());
            h.update(PYTHON_PACKAGES.join(" "));
        }
        KernelVersion::V16_0_0 => {
            h.update(format!(
                "cmake recipe {CMAKE_RECIPE_VERSION}\nseL4 {} at {}\n",
                config.version,
                source.root().display()
            ));
            h.update(tree_fingerprint(source.root()));
            h.update(config.cmake_settings(source.root()));
            h.update(CMAKE_PACKAGES.join(" "));
            h.update(compiler_version());
        }
    }
    let digest = h.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), &target)?;
            // The registry copy is read-only; the build writes generated headers.
            let mut perms = fs::metadata(&target)?.permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            fs::set_permissions(&target, perms)?;
        }
    }
    Ok(())
}

/// Applies KaaL's build-time patches to a copied seL4 5.0.0 source tree.
pub fn patch_source(src: &Path, config: &KernelConfig) -> Result<()> {
    let step = "patching the seL4 source";
    let io = |path: &Path, e: std::io::Error| ToolError::io(step, path, e);

    // (a) GCC >= 9 emits `# 0 "file"` linemarkers, which are not include push/pop.
    let ci = src.join("tools/circular_includes.py");
    let text = fs::read_to_string(&ci).map_err(|e| io(&ci, e))?;
    let anchor = "        header = match.group(2)\n";
    if !text.contains(anchor) {
        return Err(ToolError::new(
            step,
            format!("{} has changed: the linemarker patch no longer applies", ci.display()),
            "the kernel source is not the seL4 5.0.0 KaaL was verified with; delete target/kaal and retry",
        ));
    }
    let patched = text.replacen(
        anchor,
        &format!("{anchor}\n        # KaaL: GCC >= 9 emits '# 0 \"file\"' linemarkers; not include push/pop\n        if depth == 0:\n            continue\n"),
        1,
    );
    fs::write(&ci, patched).map_err(|e| io(&ci, e))?;

    // (b) Tools run by shebang must find python3.
    let tools = src.join("tools");
    for entry in fs::read_dir(&tools).map_err(|e| io(&tools, e))? {
        let path = entry.map_err(|e| io(&tools, e))?.path();
        if path.extension().is_some_and(|e| e == "py") {
            let text = fs::read_to_string(&path).map_err(|e| io(&path, e))?;
            if let Some(rest) = text.strip_prefix("#!/usr/bin/env python\n") {
                fs::write(&path, format!("#!/usr/bin/env python3\n{rest}")).map_err(|e| io(&path, e))?;
            }
        }
    }

    // (c) The kernel configuration.
    let autoconf = src.join("include/plat/pc99/autoconf.h");
    fs::write(&autoconf, config.autoconf_h()).map_err(|e| io(&autoconf, e))?;

    // (d) The kernel stack's alignment, the one change to the kernel's own files. When an
    // interrupt arrived during a preemption point, 5.0.0's x86_64 `restore_user_context`
    // re-enters it on a stack it finds by rounding %rsp up to the next
    // `1 << CONFIG_KERNEL_STACK_BITS` boundary: `andq $~MASK(bits), %rsp; addq $BIT(bits),
    // %rsp`. That is the stack's top only if the stack is aligned to its size, but
    // `kernel_stack_alloc` is aligned to 16 bytes. Built by GCC 12 it sat at ...24d0, the
    // rounding landed 0xb30 bytes above it, in the IDT, and the interrupt handling that
    // followed overwrote the gates of vectors 0x32-0x45: the next interrupt on one of
    // them (a system's third device) raised #GP in the kernel (error code 0x322, vector
    // 0x32 as QEMU reports it) and stopped the machine. Aligning the stack to its size
    // makes the rounding exact and changes nothing else; seL4 16.0.0 fixed the same path
    // by loading the stack's top directly. `check_stack_alignment` verifies the result.
    let stack_h = src.join(STACK_HEADER);
    let text = fs::read_to_string(&stack_h).map_err(|e| io(&stack_h, e))?;
    let old = "#define KERNEL_STACK_ALIGNMENT 16\n";
    if !text.contains(old) {
        return Err(ToolError::new(
            step,
            format!("{} has changed: the stack alignment patch no longer applies", stack_h.display()),
            "the kernel source is not the seL4 5.0.0 KaaL was verified with; delete target/kaal and retry",
        ));
    }
    let patched = text.replacen(
        old,
        "/* KaaL: aligned to its size, as restore_user_context's stack reset assumes */\n\
         #define KERNEL_STACK_ALIGNMENT BIT(CONFIG_KERNEL_STACK_BITS)\n",
        1,
    );
    fs::write(&stack_h, patched).map_err(|e| io(&stack_h, e))?;
    Ok(())
}

/// The 5.0.0 header that sets the x86_64 kernel stack's alignment (patch (d)).
const STACK_HEADER: &str = "include/arch/x86/arch/64/mode/kernel/stack.h";

/// Checks that a built 5.0.0 kernel's stack is aligned to its size (see patch (d) in
/// [`patch_source`]): a kernel without it corrupts its own IDT under interrupt load.
fn check_stack_alignment(kernel_elf: &Path, config: &KernelConfig) -> Result<()> {
    let step = "checking the kernel's stack alignment";
    let out = Command::new("nm").arg(kernel_elf).output().map_err(|e| {
        ToolError::new(step, format!("cannot run nm: {e}"), "install binutils (apt-get install binutils)")
    })?;
    let symbols = String::from_utf8_lossy(&out.stdout);
    let address = symbols
        .lines()
        .filter_map(|l| l.strip_suffix(" kernel_stack_alloc"))
        .find_map(|l| u64::from_str_radix(l.split_whitespace().next()?, 16).ok());
    let size = 1u64 << config.kernel_stack_bits;
    match address {
        Some(address) if address % size == 0 => Ok(()),
        Some(address) => Err(ToolError::new(
            step,
            format!(
                "{} has kernel_stack_alloc at {address:#x}, not aligned to its {size} bytes; its x86_64 \
                 pending-interrupt path would then overwrite the IDT",
                kernel_elf.display()
            ),
            format!(
                "the stack alignment patch to {STACK_HEADER} did not take effect; delete target/kaal/kernel and retry"
            ),
        )),
        None => Err(ToolError::new(
            step,
            format!("{} has no kernel_stack_alloc symbol", kernel_elf.display()),
            "the kernel build did not produce a normal seL4 5.0.0 image; read its build.log",
        )),
    }
}

/// Creates (once) the python venv seL4 5.0.0's generators need.
pub fn ensure_venv(kaal_dir: &Path, reporter: &Reporter) -> Result<PathBuf> {
    ensure_venv_for(kaal_dir, KernelVersion::V5_0_0, reporter)
}

/// Creates (once) the python venv the build of `version` needs: for 5.0.0 the
/// generators' three packages; for 16.0.0 CMake, ninja and the generators' packages.
pub fn ensure_venv_for(kaal_dir: &Path, version: KernelVersion, reporter: &Reporter) -> Result<PathBuf> {
    let step_name = "setting up the python venv for the kernel build";
    let (venv, packages, what) = match version {
        KernelVersion::V5_0_0 => (kaal_dir.join("venv"), PYTHON_PACKAGES, "six, ply, tempita"),
        KernelVersion::V16_0_0 => {
            (kaal_dir.join("venv-cmake"), CMAKE_PACKAGES, "cmake, ninja and the generators' packages")
        }
    };
    let marker = venv.join("kaal-packages");
    let wanted = packages.join("\n");
    if fs::read_to_string(&marker).is_ok_and(|s| s == wanted) {
        return Ok(venv);
    }
    let step = reporter.step(format!("creating the python venv ({what})"));
    let _ = fs::remove_dir_all(&venv);
    run_quietly(
        step_name,
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "python3 -m venv",
        "install python3 and python3-venv (apt-get install python3-venv)",
    )?;
    run_quietly(
        step_name,
        Command::new(venv.join("bin/pip")).args(["install", "--quiet", "--disable-pip-version-check"]).args(packages),
        &format!("pip install {}", packages.join(" ")),
        "check that python3-venv is installed and PyPI is reachable; then retry",
    )?;
    fs::write(&marker, wanted).map_err(|e| ToolError::io(step_name, &marker, e))?;
    step.done("ready");
    Ok(venv)
}

/// Runs `cmd` with no input, failing with its stderr.
fn run_quietly(step: &str, cmd: &mut Command, what: &str, help: &str) -> Result<()> {
    let out =
        cmd.stdin(Stdio::null()).output().map_err(|e| ToolError::new(step, format!("cannot run {what}: {e}"), help))?;
    if !out.status.success() {
        return Err(ToolError::new(
            step,
            format!("{what} failed:\n{}", String::from_utf8_lossy(&out.stderr).trim()),
            help,
        ));
    }
    Ok(())
}

fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Where a build gets its kernel source: the system's `[kernel] source` and the
/// directory relative paths start from.
#[derive(Debug, Clone, Copy, Default)]
pub struct SourceChoice<'a> {
    pub spec: Option<&'a KernelSourceSpec>,
    pub base_dir: Option<&'a Path>,
}

/// Builds (or takes from the cache) the kernel for `config`, from the source `choice`
/// names.
pub fn prepare(
    project: &Project,
    config: &KernelConfig,
    choice: SourceChoice<'_>,
    reporter: &Reporter,
) -> Result<Kernel> {
    config.validate().map_err(|e| {
        ToolError::new("checking the kernel config", e.to_string(), "fix the setting in the system's kernel config")
    })?;
    let source = locate_source(project, config.version, choice, reporter)?;
    let hash = input_hash(config, &source);
    let kernel_root = project.kaal_dir().join("kernel");
    let dir = kernel_root.join(&hash);
    let kernel = Kernel {
        image: dir.join("kernel32.elf"),
        config_file: dir.join("config.toml"),
        config: config.clone(),
        dir: dir.clone(),
        source,
        cache_hit: true,
        hash: hash.clone(),
    };
    if dir.join(COMPLETE).exists() && kernel.image.exists() {
        return Ok(kernel);
    }

    let step_name = "building the seL4 kernel";
    fs::create_dir_all(&kernel_root).map_err(|e| ToolError::io(step_name, &kernel_root, e))?;
    let lock_path = kernel_root.join(format!("{hash}.lock"));
    let lock = File::create(&lock_path).map_err(|e| ToolError::io(step_name, &lock_path, e))?;
    lock.lock().map_err(|e| ToolError::io(step_name, &lock_path, e))?;
    // Another process may have finished the same build while we waited.
    if dir.join(COMPLETE).exists() && kernel.image.exists() {
        return Ok(kernel);
    }

    let venv = ensure_venv_for(&project.kaal_dir(), config.version, reporter)?;
    let step = reporter.step(format!("building the {} kernel [{hash}]", config.describe()));
    let started = Instant::now();
    let _ = fs::remove_dir_all(&dir);
    let build = dir.join("build");
    fs::create_dir_all(&build).map_err(|e| ToolError::io(step_name, &build, e))?;
    let log_path = dir.join("build.log");
    let path = format!("{}:{}", venv.join("bin").display(), std::env::var("PATH").unwrap_or_default());
    let run = |cmd: &mut Command, what: &str, help: &str| -> Result<()> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| ToolError::io(step_name, &log_path, e))?;
        let log_err = log.try_clone().map_err(|e| ToolError::io(step_name, &log_path, e))?;
        reporter.command(cmd);
        let status = cmd
            .env("PATH", &path)
            // The kernel's python generators run from the user's source tree; caching
            // their bytecode there would change the tree (and its fingerprint).
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .status()
            .map_err(|e| ToolError::new(step_name, format!("cannot run {what}: {e}"), help))?;
        if !status.success() {
            return Err(ToolError::new(
                step_name,
                format!("{what} exited with {status}; last lines of {}:\n{}", log_path.display(), tail(&log_path, 25)),
                format!(
                    "read the full log: {}\nthe kernel config may enable something this toolchain cannot build",
                    log_path.display()
                ),
            ));
        }
        Ok(())
    };
    let built = match config.version {
        KernelVersion::V5_0_0 => {
            let src = dir.join("src");
            copy_tree(kernel.source.root(), &src).map_err(|e| ToolError::io(step_name, &src, e))?;
            patch_source(&src, config)?;
            run(
                Command::new("make").arg("-C").arg(&build).args(make_args(&src, config)),
                "make",
                "install make (apt-get install make)",
            )
        }
        KernelVersion::V16_0_0 => {
            let settings = dir.join("settings.cmake");
            fs::write(&settings, config.cmake_settings(kernel.source.root()))
                .map_err(|e| ToolError::io(step_name, &settings, e))?;
            run(
                Command::new(venv.join("bin/cmake"))
                    .args(["-G", "Ninja", "-C"])
                    .arg(&settings)
                    .arg("-S")
                    .arg(kernel.source.root())
                    .arg("-B")
                    .arg(&build),
                "cmake",
                "the venv's cmake is missing; delete target/kaal/venv-cmake and retry",
            )
            .and_then(|()| {
                run(
                    Command::new(venv.join("bin/ninja")).arg("-C").arg(&build).arg("kernel.elf"),
                    "ninja",
                    "the venv's ninja is missing; delete target/kaal/venv-cmake and retry",
                )
            })
            .and_then(|()| keep_gen_config(&build, &dir))
        }
    };
    let built = built.and_then(|()| match config.version {
        KernelVersion::V5_0_0 => check_stack_alignment(&build.join("kernel.elf"), config),
        KernelVersion::V16_0_0 => Ok(()),
    });
    if let Err(e) = built {
        step.fail();
        return Err(e);
    }
    let out = Command::new("objcopy")
        .args(["-O", "elf32-i386"])
        .arg(build.join("kernel.elf"))
        .arg(&kernel.image)
        .output()
        .map_err(|e| ToolError::new(step_name, format!("cannot run objcopy: {e}"), "install binutils"))?;
    if !out.status.success() {
        step.fail();
        return Err(ToolError::new(
            step_name,
            format!("objcopy to ELF32 failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
            "install binutils with x86 support (apt-get install binutils)",
        ));
    }
    fs::write(&kernel.config_file, config.to_toml()).map_err(|e| ToolError::io(step_name, &kernel.config_file, e))?;
    let record = dir.join(kaal_sel4::source::SOURCE_RECORD);
    fs::write(&record, format!("{}\n", kernel.source.root().display()))
        .map_err(|e| ToolError::io(step_name, &record, e))?;
    let mut marker = File::create(dir.join(COMPLETE)).map_err(|e| ToolError::io(step_name, &dir, e))?;
    let _ = writeln!(marker, "built in {:.1}s with {}", started.elapsed().as_secs_f64(), compiler_version());
    step.done(format!("built {} in {:.1}s", kernel.image.display(), started.elapsed().as_secs_f64()));
    Ok(Kernel { cache_hit: false, ..kernel })
}

/// Copies 16.0.0's generated configuration headers out of the CMake build into
/// `<kernel dir>/gen_config/`, where `kaal-sel4` reads them.
fn keep_gen_config(build: &Path, dir: &Path) -> Result<()> {
    let step = "building the seL4 kernel";
    for (from, to) in [
        ("gen_config/kernel/gen_config.h", "kernel/gen_config.h"),
        ("libsel4/gen_config/sel4/gen_config.h", "sel4/gen_config.h"),
    ] {
        let (from, to) = (build.join(from), dir.join(kaal_sel4::GEN_CONFIG_DIR).join(to));
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(|e| ToolError::io(step, parent, e))?;
        }
        fs::copy(&from, &to).map_err(|e| {
            ToolError::new(
                step,
                format!("the build left no {}: {e}", from.display()),
                "the source tree may not be seL4 16.0.0 as released; check its VERSION and CMakeLists.txt",
            )
        })?;
    }
    Ok(())
}

/// Locates the source of `version`: `KAAL_SEL4_SOURCE` if it holds that version, else
/// the system's `[kernel] source`, else (5.0.0) the crates.io carrier, fetched through
/// cargo on first use. A 16.0.0 kernel with no source is an error saying how to give one.
pub fn locate_source(
    project: &Project,
    version: KernelVersion,
    choice: SourceChoice<'_>,
    reporter: &Reporter,
) -> Result<KernelSource> {
    let step = "finding the seL4 kernel source";
    let env = kaal_sel4::source::SOURCE_ENV;
    let from_env = KernelSource::from_env(version)
        .map_err(|e| ToolError::new(step, e.to_string(), format!("fix or unset {env}")))?;
    if let Some(source) = from_env {
        reporter.debug(format!("seL4 {version} source from {env}: {}", source.root().display()));
        return Ok(source);
    }
    match choice.spec {
        Some(KernelSourceSpec::Path(path)) => {
            let root = choice.base_dir.map_or_else(|| path.clone(), |base| base.join(path));
            KernelSource::at_version(root.clone(), version).map_err(|e| {
                ToolError::new(
                    step,
                    e.to_string(),
                    format!(
                        "[kernel] source names {}; point it at a seL4 {version} tree (the directory holding VERSION)",
                        root.display()
                    ),
                )
            })
        }
        Some(KernelSourceSpec::Git { url, tag }) => {
            let root = clone_source(&project.kaal_dir(), url, tag, reporter)?;
            KernelSource::at_version(root, version).map_err(|e| {
                ToolError::new(
                    step,
                    e.to_string(),
                    format!("tag {tag} of {url} is not seL4 {version}; name the right tag"),
                )
            })
        }
        None => {
            let started = Instant::now();
            let source = match version {
                KernelVersion::V5_0_0 => KernelSource::carrier(),
                KernelVersion::V16_0_0 => KernelSource::for_version(version, None),
            };
            let source = source.map_err(|e| {
                let help = match version {
                    KernelVersion::V5_0_0 => {
                        "the source comes from crates.io (sel4-sys 0.0.28); check network access, then retry"
                    }
                    KernelVersion::V16_0_0 => "see the help above",
                };
                ToolError::new(step, e.to_string(), help)
            })?;
            let took = started.elapsed();
            if took > std::time::Duration::from_secs(1) {
                reporter.info(format!(
                    "fetched the seL4 {version} source in {:.1}s: {}",
                    took.as_secs_f64(),
                    source.root().display()
                ));
            }
            Ok(source)
        }
    }
}

/// Clones tag `tag` of `url` once into `target/kaal/sources/`, and returns the tree.
fn clone_source(kaal_dir: &Path, url: &str, tag: &str, reporter: &Reporter) -> Result<PathBuf> {
    let step_name = "cloning the seL4 kernel source";
    let key: String = Sha256::digest(format!("{url}\n{tag}")).iter().take(6).map(|b| format!("{b:02x}")).collect();
    let safe_tag: String = tag.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' }).collect();
    let sources = kaal_dir.join("sources");
    let dir = sources.join(format!("seL4-{safe_tag}-{key}"));
    if dir.join(CLONED).exists() {
        return Ok(dir);
    }
    fs::create_dir_all(&sources).map_err(|e| ToolError::io(step_name, &sources, e))?;
    let lock_path = sources.join(format!("seL4-{safe_tag}-{key}.lock"));
    let lock = File::create(&lock_path).map_err(|e| ToolError::io(step_name, &lock_path, e))?;
    lock.lock().map_err(|e| ToolError::io(step_name, &lock_path, e))?;
    if dir.join(CLONED).exists() {
        return Ok(dir);
    }
    let _ = fs::remove_dir_all(&dir);
    let step = reporter.step(format!("cloning {url} at {tag}"));
    let result = run_quietly(
        step_name,
        Command::new("git")
            .args(["-c", "advice.detachedHead=false", "clone", "--quiet", "--depth", "1", "--branch", tag, "--"])
            .arg(url)
            .arg(&dir)
            .env("GIT_TERMINAL_PROMPT", "0"),
        &format!("git clone --depth 1 --branch {tag} {url}"),
        &format!(
            "check the URL and that tag {tag} exists (git ls-remote --tags {url}); without network access, clone it \
             elsewhere and set [kernel] source to the tree's path (or {}); git itself: apt-get install git",
            kaal_sel4::source::SOURCE_ENV
        ),
    );
    if let Err(e) = result {
        step.fail();
        let _ = fs::remove_dir_all(&dir);
        return Err(e);
    }
    fs::write(dir.join(CLONED), format!("{url} {tag}\n")).map_err(|e| ToolError::io(step_name, &dir, e))?;
    step.done(format!("cloned into {}", dir.display()));
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_changes_with_the_config_and_only_then() {
        let Ok(source) = KernelSource::carrier() else { return };
        let a = input_hash(&KernelConfig::default(), &source);
        assert_eq!(a, input_hash(&KernelConfig::default(), &source));
        assert_eq!(a.len(), 16);
        let b = input_hash(&KernelConfig { num_priorities: 128, ..Default::default() }, &source);
        assert_ne!(a, b);
    }

    #[test]
    fn a_tree_fingerprint_follows_edits() {
        let dir = std::env::temp_dir().join(format!("kaal-fingerprint-{}", std::process::id()));
        fs::create_dir_all(dir.join("src")).unwrap();
        fs::write(dir.join("src/a.c"), "int a;").unwrap();
        let before = tree_fingerprint(&dir);
        assert_eq!(before, tree_fingerprint(&dir));
        fs::write(dir.join("src/a.c"), "int a, b;").unwrap();
        let edited = tree_fingerprint(&dir);
        assert_ne!(before, edited);
        // Same contents, new modification time (a re-extracted tree): the same kernel.
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(dir.join("src/a.c"), "int a, b;").unwrap();
        assert_eq!(edited, tree_fingerprint(&dir));
        // Python's bytecode caches are not the source.
        fs::create_dir_all(dir.join("tools/__pycache__")).unwrap();
        fs::write(dir.join("tools/__pycache__/gen.cpython-311.pyc"), "bytecode").unwrap();
        assert_eq!(edited, tree_fingerprint(&dir));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_git_source_that_cannot_be_cloned_says_how_to_give_one() {
        let dir = std::env::temp_dir().join(format!("kaal-clone-{}", std::process::id()));
        let err = clone_source(&dir, "/nonexistent/seL4.git", "16.0.0", &Reporter::QUIET).unwrap_err();
        assert!(err.cause.contains("git clone --depth 1 --branch 16.0.0 /nonexistent/seL4.git failed"), "{err}");
        assert!(err.help.contains("set [kernel] source to the tree's path"), "{err}");
        assert!(!dir.join("sources").read_dir().unwrap().any(|e| e.unwrap().path().is_dir()), "no half clone stays");
        let _ = fs::remove_dir_all(&dir);
    }
}
