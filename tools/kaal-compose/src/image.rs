//! Building a system's root task as a freestanding ELF image.
//!
//! The image is an ordinary cargo build of the system crate with the *host* target, in a
//! separate target directory (`target/kaal/image`) and with per-build flags, so host
//! builds and tests of the same workspace are never invalidated:
//!
//! * a target directory per kernel (`target/kaal/image/<kernel hash>`);
//! * `CARGO_ENCODED_RUSTFLAGS=-Crelocation-model=static` (replaces any `RUSTFLAGS`),
//!   with the host triple passed explicitly as `--target`: that is what makes cargo keep
//!   the flags away from build scripts and proc-macros, which must stay position
//!   independent;
//! * the link arguments come from the crate's `build.rs` (`kaal_sel4::link`);
//! * `KAAL_KERNEL_CONFIG` and `KAAL_SEL4_SOURCE` tell `kaal-core`'s build script which
//!   kernel to generate bindings for: the one that will boot.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::error::{Result, ToolError};
use crate::kernel::Kernel;
use crate::progress::Reporter;
use crate::project::{Project, SystemCrate};

/// The variable defmt reads its log filter from at build time.
pub const DEFMT_LOG: &str = "DEFMT_LOG";

/// A built image.
#[derive(Debug, Clone)]
pub struct Image {
    /// The ELF file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Every ELF file that makes up the image, by package: the image itself first, then
    /// the components it embeds (for decoding their defmt logs).
    pub elfs: Vec<(String, PathBuf)>,
}

/// Builds the root-task image of `system` for `kernel`, after the images of the
/// components it embeds.
pub fn build(project: &Project, system: &SystemCrate, kernel: &Kernel, reporter: &Reporter) -> Result<Image> {
    let mut embedded = Vec::new();
    let mut elfs = Vec::new();
    if !system.components.is_empty() {
        let names: Vec<&str> = system.components.iter().map(|c| c.package.as_str()).collect();
        let step = reporter.step(format!("building components {}", names.join(", ")));
        let paths = match cargo_build(project, &system.components, kernel, &[], reporter) {
            Ok(paths) => paths,
            Err(e) => {
                step.fail();
                return Err(e);
            }
        };
        step.done(format!("{} images", paths.len()));
        for (component, path) in system.components.iter().zip(paths) {
            elfs.push((component.package.clone(), path.clone()));
            embedded.push((kaal_sel4::link::component_env(&component.package), path.into()));
        }
    }
    let step = reporter.step(format!("building image `{}`", system.package));
    let path = match cargo_build(project, std::slice::from_ref(system), kernel, &embedded, reporter) {
        Ok(mut paths) => paths.remove(0),
        Err(e) => {
            step.fail();
            return Err(e);
        }
    };
    let step_name = format!("building the image of {}", system.display);
    let size = std::fs::metadata(&path).map_err(|e| ToolError::io(&step_name, &path, e))?.len();
    step.done(format!("{} ({} KiB)", path.display(), size.div_ceil(1024)));
    elfs.insert(0, (system.package.clone(), path.clone()));
    Ok(Image { path, size, elfs })
}

/// Builds `crates` as freestanding images in one cargo run; returns their paths.
pub(crate) fn cargo_build(
    project: &Project,
    crates: &[SystemCrate],
    kernel: &Kernel,
    env: &[(String, std::ffi::OsString)],
    reporter: &Reporter,
) -> Result<Vec<PathBuf>> {
    let names: Vec<&str> = crates.iter().map(|c| c.display.as_str()).collect();
    let step_name = format!("building the image of {}", names.join(", "));
    // One target directory per kernel: kaal-core's bindings differ between kernels, so
    // switching flavours would otherwise rebuild every image each time. Likewise one per
    // `DEFMT_LOG` filter other than the default: defmt's build script reruns when it
    // changes, and with it everything above defmt, so builds with two filters sharing a
    // directory rebuilt each other's crates every time (this cost the tests ~50 s a boot).
    let filter = env.iter().find(|(k, _)| k == DEFMT_LOG).map(|(_, v)| v.to_string_lossy().into_owned());
    let mut dir_name = kernel.hash.clone();
    if let Some(filter) = filter.filter(|f| f != crate::log::DEFAULT_FILTER) {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(filter.as_bytes());
        dir_name += &format!("-log-{}", digest.iter().take(4).map(|b| format!("{b:02x}")).collect::<String>());
    }
    let target_dir = project.kaal_dir().join("image").join(dir_name);
    let triple =
        host_triple().map_err(|cause| ToolError::new(&step_name, cause, "check that rustc works: rustc -vV"))?;
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(&project.root).args(["build", "--release", "--target", &triple]);
    for c in crates {
        cmd.args(["--package", &c.package, "--bin", &c.bin]);
    }
    cmd.env("CARGO_TARGET_DIR", &target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", "-Crelocation-model=static")
        .env_remove("RUSTFLAGS")
        .env(kaal_sel4::CONFIG_ENV, &kernel.config_file)
        .env(kaal_sel4::source::SOURCE_ENV, kernel.source.root())
        // defmt logs only errors unless told otherwise; KaaL's default is info, and
        // system.toml's `log` levels arrive in `env`.
        .env(DEFMT_LOG, crate::log::DEFAULT_FILTER)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    if reporter.verbosity < crate::progress::Verbosity::Verbose {
        cmd.arg("--quiet");
    }
    reporter.command(&cmd);
    let out =
        cmd.output().map_err(|e| ToolError::new(&step_name, format!("cannot run cargo: {e}"), "is cargo on PATH?"))?;
    if !out.status.success() {
        let packages: Vec<String> = crates.iter().map(|c| format!("-p {}", c.package)).collect();
        return Err(ToolError::new(
            &step_name,
            format!("cargo build failed:\n{}", String::from_utf8_lossy(&out.stderr).trim_end()),
            format!("fix the errors above; to see them directly run: cargo build {}", packages.join(" ")),
        ));
    }
    if reporter.verbosity >= crate::progress::Verbosity::Verbose {
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(crates.iter().map(|c| target_dir.join(&triple).join("release").join(&c.bin)).collect())
}

/// The host's target triple (`rustc -vV`), which images are built for.
pub fn host_triple() -> std::result::Result<String, String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc).arg("-vV").output().map_err(|e| format!("cannot run rustc: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let triple = text.lines().find_map(|l| l.strip_prefix("host: ")).ok_or("rustc -vV printed no host triple")?;
    if !triple.starts_with("x86_64-") {
        return Err(format!("KaaL images are x86_64, but this rustc's host is {triple}"));
    }
    Ok(triple.to_string())
}
