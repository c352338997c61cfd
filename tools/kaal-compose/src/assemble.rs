//! Building a system described by a `system.toml`.
//!
//! 1. Read and validate the file ([`crate::system`]); nothing builds if it is wrong.
//! 2. Build every component crate as a freestanding image, one cargo run per workspace
//!    (components may live in the KaaL repository or in a project of their own).
//! 3. Plan the boot ([`crate::planner`]) and write it as Rust source next to the system's
//!    other build products (`target/kaal/systems/<name>-<hash>/<kernel hash>/boot_plan.rs`), with
//!    copies of the component images stripped of debug information.
//! 4. Build KaaL's generic root task (`tools/kaal-root`) with that plan compiled in and
//!    the component images embedded, and copy the result out as the system's image.
//!
//! The root task is built in the KaaL workspace (so its dependencies are compiled once
//! for every system), one system at a time: a lock file serialises step 4 with the copy,
//! so parallel builds of different systems never hand each other's image out.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Result, ToolError};
use crate::image::{self, Image};
use crate::kernel::Kernel;
use crate::planner::{self, Plan};
use crate::progress::Reporter;
use crate::project::{Project, SystemCrate};
use crate::system::{self, System};

/// The file that makes a directory a declarative system.
pub const SYSTEM_FILE: &str = "system.toml";

/// A `system.toml`, validated.
#[derive(Debug, Clone)]
pub struct SystemFile {
    /// The directory holding it (component paths are relative to it).
    pub dir: PathBuf,
    /// The file, for messages ("examples/pipeline/system.toml").
    pub display: String,
    pub system: System,
}

impl SystemFile {
    /// Reads and validates `dir/system.toml`, including that each component's crate
    /// directory exists.
    pub fn load(dir: &Path, display_dir: &str) -> Result<SystemFile> {
        let path = dir.join(SYSTEM_FILE);
        let display = if display_dir.is_empty() || display_dir == "." {
            SYSTEM_FILE.to_string()
        } else {
            format!("{display_dir}/{SYSTEM_FILE}")
        };
        let invalid = |errors: system::ConfigErrors| {
            ToolError::new(
                format!("checking {display}"),
                format!("{} problem(s):\n{errors}", errors.0.len()),
                "fix the problems above; nothing was built",
            )
        };
        let text = std::fs::read_to_string(&path).map_err(|e| ToolError::io(format!("reading {display}"), &path, e))?;
        let system = system::parse(&display, &text).map_err(invalid)?;
        system::check_component_dirs(&system, dir, &display).map_err(invalid)?;
        Ok(SystemFile { dir: dir.to_path_buf(), display, system })
    }

    /// The boot plan.
    pub fn plan(&self) -> Result<Plan> {
        planner::plan(&self.system)
    }
}

/// Whether `dir` holds a `system.toml`.
pub fn is_system_dir(dir: &Path) -> bool {
    dir.join(SYSTEM_FILE).is_file()
}

/// The KaaL checkout this tool was built from (for the root task, and the kernel cache
/// every project shares).
pub fn kaal_checkout() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    here.canonicalize().unwrap_or(here)
}

/// What [`build`] made.
#[derive(Debug, Clone)]
pub struct Assembled {
    pub image: Image,
    /// Each component (start order) and the size of its image.
    pub components: Vec<(String, u64)>,
    /// The boot plan the root task carries out.
    pub plan: Plan,
}

