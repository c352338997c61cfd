//! Where the seL4 5.0.0 kernel source comes from.
//!
//! The source is vendored in the crates.io crate `sel4-sys` 0.0.28, which the carrier
//! package `sel4-source/` declares as an optional, never-enabled dependency. Cargo
//! downloads and locks it like any other crate; `cargo metadata --all-features` reports
//! its location. The registry copy is read-only to KaaL: the kernel build copies it out
//! before patching (see `kaal-compose`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The carrier crate's exact version; bumping it means re-verifying the whole boot chain.
pub const SEL4_SYS_VERSION: &str = "0.0.28";
/// The kernel version the carrier holds.
pub const SEL4_VERSION: &str = "5.0.0";
/// Environment variable that points build scripts at an already-located source tree.
pub const SOURCE_ENV: &str = "KAAL_SEL4_SOURCE";

/// Failure to find or fetch the kernel source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("could not run `{command}`: {source}\n  help: is cargo on PATH? KaaL needs the cargo that builds it")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed:\n{stderr}\n  help: the seL4 source comes from crates.io (sel4-sys =0.0.28); check network access to crates.io and retry")]
    Cargo { command: String, stderr: String },
    #[error("cargo metadata did not list sel4-sys {SEL4_SYS_VERSION}; is {manifest} intact?")]
    NotListed { manifest: PathBuf },
    #[error("{path} is not an seL4 {SEL4_VERSION} source tree ({why})\n  help: unset {SOURCE_ENV} to let KaaL fetch the source itself")]
    NotASourceTree { path: PathBuf, why: String },
}

/// A located, pristine seL4 source tree (the `seL4/` directory).
#[derive(Debug, Clone)]
pub struct KernelSource {
    root: PathBuf,
}

fn carrier_manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sel4-source/Cargo.toml")
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn run_cargo(args: &[&str]) -> Result<Vec<u8>, SourceError> {
    let command = format!("cargo {}", args.join(" "));
    let out = cargo().args(args).output().map_err(|source| SourceError::Spawn { command: command.clone(), source })?;
    if !out.status.success() {
        return Err(SourceError::Cargo { command, stderr: String::from_utf8_lossy(&out.stderr).into_owned() });
    }
    Ok(out.stdout)
}

/// Finds the directory of the `sel4-sys` package through `cargo metadata`.
fn sel4_sys_package_dir(manifest: &Path) -> Result<PathBuf, SourceError> {
    let manifest_str = manifest.to_string_lossy();
    let stdout = run_cargo(&["metadata", "--format-version", "1", "--all-features", "--manifest-path", &manifest_str])?;
    let meta: serde_json::Value = serde_json::from_slice(&stdout)
        .map_err(|e| SourceError::Cargo { command: "cargo metadata".into(), stderr: e.to_string() })?;
    meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "sel4-sys" && p["version"] == SEL4_SYS_VERSION)
        .and_then(|p| p["manifest_path"].as_str())
        .and_then(|m| Path::new(m).parent().map(Path::to_path_buf))
        .ok_or_else(|| SourceError::NotListed { manifest: manifest.to_path_buf() })
}

impl KernelSource {
    /// Locates the source: `$KAAL_SEL4_SOURCE` if set, else through the carrier package,
    /// downloading it with `cargo fetch` on first use.
    pub fn locate() -> Result<Self, SourceError> {
        if let Some(dir) = std::env::var_os(SOURCE_ENV) {
            return Self::at(PathBuf::from(dir));
        }
        let manifest = carrier_manifest();
        let mut package = sel4_sys_package_dir(&manifest)?;
        if !package.join("seL4").is_dir() {
            run_cargo(&["fetch", "--manifest-path", &manifest.to_string_lossy()])?;
            package = sel4_sys_package_dir(&manifest)?;
        }
        Self::at(package.join("seL4"))
    }

    /// Uses `root` as the source tree after checking that it is seL4 5.0.0.
    pub fn at(root: PathBuf) -> Result<Self, SourceError> {
        let version = std::fs::read_to_string(root.join("VERSION"))
            .map_err(|e| SourceError::NotASourceTree { path: root.clone(), why: format!("VERSION: {e}") })?;
        if version.trim() != SEL4_VERSION {
            return Err(SourceError::NotASourceTree { path: root, why: format!("VERSION is {}", version.trim()) });
        }
        Ok(Self { root })
    }

    /// The `seL4/` directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `include/api/syscall.xml`: the syscall numbering.
    pub fn syscall_xml(&self) -> PathBuf {
        self.root.join("libsel4/include/api/syscall.xml")
    }

    /// The method XML files in label order: generic, then x86_64, then x86.
    pub fn interface_xmls(&self) -> [PathBuf; 3] {
        [
            self.root.join("libsel4/include/interfaces/sel4.xml"),
            self.root.join("libsel4/sel4_arch_include/x86_64/interfaces/sel4arch.xml"),
            self.root.join("libsel4/arch_include/x86/interfaces/sel4arch.xml"),
        ]
    }

    /// libsel4 include directories for x86_64 pc99, most specific last.
    pub fn libsel4_include_dirs(&self) -> Vec<PathBuf> {
        ["include", "arch_include/x86", "sel4_arch_include/x86_64", "sel4_plat_include/pc99"]
            .iter()
            .map(|d| self.root.join("libsel4").join(d))
            .collect()
    }
}
