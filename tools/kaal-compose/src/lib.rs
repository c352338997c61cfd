//! The `kaal` tool as a library.
//!
//! The `kaal` binary (`cargo kaal ...`) is a thin command-line layer over these modules;
//! boot tests use the same code through [`testing`]. A build goes
//! [`host::ensure`] -> [`project`] -> [`kernel::prepare`] -> [`image::build`] ->
//! [`qemu::boot`]; for a directory with a `system.toml`, [`system`] checks the file
//! first and [`assemble`] builds the components and the generic root task with the
//! boot plan ([`planner`]) in place of `image::build`.

pub mod assemble;
pub mod bench;
pub mod compare;
pub mod dde;
pub mod debian;
pub mod disk;
pub mod error;
pub mod host;
pub mod image;
pub mod kernel;
pub mod linuxref;
pub mod log;
pub mod netpeer;
pub mod planner;
pub mod profile;
pub mod progress;
pub mod project;
pub mod qemu;
pub mod scaffold;
pub mod shim;
pub mod system;
pub mod testing;
pub mod tutorial;

use std::path::{Path, PathBuf};

use kaal_sel4::KernelChoice;

pub use error::{Result, ToolError};
use progress::Reporter;

/// The environment variable that carries a system's declared fixed devices to the
/// device lister (`tools/kaal-devices`) when `kaal debug devices` builds it.
pub const DECLARED_DEVICES_ENV: &str = "KAAL_DECLARED_DEVICES";

/// KaaL's own `tools/` directory (systems the tool boots for itself, like the device
/// lister), in the checkout this tool was built from.
pub fn tools_dir() -> std::path::PathBuf {
    assemble::kaal_checkout().join("tools")
}

/// A system with its kernel and image built.
#[derive(Debug, Clone)]
pub struct BuiltSystem {
    pub project: project::Project,
    pub system: project::SystemCrate,
    pub kernel: kernel::Kernel,
    pub image: image::Image,
    /// For a system.toml: its components (start order) and their image sizes.
    pub components: Vec<(String, u64)>,
    /// For a system.toml: the boot plan (with each device's resources as far as the
    /// components' drivers declare them) and the checked file.
    pub plan: Option<(planner::Plan, assemble::SystemFile)>,
    /// What the system runs on.
    pub machine: Machine,
    /// Its disks, as attached (their QEMU arguments are in `machine`).
    pub disks: Vec<disk::AttachedDisk>,
    /// The host ports forwarded to its network (the system's `[network] forwards` with
    /// those of [`BuildOptions::forwards`]; their QEMU arguments are in `machine`).
    pub forwards: Vec<system::Forward>,
}

impl BuiltSystem {
    /// Whether the system has a terminal that reads the serial port's input (`[linux]`).
    pub fn has_terminal(&self) -> bool {
        self.plan.as_ref().is_some_and(|(_, file)| file.system.linux.is_some())
    }

    /// The lines `[linux] demo` types at init when `kaal run` has no input (empty: none).
    pub fn demo(&self) -> Vec<String> {
        self.plan.as_ref().and_then(|(_, file)| file.system.linux.as_ref()).map_or_else(Vec::new, |l| l.demo.clone())
    }

    /// Prints, on stdout, where the host reaches each forwarded port: one
    /// [`qemu::forward_line`] each.
    pub fn print_forwards(&self) {
        for forward in &self.forwards {
            println!("{}", qemu::forward_line(forward));
        }
    }

    /// QEMU's settings for this system (see [`Machine::qemu_config`]), with the decoder
    /// for its images' defmt logs.
    ///
    /// If the decoder cannot be built, the run goes on with frames shown as they came,
    /// and a warning says why.
    pub fn qemu_config(&self, memory: Option<u32>) -> qemu::QemuConfig {
        let log = match log::LogDecoder::start(&assemble::kaal_checkout(), &self.image.elfs) {
            Ok(log) => Some(std::sync::Arc::new(log)),
            Err(e) => {
                eprintln!("[kaal] warning: defmt lines will not be decoded: {e}");
                None
            }
        };
        qemu::QemuConfig { log, cpu: qemu::cpu_model(&self.kernel.config), ..self.machine.qemu_config(memory) }
    }
}

