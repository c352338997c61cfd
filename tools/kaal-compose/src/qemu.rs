//! Booting a kernel and image under QEMU and reading the verdict.
//!
//! QEMU runs the verified command line (TCG, `Nehalem` CPU model with 1 GiB pages and
//! without the features the kernel config leaves off). Serial output is streamed line by
//! line to the terminal and recorded. The run ends when
//!
//! * the system writes its exit status to `isa-debug-exit` ([`kaal_abi::exit`]);
//! * the kernel reports a fault nobody handled ("Caught ... while trying to handle",
//!   or on MCS "Found thread has no fault handler while trying to handle"):
//!   the system cannot go on, so QEMU is stopped and the fault is reported;
//! * the timeout fires; or
//! * QEMU exits for another reason (its own error, or a reboot).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kaal_abi::exit::ExitStatus;

use crate::error::{Result, ToolError};
use crate::system::{Forward, Network};

/// QEMU's CPU model: the kernel config needs 1 GiB pages (`+pdpe1gb`) and leaves PCID,
/// FSGSBASE instructions, XSAVE and VME off. `qemu64` hangs before printing anything.
pub const CPU: &str = "Nehalem,-vme,+pdpe1gb,-xsave,-xsaveopt,-xsavec,-fsgsbase,-invpcid,enforce";
/// The CPU model for seL4 16.0.0's `X64_verified` settings, which set the FS and GS
/// bases with the instructions (`KernelFSGSBase inst`) and save the FPU with XSAVE (the
/// default they keep): both must be on, or the kernel stops at boot.
pub const CPU_VERIFIED: &str = "Nehalem,-vme,+pdpe1gb,+xsave,+xsaveopt,-xsavec,+fsgsbase,-invpcid,enforce";
/// [`CPU_VERIFIED`] with PCIDs, which the exact `X64_verified` configuration also
/// needs (`KernelSupportPCID`, invalidated with INVPCID). QEMU's TCG does not emulate
/// them, so [`boot`] refuses this model with an explanation rather than letting QEMU
/// fail.
pub const CPU_VERIFIED_PCID: &str = "Nehalem,-vme,+pdpe1gb,+xsave,+xsaveopt,-xsavec,+fsgsbase,+pcid,+invpcid,enforce";

/// The CPU model the kernel built from `config` needs.
pub fn cpu_model(config: &kaal_sel4::KernelConfig) -> String {
    match (config.verified, config.qemu_changes) {
        (true, false) => CPU_VERIFIED_PCID,
        (true, true) => CPU_VERIFIED,
        _ => CPU,
    }
    .to_string()
}

/// Tool exit code when the run timed out (as `timeout(1)`).
pub const EXIT_TIMEOUT: i32 = 124;
/// Tool exit code when QEMU ended without a KaaL verdict.
pub const EXIT_NO_VERDICT: i32 = 125;

/// How to run QEMU.
#[derive(Debug, Clone)]
pub struct QemuConfig {
    /// Guest RAM in MiB.
    pub memory_mib: u32,
    /// Wall-clock limit for the whole run.
    pub timeout: Duration,
    /// Wait for a debugger on port 1234 (`-s -S`).
    pub gdb: bool,
    /// Deterministic virtual time: one instruction = one virtual ns (`-icount shift=0`),
    /// so `rdtsc` counts instructions and cycle figures repeat.
    pub icount: bool,
    /// With `icount`: while the guest idles, jump virtual time to the next timer
    /// (`sleep=off`) rather than let it follow the host's clock. Waits then last exactly
    /// as long as asked whatever the host's load, but a guest waiting for the host (a
    /// socket, a key) sees its timeouts pass at once.
    pub icount_exact: bool,
    /// Extra QEMU arguments (devices, sockets).
    pub extra_args: Vec<String>,
    /// Echo serial output to stdout as it arrives.
    pub echo: bool,
    /// Stop at the first fault the kernel reports as unhandled.
    pub stop_on_unhandled_fault: bool,
    /// Decodes the defmt lines of the system's images (see [`crate::log`]).
    pub log: Option<std::sync::Arc<crate::log::LogDecoder>>,
    /// QEMU's `-cpu` model (see [`cpu_model`]).
    pub cpu: String,
    /// Print the QEMU command line before running it (`-v`).
    pub show_command: bool,
    /// Each serial line (decoded, plain) is also sent here as it arrives, for a host
    /// program that talks to the guest while it runs (boot tests, benchmarks).
    pub watch: Option<std::sync::mpsc::Sender<String>>,
    /// Set to stop QEMU: the run ends with [`Verdict::Stopped`].
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// What the guest's serial port receives (COM1's input).
    pub input: Input,
}

