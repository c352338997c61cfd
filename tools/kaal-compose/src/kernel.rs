//! Building the seL4 5.0.0 kernel from source, cached by a hash of its inputs.
//!
//! 1. Locate the pristine source (the `sel4-sys` 0.0.28 crate, fetched by cargo).
//! 2. Copy `seL4/` into `target/kaal/kernel/<hash>/src` and patch the copy:
//!    * `tools/*.py` shebangs `python` -> `python3` (the Makefile runs some by shebang);
//!    * `tools/circular_includes.py` skips GCC >= 9's `# 0 "file"` linemarkers;
//!    * `include/plat/pc99/autoconf.h` is rendered from the [`KernelConfig`].
//! 3. Run the standalone Makefile with a python venv holding `six`, `ply`, `tempita`.
//! 4. `objcopy` the result to ELF32, because QEMU's multiboot loader takes nothing else.
//!
//! The hash covers everything that changes the binary: the recipe version (bump it when
//! the steps above change), the kernel version, the rendered `autoconf.h`, the make
//! flags and the compiler version. A build holds a lock on its directory, so parallel
//! builds and tests never race, and a build counts only once its marker is written.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use kaal_sel4::{KernelConfig, KernelSource};
use sha2::{Digest, Sha256};

use crate::error::{Result, ToolError};
use crate::progress::Reporter;
use crate::project::Project;

/// Version of the build recipe in this file; part of the cache key.
pub const RECIPE_VERSION: u32 = 1;
/// `WARNINGS` for the kernel Makefile: its defaults plus what GCC 12 needs.
const WARNINGS: &str = "all error strict-prototypes missing-prototypes nested-externs missing-declarations \
                        undef pointer-arith no-nonnull no-address-of-packed-member no-array-bounds";
/// Python packages for the kernel's generators, pinned to versions verified with 5.0.0.
/// (The PyPI metapackage `sel4-deps` targets modern seL4 and does not fit.)
const PYTHON_PACKAGES: &[&str] = &["six==1.17.0", "ply==3.11", "Tempita==0.6.0"];
/// Marker written when a build is complete.
const COMPLETE: &str = "kaal-sel4-complete";

/// A built kernel.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// The build directory.
    pub dir: PathBuf,
    /// The ELF32 image QEMU boots.
    pub image: PathBuf,
    /// The config the kernel was built with, as TOML (for image builds).
    pub config_file: PathBuf,
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

/// The cache key for a kernel built from `config`.
pub fn input_hash(config: &KernelConfig) -> String {
    let mut h = Sha256::new();
    h.update(format!("recipe {RECIPE_VERSION}\n"));
    h.update(format!(
        "seL4 {} from sel4-sys {}\n",
        kaal_sel4::source::SEL4_VERSION,
        kaal_sel4::source::SEL4_SYS_VERSION
    ));
    h.update(config.autoconf_h());
    h.update(make_args(Path::new("src"), config).join(" "));
    h.update(compiler_version());
    h.update(PYTHON_PACKAGES.join(" "));
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

/// Applies KaaL's build-time patches to a copied source tree.
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
    Ok(())
}

/// Creates (once) the python venv the kernel's generators need.
pub fn ensure_venv(kaal_dir: &Path, reporter: &Reporter) -> Result<PathBuf> {
    let step_name = "setting up the python venv for the kernel build";
    let venv = kaal_dir.join("venv");
    let marker = venv.join("kaal-packages");
    let wanted = PYTHON_PACKAGES.join("\n");
    if fs::read_to_string(&marker).is_ok_and(|s| s == wanted) {
        return Ok(venv);
    }
    let step = reporter.step("creating the python venv (six, ply, tempita)");
    let _ = fs::remove_dir_all(&venv);
    let run = |cmd: &mut Command, what: &str| -> Result<()> {
        let out = cmd.stdin(Stdio::null()).output().map_err(|e| {
            ToolError::new(step_name, format!("cannot run {what}: {e}"), "install python3 and python3-venv")
        })?;
        if !out.status.success() {
            return Err(ToolError::new(
                step_name,
                format!("{what} failed:\n{}", String::from_utf8_lossy(&out.stderr).trim()),
                "check that python3-venv is installed and PyPI is reachable; then retry",
            ));
        }
        Ok(())
    };
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv), "python3 -m venv")?;
    run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(PYTHON_PACKAGES),
        "pip install six ply tempita",
    )?;
    fs::write(&marker, wanted).map_err(|e| ToolError::io(step_name, &marker, e))?;
    step.done("ready");
    Ok(venv)
}

fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Builds (or takes from the cache) the kernel for `config`.
pub fn prepare(project: &Project, config: &KernelConfig, reporter: &Reporter) -> Result<Kernel> {
    config.validate().map_err(|e| {
        ToolError::new("checking the kernel config", e.to_string(), "fix the setting in the system's kernel config")
    })?;
    let source = locate_source(reporter)?;
    let hash = input_hash(config);
    let kernel_root = project.kaal_dir().join("kernel");
    let dir = kernel_root.join(&hash);
    let kernel = Kernel {
        image: dir.join("kernel32.elf"),
        config_file: dir.join("config.toml"),
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

    let venv = ensure_venv(&project.kaal_dir(), reporter)?;
    let step = reporter.step(format!("building the seL4 {} kernel [{hash}]", kaal_sel4::source::SEL4_VERSION));
    let started = Instant::now();
    let _ = fs::remove_dir_all(&dir);
    let src = dir.join("src");
    let build = dir.join("build");
    copy_tree(kernel.source.root(), &src).map_err(|e| ToolError::io(step_name, &src, e))?;
    patch_source(&src, config)?;
    fs::create_dir_all(&build).map_err(|e| ToolError::io(step_name, &build, e))?;

    let log_path = dir.join("build.log");
    let log = File::create(&log_path).map_err(|e| ToolError::io(step_name, &log_path, e))?;
    let log_err = log.try_clone().map_err(|e| ToolError::io(step_name, &log_path, e))?;
    let path = format!("{}:{}", venv.join("bin").display(), std::env::var("PATH").unwrap_or_default());
    let args = make_args(&src, config);
    reporter.debug(format!("make -C {} {}", build.display(), args.join(" ")));
    let status = Command::new("make")
        .arg("-C")
        .arg(&build)
        .args(&args)
        .env("PATH", &path)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .status()
        .map_err(|e| {
            ToolError::new(step_name, format!("cannot run make: {e}"), "install make (apt-get install make)")
        })?;
    if !status.success() {
        step.fail();
        return Err(ToolError::new(
            step_name,
            format!("make exited with {status}; last lines of {}:\n{}", log_path.display(), tail(&log_path, 25)),
            format!(
                "read the full log: {}\nthe kernel config may enable something this toolchain cannot build",
                log_path.display()
            ),
        ));
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
    let mut marker = File::create(dir.join(COMPLETE)).map_err(|e| ToolError::io(step_name, &dir, e))?;
    let _ = writeln!(marker, "built in {:.1}s with {}", started.elapsed().as_secs_f64(), compiler_version());
    step.done(format!("built {}", kernel.image.display()));
    Ok(Kernel { cache_hit: false, ..kernel })
}

/// Locates the kernel source, fetching it through cargo on first use.
pub fn locate_source(reporter: &Reporter) -> Result<KernelSource> {
    let started = Instant::now();
    let source = KernelSource::locate().map_err(|e| {
        ToolError::new(
            "fetching the seL4 kernel source",
            e.to_string(),
            "the source comes from crates.io (sel4-sys 0.0.28); check network access, then retry",
        )
    })?;
    let took = started.elapsed();
    if took > std::time::Duration::from_secs(1) {
        reporter.info(format!(
            "fetched the seL4 5.0.0 source in {:.1}s: {}",
            took.as_secs_f64(),
            source.root().display()
        ));
    } else {
        reporter.debug(format!("seL4 source: {}", source.root().display()));
    }
    Ok(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_changes_with_the_config_and_only_then() {
        let a = input_hash(&KernelConfig::default());
        assert_eq!(a, input_hash(&KernelConfig::default()));
        assert_eq!(a.len(), 16);
        let b = input_hash(&KernelConfig { num_priorities: 128, ..Default::default() });
        assert_ne!(a, b);
    }
}