/// Builds the system in `file` for `kernel`.
pub fn build(file: &SystemFile, project: &Project, kernel: &Kernel, reporter: &Reporter) -> Result<Assembled> {
    let system = &file.system;
    // Planning problems show before anything builds; the real plan comes once the
    // components' driver declarations are known.
    file.plan()?;
    // Budgets need a kernel that enforces them; say so before anything builds.
    if let Some(c) = system.components.iter().find(|c| c.budget.is_some() || c.passive).filter(|_| !kernel.config.mcs) {
        return Err(ToolError::new(
            format!("checking {}", file.display),
            format!(
                "{}:{}: component `{}` has a CPU budget or is passive, which only an MCS kernel supports, and \
                 this system builds for {}",
                file.display,
                c.line,
                c.name,
                kernel.config.describe()
            ),
            "boot it with `--kernel 16.0.0-mcs` (or `16.0.0-mcs-release`), or set `[kernel] version = \"16.0.0\"` \
             and `mcs = true` in system.toml; or remove `budget` and `period`",
        ));
    }

    // Components, grouped by the workspace each belongs to.
    let mut crates: Vec<(Project, SystemCrate)> = Vec::new();
    for component in &system.components {
        let dir = file.dir.join(&component.path);
        let component_project = if dir.starts_with(&project.root) { project.clone() } else { Project::discover(&dir)? };
        let krate = component_project.system(&dir).map_err(|e| {
            ToolError::new(
                format!("checking {}", file.display),
                format!("component `{}`: {}", component.name, e.cause),
                e.help,
            )
        })?;
        crates.push((component_project, krate));
    }
    let mut images: Vec<PathBuf> = vec![PathBuf::new(); crates.len()];
    let mut remaining: Vec<usize> = (0..crates.len()).collect();
    while let Some(&first) = remaining.first() {
        let root = crates[first].0.root.clone();
        let group: Vec<usize> = remaining.iter().copied().filter(|&i| crates[i].0.root == root).collect();
        remaining.retain(|i| !group.contains(i));
        let mut unique: Vec<SystemCrate> = Vec::new();
        for &i in &group {
            if !unique.iter().any(|c| c.package == crates[i].1.package) {
                unique.push(crates[i].1.clone());
            }
        }
        let names: Vec<&str> = unique.iter().map(|c| c.package.as_str()).collect();
        // Each component's `log` level, for its own crate (validation made components
        // of one crate agree).
        let levels = group.iter().map(|&i| (crates[i].1.package.as_str(), system.components[i].log.as_str()));
        let mut env = vec![(image::DEFMT_LOG.to_string(), crate::log::defmt_filter(levels).into())];
        // A Linux NIC driver: built (cached) and linked into services/nic-dde.
        if let Some((linux, without)) =
            system.network.as_ref().and_then(|n| Some((n.linux.as_deref()?, n.linux_without.as_slice())))
        {
            let nic = group.iter().find(|&&i| system.components[i].name == crate::system::generated::NIC);
            if nic.is_some() {
                let driver = crate::dde::driver(linux)?;
                let shadow = crate::dde::shadow_dir();
                let built = crate::dde::build_without(driver, &project.kaal_dir(), &shadow, without, reporter)?;
                env.push((crate::dde::ARCHIVE_ENV.to_string(), built.archive.into()));
                env.push((crate::dde::DRIVER_ENV.to_string(), driver.name.into()));
            }
        }
        let step = reporter.step(format!("building components {}", names.join(", ")));
        let paths = match image::cargo_build(&crates[first].0, &unique, kernel, &env, reporter) {
            Ok(paths) => paths,
            Err(e) => {
                step.fail();
                return Err(e);
            }
        };
        step.done(format!("{} images", paths.len()));
        for &i in &group {
            let at = unique.iter().position(|c| c.package == crates[i].1.package).expect("collected above");
            images[i] = paths[at].clone();
        }
    }
    // The plan, as Rust, next to stripped copies of the images it embeds.
    let out_dir = systems_dir(project, file, kernel);
    std::fs::create_dir_all(&out_dir).map_err(|e| ToolError::io("writing the boot plan", &out_dir, e))?;
    // Each device's resources go only as far as the component's drivers declare.
    let mut needs = planner::Needs::new();
    for (component, image) in system.components.iter().zip(&images) {
        if component.devices.is_empty() {
            continue;
        }
        let declarations = driver_declarations(image, &out_dir)?;
        for device in &component.devices {
            let need = planner::DeviceNeeds::from_declarations(device, declarations.lines());
            needs.insert((component.name.clone(), device.clone()), need);
        }
    }
    let plan = planner::plan_with(system, &needs)?;
    let images = strip_debug_info(&images, &out_dir)?;
    let mut components = Vec::new();
    for (component, path) in system.components.iter().zip(&images) {
        let size = std::fs::metadata(path).map_err(|e| ToolError::io("embedding the component images", path, e))?.len();
        components.push((component.name.clone(), size));
    }

    let plan_path = out_dir.join("boot_plan.rs");
    let source = plan.to_rust(system, &file.display, &images)?;
    if std::fs::read_to_string(&plan_path).ok().as_deref() != Some(source.as_str()) {
        std::fs::write(&plan_path, source).map_err(|e| ToolError::io("writing the boot plan", &plan_path, e))?;
    }

    // The root task, with the plan compiled in.
    let kaal = if project.root == kaal_checkout() { project.clone() } else { Project::discover(&kaal_checkout())? };
    let root_crate = kaal.system(&kaal_checkout().join("tools/kaal-root"))?;
    let lock_path = kaal.kaal_dir().join("kaal-root.lock");
    std::fs::create_dir_all(kaal.kaal_dir()).map_err(|e| ToolError::io("building the root task", &lock_path, e))?;
    let lock = File::create(&lock_path).map_err(|e| ToolError::io("building the root task", &lock_path, e))?;
    lock.lock().map_err(|e| ToolError::io("building the root task", &lock_path, e))?;
    let step = reporter.step(format!("building the root task for {}", system.name));
    let env = [(kaal_sel4::link::BOOT_PLAN_ENV.to_string(), plan_path.clone().into())];
    let built = match image::cargo_build(&kaal, std::slice::from_ref(&root_crate), kernel, &env, reporter) {
        Ok(mut paths) => paths.remove(0),
        Err(e) => {
            step.fail();
            return Err(e);
        }
    };
    let path = out_dir.join("image.elf");
    // Through a scratch file and a rename: a QEMU another build (another test) started
    // may be reading the image this one replaces, and a copy in place truncated it under
    // that QEMU (seen: a 128 KiB root task that faulted at address 0).
    let fresh = scratch_name(&out_dir, "image.elf");
    std::fs::copy(&built, &fresh)
        .and_then(|_| std::fs::rename(&fresh, &path))
        .map_err(|e| ToolError::io("copying the system image", &path, e))?;
    drop(lock);
    let size = std::fs::metadata(&path).map_err(|e| ToolError::io("copying the system image", &path, e))?.len();
    step.done(format!("{} ({} KiB)", path.display(), size.div_ceil(1024)));
    let mut elfs = vec![(root_crate.package.clone(), path.clone())];
    // `crates` and `images` are in the order of `system.components`.
    elfs.extend(crates.iter().zip(&images).map(|((_, krate), stripped)| (krate.package.clone(), stripped.clone())));
    Ok(Assembled { image: Image { path, size, elfs }, components, plan })
}