/// Where the guest's serial input comes from.
#[derive(Debug, Default, Clone)]
pub enum Input {
    /// Nothing.
    #[default]
    None,
    /// `kaal run`'s standard input. A terminal is handed to QEMU, which puts it in raw
    /// mode and restores it at exit; a pipe or a file is copied in, and when it ends the
    /// guest gets Ctrl-D (end of input for a terminal in canonical mode, "exit" for a
    /// shell's line editor), so that the guest's shell ends with its input.
    Forward,
    /// Bytes a host program sends while the guest runs (boot tests); see
    /// [`Input::channel`]. One run takes the receiver.
    Channel(std::sync::Arc<std::sync::Mutex<Option<std::sync::mpsc::Receiver<Vec<u8>>>>>),
    /// Lines typed at the guest's shell one at a time, each once the shell prompts (see
    /// [`is_prompt`]), or [`SCRIPT_PATIENCE`] after the last line if no prompt came:
    /// what `[linux] demo` and `kaal profile --command` type, so that the session reads
    /// as if a user typed it.
    Script(Vec<String>),
}

/// How long a [`Input::Script`] waits for a prompt before typing its next line anyway.
pub const SCRIPT_PATIENCE: Duration = Duration::from_secs(5);

impl Input {
    /// Input from `rx`: what is sent there reaches the guest's serial port.
    pub fn channel(rx: std::sync::mpsc::Receiver<Vec<u8>>) -> Input {
        Input::Channel(std::sync::Arc::new(std::sync::Mutex::new(Some(rx))))
    }
}

/// Whether this process has no input at all: standard input is /dev/null, or closed.
/// (A terminal, a pipe or a file is input, even an empty one.)
pub fn stdin_is_empty() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(stdin) = std::fs::metadata("/proc/self/fd/0") else { return true };
    let Ok(null) = std::fs::metadata("/dev/null") else { return false };
    stdin.rdev() == null.rdev() && stdin.dev() == null.dev() && stdin.ino() == null.ino()
}

/// Whether `partial`, a line the guest has written but not ended, is a shell's prompt:
/// it ends in `# `, `$ ` or `> ` (busybox ash's and POSIX shells' defaults, and what
/// `PS1` usually ends with), and the Linux personality's terminal is up
/// ([`TERMINAL_READY`] was seen).
pub fn is_prompt(partial: &str, terminal_ready: bool) -> bool {
    let plain = strip_ansi(partial);
    terminal_ready && ["# ", "$ ", "> "].iter().any(|end| plain.ends_with(end))
}

/// Ctrl-D: what the guest receives when `kaal run`'s piped input ends.
pub const END_OF_INPUT: u8 = 4;

/// The line the guest prints once its terminal reads the serial port (the Linux
/// personality's). Piped input waits for it: the kernel and firmware drop what arrives
/// at the serial port during boot.
pub const TERMINAL_READY: &str = "[linux] terminal ready";

impl Default for QemuConfig {
    fn default() -> Self {
        Self {
            memory_mib: 512,
            timeout: Duration::from_secs(60),
            gdb: false,
            icount: false,
            icount_exact: false,
            extra_args: Vec::new(),
            echo: true,
            stop_on_unhandled_fault: true,
            log: None,
            cpu: CPU.to_string(),
            show_command: false,
            watch: None,
            stop: None,
            input: Input::None,
        }
    }
}