/// The machine a system asks for: its QEMU arguments (its devices) and memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Machine {
    pub qemu_args: Vec<String>,
    pub memory_mib: Option<u32>,
}

impl Machine {
    /// QEMU's settings for this machine; `memory` (MiB) overrides the system's.
    pub fn qemu_config(&self, memory: Option<u32>) -> qemu::QemuConfig {
        let default = qemu::QemuConfig::default();
        qemu::QemuConfig {
            memory_mib: memory.or(self.memory_mib).unwrap_or(default.memory_mib),
            extra_args: self.qemu_args.clone(),
            ..default
        }
    }
}

/// The machine of the system in `dir` (a system.toml or a root-task crate), without
/// building it.
pub fn machine_of(dir: &Path) -> Result<Machine> {
    if assemble::is_system_dir(dir) {
        let file = load_system_file(dir)?;
        let mut qemu_args = file.system.qemu.args.clone();
        // The card, without forwards: nothing here is for the host to reach.
        if let Some(network) = &file.system.network {
            qemu_args.extend(qemu::network_args(network, &[]));
        }
        Ok(Machine { qemu_args, memory_mib: Some(file.system.qemu.memory_mib) })
    } else {
        let system = project::Project::discover(dir)?.system(dir)?;
        Ok(Machine { qemu_args: system.qemu_args, memory_mib: None })
    }
}

/// Finds the system to build: `dir`, else the current directory if it is a system, else
/// the workspace's default system. A directory with a system.toml needs no workspace
/// to be found (it is checked before anything else).
pub fn find_system_dir(dir: Option<&Path>) -> Result<PathBuf> {
    let cwd = std::env::current_dir()
        .map_err(|e| ToolError::new("finding the current directory", e.to_string(), "cd into your project"))?;
    let dir = match dir {
        Some(dir) => dir.to_path_buf(),
        None if assemble::is_system_dir(&cwd) => cwd,
        None => {
            let project = project::Project::discover(&cwd)?;
            if project.system(&cwd).is_ok() {
                cwd
            } else {
                project.default_system.clone().ok_or_else(|| {
                    ToolError::new(
                        "finding the system to run",
                        format!(
                            "{} holds no system.toml, is not a system crate, and the workspace names no default system",
                            cwd.display()
                        ),
                        "pass a system directory (cargo kaal run tutorial/01-hello), create a project with \
                         `cargo kaal new my-os`, or set\n[workspace.metadata.kaal] default-system = \
                         \"path/to/system\" in the workspace Cargo.toml",
                    )
                })?
            }
        }
    };
    if !dir.is_dir() {
        return Err(ToolError::new(
            "finding the system",
            format!("{} is not a directory", dir.display()),
            "pass the directory of a system (one with a system.toml, or a root-task crate)",
        ));
    }
    Ok(dir)
}

/// Reads and checks the system.toml in `dir`, quoting it as the user named it.
pub fn load_system_file(dir: &Path) -> Result<assemble::SystemFile> {
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let cwd = std::env::current_dir().unwrap_or_default();
    let display = match canonical.strip_prefix(&cwd) {
        Ok(relative) => relative.display().to_string(),
        Err(_) => dir.display().to_string(),
    };
    assemble::SystemFile::load(&canonical, &display)
}

/// The cargo workspace a system.toml belongs to (where its build products go).
fn system_project(file: &assemble::SystemFile) -> Result<project::Project> {
    project::Project::discover(&file.dir).map_err(|e| {
        ToolError::new(
            format!("finding the workspace of {}", file.display),
            e.cause,
            "a system.toml lives in a cargo workspace with its component crates (a Cargo.toml with \
             [workspace] in its directory or above); `cargo kaal new my-os` makes one",
        )
    })
}

/// The project of the KaaL checkout this tool comes from, whose `target/kaal` holds the
/// kernel cache every project shares.
pub fn kaal_project(project: &project::Project) -> Result<project::Project> {
    let root = assemble::kaal_checkout();
    if project.root == root {
        Ok(project.clone())
    } else {
        project::Project::discover(&root)
    }
}

