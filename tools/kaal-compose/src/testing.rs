//! Boot tests: build a system, boot it on the real kernel under QEMU, assert on what it
//! printed and how it exited.
//!
//! ```no_run
//! use kaal_compose::testing::Boot;
//! let run = Boot::new("tutorial/01-hello").run();
//! run.assert_success().assert_line("Hello from seL4!");
//! ```
//!
//! Paths are relative to the workspace root. A tool failure (build error, missing QEMU)
//! panics with the tool's full message, so a test failure always says what to fix.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kaal_abi::exit::ExitStatus;

use crate::progress::{Reporter, Verbosity};
use crate::qemu::{BootOutcome, QemuConfig, Verdict};

/// The workspace root, found from the calling test crate's manifest directory.
pub fn workspace_root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_else(|| ".".into());
    manifest.ancestors().find(|d| is_workspace_root(d)).map(Path::to_path_buf).unwrap_or(manifest)
}

fn is_workspace_root(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|t| t.contains("[workspace]"))
}

/// A boot test in preparation.
#[derive(Debug, Clone)]
pub struct Boot {
    dir: PathBuf,
    qemu: QemuConfig,
    /// Use the system's own `qemu-args` (unless replaced).
    system_args: bool,
    options: crate::BuildOptions,
}

impl Boot {
    /// Boots the system in `dir` (relative to the workspace root).
    pub fn new(dir: impl AsRef<Path>) -> Self {
        let dir = workspace_root().join(dir);
        Self {
            dir,
            qemu: QemuConfig { echo: false, timeout: Duration::from_secs(90), ..Default::default() },
            system_args: true,
            options: crate::BuildOptions::default(),
        }
    }

    /// Boots on the kernel of `flavour` rather than the system's own choice.
    pub fn kernel(mut self, flavour: kaal_sel4::Flavour) -> Self {
        self.options.flavour = Some(flavour);
        self
    }

    /// Changes the wall-clock limit.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.qemu.timeout = timeout;
        self
    }

    /// Adds QEMU arguments.
    pub fn qemu_args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.qemu.extra_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Replaces the system's own `qemu-args` (e.g. to connect a device to the test).
    pub fn replace_qemu_args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.system_args = false;
        self.qemu.extra_args = args.into_iter().map(Into::into).collect();
        self
    }

    /// Runs with deterministic virtual time.
    pub fn icount(mut self) -> Self {
        self.qemu.icount = true;
        self
    }

    /// Builds and boots; panics with the tool's message if building fails.
    pub fn run(self) -> BootOutcome {
        let reporter = Reporter { verbosity: Verbosity::Quiet };
        let built = crate::build_with(Some(&self.dir), &self.options, &reporter).unwrap_or_else(|e| panic!("{e}"));
        let mut qemu = self.qemu.clone();
        let machine = built.qemu_config(None);
        qemu.memory_mib = machine.memory_mib;
        qemu.log = machine.log;
        if self.system_args {
            qemu.extra_args = machine.extra_args.into_iter().chain(qemu.extra_args).collect();
        }
        crate::qemu::boot(&built.kernel.image, &built.image.path, &qemu).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl BootOutcome {
    fn fail(&self, what: &str) -> ! {
        panic!(
            "{what}\nverdict: {}\n--- serial output after the kernel's boot log ---\n{}\n---",
            self.summary(),
            self.user_output().join("\n")
        )
    }

    /// Asserts that the system exited successfully.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        if self.verdict != Verdict::Exited(ExitStatus::Success) {
            self.fail("expected the system to exit successfully");
        }
        self
    }

    /// Asserts the exact verdict.
    #[track_caller]
    pub fn assert_verdict(&self, verdict: Verdict) -> &Self {
        if self.verdict != verdict {
            self.fail(&format!("expected verdict {verdict:?}"));
        }
        self
    }

    /// Asserts that some line contains `text`.
    #[track_caller]
    pub fn assert_line(&self, text: &str) -> &Self {
        if !self.has_line(text) {
            self.fail(&format!("expected a line containing {text:?}"));
        }
        self
    }

    /// Asserts that no line contains `text`.
    #[track_caller]
    pub fn assert_no_line(&self, text: &str) -> &Self {
        if self.has_line(text) {
            self.fail(&format!("expected no line containing {text:?}"));
        }
        self
    }

    /// Asserts that lines containing each of `texts` appear in this order.
    #[track_caller]
    pub fn assert_lines_in_order(&self, texts: &[&str]) -> &Self {
        let mut from = 0;
        for text in texts {
            match self.serial[from..].iter().position(|l| l.contains(text)) {
                Some(i) => from += i + 1,
                None => self.fail(&format!("expected a line containing {text:?} after line {from}")),
            }
        }
        self
    }

    /// The first line containing `prefix`, with the prefix removed and trimmed.
    pub fn value_after(&self, prefix: &str) -> Option<&str> {
        self.serial.iter().find_map(|l| l.split_once(prefix).map(|(_, rest)| rest.trim()))
    }
}
