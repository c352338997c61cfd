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

use kaal_sel4::{KernelChoice, KernelVersion};

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

    /// Boots on the kernel of `flavour` (seL4 5.0.0) rather than the system's own choice.
    pub fn kernel(mut self, flavour: kaal_sel4::Flavour) -> Self {
        self.options.kernel = KernelChoice { flavour: Some(flavour), ..Default::default() };
        self
    }

    /// Boots on `kernel`, as `--kernel` names it (`5.0.0-release`, `16.0.0`,
    /// `16.0.0-verified`, `16.0.0-mcs`, ...). A 16.0.0 kernel uses [`sel4_16_source`]; with
    /// none, the test is recorded as skipped (with the reason, which `kaal test` reports)
    /// and this returns `None`, so the test returns early.
    pub fn on(mut self, kernel: &str) -> Option<Self> {
        let choice = KernelChoice::parse(kernel).unwrap_or_else(|e| panic!("{e}"));
        let config = choice.config();
        self.options.kernel = choice;
        if config.version == KernelVersion::V16_0_0 {
            match sel4_16_source() {
                Ok(source) => self.options.source = Some(source),
                Err(why) => {
                    record(&config.describe(), Some(&why));
                    eprintln!("skipped on {}: {why}", config.describe());
                    return None;
                }
            }
        }
        Some(self)
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

    /// Attaches `image` as the system's disk `name`, in place of its `[disks.NAME]`.
    pub fn disk(mut self, name: &str, image: impl Into<PathBuf>) -> Self {
        self.options.disks.push((name.to_string(), image.into()));
        self
    }

    /// Forwards TCP port `host` on 127.0.0.1 to the system's guest port `guest` (its
    /// `[network]` must exist), in place of the system's own forward to `guest`: a test
    /// picks a free host port ([`free_port`]) so that tests running at once do not
    /// collide.
    pub fn forward(mut self, host: u16, guest: u16) -> Self {
        self.options.forwards.push(crate::system::Forward { protocol: crate::system::Protocol::Tcp, host, guest });
        self
    }

    /// Joins a UDP socket to the system's network: each datagram sent to 127.0.0.1:`port`
    /// reaches the NIC as one raw Ethernet frame, and every frame on the wire is sent to
    /// 127.0.0.1:`copy` (for tests that inject bad frames and watch the answers).
    pub fn inject_frames(mut self, port: u16, copy: u16) -> Self {
        self.options.inject_frames = Some((port, copy));
        self
    }

    /// Types `bytes` at the system's terminal (COM1) once it is ready (it prints
    /// [`crate::qemu::TERMINAL_READY`]).
    pub fn input(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        let _ = tx.send(bytes.into());
        self.qemu.input = crate::qemu::Input::channel(rx);
        self
    }

    /// Runs with deterministic virtual time.
    pub fn icount(mut self) -> Self {
        self.qemu.icount = true;
        self
    }

    /// Runs with deterministic virtual time in which idle waits take no host time
    /// (`-icount shift=0,sleep=off`): time figures are then exact under any host load,
    /// for systems that do not wait for the host.
    pub fn icount_exact(mut self) -> Self {
        self.qemu.icount = true;
        self.qemu.icount_exact = true;
        self
    }

    /// Builds and boots; panics with the tool's message if building fails.
    pub fn run(self) -> BootOutcome {
        self.try_run().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Builds and boots; the tool's error if building or booting fails.
    pub fn try_run(self) -> crate::Result<BootOutcome> {
        let reporter = Reporter { verbosity: Verbosity::Quiet };
        let started = std::time::Instant::now();
        let built = crate::build_with(Some(&self.dir), &self.options, &reporter)?;
        let build_time = started.elapsed();
        record(&built.kernel.config.describe(), None);
        let mut qemu = self.qemu.clone();
        let machine = built.qemu_config(None);
        qemu.memory_mib = machine.memory_mib;
        qemu.log = machine.log;
        if self.system_args {
            qemu.extra_args = machine.extra_args.into_iter().chain(qemu.extra_args).collect();
        }
        qemu.cpu = crate::qemu::cpu_model(&built.kernel.config);
        built.print_forwards();
        let started = std::time::Instant::now();
        let outcome = crate::qemu::boot(&built.kernel.image, &built.image.path, &qemu);
        record_time(&built.system.display, build_time, started.elapsed());
        outcome
    }
}

/// The guest's serial output as it arrives, for a test that talks to a running system
/// ([`Boot::run_with`]).
pub struct Session {
    lines: std::sync::mpsc::Receiver<String>,
    seen: std::cell::RefCell<Vec<String>>,
    input: std::sync::mpsc::Sender<Vec<u8>>,
}

impl Session {
    /// Types `bytes` at the system's terminal (COM1); they arrive once the terminal is
    /// ready (see [`Boot::input`]).
    pub fn send(&self, bytes: &[u8]) {
        let _ = self.input.send(bytes.to_vec());
    }

    /// Waits until a serial line contains `text` (or one already did), at most
    /// `timeout`: the line, or `None`.
    pub fn wait_for_line(&self, text: &str, timeout: std::time::Duration) -> Option<String> {
        if let Some(line) = self.seen.borrow().iter().find(|l| l.contains(text)) {
            return Some(line.clone());
        }
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            let line = self.lines.recv_timeout(left).ok()?;
            self.seen.borrow_mut().push(line.clone());
            if line.contains(text) {
                return Some(line);
            }
        }
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.borrow_mut().push(line);
        }
        self.seen.borrow().clone()
    }
}