/// The driver declarations in `image`'s `.kaal_drivers` section (see
/// `kaal_abi::drivers`): empty if it has none.
pub fn driver_declarations(image: &Path, scratch_dir: &Path) -> Result<String> {
    let step = "reading the components' driver declarations";
    let name = image.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let section = scratch_dir.join(format!("{name}.kaal_drivers"));
    let copy = scratch_dir.join(format!("{name}.kaal_drivers.elf"));
    let _ = std::fs::remove_file(&section);
    let out = std::process::Command::new("objcopy")
        .arg(format!("--dump-section=.kaal_drivers={}", section.display()))
        .arg(image)
        .arg(&copy)
        .output()
        .map_err(|e| ToolError::new(step, format!("cannot run objcopy: {e}"), "install binutils"))?;
    let _ = std::fs::remove_file(&copy);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // An image without drivers has no such section: objcopy (binutils 2.40) says so
    // and exits with status 0, writing nothing.
    if stderr.contains("does not exist") || stderr.contains("can't dump section") {
        return Ok(String::new());
    }
    if !out.status.success() {
        return Err(ToolError::new(
            step,
            format!("objcopy --dump-section .kaal_drivers {}: {}", image.display(), stderr.trim()),
            "check that the component built as an ELF file (cargo kaal build -v shows the build)",
        ));
    }
    let text = std::fs::read(&section).map_err(|e| ToolError::io(step, &section, e))?;
    let _ = std::fs::remove_file(&section);
    Ok(String::from_utf8_lossy(&text).into_owned())
}