/// The directories under `root` holding a system.toml (`root` itself, and below it to a
/// depth of three, skipping `target` and hidden directories), sorted.
pub fn system_dirs(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, depth: u32, found: &mut Vec<PathBuf>) {
        if assemble::is_system_dir(dir) {
            found.push(dir.to_path_buf());
        }
        if depth == 0 {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if entry.path().is_dir() && name != "target" && !name.starts_with('.') {
                walk(&entry.path(), depth - 1, found);
            }
        }
    }
    let mut found = Vec::new();
    walk(root, 3, &mut found);
    found.sort();
    found
}

/// Choices a build takes beyond the system itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// The kernel, over the system's `[kernel]` choice (`--kernel`).
    pub kernel: KernelChoice,
    /// A kernel source tree over the system's `[kernel] source` (as `KAAL_SEL4_SOURCE`
    /// does, for the version the tree holds).
    pub source: Option<PathBuf>,
    /// Disk images in place of the system's own (`kaal run --disk NAME=IMAGE`).
    pub disks: Vec<(String, PathBuf)>,
    /// Host ports to forward to the system's network (`kaal run --forward HOST:GUEST`),
    /// each in place of the system's forwards to the same guest port and protocol.
    pub forwards: Vec<system::Forward>,
    /// Also put a UDP socket on the system's network: every datagram sent to the first
    /// port on 127.0.0.1 reaches the NIC as one raw Ethernet frame, and every frame on
    /// the wire goes to the second (see [`qemu::network_args_injecting`]), for tests
    /// that feed the stack bad frames.
    pub inject_frames: Option<(u16, u16)>,
}

/// The forwards a run of `file`'s system uses: see [`qemu::merge_forwards`]. Forwards
/// from the command line for a system without `[network]` are an error.
fn forwards_of(file: Option<&assemble::SystemFile>, extra: &[system::Forward]) -> Result<Vec<system::Forward>> {
    let step = "forwarding host ports";
    let network = file.and_then(|f| f.system.network.as_ref());
    let Some(network) = network else {
        if extra.is_empty() {
            return Ok(Vec::new());
        }
        let shown: Vec<String> = extra.iter().map(ToString::to_string).collect();
        return Err(match file {
            Some(file) => ToolError::new(
                step,
                format!(
                    "{} declares no [network], so there is nothing to forward {} to",
                    file.display,
                    shown.join(", ")
                ),
                format!(
                    "declare one in {} (the network stack needs [time] too):\n  [network]\n  forwards = [\"{}\"]\n\n  \
                     [time]\n  source = \"pit\"\nor leave out --forward",
                    file.display, shown[0]
                ),
            ),
            None => ToolError::new(
                step,
                format!("this system has no system.toml, so no [network] to forward {} to", shown.join(", ")),
                "leave out --forward, and pass the system's own -netdev with hostfwd after `--`",
            ),
        });
    };
    qemu::merge_forwards(&network.forwards, extra).map_err(|why| {
        ToolError::new(
            step,
            why,
            "each host port can be forwarded once per protocol: pick another host port with --forward (one for the \
             same guest port replaces the system's)",
        )
    })
}

/// Builds the system in `dir` (or the default system) with everything it needs.
pub fn build(dir: Option<&Path>, reporter: &Reporter) -> Result<BuiltSystem> {
    build_with(dir, &BuildOptions::default(), reporter)
}

