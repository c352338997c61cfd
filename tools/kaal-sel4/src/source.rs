//! Where the seL4 kernel source comes from.
//!
//! * seL4 5.0.0 is vendored in the crates.io crate `sel4-sys` 0.0.28, which the carrier
//!   package `sel4-source/` declares as an optional, never-enabled dependency. Cargo
//!   downloads and locks it like any other crate; `cargo metadata --all-features`
//!   reports its location. It is the only kernel a package registry here carries.
//! * seL4 16.0.0 comes from a source tree: a path, or a git checkout the tool clones
//!   (see `kaal-compose`'s kernel module).
//!
//! `KAAL_SEL4_SOURCE` names a tree for whichever version it holds (its `VERSION` file
//! says which). Trees are read-only to KaaL: the 5.0.0 build copies its tree out before
//! patching, and 16.0.0 builds out of tree.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::KernelVersion;

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
    #[error("cargo metadata did not list sel4-sys {SEL4_SYS_VERSION}; is {} intact?", .manifest.display())]
    NotListed { manifest: PathBuf },
    #[error("{} is not an seL4 source tree KaaL knows ({why})\n  help: point {SOURCE_ENV} (or [kernel] source) at a seL4 5.0.0 or 16.0.0 tree, or unset it to let KaaL fetch 5.0.0 itself", .path.display())]
    NotASourceTree { path: PathBuf, why: String },
    #[error("no seL4 {version} source: no package registry carries it\n  help: clone it (git clone --branch {version} https://github.com/seL4/seL4.git) and set {SOURCE_ENV} to the tree, or give the system `[kernel] source = \"<path>\"` or `source = {{ git = \"https://github.com/seL4/seL4.git\", tag = \"{version}\" }}`")]
    NoSource { version: KernelVersion },
    #[error("{} holds seL4 {found}, but the system asks for seL4 {wanted}\n  help: point [kernel] source (or {SOURCE_ENV}) at a seL4 {wanted} tree, or set [kernel] version = \"{found}\"", .path.display())]
    WrongVersion { path: PathBuf, found: KernelVersion, wanted: KernelVersion },
}

/// The file in a kernel build directory that names the source tree it was built from.
pub const SOURCE_RECORD: &str = "source-root";

/// A located, pristine seL4 source tree (the `seL4/` directory), and its version.
#[derive(Debug, Clone)]
pub struct KernelSource {
    root: PathBuf,
    version: KernelVersion,
    /// Whether the tree is the crates.io carrier's (fixed by its version).
    carrier: bool,
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
    /// Locates the source build scripts are pointed at: `$KAAL_SEL4_SOURCE` if set, else
    /// the 5.0.0 carrier.
    pub fn locate() -> Result<Self, SourceError> {
        match std::env::var_os(SOURCE_ENV) {
            Some(dir) => Self::at(PathBuf::from(dir)),
            None => Self::carrier(),
        }
    }

    /// The source of `version` a build script uses: `$KAAL_SEL4_SOURCE` if it holds that
    /// version, else the tree recorded in the kernel build directory `kernel_dir` (see
    /// [`SOURCE_RECORD`]), else (5.0.0 only) the crates.io carrier.
    pub fn for_version(version: KernelVersion, kernel_dir: Option<&Path>) -> Result<Self, SourceError> {
        if let Some(source) = Self::from_env(version)? {
            return Ok(source);
        }
        if let Some(text) = kernel_dir.and_then(|d| std::fs::read_to_string(d.join(SOURCE_RECORD)).ok()) {
            return Self::at_version(PathBuf::from(text.trim_end_matches('\n')), version);
        }
        match version {
            KernelVersion::V5_0_0 => Self::carrier(),
            KernelVersion::V16_0_0 => Err(SourceError::NoSource { version }),
        }
    }

    /// `$KAAL_SEL4_SOURCE`, if it is set and holds `version`.
    pub fn from_env(version: KernelVersion) -> Result<Option<Self>, SourceError> {
        let Some(dir) = std::env::var_os(SOURCE_ENV) else { return Ok(None) };
        let source = Self::at(PathBuf::from(dir))?;
        Ok((source.version == version).then_some(source))
    }

    /// seL4 5.0.0 from the crates.io carrier, downloading it with `cargo fetch` on first
    /// use.
    pub fn carrier() -> Result<Self, SourceError> {
        let manifest = carrier_manifest();
        let mut package = sel4_sys_package_dir(&manifest)?;
        if !package.join("seL4").is_dir() {
            run_cargo(&["fetch", "--manifest-path", &manifest.to_string_lossy()])?;
            package = sel4_sys_package_dir(&manifest)?;
        }
        let source = Self::at_version(package.join("seL4"), KernelVersion::V5_0_0)?;
        Ok(Self { carrier: true, ..source })
    }

    /// Uses `root` as the source tree after checking that it is seL4 5.0.0 or 16.0.0.
    pub fn at(root: PathBuf) -> Result<Self, SourceError> {
        let text = std::fs::read_to_string(root.join("VERSION"))
            .map_err(|e| SourceError::NotASourceTree { path: root.clone(), why: format!("VERSION: {e}") })?;
        let version = KernelVersion::from_name(&text).ok_or_else(|| SourceError::NotASourceTree {
            path: root.clone(),
            why: format!("VERSION is {}", text.trim()),
        })?;
        Ok(Self { root, version, carrier: false })
    }

    /// [`KernelSource::at`], and the tree must hold `wanted`.
    pub fn at_version(root: PathBuf, wanted: KernelVersion) -> Result<Self, SourceError> {
        let source = Self::at(root)?;
        if source.version != wanted {
            return Err(SourceError::WrongVersion { path: source.root, found: source.version, wanted });
        }
        Ok(source)
    }

    /// The `seL4/` directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether this is the crates.io carrier's tree, which its version pins.
    pub fn is_carrier(&self) -> bool {
        self.carrier
    }

    /// The kernel version the tree holds.
    pub fn version(&self) -> KernelVersion {
        self.version
    }

    /// The `.bf` files with the types libsel4 shares with the kernel, under `libsel4/`.
    pub fn bitfield_specs(&self) -> &'static [&'static str] {
        match self.version {
            KernelVersion::V5_0_0 => &[
                "include/sel4/shared_types_64.bf",
                "include/sel4/types_64.bf",
                "sel4_arch_include/x86_64/sel4/sel4_arch/types.bf",
            ],
            KernelVersion::V16_0_0 => {
                &["mode_include/64/sel4/shared_types.bf", "sel4_arch_include/x86_64/sel4/sel4_arch/types.bf"]
            }
        }
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
        let mut dirs = vec!["include", "arch_include/x86", "sel4_arch_include/x86_64", "sel4_plat_include/pc99"];
        if self.version == KernelVersion::V16_0_0 {
            dirs.push("mode_include/64");
        }
        dirs.iter().map(|d| self.root.join("libsel4").join(d)).collect()
    }
}
