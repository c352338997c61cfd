//! The `kaal` tool as a library.
//!
//! The `kaal` binary (`cargo kaal ...`) is a thin command-line layer over these modules;
//! boot tests use the same code through [`testing`]. A build goes
//! [`host::ensure`] -> [`project`] -> [`kernel::prepare`] -> [`image::build`] ->
//! [`qemu::boot`].

pub mod bench;
pub mod error;
pub mod host;
pub mod image;
pub mod kernel;
pub mod progress;
pub mod project;
pub mod qemu;
pub mod testing;

use std::path::Path;

use kaal_build::KernelConfig;

pub use error::{Result, ToolError};
use progress::Reporter;

/// KaaL's own `tools/` directory (systems the tool boots for itself, like the device
/// lister), found from where this crate was built.
pub fn tools_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools")
}

/// A system with its kernel and image built.
#[derive(Debug, Clone)]
pub struct BuiltSystem {
    pub project: project::Project,
    pub system: project::SystemCrate,
    pub kernel: kernel::Kernel,
    pub image: image::Image,
}

/// Builds the system in `dir` (or the default system) with everything it needs.
pub fn build(dir: Option<&Path>, reporter: &Reporter) -> Result<BuiltSystem> {
    host::ensure(reporter)?;
    let cwd = std::env::current_dir()
        .map_err(|e| ToolError::new("finding the current directory", e.to_string(), "cd into your project"))?;
    let project = project::Project::discover(dir.unwrap_or(&cwd))?;
    let system = match dir {
        Some(dir) => project.system(dir)?,
        None => project.default_system(&cwd)?,
    };
    let config = KernelConfig::default();
    let kernel = kernel::prepare(&project, &config, reporter)?;
    reporter.info(format!("kernel: {} [{}]", if kernel.cache_hit { "cache hit" } else { "built" }, kernel.hash));
    let image = image::build(&project, &system, &kernel, reporter)?;
    Ok(BuiltSystem { project, system, kernel, image })
}