/// The drivers a system's components declare (`(package, declaration line)`), each
/// with the devices of `table` (the broker's device table as the guest printed it) it
/// would drive: for `kaal debug devices`, which lists the table from a root task that
/// does not contain the project's drivers.
pub fn declared_drivers_table(declared: &[(String, String)], table: &[String]) -> String {
    let mut out = String::from("\ndrivers in this system's components (from their declarations):\n");
    if declared.is_empty() {
        out += "  none: no component uses #[derive(Driver)]\n";
        return out;
    }
    // Table rows start with the device's name; PCI rows carry `vendor:device` ids.
    let rows: Vec<Vec<&str>> = table.iter().map(|l| l.split_whitespace().collect()).collect();
    for (package, line) in declared {
        let Some(d) = kaal_abi::drivers::Declaration::parse(line) else { continue };
        let mut found = Vec::new();
        for m in d.matches.split(',') {
            if let Some(isa) = m.strip_prefix("isa:") {
                if rows.iter().any(|r| r.first() == Some(&isa)) {
                    found.push(isa.to_string());
                }
            } else if let Some(ids) = m.strip_prefix("pci:") {
                for r in rows.iter().filter(|r| r.contains(&ids)) {
                    found.push(r[0].to_string());
                }
            }
        }
        let takes: Vec<&str> = [(d.ports, "ports"), (d.irq, "interrupt"), (d.mmio != 0, "mmio")]
            .into_iter()
            .filter_map(|(yes, what)| yes.then_some(what))
            .collect();
        let drives = if found.is_empty() {
            format!("no device in the table matches {}", d.matches)
        } else {
            format!("drives {}", found.join(", "))
        };
        out += &format!("  {} (in {package}; takes {}): {drives}\n", d.name, takes.join(", "));
    }
    out
}

/// A name in `dir` for a file that will replace `name` by a rename, this build's own:
/// tests build one system on several threads at once, and a shared name let one build
/// rename away the other's file.
pub(crate) fn scratch_name(dir: &Path, name: &str) -> PathBuf {
    static SCRATCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SCRATCH.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    dir.join(format!("{name}.new-{}-{n}", std::process::id()))
}

/// Copies of `images` without debug information, in `out_dir`: the root task carries
/// every component image in its own memory, and debug sections (most of an image) are
/// of no use there. The originals, with symbols, stay in the build directory for
/// debuggers and addr2line.
fn strip_debug_info(images: &[PathBuf], out_dir: &Path) -> Result<Vec<PathBuf>> {
    let step = "stripping the component images";
    let mut stripped: Vec<(PathBuf, PathBuf)> = Vec::new();
    for image in images {
        if stripped.iter().any(|(original, _)| original == image) {
            continue;
        }
        let name = image.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let out = out_dir.join(format!("{name}.elf"));
        // Into a scratch file first: the copy is replaced only if it changed, so an
        // unchanged component does not make cargo rebuild the root task.
        let fresh = scratch_name(out_dir, &format!("{name}.elf"));
        let status = std::process::Command::new("objcopy")
            .arg("--strip-debug")
            .arg(image)
            .arg(&fresh)
            .output()
            .map_err(|e| ToolError::new(step, format!("cannot run objcopy: {e}"), "install binutils"))?;
        if !status.status.success() {
            return Err(ToolError::new(
                step,
                format!(
                    "objcopy --strip-debug {}: {}",
                    image.display(),
                    String::from_utf8_lossy(&status.stderr).trim()
                ),
                "check that the component built as an ELF file (cargo kaal build -v shows the build)",
            ));
        }
        let unchanged = std::fs::read(&out).ok().is_some_and(|old| std::fs::read(&fresh).ok().as_deref() == Some(&old));
        let replaced = if unchanged { std::fs::remove_file(&fresh) } else { std::fs::rename(&fresh, &out) };
        replaced.map_err(|e| ToolError::io(step, &out, e))?;
        stripped.push((image.clone(), out));
    }
    Ok(images
        .iter()
        .map(|image| {
            stripped.iter().find(|(original, _)| original == image).map(|(_, out)| out.clone()).unwrap_or_default()
        })
        .collect())
}

/// `target/kaal/systems/<name>-<hash of the file's path>/<kernel hash>`.
fn systems_dir(project: &Project, file: &SystemFile, kernel: &Kernel) -> PathBuf {
    use sha2::{Digest, Sha256};
    let key = file.dir.canonicalize().unwrap_or_else(|_| file.dir.clone());
    let hash = Sha256::digest(key.display().to_string().as_bytes());
    let short: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
    // Per kernel too: the images differ between kernels, and two kernels' builds of one
    // system may run at once.
    project.kaal_dir().join("systems").join(format!("{}-{short}", file.system.name)).join(&kernel.hash)
}
