//! Host prerequisites: the programs building and booting a KaaL system needs.
//!
//! On Debian or Ubuntu, as root, missing ones are installed with apt. Anywhere else the
//! error gives the exact command to run.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{Result, ToolError};
use crate::progress::Reporter;

/// One host tool and the Debian package that provides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prerequisite {
    /// What is checked, for messages.
    pub what: &'static str,
    /// The Debian/Ubuntu package.
    pub package: &'static str,
    check: Check,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// A program on PATH.
    Program(&'static str),
    /// Python's venv + ensurepip modules.
    PythonVenv,
    /// A file (a static library).
    File(&'static str),
}

/// Everything `kaal build`, `kaal run` and `kaal test` need.
pub const PREREQUISITES: &[Prerequisite] = &[
    Prerequisite { what: "gcc (kernel build, header probe)", package: "gcc", check: Check::Program("gcc") },
    Prerequisite { what: "make (kernel build)", package: "make", check: Check::Program("make") },
    Prerequisite { what: "objcopy (kernel image)", package: "binutils", check: Check::Program("objcopy") },
    Prerequisite { what: "xmllint (kernel build)", package: "libxml2-utils", check: Check::Program("xmllint") },
    Prerequisite { what: "python3 (kernel generators)", package: "python3", check: Check::Program("python3") },
    Prerequisite { what: "python3 venv (kernel generators)", package: "python3-venv", check: Check::PythonVenv },
    Prerequisite {
        what: "qemu-system-x86_64 (booting)",
        package: "qemu-system-x86",
        check: Check::Program("qemu-system-x86_64"),
    },
    Prerequisite { what: "mke2fs and e2fsck (disk images)", package: "e2fsprogs", check: Check::Program("mke2fs") },
    Prerequisite { what: "curl (network tests and benchmarks)", package: "curl", check: Check::Program("curl") },
    Prerequisite { what: "nc (network tests)", package: "netcat-openbsd", check: Check::Program("nc") },
    Prerequisite {
        what: "apt-get download (Debian packages for disk images)",
        package: "apt",
        check: Check::Program("apt-get"),
    },
    Prerequisite {
        what: "dpkg-deb (Debian packages for disk images)",
        package: "dpkg",
        check: Check::Program("dpkg-deb"),
    },
    Prerequisite { what: "flex (Linux drivers' configuration)", package: "flex", check: Check::Program("flex") },
    Prerequisite { what: "bison (Linux drivers' configuration)", package: "bison", check: Check::Program("bison") },
    Prerequisite { what: "bc (Linux drivers' generated headers)", package: "bc", check: Check::Program("bc") },
    Prerequisite { what: "xz (Linux's source tarball)", package: "xz-utils", check: Check::Program("xz") },
    Prerequisite { what: "musl-gcc (C programs for Linux)", package: "musl-tools", check: Check::Program("musl-gcc") },
    Prerequisite {
        what: "static glibc (Rust std programs for Linux, +crt-static)",
        package: "libc6-dev",
        check: Check::File("/usr/lib/x86_64-linux-gnu/libc.a"),
    },
];

/// Is `program` on PATH?
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

fn satisfied(p: &Prerequisite) -> bool {
    match p.check {
        Check::Program(program) => on_path(program),
        Check::File(path) => Path::new(path).is_file(),
        Check::PythonVenv => Command::new("python3")
            .args(["-c", "import venv, ensurepip"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false),
    }
}

/// The prerequisites that are missing.
pub fn missing() -> Vec<Prerequisite> {
    PREREQUISITES.iter().filter(|p| !satisfied(p)).copied().collect()
}

fn is_root() -> bool {
    // /proc/self/status: "Uid:\t<real>\t<effective>\t..."
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}

fn install_command(packages: &[&str]) -> String {
    format!("sudo apt-get update && sudo apt-get install -y {}", packages.join(" "))
}

/// Makes sure every prerequisite is there, installing missing ones with apt when that
/// is possible.
pub fn ensure(reporter: &Reporter) -> Result<()> {
    // One apt at a time: boot tests on parallel threads all call this, and a second
    // apt-get would fail on dpkg's lock.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let absent = missing();
    if absent.is_empty() {
        return Ok(());
    }
    let mut packages: Vec<&str> = absent.iter().map(|p| p.package).collect();
    packages.dedup();
    let list = absent.iter().map(|p| p.what).collect::<Vec<_>>().join(", ");
    let apt = on_path("apt-get") && Path::new("/etc/debian_version").exists();
    if !(apt && is_root()) {
        let help = if apt {
            format!("install them with:\n{}", install_command(&packages))
        } else {
            format!("install the equivalents of the Debian packages: {}", packages.join(" "))
        };
        return Err(ToolError::new("checking host tools", format!("missing: {list}"), help));
    }
    let step = reporter.step(format!("installing host tools with apt ({})", packages.join(" ")));
    let run = |args: &[&str]| -> Result<()> {
        let out = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                ToolError::new("installing host tools", format!("cannot run apt-get: {e}"), install_command(&packages))
            })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect();
            return Err(ToolError::new(
                "installing host tools",
                format!("`apt-get {}` failed:\n{}", args.join(" "), tail.join("\n")),
                format!("fix the apt error above, or install by hand:\n{}", install_command(&packages)),
            ));
        }
        Ok(())
    };
    run(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq"];
    install.extend(&packages);
    run(&install)?;
    let still = missing();
    if !still.is_empty() {
        step.fail();
        let list = still.iter().map(|p| p.what).collect::<Vec<_>>().join(", ");
        return Err(ToolError::new(
            "installing host tools",
            format!("still missing after apt-get install: {list}"),
            install_command(&still.iter().map(|p| p.package).collect::<Vec<_>>()),
        ));
    }
    step.done(format!("installed {}", packages.join(" ")));
    Ok(())
}