impl Boot {
    /// Builds and boots, and runs `host` while the system runs (on the test's thread):
    /// it sees the serial output through the [`Session`]. When `host` returns, QEMU is
    /// stopped unless the system ended first; `host`'s result comes back with the run.
    pub fn run_with<R>(self, host: impl FnOnce(&Session) -> R) -> (R, BootOutcome) {
        let (tx, rx) = std::sync::mpsc::channel();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut boot = self;
        boot.qemu.watch = Some(tx);
        boot.qemu.stop = Some(stop.clone());
        let (input, typed) = std::sync::mpsc::channel();
        if matches!(boot.qemu.input, crate::qemu::Input::None) {
            boot.qemu.input = crate::qemu::Input::channel(typed);
        }
        // Named after the test, so the report's timings say whose boot this was.
        let name = std::thread::current().name().unwrap_or("?").to_string();
        let runner = std::thread::Builder::new().name(name).spawn(move || boot.run()).expect("spawn the boot thread");
        let session = Session { lines: rx, seen: std::cell::RefCell::new(Vec::new()), input };
        // Whether `host` returns or panics (a failed check), QEMU is stopped and waited
        // for: a panic must not leave the guest running after the test.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| host(&session)));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let outcome = runner.join();
        let result = match result {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (result, outcome)
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on now, for [`Boot::forward`]: the
/// operating system picks it (a bind to port 0), and it is free again once this
/// returns. Another process could take it before QEMU binds it, which is rare.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap_or_else(|e| panic!("cannot bind a TCP port on 127.0.0.1 to find a free one: {e}"));
    listener.local_addr().unwrap_or_else(|e| panic!("cannot read the bound port: {e}")).port()
}

/// Host `curl` of `http://127.0.0.1:{port}{path}`, at most `max_seconds`: what it
/// printed, and whether it succeeded (a guest forwarded with [`Boot::forward`]).
pub fn curl(port: u16, path: &str, max_seconds: u32) -> std::process::Output {
    std::process::Command::new("curl")
        .args(["-sS", "--max-time", &max_seconds.to_string(), &format!("http://127.0.0.1:{port}{path}")])
        .output()
        .expect("curl runs (cargo kaal test installs it)")
}

/// Host `nc` to 127.0.0.1:`port`: sends `text`, and returns what came back until the
/// peer closed or was quiet for 2 s (empty when the connection was refused).
pub fn nc(port: u16, text: &str) -> String {
    use std::io::Write as _;
    let mut nc = std::process::Command::new("nc")
        .args(["-q", "2", "127.0.0.1", &port.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("nc runs (cargo kaal test installs netcat-openbsd)");
    nc.stdin.take().expect("nc's stdin is piped").write_all(text.as_bytes()).expect("nc takes its input");
    String::from_utf8_lossy(&nc.wait_with_output().expect("nc ends").stdout).into_owned()
}

/// `attempt()`, and again once a second up to `retries` more times, until `done` says
/// its result is what was wanted: for a guest server that starts listening a moment
/// after the test can know it. Returns the last result.
pub fn retry<T>(retries: u32, mut attempt: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let mut result = attempt();
    for _ in 0..retries {
        if done(&result) {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
        result = attempt();
    }
    result
}

/// The seL4 16.0.0 source tree the tests use: `KAAL_SEL4_SOURCE` when it holds 16.0.0,
/// else `../shared/kernels/seL4-16.0.0` beside the checkout when it exists (test data on
/// the project's own machines). `Err` says why there is none and how to provide one.
pub fn sel4_16_source() -> Result<PathBuf, String> {
    let version = KernelVersion::V16_0_0;
    match kaal_sel4::KernelSource::from_env(version) {
        Ok(Some(source)) => return Ok(source.root().to_path_buf()),
        Ok(None) => {}
        Err(e) => return Err(e.to_string()),
    }
    let shared = workspace_root().join("../shared/kernels/seL4-16.0.0");
    if let Ok(source) = kaal_sel4::KernelSource::at_version(shared.clone(), version) {
        return Ok(source.root().to_path_buf());
    }
    Err(format!(
        "no seL4 16.0.0 source: {} is not set to a 16.0.0 tree and {} does not exist; clone one with \
         `git clone --branch 16.0.0 https://github.com/seL4/seL4.git` and set {} to it",
        kaal_sel4::source::SOURCE_ENV,
        shared.display(),
        kaal_sel4::source::SOURCE_ENV
    ))
}

/// The kernels `kaal test` builds before the tests run (so they share a warm cache),
/// as `--kernel` names them: both 5.0.0 flavours, and 16.0.0 (debug, release, the
/// verified configuration, MCS).
pub const TEST_KERNELS: &[&str] = &[
    "5.0.0-debug",
    "5.0.0-release",
    "16.0.0-debug",
    "16.0.0-release",
    "16.0.0-verified",
    "16.0.0-verified-qemu",
    "16.0.0-mcs",
    "16.0.0-mcs-release",
];

/// The kernels whose bindings `kaal test` lints the layers against (besides the
/// default, which the workspace-wide clippy covers): each compiles code the others do
/// not.
pub const LINTED_KERNELS: &[KernelChoice] = &[
    KernelChoice {
        version: Some(KernelVersion::V5_0_0),
        flavour: Some(kaal_sel4::Flavour::Release),
        verified: None,
        qemu_changes: None,
        mcs: None,
    },
    KernelChoice {
        version: Some(KernelVersion::V16_0_0),
        flavour: Some(kaal_sel4::Flavour::Debug),
        verified: None,
        qemu_changes: None,
        mcs: None,
    },
    KernelChoice {
        version: Some(KernelVersion::V16_0_0),
        flavour: Some(kaal_sel4::Flavour::Release),
        verified: None,
        qemu_changes: None,
        mcs: Some(true),
    },
];

/// [`TEST_KERNELS`], parsed.
pub fn test_kernels() -> Vec<KernelChoice> {
    TEST_KERNELS.iter().map(|k| KernelChoice::parse(k).expect("a valid kernel name")).collect()
}

/// Where boot tests record which kernel each ran on (set by `kaal test`).
pub const REPORT_ENV: &str = "KAAL_TEST_REPORT";

/// `<binary>::<test>` of the running test.
fn test_name() -> String {
    let binary = std::env::args()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    let binary = binary.as_deref().unwrap_or("?");
    let binary = binary.rsplit_once('-').map_or(binary, |(name, _hash)| name);
    format!("{binary}::{}", std::thread::current().name().unwrap_or("?"))
}

/// Appends `<kernel>\t<test>\t<skip reason>` to the report, if `kaal test` asked for one.
fn record(kernel: &str, skipped: Option<&str>) {
    let line = format!("{kernel}\t{}\t{}\n", test_name(), skipped.unwrap_or("").replace(['\n', '\t'], " "));
    append_to_report(&line);
}

/// Appends `time\t<test>\t<system>\t<build seconds>\t<boot seconds>` to the report: the
/// summary names the slowest boots, so the suite's time can be seen and kept down.
fn record_time(system: &str, build: Duration, boot: Duration) {
    let line =
        format!("{TIME_TAG}\t{}\t{system}\t{:.1}\t{:.1}\n", test_name(), build.as_secs_f64(), boot.as_secs_f64());
    append_to_report(&line);
}

/// The first field of a timing line in the report (no kernel is called that).
const TIME_TAG: &str = "time";

fn append_to_report(line: &str) {
    let Some(path) = std::env::var_os(REPORT_ENV) else { return };
    use std::io::Write as _;
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        // One short write per line: appends from parallel tests do not interleave.
        let _ = file.write_all(line.as_bytes());
    }
}

/// What the boot tests of one `kaal test` run recorded.
#[derive(Debug)]
pub struct TestReport {
    path: PathBuf,
}

impl Drop for TestReport {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl TestReport {
    /// A fresh, empty report under `kaal_dir`, of this process alone (a `kaal test`
    /// that a test runs, in a new project, keeps its own).
    pub fn create(kaal_dir: &Path) -> crate::Result<Self> {
        let path = kaal_dir.join(format!("test-report-{}.tsv", std::process::id()));
        std::fs::create_dir_all(kaal_dir)
            .and_then(|()| std::fs::write(&path, ""))
            .map_err(|e| crate::ToolError::io("starting the test report", &path, e))?;
        Ok(Self { path })
    }

    /// The file tests append to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Per kernel, how many boot tests ran on it and how many were skipped, with the
    /// reasons.
    pub fn summary(&self) -> String {
        use std::collections::{BTreeMap, BTreeSet};
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let mut ran: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let mut skipped: BTreeMap<&str, (BTreeSet<&str>, BTreeSet<&str>)> = BTreeMap::new();
        let mut times: Vec<(f64, f64, &str, &str)> = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix(TIME_TAG).and_then(|r| r.strip_prefix('\t')) {
                let fields: Vec<&str> = rest.split('\t').collect();
                if let [test, system, build, boot] = fields[..] {
                    if let (Ok(build), Ok(boot)) = (build.parse(), boot.parse()) {
                        times.push((boot, build, test, system));
                    }
                }
                continue;
            }
            let mut parts = line.splitn(3, '\t');
            let (Some(kernel), Some(test), why) = (parts.next(), parts.next(), parts.next().unwrap_or("")) else {
                continue;
            };
            if why.is_empty() {
                ran.entry(kernel).or_default().insert(test);
            } else {
                let entry = skipped.entry(kernel).or_default();
                entry.0.insert(test);
                entry.1.insert(why);
            }
        }
        if ran.is_empty() && skipped.is_empty() {
            return String::new();
        }
        let mut out = String::from("[kaal] boot tests by kernel:\n");
        for (kernel, tests) in &ran {
            out += &format!("[kaal]   {kernel}: {} tests used it\n", tests.len());
        }
        for (kernel, (tests, why)) in &skipped {
            out += &format!(
                "[kaal]   {kernel}: {} tests SKIPPED: {}\n",
                tests.len(),
                why.iter().copied().collect::<Vec<_>>().join("; ")
            );
        }
        if !times.is_empty() {
            // Tests run in parallel: these are sums of each boot's own wall time.
            let (boot, build) = times.iter().fold((0.0, 0.0), |(a, b), t| (a + t.0, b + t.1));
            out += &format!(
                "[kaal] {} boots: {boot:.0} s in QEMU and {build:.0} s building (summed over parallel tests); the slowest:\n",
                times.len()
            );
            times.sort_by(|a, b| b.0.total_cmp(&a.0));
            for (boot, build, test, system) in times.iter().take(10) {
                out += &format!("[kaal]   {boot:6.1} s  {test} ({system}; build {build:.1} s)\n");
            }
        }
        out
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