/// [`build`] with `options`.
pub fn build_with(dir: Option<&Path>, options: &BuildOptions, reporter: &Reporter) -> Result<BuiltSystem> {
    let dir = find_system_dir(dir)?;
    // A system.toml is checked before anything (even the kernel) is built.
    let system_file = if assemble::is_system_dir(&dir) { Some(load_system_file(&dir)?) } else { None };
    let forwards = forwards_of(system_file.as_ref(), &options.forwards)?;
    host::ensure(reporter)?;
    let project = match &system_file {
        Some(file) => system_project(file)?,
        None => project::Project::discover(&dir)?,
    };
    let system_kernel = system_file.as_ref().map(|f| f.system.kernel.clone()).unwrap_or_default();
    let config = options.kernel.or(system_kernel.choice).config();
    let option_source = options.source.clone().map(system::KernelSourceSpec::Path);
    let source = match &option_source {
        Some(spec) => kernel::SourceChoice { spec: Some(spec), base_dir: None },
        None => kernel::SourceChoice {
            spec: system_kernel.source.as_ref(),
            base_dir: system_file.as_ref().map(|f| f.dir.as_path()),
        },
    };
    let kernel = kernel::prepare(&kaal_project(&project)?, &config, source, reporter)?;
    reporter.info(format!(
        "kernel: {}, {} [{}]",
        config.describe(),
        if kernel.cache_hit { "cache hit" } else { "built" },
        kernel.hash
    ));
    match system_file {
        Some(file) => {
            let assembled = assemble::build(&file, &project, &kernel, reporter)?;
            let scratch = project.kaal_dir().join("disks").join(&file.system.name);
            let disks =
                disk::prepare(&file.system.disks, &file.dir, &file.display, &options.disks, &scratch, reporter)?;
            let mut qemu_args = file.system.qemu.args.clone();
            qemu_args.extend(disks.iter().flat_map(disk::AttachedDisk::qemu_args));
            if let Some(network) = &file.system.network {
                qemu_args.extend(qemu::network_args_injecting(network, &forwards, options.inject_frames));
            }
            let display = file.display.trim_end_matches(assemble::SYSTEM_FILE).trim_end_matches('/').to_string();
            let system = project::SystemCrate {
                dir: file.dir.clone(),
                package: file.system.name.clone(),
                bin: "kaal-root".into(),
                display: if display.is_empty() { file.system.name.clone() } else { display },
                components: Vec::new(),
                // The machine comes from system.toml, below.
                qemu_args: Vec::new(),
            };
            Ok(BuiltSystem {
                project,
                system,
                kernel,
                image: assembled.image,
                components: assembled.components,
                machine: Machine { qemu_args, memory_mib: Some(file.system.qemu.memory_mib) },
                plan: Some((assembled.plan, file)),
                disks,
                forwards,
            })
        }
        None => {
            let system = project.system(&dir)?;
            let image = image::build(&project, &system, &kernel, reporter)?;
            let machine = Machine { qemu_args: system.qemu_args.clone(), memory_mib: None };
            Ok(BuiltSystem {
                project,
                system,
                kernel,
                image,
                components: Vec::new(),
                plan: None,
                machine,
                disks: Vec::new(),
                forwards,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use system::{Forward, Protocol};

    fn file(toml: &str) -> assemble::SystemFile {
        let system = system::parse("system.toml", toml).unwrap_or_else(|e| panic!("{e}"));
        assemble::SystemFile { dir: PathBuf::from("."), display: "demo/system.toml".into(), system }
    }

    #[test]
    fn forwards_from_the_command_line_need_a_network() {
        let tcp = |host, guest| Forward { protocol: Protocol::Tcp, host, guest };
        let plain = file("[system]\nname = \"demo\"\n\n[components.a]\npath = \"a\"\n");
        assert_eq!(forwards_of(Some(&plain), &[]).map_err(|e| e.to_string()), Ok(vec![]));
        let error = forwards_of(Some(&plain), &[tcp(8080, 80)]).unwrap_err().to_string();
        assert!(error.contains("demo/system.toml declares no [network], so there is nothing to forward 8080:80 to"));
        assert!(error.contains("[network]") && error.contains("[time]"), "{error}");
        assert!(forwards_of(None, &[tcp(8080, 80)]).is_err());
        assert_eq!(forwards_of(None, &[]).map_err(|e| e.to_string()), Ok(vec![]));

        let networked = file(
            "[system]\nname = \"demo\"\n\n[time]\n\n[network]\nforwards = [\"8080:80\"]\n\n[components.a]\npath = \"a\"\n",
        );
        assert_eq!(forwards_of(Some(&networked), &[]).map_err(|e| e.to_string()), Ok(vec![tcp(8080, 80)]));
        assert_eq!(
            forwards_of(Some(&networked), &[tcp(18080, 80)]).map_err(|e| e.to_string()),
            Ok(vec![tcp(18080, 80)]),
            "moved to another host port"
        );
        let error = forwards_of(Some(&networked), &[tcp(8080, 22)]).unwrap_err().to_string();
        assert!(error.contains("host port 8080 (tcp) would be forwarded twice"), "{error}");
    }
}
