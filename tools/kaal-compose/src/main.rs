//! `kaal`: build, boot and test KaaL systems on the real seL4 kernel.
//!
//! Run through the cargo alias: `cargo kaal run`, `cargo kaal test`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use kaal_compose::progress::{Reporter, Verbosity};
use kaal_compose::qemu::{self, QemuConfig};
use kaal_compose::scaffold::Template;
use kaal_compose::{host, Result, ToolError};

/// Build, boot and test KaaL systems on the real seL4 kernel.
#[derive(Debug, Parser)]
#[command(name = "kaal", version, about, long_about = None)]
struct Cli {
    /// Print more (the commands run). KAAL_LOG or RUST_LOG (quiet|info|debug) also set it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Print only errors and the system's own output.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// The kernel: `[VERSION-]FLAVOUR` or `VERSION`. Versions are 5.0.0 (the default)
    /// and 16.0.0; flavours `debug` (debug syscalls, the kernel's console; the default)
    /// and `release` (neither), and for 16.0.0 also `verified` (the X64_verified
    /// configuration, which QEMU cannot boot), `verified-qemu` (its settings with PCIDs
    /// off and more boot untypeds; not verified) and `mcs` / `mcs-release` (the MCS
    /// kernel). E.g. `release`,
    /// `16.0.0`, `16.0.0-verified`. Overrides a system.toml's `[kernel]`. A 16.0.0
    /// kernel needs a source: KAAL_SEL4_SOURCE or `[kernel] source`. `kaal bench` runs
    /// every kernel it can unless this names one.
    #[arg(long, global = true, value_parser = kaal_sel4::KernelChoice::parse)]
    kernel: Option<kaal_sel4::KernelChoice>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Build the kernel (cached) and the system image.
    Build {
        /// The system's directory [default: the current directory if it is a system, else the workspace's default system]
        system: Option<PathBuf>,
    },
    /// Build, then boot the system under QEMU; exits with the system's status.
    Run {
        /// The system's directory [default: the current directory if it is a system, else the workspace's default system]
        system: Option<PathBuf>,
        /// Give up after this many seconds [default: 60; a system the host reaches through
        /// port forwards serves until it stops or Ctrl-C]
        #[arg(long)]
        timeout: Option<u64>,
        /// Start QEMU halted, waiting for gdb on localhost:1234.
        #[arg(long)]
        gdb: bool,
        /// Deterministic virtual time (-icount shift=0).
        #[arg(long)]
        icount: bool,
        /// Guest RAM in MiB [default: the system's `[qemu] memory`, else 512].
        #[arg(long)]
        memory: Option<u32>,
        /// Attach IMAGE as the system's disk NAME, in place of its [disks.NAME] (repeatable).
        #[arg(long, value_name = "NAME=IMAGE", value_parser = parse_disk)]
        disk: Vec<(String, PathBuf)>,
        /// Forward HOST port on 127.0.0.1 to GUEST port of the system's `[network]`: TCP, or
        /// UDP as udp:HOST:GUEST (repeatable). It replaces the system's forward to the
        /// same guest port.
        #[arg(long, value_name = "HOST:GUEST", value_parser = parse_forward)]
        forward: Vec<kaal_compose::system::Forward>,
        /// Extra arguments for QEMU, after `--`.
        #[arg(last = true)]
        qemu_args: Vec<String>,
    },
    /// Run every test: a workspace-wide clippy check, host unit tests, doc tests, QEMU boot
    /// tests; in a project of one's own, also boot each system.toml and expect success.
    Test {
        /// Arguments for `cargo test`, after `--` (e.g. a test name filter).
        #[arg(last = true)]
        cargo_args: Vec<String>,
    },
    /// Boot a benchmark system (`benches/<NAME>`) with deterministic time; print its table.
    Bench {
        /// The benchmark: a directory under benches/ (e.g. `ipc`), or a path.
        name: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Boot a system under a sampling profiler and print, per component, its CPU share,
    /// mapped memory, IPC and notification rates and hot functions, and what stands out.
    Profile {
        /// The system's directory [default: the current directory if it is a system, else the workspace's default system]
        system: Option<PathBuf>,
        /// A command to type into the system's shell (then `exit 0`) [default: the
        /// system's `[linux] demo`, if it has one; else the system runs as it is].
        #[arg(long)]
        command: Option<String>,
        /// Stop the system after this many seconds if it has not ended.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Milliseconds between samples (each sample stops the guest briefly, so the
        /// system runs slower under the profiler).
        #[arg(long, default_value_t = 5)]
        interval_ms: u64,
        /// Forward HOST port on 127.0.0.1 to GUEST port, as for `kaal run` (repeatable).
        #[arg(long, value_name = "HOST:GUEST", value_parser = parse_forward)]
        forward: Vec<kaal_compose::system::Forward>,
    },
    /// Inspect a system.
    Debug {
        #[command(subcommand)]
        what: DebugCmd,
    },
    /// Linux drivers from Debian's linux-source (DDE-Linux).
    Dde {
        #[command(subcommand)]
        what: DdeCmd,
    },
    /// Check (and on Debian as root, install) the host tools KaaL needs.
    Doctor,
    /// Add a component or a driver crate to the project in the current directory.
    Add {
        #[command(subcommand)]
        what: AddCmd,
    },
    /// List the tutorial's lessons (and how each ended when last run here), or run lesson
    /// NN and show the next one.
    Tutorial {
        /// The lesson to run (`6`, `06`); none: list them.
        lesson: Option<String>,
    },
    /// Create a new KaaL project (a system.toml and its component crates) in PATH.
    New {
        /// The new project's directory; its last part names the system.
        path: PathBuf,
        /// What to start from.
        #[arg(long, value_enum, default_value = "minimal")]
        template: Template,
    },
}

#[derive(Debug, Subcommand)]
enum AddCmd {
    /// A component crate in components/NAME, a workspace member, and its
    /// `[components.NAME]` table in system.toml.
    Component {
        /// Its name (also the crate's and the system.toml table's).
        name: String,
    },
    /// A driver crate in drivers/NAME (a driver-kit skeleton) and a workspace member.
    Driver {
        /// Its name (also the crate's).
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum DdeCmd {
    /// Compile a Linux driver unmodified (cached under target/kaal/dde), check its code
    /// for privileged instructions and list the kernel functions and data it needs.
    Build {
        /// The driver: 8139cp or e1000.
        driver: String,
    },
}

#[derive(Debug, Subcommand)]
enum DebugCmd {
    /// Print each component's granted capabilities and regions by name and slot (the
    /// components are built first: their drivers decide which device resources they get).
    Caps {
        /// The system's directory [default: the current directory]
        system: Option<PathBuf>,
    },
    /// Boot the machine a system runs on and print the capability broker's device table,
    /// with the system's own drivers matched to the devices they drive.
    Devices {
        /// Use this system's QEMU arguments (its devices) and drivers [default: the
        /// current directory's system.toml, if it has one; else a bare machine].
        system: Option<PathBuf>,
    },
}

fn reporter(cli: &Cli) -> Reporter {
    let verbosity = if cli.quiet {
        Verbosity::Quiet
    } else if cli.verbose > 0 {
        Verbosity::Verbose
    } else {
        Verbosity::from_env().unwrap_or_default()
    };
    Reporter { verbosity }
}

fn run(cli: Cli) -> Result<i32> {
    let reporter = reporter(&cli);
    let alias =
        kaal_compose::shim::ensure(&kaal_compose::assemble::kaal_checkout(), matches!(cli.command, Cmd::Doctor));
    if let kaal_compose::shim::AliasStatus::Installed(path) = &alias {
        reporter.info(format!("added the `kaal` alias to {}, so `cargo kaal` works in any directory", path.display()));
    }
    let options = kaal_compose::BuildOptions { kernel: cli.kernel.unwrap_or_default(), ..Default::default() };
    match cli.command {
        Cmd::Build { system } => {
            let built = kaal_compose::build_with(system.as_deref(), &options, &reporter)?;
            print!("{}", build_summary(&built));
            Ok(0)
        }
        Cmd::Run { system, timeout, gdb, icount, memory, disk, forward, qemu_args } => {
            let options = kaal_compose::BuildOptions { disks: disk, forwards: forward, ..options };
            let built = kaal_compose::build_with(system.as_deref(), &options, &reporter)?;
            // The system's own QEMU arguments (its devices), then the command line's.
            let mut cfg = built.qemu_config(memory);
            cfg.extra_args.extend(qemu_args);
            let timeout = match timeout {
                Some(seconds) => Some(seconds),
                None if built.forwards.is_empty() => Some(60),
                None => None,
            };
            cfg.timeout = Duration::from_secs(timeout.unwrap_or(365 * 24 * 3600));
            cfg.gdb = gdb;
            cfg.icount = icount;
            // A system with a terminal (the Linux personality's) reads `kaal run`'s input;
            // with none at all (/dev/null or closed, as in CI) it gets its `[linux] demo`.
            let demo = built.demo();
            if built.has_terminal() && !demo.is_empty() && qemu::stdin_is_empty() {
                reporter.info(format!("no input: typing the system's demo ({} lines of [linux] demo)", demo.len()));
                cfg.input = qemu::Input::Script(demo);
            } else if built.has_terminal() {
                cfg.input = qemu::Input::Forward;
            }
            match timeout {
                Some(timeout) => reporter.info(format!("booting {} (timeout {timeout}s)", built.system.display)),
                None => reporter.info(format!(
                    "booting {}; it serves the host until it stops (Ctrl-C ends QEMU)",
                    built.system.display
                )),
            }
            built.print_forwards();
            let outcome = qemu::boot(&built.kernel.image, &built.image.path, &shown(&cfg, &reporter))?;
            let code = outcome.exit_code();
            if let Some(prompt) = outcome.prompt {
                // Printed at the end: at the time, it would break the shell's prompt line.
                reporter.info(format!(
                    "boot to the shell's prompt: {:.2} s of wall time (QEMU start to the first prompt)",
                    prompt.as_secs_f64()
                ));
            }
            if code == 0 {
                reporter.info(format!("{} ({:.1}s)", outcome.summary(), outcome.wall.as_secs_f64()));
            } else {
                eprintln!("[kaal] {}: {}", built.system.display, outcome.summary());
            }
            // What the guest may have written, for the host to look at.
            for disk in built.disks.iter().filter(|d| !d.read_only) {
                eprintln!("[kaal] disk {} (writable): {}", disk.name, disk.path.display());
            }
            Ok(code)
        }
        Cmd::Test { cargo_args } => {
            host::ensure(&reporter)?;
            let cwd = std::env::current_dir()
                .map_err(|e| ToolError::new("finding the current directory", e.to_string(), "cd into the project"))?;
            let project = kaal_compose::project::Project::discover(&cwd)?;
            // Build the kernels once, up front, so the boot tests share a warm cache.
            let kaal = kaal_compose::kaal_project(&project)?;
            // Every kernel but the default one gets its own lint of the layers.
            let mut lint_configs = Vec::new();
            for choice in kaal_compose::testing::test_kernels() {
                let config = choice.config();
                let mut source = None;
                if config.version == kaal_sel4::KernelVersion::V16_0_0 {
                    match kaal_compose::testing::sel4_16_source() {
                        Ok(path) => source = Some(kaal_compose::system::KernelSourceSpec::Path(path)),
                        // Without a 16.0.0 source its tests say they were skipped, and why.
                        Err(why) => {
                            reporter.info(format!("kernel: {}: not built: {why}", config.describe()));
                            continue;
                        }
                    }
                }
                let sources = kaal_compose::kernel::SourceChoice { spec: source.as_ref(), base_dir: None };
                let kernel = kaal_compose::kernel::prepare(&kaal, &config, sources, &reporter)?;
                if config != kaal_sel4::KernelConfig::default()
                    && kaal_compose::testing::LINTED_KERNELS.contains(&choice)
                {
                    lint_configs.push((config.describe(), kernel.hash.clone(), kernel.config_file.clone()));
                }
                reporter.info(format!(
                    "kernel: {}, {} [{}]",
                    config.describe(),
                    if kernel.cache_hit { "cache hit" } else { "built" },
                    kernel.hash
                ));
            }
            let report = kaal_compose::testing::TestReport::create(&kaal.kaal_dir())?;
            let cargo = || std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
            // Every crate, images included, built together: this is where cargo's feature
            // unification would pull std or a heap into a no_std image, so it is a test.
            let step =
                reporter.step("checking the whole workspace (cargo clippy --workspace --all-targets -D warnings)");
            let lint = cargo()
                .current_dir(&project.root)
                .args(["clippy", "--workspace", "--all-targets", "--quiet", "--", "-D", "warnings"])
                .status()
                .map_err(|e| {
                    ToolError::new("running cargo clippy", e.to_string(), "install clippy: rustup component add clippy")
                })?;
            if !lint.success() {
                step.fail();
                return Err(ToolError::new(
                    "checking the workspace",
                    "cargo clippy reported errors or warnings (above)",
                    "fix them, or run `cargo clippy --workspace --all-targets` to see them again",
                ));
            }
            step.done("clean");
            // Code for other kernels only (`cfg(not(kaal_debug_kernel))`, `cfg(kaal_sel4 =
            // "16")`) is compiled only against their bindings: lint the layers there too.
            for (kernel, hash, config) in lint_configs.iter().filter(|_| project.root == kaal.root) {
                let step = reporter.step(format!("checking the layers against {kernel} (cargo clippy -D warnings)"));
                let lint = cargo()
                    .current_dir(&project.root)
                    .env(kaal_sel4::CONFIG_ENV, config)
                    .env("CARGO_TARGET_DIR", kaal.kaal_dir().join(format!("clippy-{hash}")))
                    .args(["clippy", "--quiet"])
                    .args([
                        "-p",
                        "kaal-core",
                        "-p",
                        "kaal-alloc",
                        "-p",
                        "kaal-dev",
                        "-p",
                        "kaal-ipc",
                        "-p",
                        "kaal-root",
                    ])
                    .args(["--", "-D", "warnings"])
                    .status()
                    .map_err(|e| ToolError::new("running cargo clippy", e.to_string(), "is cargo on PATH?"))?;
                if !lint.success() {
                    step.fail();
                    return Err(ToolError::new(
                        format!("checking the layers against {kernel}"),
                        "cargo clippy reported errors or warnings (above)",
                        format!(
                            "see them again with: {}={} cargo clippy -p kaal-core",
                            kaal_sel4::CONFIG_ENV,
                            config.display()
                        ),
                    ));
                }
                step.done("clean");
            }
            let status = cargo()
                .current_dir(&project.root)
                .args(["test", "--workspace"])
                .args(&cargo_args)
                .env(kaal_compose::testing::REPORT_ENV, report.path())
                .status()
                .map_err(|e| ToolError::new("running cargo test", e.to_string(), "is cargo on PATH?"))?;
            // Which boot tests ran on which kernel, and which were skipped (and why).
            eprint!("{}", report.summary());
            if !status.success() {
                return Ok(status.code().unwrap_or(1));
            }
            // A project of one's own (KaaL's own boot tests live in tests/): boot each of
            // its systems and expect it to exit successfully. In the KaaL checkout, the
            // workspaces of their own are linted and tested too: the defmt decoder and
            // kaal-ipc's loom models (see the root Cargo.toml for why they are apart).
            if project.root == kaal.root {
                for (dir, target) in [("tools/kaal-log", "kaal-log"), ("kaal-ipc/loom", "loom")] {
                    let manifest = kaal.root.join(dir).join("Cargo.toml");
                    let target = kaal.kaal_dir().join(target);
                    for args in [&["clippy", "--all-targets", "--quiet"][..], &["test", "--quiet"][..]] {
                        let mut cmd = cargo();
                        cmd.args(args).arg("--manifest-path").arg(&manifest).arg("--target-dir").arg(&target);
                        if args[0] == "clippy" {
                            cmd.args(["--", "-D", "warnings"]);
                        }
                        let status = cmd.status().map_err(|e| {
                            ToolError::new(format!("testing {dir}"), e.to_string(), "is cargo on PATH?")
                        })?;
                        if !status.success() {
                            eprintln!("[kaal] {dir}: cargo {} failed (above)", args[0]);
                            return Ok(status.code().unwrap_or(1));
                        }
                    }
                }
                return Ok(0);
            }
            let mut failed = Vec::new();
            for dir in kaal_compose::system_dirs(&project.root) {
                let built = kaal_compose::build_with(Some(&dir), &options, &reporter)?;
                let cfg = QemuConfig { echo: false, ..built.qemu_config(None) };
                let step = reporter.step(format!("booting {}", built.system.display));
                let outcome = qemu::boot(&built.kernel.image, &built.image.path, &shown(&cfg, &reporter))?;
                if outcome.exit_code() == 0 {
                    step.done(outcome.summary());
                } else {
                    step.fail();
                    eprintln!("[kaal] {}: {}", built.system.display, outcome.summary());
                    for line in outcome.user_output().iter().rev().take(20).rev() {
                        eprintln!("    {line}");
                    }
                    failed.push(built.system.display);
                }
            }
            if !failed.is_empty() {
                eprintln!("[kaal] systems that did not exit successfully: {}", failed.join(", "));
                return Ok(1);
            }
            Ok(0)
        }
        Cmd::Bench { name, timeout } => {
            let cwd = std::env::current_dir()
                .map_err(|e| ToolError::new("finding the current directory", e.to_string(), "cd into the project"))?;
            let project = kaal_compose::project::Project::discover(&cwd)?;
            if name == "compare" {
                return bench_compare(&project, cli.kernel, Duration::from_secs(timeout), &reporter);
            }
            let dir = if std::path::Path::new(&name).is_dir() {
                PathBuf::from(&name)
            } else {
                project.root.join("benches").join(&name)
            };
            if !dir.is_dir() {
                return Err(ToolError::new(
                    "finding the benchmark",
                    format!("no benchmark `{name}` (looked for {})", dir.display()),
                    "benchmarks live in benches/<name>; try `cargo kaal bench ipc`",
                ));
            }
            let settings = kaal_compose::bench::BenchSettings::load(&dir)?;
            let kernels = match cli.kernel {
                Some(choice) => vec![choice],
                None => kaal_compose::bench::KERNELS
                    .iter()
                    .map(|k| kaal_sel4::KernelChoice::parse(k).expect("valid"))
                    .collect(),
            };
            let mut runs = Vec::new();
            let mut skipped = Vec::new();
            let mut code = 0;
            for choice in kernels {
                let config = choice.config();
                let column = config.describe();
                if config.version != kaal_sel4::KernelVersion::V5_0_0 && cli.kernel.is_none() {
                    if let Err(e) = kaal_sel4::KernelSource::from_env(config.version)
                        .and_then(|s| s.ok_or(kaal_sel4::source::SourceError::NoSource { version: config.version }))
                    {
                        let why = e.to_string();
                        let why = why.lines().next().unwrap_or_default();
                        skipped
                            .push(format!("{column}: {why}; set KAAL_SEL4_SOURCE to a seL4 16.0.0 tree to measure it"));
                        continue;
                    }
                }
                // The bench system, and its variants (the same measurements on other
                // systems), into one column.
                let variants = match settings.variants.as_slice() {
                    [] => vec![(None, dir.clone())],
                    list => list.iter().map(|v| (Some(v.name.clone()), dir.join(&v.system))).collect(),
                };
                let mut merged = kaal_compose::bench::BenchReport::default();
                for (label, dir) in &variants {
                    // The host peer's forwards go to free host ports.
                    let ports = settings.host_net.then(kaal_compose::bench::Ports::free);
                    let forwards = ports.map_or_else(Vec::new, kaal_compose::bench::Ports::forwards);
                    let options = kaal_compose::BuildOptions { kernel: choice, forwards, ..Default::default() };
                    let built = match kaal_compose::build_with(Some(dir), &options, &reporter) {
                        Ok(built) => built,
                        // One kernel that cannot run the benchmark leaves its column out.
                        Err(e) if cli.kernel.is_none() => {
                            eprintln!("[kaal] {column}: {e}");
                            skipped.push(format!("{column}: it did not build (above)"));
                            code = 1;
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    let (outcome, host_lines) =
                        bench_boot(&built, &settings, ports, Duration::from_secs(timeout), &column, &reporter)?;
                    for line in outcome.user_output() {
                        if !line.starts_with("BENCH ") && !line.is_empty() {
                            println!("[{column}] {line}");
                        }
                    }
                    if outcome.exit_code() != 0 {
                        eprintln!("[kaal] {} on {column}: {}", built.system.display, outcome.summary());
                        code = outcome.exit_code();
                    }
                    let lines: Vec<String> = outcome.serial.iter().chain(&host_lines).cloned().collect();
                    let report = kaal_compose::bench::BenchReport::parse(&lines);
                    match label {
                        Some(label) => merged.merge_variant(report, label),
                        None => merged = report,
                    }
                }
                runs.push((column, merged));
            }
            for line in &skipped {
                eprintln!("[kaal] left out {line}");
            }
            println!();
            print!("{}", kaal_compose::bench::table(&runs, settings.wall));
            Ok(code)
        }
        Cmd::Profile { system, command, seconds, interval_ms, forward } => {
            let options = kaal_compose::BuildOptions { forwards: forward, ..options };
            let built = kaal_compose::build_with(system.as_deref(), &options, &reporter)?;
            let profile_options = kaal_compose::profile::Options {
                command,
                limit: Duration::from_secs(seconds),
                interval: Duration::from_millis(interval_ms.max(1)),
            };
            let (outcome, report) = kaal_compose::profile::run(&built, &profile_options, &reporter)?;
            let code = outcome.exit_code();
            if code != 0 {
                eprintln!("[kaal] {}: {}", built.system.display, outcome.summary());
            }
            println!();
            println!("Profile of {} on {}:", built.system.display, built.kernel.config.describe());
            print!("{report}");
            Ok(code)
        }
        Cmd::Debug { what: DebugCmd::Devices { system } } => {
            // Inside a project, its system is the one whose machine and drivers count.
            let system =
                system.or_else(|| std::env::current_dir().ok().filter(|d| kaal_compose::assemble::is_system_dir(d)));
            let machine = match &system {
                Some(dir) => kaal_compose::machine_of(dir)?,
                None => Default::default(),
            };
            // The system's own drivers, from the declarations in its components' images.
            let mut declared = Vec::new();
            if let Some(dir) = system.as_ref().filter(|d| kaal_compose::assemble::is_system_dir(d)) {
                let built = kaal_compose::build_with(Some(dir), &options, &reporter)?;
                let scratch = built.project.kaal_dir();
                for (package, elf) in built.image.elfs.iter().skip(1) {
                    let text = kaal_compose::assemble::driver_declarations(elf, &scratch)?;
                    declared.extend(text.lines().map(|line| (package.clone(), line.to_string())));
                }
            }
            // The system's declared fixed devices go to the lister as one line each
            // (`kaal_abi::devices::FixedDevice`'s format), which it reads at compile time.
            let declared_devices: Vec<String> = match &system {
                Some(dir) if kaal_compose::assemble::is_system_dir(dir) => {
                    let file = kaal_compose::load_system_file(dir)?;
                    file.system.devices.iter().map(|d| d.as_fixed().to_string()).collect()
                }
                _ => Vec::new(),
            };
            std::env::set_var(kaal_compose::DECLARED_DEVICES_ENV, declared_devices.join("\n"));
            let lister = kaal_compose::tools_dir().join("kaal-devices");
            let built = kaal_compose::build_with(Some(&lister), &options, &reporter)?;
            let cfg =
                QemuConfig { echo: false, cpu: qemu::cpu_model(&built.kernel.config), ..machine.qemu_config(None) };
            let outcome = qemu::boot(&built.kernel.image, &built.image.path, &shown(&cfg, &reporter))?;
            let lines = outcome.user_output();
            for line in lines {
                println!("{line}");
            }
            if system.is_some() {
                print!("{}", kaal_compose::assemble::declared_drivers_table(&declared, lines));
            }
            Ok(outcome.exit_code())
        }
        Cmd::Debug { what: DebugCmd::Caps { system } } => {
            let dir = kaal_compose::find_system_dir(system.as_deref())?;
            if !kaal_compose::assemble::is_system_dir(&dir) {
                return Err(ToolError::new(
                    "listing the capabilities",
                    format!("{} has no system.toml", dir.display()),
                    "`kaal debug caps` reads a system.toml; a hand-written root task grants capabilities in its own code",
                ));
            }
            // The components are built first: their drivers' declarations decide which
            // device resources each is granted.
            let built = kaal_compose::build(Some(&dir), &reporter)?;
            let Some((plan, file)) = built.plan else { return Ok(0) };
            println!("system '{}' ({}): components in start order\n", file.system.name, file.display);
            print!("{}", plan.caps_table(&file.system));
            Ok(0)
        }
        Cmd::Add { what } => {
            let root = std::env::current_dir()
                .map_err(|e| ToolError::new("finding the project", e.to_string(), "cd into your project"))?;
            let kaal = kaal_compose::assemble::kaal_checkout();
            let (files, next) = match what {
                AddCmd::Component { name } => {
                    let files = kaal_compose::scaffold::add_component(&root, &name, &kaal)?;
                    (files, format!("next: edit components/{name}/src/main.rs, grant it what it needs in system.toml, then `cargo kaal run`"))
                }
                AddCmd::Driver { name } => {
                    let files = kaal_compose::scaffold::add_driver(&root, &name, &kaal)?;
                    (files, format!(
                        "next: change drivers/{name}/src/lib.rs to your device, add `{name} = {{ path = \"../../drivers/{name}\" }}` \
                         to a component's [dependencies], list the device under its `devices` in system.toml, and claim it \
                         with kaal_dev::device_grant::claim"
                    ))
                }
            };
            for f in &files {
                println!("created {}", f.display());
            }
            println!("{next}");
            Ok(0)
        }
        Cmd::New { path, template } => {
            let files = kaal_compose::scaffold::create(&path, template, &kaal_compose::assemble::kaal_checkout())?;
            println!("created {} from the `{}` template ({} files)", path.display(), template.name(), files.len());
            println!("next:\n  cd {}\n  cargo kaal run", path.display());
            Ok(0)
        }
        Cmd::Dde { what: DdeCmd::Build { driver } } => {
            let driver = kaal_compose::dde::driver(&driver)?;
            host::ensure(&reporter)?;
            let project = kaal_compose::project::Project::discover(&kaal_compose::assemble::kaal_checkout())?;
            let started = std::time::Instant::now();
            let built =
                kaal_compose::dde::build(driver, &project.kaal_dir(), &kaal_compose::dde::shadow_dir(), &reporter)?;
            println!(
                "Linux {} (for QEMU's {}): {} objects, {} bytes of code, {} in {:.1}s",
                driver.name,
                driver.device,
                built.objects.len(),
                built.text_bytes,
                if built.compiled { "compiled" } else { "all from the cache" },
                started.elapsed().as_secs_f64()
            );
            println!("no privileged instructions (cli, sti, hlt, in/out, %gs, ...)");
            let (hooks, linux): (Vec<&String>, Vec<&String>) =
                built.calls.iter().partition(|s| s.starts_with("kaal_dde_"));
            println!("{} kernel functions it calls:", linux.len());
            println!("  {}", linux.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "));
            println!("{} calls into the emulation that KaaL's shadow headers made:", hooks.len());
            println!("  {}", hooks.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "));
            println!("{} other kernel symbols it refers to (data, or functions in ops tables):", built.data.len());
            println!("  {}", built.data.iter().cloned().collect::<Vec<_>>().join(" "));
            println!(
                "kaal-dde emulates {} of the {} functions (its C glue has {} bytes of code); {} are stubs that stop \
                 the driver with their name{}",
                built.emulated.len(),
                built.calls.len(),
                built.glue_bytes,
                built.missing.len(),
                if built.missing.is_empty() {
                    String::new()
                } else {
                    format!(":\n  {}", built.missing.iter().cloned().collect::<Vec<_>>().join(" "))
                }
            );
            println!("initcalls: {}", built.initcalls.join(", "));
            println!("the objects, the glue and the stubs: {}", built.archive.display());
            Ok(0)
        }
        Cmd::Tutorial { lesson } => {
            use kaal_compose::tutorial;
            let checkout = kaal_compose::assemble::kaal_checkout();
            let lessons = tutorial::lessons(&checkout.join("tutorial"))?;
            let project = kaal_compose::project::Project::discover(&checkout)?;
            let results = project.kaal_dir().join("tutorial.tsv");
            let Some(which) = lesson else {
                print!("{}", tutorial::listing(&lessons, &tutorial::results(&results)));
                return Ok(0);
            };
            let chosen = tutorial::find(&lessons, &which)?;
            println!("lesson {}: {} ({})", chosen.number, chosen.title, chosen.dir.join("README.md").display());
            // The lesson runs as `cargo kaal run` runs it, input and output included.
            let me = std::env::current_exe().map_err(|e| {
                ToolError::new("running the lesson", e.to_string(), "run `cargo kaal run tutorial/NN-...`")
            })?;
            // The kernel chosen for `tutorial` is the lesson's (`--kernel X` or `--kernel=X`).
            let args: Vec<String> = std::env::args().collect();
            let kernel: Vec<&String> = args
                .iter()
                .enumerate()
                .filter(|(i, a)| {
                    *a == "--kernel" || a.starts_with("--kernel=") || (*i > 0 && args[i - 1] == "--kernel")
                })
                .map(|(_, a)| a)
                .collect();
            let status =
                std::process::Command::new(me).args(kernel).arg("run").arg(&chosen.dir).status().map_err(|e| {
                    ToolError::new("running the lesson", e.to_string(), "run `cargo kaal run tutorial/NN-...`")
                })?;
            let code = status.code().unwrap_or(1);
            let result = if code == 0 { "passed".to_string() } else { format!("failed (exit {code})") };
            tutorial::record(&results, &chosen.number, &result)?;
            println!("lesson {}: {result}", chosen.number);
            match tutorial::next(&lessons, &chosen.number) {
                Some(next) => println!(
                    "next: lesson {}, {} ({}): `cargo kaal tutorial {}`",
                    next.number,
                    next.title,
                    next.dir.join("README.md").display(),
                    next.number
                ),
                None => println!("that was the last lesson"),
            }
            Ok(code)
        }
        Cmd::Doctor => {
            let missing = host::missing();
            for p in host::PREREQUISITES {
                let ok = !missing.contains(p);
                println!("{} {} (package {})", if ok { "ok     " } else { "MISSING" }, p.what, p.package);
            }
            match alias {
                kaal_compose::shim::AliasStatus::Current | kaal_compose::shim::AliasStatus::Installed(_) => {
                    println!(
                        "ok      `cargo kaal` in any directory runs this checkout (alias in cargo's global config)"
                    )
                }
                kaal_compose::shim::AliasStatus::OtherCheckout(other) => {
                    println!("note    `cargo kaal` outside KaaL projects runs the checkout at {}", other.display())
                }
                kaal_compose::shim::AliasStatus::Foreign(path) => println!(
                    "note    {} defines its own `kaal` alias; outside KaaL projects `cargo kaal` runs that",
                    path.display()
                ),
                kaal_compose::shim::AliasStatus::Unavailable(why) => {
                    println!("note    `cargo kaal` works only inside KaaL projects: {why}")
                }
            }
            host::ensure(&reporter)?;
            Ok(0)
        }
    }
}

/// What `kaal build` reports: the components, the image and the kernel.
/// Boots a built bench system once (with its host peer, if it has one): the run and the
/// host peer's lines.
fn bench_boot(
    built: &kaal_compose::BuiltSystem,
    settings: &kaal_compose::bench::BenchSettings,
    ports: Option<kaal_compose::bench::Ports>,
    timeout: Duration,
    column: &str,
    reporter: &kaal_compose::progress::Reporter,
) -> Result<(qemu::BootOutcome, Vec<String>)> {
    let cfg = QemuConfig {
        timeout,
        icount: !settings.wall,
        icount_exact: settings.exact,
        echo: false,
        ..built.qemu_config(None)
    };
    reporter.info(if settings.wall {
        format!("running {} on {column} in wall time (no -icount: throughputs)", built.system.display)
    } else {
        format!("running {} on {column} under -icount shift=0 (the TSC counts instructions)", built.system.display)
    });
    Ok(match ports {
        None => (qemu::boot(&built.kernel.image, &built.image.path, &shown(&cfg, reporter))?, Vec::new()),
        Some(ports) => {
            // The host peer runs while the system runs, then stops it.
            let (tx, rx) = std::sync::mpsc::channel();
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let cfg = QemuConfig { watch: Some(tx), stop: Some(stop.clone()), ..shown(&cfg, reporter) };
            let (kernel, image) = (built.kernel.image.clone(), built.image.path.clone());
            let runner = std::thread::spawn(move || qemu::boot(&kernel, &image, &cfg));
            let deadline = std::time::Instant::now() + Duration::from_secs(180);
            let ready = loop {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                match rx.recv_timeout(left) {
                    Ok(line) if line.contains("BENCH ready") => break true,
                    Ok(_) => {}
                    Err(_) => break false,
                }
            };
            let lines = if ready {
                reporter.info("the guest is ready; the host peer runs the transfers");
                kaal_compose::bench::net_peer(ports)
            } else {
                vec!["BENCH failed name=all why=\"the guest never printed BENCH ready\"".to_string()]
            };
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let outcome = runner
                .join()
                .map_err(|_| ToolError::new("running the benchmark", "the QEMU runner panicked", "retry"))??;
            (outcome, lines)
        }
    })
}

/// `kaal bench compare`: KaaL's benchmarks and lesson 10's boot, then the Linux
/// reference guest in the same QEMU machine, in one table (see
/// kaal_compose::compare).
fn bench_compare(
    project: &kaal_compose::project::Project,
    kernel: Option<kaal_sel4::KernelChoice>,
    timeout: Duration,
    reporter: &kaal_compose::progress::Reporter,
) -> Result<i32> {
    use kaal_compose::linuxref::{self, Mode};
    let kaal = kaal_compose::kaal_project(project)?;
    // KaaL at its best: the release kernel (no debug syscalls or kernel console).
    let choice = kernel.unwrap_or_else(|| kaal_sel4::KernelChoice::parse("5.0.0-release").expect("valid"));
    let column = choice.config().describe();
    let mut kaal_lines = Vec::new();
    let mut code = 0;
    for bench in ["posix", "fs", "net"] {
        let dir = kaal.root.join("benches").join(bench);
        let settings = kaal_compose::bench::BenchSettings::load(&dir)?;
        let ports = settings.host_net.then(kaal_compose::bench::Ports::free);
        let forwards = ports.map_or_else(Vec::new, kaal_compose::bench::Ports::forwards);
        let options = kaal_compose::BuildOptions { kernel: choice, forwards, ..Default::default() };
        let built = kaal_compose::build_with(Some(&dir), &options, reporter)?;
        let (outcome, host_lines) = bench_boot(&built, &settings, ports, timeout, &column, reporter)?;
        if outcome.exit_code() != 0 {
            eprintln!("[kaal] {} on {column}: {}", built.system.display, outcome.summary());
            code = outcome.exit_code();
        }
        kaal_lines.extend(outcome.serial.iter().chain(&host_lines).cloned());
    }
    // Lesson 10 to its shell's prompt, then `exit 0`.
    let dir = kaal.root.join("tutorial/10-full-system");
    let http = kaal_compose::system::Forward {
        protocol: kaal_compose::system::Protocol::Tcp,
        host: kaal_compose::testing::free_port(),
        guest: 80,
    };
    let options = kaal_compose::BuildOptions { kernel: choice, forwards: vec![http], ..Default::default() };
    let built = kaal_compose::build_with(Some(&dir), &options, reporter)?;
    let (tx, rx) = std::sync::mpsc::channel();
    let _ = tx.send(b"exit 0\n".to_vec());
    let cfg = QemuConfig { timeout, echo: false, input: qemu::Input::channel(rx), ..built.qemu_config(None) };
    reporter.info(format!("booting {} on {column} to its shell's prompt (wall time)", built.system.display));
    let outcome = qemu::boot(&built.kernel.image, &built.image.path, &shown(&cfg, reporter))?;
    kaal_lines.push(match outcome.prompt {
        Some(took) => kaal_compose::compare::boot_line(took),
        None => format!("BENCH failed name=boot_to_shell why=\"no shell prompt: {}\"", outcome.summary()),
    });
    // Linux: instruction counts, then wall time with mitigations off and with Debian's
    // default.
    let guest = linuxref::prepare(&kaal.kaal_dir(), reporter)?;
    let counted = linuxref::run(&guest, Mode::Instructions, reporter)?;
    let off = linuxref::run(&guest, Mode::Wall { mitigations: false }, reporter)?;
    let default = linuxref::run(&guest, Mode::Wall { mitigations: true }, reporter)?;
    // Boot to shell is a wall-time row: the instruction run's (under -icount) is left out.
    let linux_lines: Vec<String> =
        counted.lines.iter().filter(|l| !l.contains("name=boot_to_shell ")).chain(&off.lines).cloned().collect();
    let kaal_report = kaal_compose::bench::BenchReport::parse(&kaal_lines);
    let linux_report = kaal_compose::bench::BenchReport::parse(&linux_lines);
    let default_report = kaal_compose::bench::BenchReport::parse(&default.lines);
    println!();
    println!(
        "KaaL ({column}; the posix bench, benches/fs, benches/net with KaaL's e1000 driver, lesson 10) against \
         Linux ({} {}, busybox initramfs), the same QEMU machine. Instructions under -icount shift=0; the rest wall \
         time, Linux with mitigations=off beside Debian's default.",
        linuxref::KERNEL.package,
        linuxref::KERNEL.version
    );
    println!();
    print!("{}", kaal_compose::compare::table(&kaal_report, &linux_report, &default_report));
    Ok(code)
}

fn build_summary(built: &kaal_compose::BuiltSystem) -> String {
    let kib = |bytes: u64| bytes.div_ceil(1024);
    let mut out = format!("built {}\n", built.system.display);
    if !built.components.is_empty() {
        let parts: Vec<String> =
            built.components.iter().map(|(name, size)| format!("{name} ({} KiB)", kib(*size))).collect();
        out += &format!("  components: {}\n", parts.join(", "));
    }
    out += &format!("  image:      {} ({} KiB)\n", built.image.path.display(), kib(built.image.size));
    out += &format!(
        "  kernel:     {} ({}, {})\n",
        built.kernel.image.display(),
        if built.kernel.cache_hit { "cache hit" } else { "cache miss, built now" },
        built.kernel.hash
    );
    out
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(126)
        }
    }
}

/// `cfg`, printing QEMU's command line first in verbose mode (`-v`).
fn shown(cfg: &QemuConfig, reporter: &kaal_compose::progress::Reporter) -> QemuConfig {
    QemuConfig { show_command: reporter.verbosity >= kaal_compose::progress::Verbosity::Verbose, ..cfg.clone() }
}

/// `HOST:GUEST` or `udp:HOST:GUEST` for `--forward`.
fn parse_forward(text: &str) -> Result<kaal_compose::system::Forward, String> {
    kaal_compose::system::Forward::parse(text)
        .map_err(|why| format!("{why} (e.g. --forward 8080:80, or --forward udp:5353:53 for UDP)"))
}

/// `NAME=IMAGE` for `--disk`.
fn parse_disk(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((name, image)) if !name.is_empty() && !image.is_empty() => Ok((name.to_string(), PathBuf::from(image))),
        _ => Err(format!("`{text}` is not NAME=IMAGE (e.g. --disk data=disk.img)")),
    }
}
