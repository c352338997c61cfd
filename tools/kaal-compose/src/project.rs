//! Finding the project and the system to build.
//!
//! A *system* is a directory with a root-task crate (a binary that depends on
//! `kaal-core`). The project is the cargo workspace the system belongs to; its target
//! directory holds everything KaaL builds, under `target/kaal/`:
//!
//! ```text
//! target/kaal/venv/                   python venv for the kernel's generators
//! target/kaal/kernel/<hash>/          one kernel build per distinct input hash
//! target/kaal/image/<kernel>/         cargo target dir for freestanding images, per kernel
//! target/kaal/systems/<name>-<hash>/<kernel>/
//!                                     a system.toml's boot plan, stripped component
//!                                     images and system image
//! target/kaal/kaal-log/               the defmt decoder (tools/kaal-log)
//! target/kaal/clippy-release/         `kaal test`'s lint against the release kernel
//! ```
//!
//! A system is also a directory with a `system.toml` (see [`crate::assemble`]); its
//! root task is KaaL's generic one.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::error::{Result, ToolError};

/// The cargo workspace KaaL works in.
#[derive(Debug, Clone)]
pub struct Project {
    /// Workspace root.
    pub root: PathBuf,
    /// Cargo's target directory.
    pub target_dir: PathBuf,
    /// The default system (`[workspace.metadata.kaal] default-system`), if set.
    pub default_system: Option<PathBuf>,
    packages: Vec<Package>,
}

/// A system's root-task crate.
#[derive(Debug, Clone)]
pub struct SystemCrate {
    /// The crate's directory.
    pub dir: PathBuf,
    /// Package name.
    pub package: String,
    /// Binary target name.
    pub bin: String,
    /// Directory for display, relative to the project root when possible.
    pub display: String,
    /// Component crates embedded in this root task (`[package.metadata.kaal] components`).
    pub components: Vec<SystemCrate>,
    /// Extra QEMU arguments the system needs (`[package.metadata.kaal] qemu-args`), e.g.
    /// devices its drivers expect.
    pub qemu_args: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Package {
    name: String,
    manifest_path: PathBuf,
    targets: Vec<Target>,
    dependencies: Vec<Dependency>,
    metadata: Option<serde_json::Value>,
}

impl Package {
    /// A list of strings from `[package.metadata.kaal] <key>`.
    fn kaal_list(&self, key: &str) -> Vec<String> {
        self.metadata
            .as_ref()
            .and_then(|m| m.get("kaal"))
            .and_then(|k| k.get(key))
            .and_then(|c| c.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }

    fn components(&self) -> Vec<String> {
        self.kaal_list("components")
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Dependency {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    workspace_root: PathBuf,
    target_directory: PathBuf,
    packages: Vec<Package>,
    metadata: Option<serde_json::Value>,
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

impl Project {
    /// The workspace containing `dir`.
    pub fn discover(dir: &Path) -> Result<Project> {
        let step = "reading the cargo workspace";
        let out = cargo()
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(dir)
            .output()
            .map_err(|e| ToolError::new(step, format!("cannot run cargo: {e}"), "is cargo on PATH?"))?;
        if !out.status.success() {
            return Err(ToolError::new(
                step,
                format!(
                    "`cargo metadata` in {} failed:\n{}",
                    dir.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                "run kaal inside a cargo workspace, or pass the system's directory",
            ));
        }
        let meta: Metadata = serde_json::from_slice(&out.stdout)
            .map_err(|e| ToolError::new(step, format!("unexpected `cargo metadata` output: {e}"), "update cargo"))?;
        let default_system = meta
            .metadata
            .as_ref()
            .and_then(|m| m.get("kaal"))
            .and_then(|k| k.get("default-system"))
            .and_then(|d| d.as_str())
            .map(|d| meta.workspace_root.join(d));
        Ok(Project {
            root: meta.workspace_root,
            target_dir: meta.target_directory,
            default_system,
            packages: meta.packages,
        })
    }

    /// `target/kaal`, where KaaL keeps its builds.
    pub fn kaal_dir(&self) -> PathBuf {
        self.target_dir.join("kaal")
    }

    /// The system crate in `dir`.
    pub fn system(&self, dir: &Path) -> Result<SystemCrate> {
        let step = "finding the system crate";
        let dir = dir.canonicalize().map_err(|e| {
            ToolError::new(
                step,
                format!("{}: {e}", dir.display()),
                "pass the directory of a system, e.g. tutorial/01-hello",
            )
        })?;
        let package =
            self.packages.iter().find(|p| p.manifest_path.parent() == Some(dir.as_path())).ok_or_else(|| {
                ToolError::new(
                    step,
                    format!("{} is not a package of the workspace at {}", dir.display(), self.root.display()),
                    "add it to [workspace] members in the workspace's Cargo.toml, or pass another directory",
                )
            })?;
        let mut system = self.image_crate(package)?;
        system.qemu_args = package.kaal_list("qemu-args");
        for name in package.components() {
            let component = self.packages.iter().find(|p| p.name == name).ok_or_else(|| {
                ToolError::new(
                    step,
                    format!("`{}` embeds component `{name}`, which is not a package of this workspace", package.name),
                    format!(
                        "add the component crate to [workspace] members, or fix the name in {}",
                        package.manifest_path.display()
                    ),
                )
            })?;
            system.components.push(self.image_crate(component)?);
        }
        Ok(system)
    }

    /// Checks that `package` can be built as an image.
    fn image_crate(&self, package: &Package) -> Result<SystemCrate> {
        let step = "finding the system crate";
        let dir = package.manifest_path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let bin = package.targets.iter().find(|t| t.kind.iter().any(|k| k == "bin")).ok_or_else(|| {
            ToolError::new(
                step,
                format!("package `{}` has no binary target", package.name),
                "a root task or component is a binary: add src/main.rs with `kaal_core::root_task!(main);` \
                 or `kaal_core::component!(main);`",
            )
        })?;
        if !package.dependencies.iter().any(|d| d.name == "kaal-core") {
            return Err(ToolError::new(
                step,
                format!("package `{}` does not depend on kaal-core", package.name),
                "a root task or component uses kaal-core's runtime: add kaal-core to its [dependencies]",
            ));
        }
        let display =
            dir.strip_prefix(&self.root).map(|p| p.display().to_string()).unwrap_or_else(|_| dir.display().to_string());
        Ok(SystemCrate {
            dir,
            package: package.name.clone(),
            bin: bin.name.clone(),
            display,
            components: Vec::new(),
            qemu_args: Vec::new(),
        })
    }
}