/// Builds the QEMU command line.
pub fn command(kernel: &Path, image: &Path, cfg: &QemuConfig) -> Command {
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(["-machine", "pc", "-accel", "tcg", "-cpu", &cfg.cpu])
        .args(["-m", &format!("{}M", cfg.memory_mib)])
        .args(["-nographic", "-serial", "mon:stdio", "-no-reboot"])
        .args(["-device", &format!("isa-debug-exit,iobase={:#x},iosize=0x04", kaal_abi::exit::DEBUG_EXIT_PORT)])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(image);
    if cfg.icount {
        cmd.args(["-icount", if cfg.icount_exact { "shift=0,sleep=off" } else { "shift=0" }]);
    }
    if cfg.gdb {
        cmd.args(["-s", "-S"]);
    }
    cmd.args(&cfg.extra_args);
    cmd
}

/// QEMU's arguments for a system's `[network]`: a user-mode network (`-netdev user`)
/// with `forwards` as `hostfwd` rules, which bind 127.0.0.1 only, and the card at PCI
/// slot [`Network::NIC_SLOT`].
pub fn network_args(network: &Network, forwards: &[Forward]) -> Vec<String> {
    network_args_injecting(network, forwards, None)
}

/// [`network_args`], and with `inject` = `(listen, copy)` a second way onto the guest's
/// wire: a hub joins the card, the user-mode network and a UDP socket netdev listening
/// on 127.0.0.1:`listen`, so that each datagram sent there arrives at the card as one
/// Ethernet frame, whatever it holds; every frame on the wire (the guest's too) is
/// also sent to 127.0.0.1:`copy`.
pub fn network_args_injecting(network: &Network, forwards: &[Forward], inject: Option<(u16, u16)>) -> Vec<String> {
    let mut netdev = "user,id=kaalnet0".to_string();
    for forward in forwards {
        netdev += &format!(",hostfwd={}:127.0.0.1:{}-:{}", forward.protocol.as_str(), forward.host, forward.guest);
    }
    // `romfile=`: no option ROM. KaaL boots by multiboot, and the card's iPXE ROM only
    // made the firmware wait (about 0.3 s of every boot under TCG).
    let card =
        |netdev: &str| format!("{},netdev={netdev},addr={:02x},romfile=", network.nic.qemu_device(), Network::NIC_SLOT);
    let Some((port, copy)) = inject else {
        return vec!["-netdev".into(), netdev, "-device".into(), card("kaalnet0")];
    };
    [
        ("-netdev", netdev),
        ("-netdev", "hubport,id=kaalhub1,hubid=0,netdev=kaalnet0".into()),
        ("-netdev", format!("socket,id=kaalinject,udp=127.0.0.1:{copy},localaddr=127.0.0.1:{port}")),
        ("-netdev", "hubport,id=kaalhub2,hubid=0,netdev=kaalinject".into()),
        ("-netdev", "hubport,id=kaalhub0,hubid=0".into()),
        ("-device", card("kaalhub0")),
    ]
    .into_iter()
    .flat_map(|(flag, value)| [flag.to_string(), value])
    .collect()
}

/// The forwards a run uses: the system's, with those of the command line (`kaal run
/// --forward`) in place of any for the same guest port and protocol (so a forward can
/// move to another host port), and added otherwise. Two on one host port (and
/// protocol) is an error, said as a sentence.
pub fn merge_forwards(system: &[Forward], extra: &[Forward]) -> std::result::Result<Vec<Forward>, String> {
    let replaced = |f: &Forward| extra.iter().any(|e| e.guest == f.guest && e.protocol == f.protocol);
    let merged: Vec<Forward> = system.iter().filter(|f| !replaced(f)).chain(extra).copied().collect();
    for (i, forward) in merged.iter().enumerate() {
        if let Some(other) =
            merged[..i].iter().find(|other| other.host == forward.host && other.protocol == forward.protocol)
        {
            return Err(format!(
                "host port {} ({}) would be forwarded twice: to guest port {} and to guest port {}",
                forward.host,
                forward.protocol.as_str(),
                other.guest,
                forward.guest
            ));
        }
    }
    Ok(merged)
}

/// The line `kaal run` prints for a forward before booting:
/// `[kaal] forward http://127.0.0.1:8080 -> guest:80`.
pub fn forward_line(forward: &Forward) -> String {
    format!("[kaal] forward {} -> guest:{}", forward.url(), forward.guest)
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The system reported its exit status.
    Exited(ExitStatus),
    /// The kernel reported a fault that no one handled.
    UnhandledFault { report: String },
    /// The timeout fired.
    Timeout { after: Duration },
    /// QEMU exited without a KaaL verdict.
    NoVerdict { status: Option<i32>, stderr: String },
    /// The host stopped it ([`QemuConfig::stop`]) while it still ran.
    Stopped,
}

/// The result of a boot.
#[derive(Debug, Clone)]
pub struct BootOutcome {
    pub verdict: Verdict,
    /// Serial output, one entry per line, without `\r`.
    pub serial: Vec<String>,
    /// Wall-clock time QEMU ran.
    pub wall: Duration,
    /// Wall-clock time from QEMU's start to the first shell prompt, if a shell prompted
    /// (see [`is_prompt`]).
    pub prompt: Option<Duration>,
}

impl BootOutcome {
    /// The exit code `kaal run` ends with.
    pub fn exit_code(&self) -> i32 {
        match &self.verdict {
            Verdict::Exited(ExitStatus::Success) => 0,
            Verdict::Exited(ExitStatus::Failure(code)) => *code as i32,
            Verdict::UnhandledFault { .. } => 3,
            Verdict::Timeout { .. } => EXIT_TIMEOUT,
            Verdict::NoVerdict { .. } => EXIT_NO_VERDICT,
            Verdict::Stopped => 0,
        }
    }

    /// One line saying how the run ended.
    pub fn summary(&self) -> String {
        match &self.verdict {
            Verdict::Exited(ExitStatus::Success) => "the system exited successfully".into(),
            Verdict::Exited(status @ ExitStatus::Failure(code)) => {
                format!("the system failed with code {code} ({})", status.describe())
            }
            Verdict::UnhandledFault { report } => {
                format!("the kernel caught an unhandled fault: {report}")
            }
            Verdict::Timeout { after } => {
                format!("no exit status after {}s; the system hung or runs longer (try --timeout)", after.as_secs())
            }
            Verdict::NoVerdict { status, stderr } => format!(
                "QEMU exited with {} without a KaaL exit status{}",
                status.map(|s| s.to_string()).unwrap_or_else(|| "a signal".into()),
                if stderr.trim().is_empty() { String::new() } else { format!(": {}", stderr.trim()) }
            ),
            Verdict::Stopped => "stopped by the host while it ran".into(),
        }
    }

    /// Does any serial line contain `text`?
    pub fn has_line(&self, text: &str) -> bool {
        self.serial.iter().any(|l| l.contains(text))
    }

    /// The serial output from the kernel's hand-over to user space on (the kernel's
    /// own boot log is long).
    pub fn user_output(&self) -> &[String] {
        let start = self.serial.iter().position(|l| l.contains("Booting all finished")).map(|i| i + 1).unwrap_or(0);
        &self.serial[start..]
    }
}

/// Removes ANSI colour sequences (the kernel colours its diagnostics).
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses the kernel's report of a fault nobody handled out of `lines`: the double
/// fault (`handleDoubleFault`, "Caught ... while trying to handle"), or on MCS the
/// missing handler (`handleNoFaultHandler`, "Found thread has no fault handler while
/// trying to handle:").
pub fn unhandled_fault(lines: &[String]) -> Option<String> {
    let start =
        lines.iter().rposition(|l| l.starts_with("Caught ") || l.starts_with("Found thread has no fault handler"))?;
    let rest = &lines[start..];
    if !rest.iter().any(|l| l.contains("while trying to handle")) {
        return None;
    }
    let original = rest.iter().skip_while(|l| !l.contains("while trying to handle")).nth(1)?;
    let thread = rest.iter().find(|l| l.starts_with("in thread ")).map(|l| l.trim().to_string()).unwrap_or_default();
    Some(format!("{} ({})", original.trim(), thread))
}

enum Event {
    Line(String),
    /// The line so far (it has no newline yet).
    Partial(String),
    Eof,
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Starts QEMU's `cmd`; a missing QEMU is an error that says how to install it.
pub(crate) fn spawn(cmd: &mut Command, step: &str) -> Result<std::process::Child> {
    cmd.spawn().map_err(|e| {
        ToolError::new(
            step,
            format!("cannot start qemu-system-x86_64: {e}"),
            "install it: apt-get install qemu-system-x86",
        )
    })
}

/// Boots `image` on `kernel` and waits for the verdict.
pub fn boot(kernel: &Path, image: &Path, cfg: &QemuConfig) -> Result<BootOutcome> {
    let step = "booting under QEMU";
    if cfg.cpu.contains("+pcid") {
        return Err(ToolError::new(
            step,
            "this kernel is seL4 16.0.0's exact X64_verified configuration, which uses PCIDs \
             (KernelSupportPCID), and QEMU's TCG accelerator does not emulate them (QEMU says: \"TCG doesn't \
             support requested feature: CPUID.01H:ECX.pcid\"; without the feature the kernel stops with \
             \"PCIDs not supported by the processor\")",
            "boot it on hardware with PCID and INVPCID; under QEMU use `--kernel 16.0.0-verified-qemu` (its \
             settings with PCIDs off and 230 BootInfo untypeds, which is not the configuration the proofs cover)",
        ));
    }
    let mut cmd = command(kernel, image, cfg);
    if cfg.show_command {
        eprintln!("[kaal] running: {}", crate::progress::shell_line(&cmd));
    }
    use std::io::IsTerminal;
    let input = cfg.input.clone();
    let forward_terminal = matches!(input, Input::Forward) && std::io::stdin().is_terminal();
    cmd.stdin(match input {
        Input::None => Stdio::null(),
        Input::Forward if forward_terminal => Stdio::inherit(),
        Input::Forward | Input::Channel(_) | Input::Script(_) => Stdio::piped(),
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = spawn(&mut cmd, step)?;
    if cfg.gdb {
        eprintln!(
            "[kaal] QEMU waits for a debugger on localhost:1234. Attach with:\n\
             [kaal]   gdb {} -ex 'target remote localhost:1234'",
            image.display()
        );
    }
    let ready = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    // How many prompts the guest's shell has shown.
    let prompts = std::sync::Arc::new((std::sync::Mutex::new(0u64), std::sync::Condvar::new()));
    if let Some(mut to_guest) = child.stdin.take() {
        let ready = ready.clone();
        let prompts = prompts.clone();
        // The writer ends with QEMU (a write fails) or with its input.
        std::thread::spawn(move || {
            use std::io::Write;
            let (seen, changed) = &*ready;
            let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
            while !*seen {
                seen = changed.wait(seen).unwrap_or_else(|e| e.into_inner());
            }
            drop(seen);
            match input {
                Input::Channel(rx) => {
                    let Some(rx) = rx.lock().ok().and_then(|mut rx| rx.take()) else { return };
                    for bytes in rx {
                        if to_guest.write_all(&bytes).and_then(|_| to_guest.flush()).is_err() {
                            return;
                        }
                    }
                }
                Input::Script(lines) => {
                    let (count, changed) = &*prompts;
                    for (typed, line) in lines.iter().enumerate() {
                        let count = count.lock().unwrap_or_else(|e| e.into_inner());
                        let _ = changed
                            .wait_timeout_while(count, SCRIPT_PATIENCE, |n| *n <= typed as u64)
                            .unwrap_or_else(|e| e.into_inner());
                        if to_guest.write_all(format!("{line}\n").as_bytes()).and_then(|_| to_guest.flush()).is_err() {
                            return;
                        }
                    }
                }
                _ => {
                    let _ = std::io::copy(&mut std::io::stdin().lock(), &mut to_guest);
                    let _ = to_guest.write_all(&[END_OF_INPUT]).and_then(|_| to_guest.flush());
                }
            }
            // Keep QEMU's input open (closing it ends nothing and loses nothing).
            std::thread::park();
        });
    }
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        loop {
            let chunk = match reader.fill_buf() {
                Ok([]) | Err(_) => break,
                Ok(chunk) => chunk.to_vec(),
            };
            reader.consume(chunk.len());
            for piece in chunk.split_inclusive(|&b| b == b'\n') {
                line.extend_from_slice(piece);
                if line.ends_with(b"\n") {
                    let text = String::from_utf8_lossy(&line).replace('\r', "");
                    line.clear();
                    if tx.send(Event::Line(text.trim_end_matches('\n').to_string())).is_err() {
                        return;
                    }
                }
            }
            // A line still being written (a shell's prompt): shown at once.
            if !line.is_empty() && tx.send(Event::Partial(String::from_utf8_lossy(&line).replace('\r', ""))).is_err() {
                return;
            }
        }
        let _ = tx.send(Event::Eof);
    });
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    let timeout = if cfg.gdb { Duration::from_secs(24 * 3600) } else { cfg.timeout };
    let mut serial = Vec::new();
    // How much of the line being written has been echoed already.
    let mut shown = 0;
    let mut fault_seen: Option<Instant> = None;
    let mut timed_out = false;
    let mut stopped = false;
    let mut terminal_ready = false;
    let mut prompt = None;
    let mut prompted_this_line = false;
    loop {
        let now = Instant::now();
        if cfg.stop.as_ref().is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed)) {
            stopped = true;
            kill(&mut child);
            break;
        }
        let mut deadline = started + timeout;
        if let Some(t) = fault_seen {
            // Let the kernel finish its report (thread, address, stack) before stopping.
            deadline = deadline.min(t + Duration::from_millis(300));
        }
        let Some(wait) = deadline.checked_duration_since(now) else {
            if fault_seen.is_none() {
                timed_out = true;
            }
            kill(&mut child);
            break;
        };
        // With a stop flag, look at it at least every 50 ms.
        let wait = if cfg.stop.is_some() { wait.min(Duration::from_millis(50)) } else { wait };
        match rx.recv_timeout(wait) {
            Ok(Event::Partial(part)) => {
                // One prompt per line, however many pieces it arrives in.
                if !prompted_this_line && is_prompt(&part, terminal_ready) {
                    prompted_this_line = true;
                    prompt.get_or_insert(started.elapsed());
                    let (count, changed) = &*prompts;
                    *count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                    changed.notify_all();
                }
                // defmt frames are shown once decoded, whole.
                if cfg.echo && !part.contains(crate::log::MARKER) && part.len() > shown {
                    use std::io::Write;
                    print!("{}", &part[shown..]);
                    let _ = std::io::stdout().flush();
                    shown = part.len();
                }
            }
            Ok(Event::Line(line)) => {
                let line = match cfg.log.as_ref().and_then(|log| log.decode_line(&line)) {
                    Some(decoded) => decoded,
                    None => line,
                };
                if cfg.echo {
                    println!("{}", line.get(shown..).unwrap_or(&line));
                }
                shown = 0;
                prompted_this_line = false;
                let plain = strip_ansi(&line);
                if cfg.stop_on_unhandled_fault && fault_seen.is_none() && plain.contains("while trying to handle") {
                    fault_seen = Some(Instant::now());
                }
                if let Some(watch) = &cfg.watch {
                    let _ = watch.send(plain.clone());
                }
                if plain.contains(TERMINAL_READY) {
                    terminal_ready = true;
                    let (seen, changed) = &*ready;
                    *seen.lock().unwrap_or_else(|e| e.into_inner()) = true;
                    changed.notify_all();
                }
                serial.push(plain);
            }
            Ok(Event::Eof) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    let status = child.wait().map_err(|e| ToolError::new(step, format!("waiting for QEMU: {e}"), "retry"))?;
    let _ = reader.join();
    let stderr = stderr_reader.join().unwrap_or_default();
    let wall = started.elapsed();

    let verdict = if let Some(report) = fault_seen.and_then(|_| unhandled_fault(&serial)) {
        Verdict::UnhandledFault { report }
    } else if timed_out {
        Verdict::Timeout { after: timeout }
    } else if stopped {
        Verdict::Stopped
    } else {
        match status.code().and_then(ExitStatus::from_qemu_status) {
            Some(exit) => Verdict::Exited(exit),
            None => Verdict::NoVerdict { status: status.code(), stderr },
        }
    };
    Ok(BootOutcome { verdict, serial, wall, prompt })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn finds_the_kernels_double_fault_report() {
        let serial = lines(
            "Hello\nCaught cap fault in send phase at address 0x0\nwhile trying to handle:\n\
             vm fault on data at address 0x0 with status 0x4\nin thread 0xffffff801ffb5200 \"hello\" at address 0x4006bc\n\
             With stack:\n0x44bfd0: 0x0",
        );
        let report = unhandled_fault(&serial).unwrap();
        assert_eq!(
            report,
            "vm fault on data at address 0x0 with status 0x4 (in thread 0xffffff801ffb5200 \"hello\" at address 0x4006bc)"
        );
        assert_eq!(unhandled_fault(&lines("Caught nothing\nok")), None);
        // seL4 16.0.0 with MCS reports a thread without a fault handler in one line.
        let serial = lines(
            "Found thread has no fault handler while trying to handle:\nvm fault on data at address 0x40dfa8 with \
             status 0x6\nin thread 0xffffff801ffc8400 \"fault-on-purpose\" at address 0x400117\nWith stack:",
        );
        assert_eq!(
            unhandled_fault(&serial).unwrap(),
            "vm fault on data at address 0x40dfa8 with status 0x6 (in thread 0xffffff801ffc8400 \"fault-on-purpose\" at \
             address 0x400117)"
        );
    }

    #[test]
    fn a_prompt_is_an_unended_line_a_shell_leaves_once_the_terminal_is_up() {
        assert!(is_prompt("~ # ", true));
        assert!(is_prompt("user@kaal:/tmp$ ", true));
        assert!(is_prompt("\u{1b}[1m/ # \u{1b}[0m", true));
        assert!(!is_prompt("~ # ", false), "before the terminal is up it is boot output");
        assert!(!is_prompt("[linux] 64 MiB for Linux proc", true));
        assert!(!is_prompt("ratio 3#", true));
    }

    #[test]
    fn strips_colour_codes() {
        assert_eq!(strip_ansi("\u{1b}[0m\u{1b}[30;1m<<\u{1b}[0m\u{1b}[32mseL4(CPU 0)\u{1b}[0m"), "<<seL4(CPU 0)");
    }

    #[test]
    fn exit_codes() {
        let outcome = |verdict| BootOutcome { verdict, serial: vec![], wall: Duration::ZERO, prompt: None };
        assert_eq!(outcome(Verdict::Exited(ExitStatus::Success)).exit_code(), 0);
        assert_eq!(outcome(Verdict::Exited(ExitStatus::PANIC)).exit_code(), 2);
        assert_eq!(outcome(Verdict::Timeout { after: Duration::from_secs(1) }).exit_code(), EXIT_TIMEOUT);
        assert_eq!(outcome(Verdict::NoVerdict { status: Some(1), stderr: String::new() }).exit_code(), EXIT_NO_VERDICT);
    }

    #[test]
    fn network_arguments_forward_localhost_only() {
        use crate::system::{Address, NicKind, Protocol};
        let tcp = |host, guest| Forward { protocol: Protocol::Tcp, host, guest };
        let udp = Forward { protocol: Protocol::Udp, host: 5353, guest: 53 };
        let network = Network {
            nic: NicKind::E1000,
            address: Address::Dhcp,
            forwards: vec![tcp(8080, 80), udp],
            driver: None,
            linux: None,
            linux_without: vec![],
        };
        assert_eq!(
            network_args(&network, &network.forwards),
            [
                "-netdev",
                "user,id=kaalnet0,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp:127.0.0.1:5353-:53",
                "-device",
                "e1000,netdev=kaalnet0,addr=0a,romfile="
            ]
        );
        let virtio = Network { nic: NicKind::VirtioNet, ..network };
        assert_eq!(
            network_args(&virtio, &[]),
            ["-netdev", "user,id=kaalnet0", "-device", "virtio-net-pci,netdev=kaalnet0,addr=0a,romfile="]
        );
        assert_eq!(forward_line(&tcp(8080, 80)), "[kaal] forward http://127.0.0.1:8080 -> guest:80");
        assert_eq!(forward_line(&tcp(9000, 8080)), "[kaal] forward http://127.0.0.1:9000 -> guest:8080");
        assert_eq!(forward_line(&tcp(7007, 7)), "[kaal] forward tcp://127.0.0.1:7007 -> guest:7");
        assert_eq!(forward_line(&udp), "[kaal] forward udp://127.0.0.1:5353 -> guest:53");
    }

    #[test]
    fn command_line_forwards_replace_the_systems_for_their_guest_port() {
        use crate::system::Protocol;
        let tcp = |host, guest| Forward { protocol: Protocol::Tcp, host, guest };
        let udp = |host, guest| Forward { protocol: Protocol::Udp, host, guest };
        let system = [tcp(8080, 80), tcp(7007, 7), udp(5353, 53)];
        assert_eq!(merge_forwards(&system, &[]), Ok(system.to_vec()));
        // Moved to another host port; the others stay, and a new one is added.
        assert_eq!(
            merge_forwards(&system, &[tcp(18080, 80), tcp(2222, 22)]),
            Ok(vec![tcp(7007, 7), udp(5353, 53), tcp(18080, 80), tcp(2222, 22)])
        );
        // Only the same protocol is replaced.
        assert_eq!(
            merge_forwards(&system, &[udp(9999, 80)]),
            Ok(vec![tcp(8080, 80), tcp(7007, 7), udp(5353, 53), udp(9999, 80)])
        );
        // A host port used twice is an error; once per protocol is not.
        let error = merge_forwards(&system, &[tcp(8080, 22)]).unwrap_err();
        assert!(error.contains("host port 8080 (tcp) would be forwarded twice: to guest port 80"), "{error}");
        assert!(merge_forwards(&system, &[tcp(5353, 53)]).is_ok());
        assert!(merge_forwards(&[], &[tcp(1, 2), tcp(1, 3)]).is_err());
    }

    #[test]
    fn command_line_has_the_verified_flags() {
        let cfg = QemuConfig { icount: true, ..Default::default() };
        let cmd = command(Path::new("k.elf"), Path::new("i.elf"), &cfg);
        let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let joined = args.join(" ");
        assert!(joined.contains("-cpu Nehalem,-vme,+pdpe1gb"), "{joined}");
        assert!(joined.contains("isa-debug-exit,iobase=0xf4,iosize=0x04"), "{joined}");
        assert!(joined.contains("-kernel k.elf -initrd i.elf"), "{joined}");
        assert!(joined.contains("-icount shift=0"), "{joined}");
    }
}
