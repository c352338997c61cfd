//! `cargo kaal profile`: where a running system spends its time, per component.
//!
//! QEMU's TCG has no performance counters, and the kernel flavours KaaL builds keep no
//! per-thread accounting, so the profiler **samples**: every few milliseconds of wall
//! time it stops the guest through QEMU's monitor (QMP), reads the CPU's registers
//! (`info registers`: RIP, CR3, CPL, whether the CPU halted), reads the kernel's
//! `ksCurThread` (its address from the kernel's ELF) and the current thread's name
//! (the debug kernel keeps the name KaaL gives each component's thread, and the Linux
//! personality each process's), and lets the guest go on. So each sample says who ran, in user mode or in seL4 on its
//! behalf, or that the CPU idled, and at which instruction. The kernel's memory is
//! read by its physical address (`xp`): seL4 16.0.0 maps little of the kernel into a
//! user address space (its Meltdown "skim window"), so a read through the current
//! page tables failed in every user-mode sample there.
//!
//! While a component's address space is current the profiler also reads, through the
//! same monitor, the component's mapped memory (`info mem`) and its kaal-core counters
//! (`kaal_core::profile::KAAL_PROFILE_COUNTS`: IPC, notifications,
//! ring pushes and full rings; the address is the symbol's in the component's ELF).
//! Rates are the counters' growth between the first and last reading, over the wall
//! time between them.
//!
//! Sampling needs a debug kernel (thread names). Hot functions are symbolised from each
//! component's ELF and the kernel's; a Linux program without symbols shows as its
//! address.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The symbol kaal-core's counters have in every component image.
pub const COUNTS_SYMBOL: &str = "KAAL_PROFILE_COUNTS";
/// How many counters there are (kaal_core::profile::COUNTERS), in its order: IPC,
/// notifications, ring pushes, full rings.
pub const COUNTERS: usize = 4;
/// A TCB object's size on x86_64 (`BIT(seL4_TCBBits)`) where the kernel's ELF does not
/// say: 5.0.0's. 16.0.0's depends on the FPU state's size (4 KiB with an XSAVE area of
/// 832 bytes or more), and its ELF has the idle thread's TCB, `ksIdleThreadTCB`, of
/// that size.
const TCB_SIZE: u64 = 1 << 11;
/// Where seL4 x86_64 maps all physical memory, from physical address 0 (`PPTR_BASE`
/// in `plat/pc99/plat/64/plat_mode/machine/hardware.h`, 5.0.0 and 16.0.0): kernel
/// objects such as TCBs are at their physical address plus this.
const PPTR_BASE: u64 = 0xffff_ff80_0000_0000;
/// What the idle thread is called in the report.
pub const IDLE: &str = "(idle)";
/// Samples before the kernel ran its first thread.
pub const BOOT: &str = "(kernel boot)";
/// Samples in 32-bit mode: the firmware and the boot loader, before seL4.
pub const FIRMWARE: &str = "(firmware, boot loader)";
/// The root task's name: its threads (the supervisor, and the console, time and log
/// services it runs) are symbolised from its image.
pub const ROOT: &str = "kaal-root";

/// QEMU's machine protocol, on a Unix socket (`-qmp unix:PATH,server=on,wait=off`).
pub struct Monitor {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Monitor {
    /// Connects to the socket at `path` (waiting until QEMU made it, up to `patience`)
    /// and enters command mode.
    pub fn connect(path: &Path, patience: Duration) -> std::io::Result<Self> {
        let until = Instant::now() + patience;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(stream) => break stream,
                Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(e),
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut monitor = Self { reader: BufReader::new(stream.try_clone()?), writer: stream };
        let mut greeting = String::new();
        monitor.reader.read_line(&mut greeting)?;
        if !greeting.contains("QMP") {
            return Err(std::io::Error::other(format!("not QEMU's monitor: {}", greeting.trim())));
        }
        monitor.execute(r#"{"execute":"qmp_capabilities"}"#)?;
        Ok(monitor)
    }

    /// Sends one command and returns its `return` value (events in between are skipped).
    fn execute(&mut self, command: &str) -> std::io::Result<serde_json::Value> {
        self.writer.write_all(command.as_bytes())?;
        self.writer.write_all(b"\n")?;
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::Error::other("QEMU closed its monitor"));
            }
            let value: serde_json::Value =
                serde_json::from_str(&line).map_err(|e| std::io::Error::other(format!("monitor: {e}")))?;
            if let Some(result) = value.get("return") {
                return Ok(result.clone());
            }
            if let Some(error) = value.get("error") {
                return Err(std::io::Error::other(format!("monitor refused {command}: {error}")));
            }
        }
    }

    /// A human-monitor command (`info registers`, `x /4gx ADDR`), and what it printed.
    pub fn hmp(&mut self, line: &str) -> std::io::Result<String> {
        let command = serde_json::json!({"execute": "human-monitor-command", "arguments": {"command-line": line}});
        Ok(self.execute(&command.to_string())?.as_str().unwrap_or_default().to_string())
    }

    pub fn stop(&mut self) -> std::io::Result<()> {
        self.execute(r#"{"execute":"stop"}"#).map(drop)
    }

    pub fn cont(&mut self) -> std::io::Result<()> {
        self.execute(r#"{"execute":"cont"}"#).map(drop)
    }
}

/// The CPU state one sample needs, from `info registers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cpu {
    pub rip: u64,
    pub cr3: u64,
    pub cpl: u8,
    pub halted: bool,
}

/// Parses `info registers` (x86_64).
pub fn parse_registers(text: &str) -> Option<Cpu> {
    let field = |name: &str| -> Option<&str> {
        text.split_whitespace().find_map(|word| word.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
    };
    let hex = |name: &str| field(name).and_then(|v| u64::from_str_radix(v, 16).ok());
    Some(Cpu { rip: hex("RIP")?, cr3: hex("CR3")?, cpl: field("CPL")?.parse().ok()?, halted: field("HLT")? == "1" })
}

/// The words `x /Ngx ADDR` printed (`ADDR: 0x... 0x...` lines).
pub fn parse_words(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .flat_map(|(_, words)| {
            words.split_whitespace().filter_map(|w| u64::from_str_radix(w.strip_prefix("0x")?, 16).ok())
        })
        .collect()
}

/// Bytes of user-accessible memory `info mem` lists (`START-END SIZE urw` lines).
pub fn parse_user_memory(text: &str) -> u64 {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let (_range, size, flags) = (parts.next()?, parts.next()?, parts.next()?);
            flags.starts_with('u').then(|| u64::from_str_radix(size, 16).ok()).flatten()
        })
        .sum()
}

/// Little-endian bytes of `words`.
fn bytes_of(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// The NUL-terminated string at `offset` in `bytes`, if it is a plausible thread name.
fn name_at(bytes: &[u8], offset: usize) -> Option<String> {
    let rest = bytes.get(offset..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    let name = &rest[..end];
    (!name.is_empty() && name.len() <= 64 && name.iter().all(|b| b.is_ascii_graphic() || *b == b' '))
        .then(|| String::from_utf8_lossy(name).into_owned())
}

/// Finds where in a TCB object the kernel keeps the thread's name: the offset of one
/// of the `known` names, NUL-terminated and word-aligned (it follows pointers: in
/// 5.0.0 the end of `tcb_t`, in 16.0.0 the `debug_tcb` after the TCB's CNode slots,
/// whose last pointer's high bytes are not zero). The offset differs between seL4
/// releases and configurations, so it is found rather than assumed.
pub fn find_name_offset(block: &[u8], known: &[String]) -> Option<(usize, String)> {
    let mut best: Option<(usize, String)> = None;
    for name in known {
        let needle = name.as_bytes();
        for at in 0..block.len().saturating_sub(needle.len()) {
            let whole = block[at..].starts_with(needle) && block.get(at + needle.len()) == Some(&0) && at % 8 == 0;
            if whole && best.as_ref().is_none_or(|(_, b)| name.len() > b.len()) {
                best = Some((at, name.clone()));
            }
        }
    }
    best
}

/// A component's or the kernel's function symbols, for naming sampled addresses.
#[derive(Debug, Default)]
pub struct Symbols {
    /// (start, end, name), sorted by start.
    functions: Vec<(u64, u64, String)>,
    /// Where kaal-core's counters are, if the image has them.
    pub counters: Option<u64>,
    /// Named data symbols the profiler reads (`ksCurThread`, `ksIdleThread`).
    pub data: HashMap<String, u64>,
    /// The size of the kernel's `ksIdleThreadTCB` (one TCB object), if it has one.
    pub tcb_size: Option<u64>,
    /// The loaded segments: (virtual address, size in memory, physical address).
    segments: Vec<(u64, u64, u64)>,
}

impl Symbols {
    /// Reads the symbol table of the ELF file at `path`.
    pub fn read(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        use xmas_elf::sections::SectionData;
        use xmas_elf::symbol_table::{Entry, Type};
        let elf = xmas_elf::ElfFile::new(bytes).map_err(|e| format!("not an ELF file: {e}"))?;
        let mut symbols = Self::default();
        for header in elf.program_iter() {
            if header.get_type() == Ok(xmas_elf::program::Type::Load) {
                symbols.segments.push((header.virtual_addr(), header.mem_size(), header.physical_addr()));
            }
        }
        for section in elf.section_iter() {
            let Ok(SectionData::SymbolTable64(entries)) = section.get_data(&elf) else { continue };
            for entry in entries {
                let Ok(name) = entry.get_name(&elf) else { continue };
                match entry.get_type() {
                    Ok(Type::Func) if entry.value() != 0 => {
                        let end = entry.value() + entry.size().max(1);
                        symbols.functions.push((entry.value(), end, demangle(name)));
                    }
                    Ok(Type::Object) if name == COUNTS_SYMBOL => symbols.counters = Some(entry.value()),
                    Ok(Type::Object) if name == "ksIdleThreadTCB" && entry.size().is_power_of_two() => {
                        symbols.tcb_size = Some(entry.size());
                    }
                    Ok(Type::Object) if name == "ksCurThread" || name == "ksIdleThread" => {
                        symbols.data.insert(name.to_string(), entry.value());
                    }
                    _ => {}
                }
            }
        }
        symbols.functions.sort();
        Ok(symbols)
    }

    /// The physical address the ELF loads its virtual address `addr` at.
    pub fn physical(&self, addr: u64) -> Option<u64> {
        self.segments
            .iter()
            .find(|(start, size, _)| (*start..start + size).contains(&addr))
            .map(|(start, _, phys)| phys + (addr - start))
    }

    /// The function `addr` is in.
    pub fn lookup(&self, addr: u64) -> Option<&str> {
        let i = self.functions.partition_point(|(start, _, _)| *start <= addr).checked_sub(1)?;
        let (_, end, name) = &self.functions[i];
        (addr < *end).then_some(name.as_str())
    }
}

/// A Rust symbol without its hash (`kaal_vfs::ext2::read_block`); others as they are.
fn demangle(name: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(name))
}

/// What the profiler learnt about one thread name (a component, a Linux process).
#[derive(Debug, Default, Clone)]
pub struct Usage {
    /// Samples in user mode.
    pub user: u64,
    /// Samples in seL4 on its behalf.
    pub kernel: u64,
    /// User-mode samples by instruction address.
    pub addresses: BTreeMap<u64, u64>,
    /// Bytes mapped in its address space, at the last look.
    pub memory: Option<u64>,
    /// Its address space (CR3), once seen in user mode.
    pub cr3: Option<u64>,
    /// First and last counter readings: (when, values).
    pub counts: Option<[(Instant, [u64; COUNTERS]); 2]>,
}

/// A whole profile.
#[derive(Debug, Default)]
pub struct Profile {
    pub by_thread: BTreeMap<String, Usage>,
    /// Samples while the CPU halted (the idle thread waiting for an interrupt).
    pub idle: u64,
    /// Kernel samples by instruction address, over all threads.
    pub kernel_addresses: BTreeMap<u64, u64>,
    pub samples: u64,
    pub took: Duration,
    pub interval: Duration,
    /// Samples that failed (the monitor answered something unexpected).
    pub failed: u64,
    /// Why, each reason once (the first five).
    pub failures: Vec<String>,
}

/// Where the profiler finds things: each thread name's image, and the kernel's.
pub struct Target {
    /// Component name -> its image (ELF with symbols).
    pub images: BTreeMap<String, PathBuf>,
    pub kernel_elf: PathBuf,
}

/// Samples the guest behind the monitor socket `socket` every `interval` until `done`
/// is set or QEMU goes away.
pub fn sample(
    socket: &Path,
    target: &Target,
    interval: Duration,
    done: &std::sync::atomic::AtomicBool,
) -> Result<(Profile, BTreeMap<String, Symbols>, Symbols), String> {
    let kernel = Symbols::read(&target.kernel_elf)?;
    let current = kernel
        .data
        .get("ksCurThread")
        .and_then(|addr| kernel.physical(*addr))
        .ok_or("the kernel's ELF has no ksCurThread symbol in a loaded segment")?;
    let idle_thread = kernel.data.get("ksIdleThread").and_then(|addr| kernel.physical(*addr));
    let mut images = BTreeMap::new();
    for (name, path) in &target.images {
        images.insert(name.clone(), Symbols::read(path)?);
    }
    let mut known: Vec<String> = target.images.keys().cloned().collect();
    known.push(ROOT.into());
    let monitor = Monitor::connect(socket, Duration::from_secs(30)).map_err(|e| format!("QEMU's monitor: {e}"))?;
    let mut sampler = Sampler {
        monitor,
        current,
        idle_thread,
        idle_tcb: None,
        known,
        images: &images,
        kernel: &kernel,
        names: HashMap::new(),
        name_offset: None,
        by_tcb: HashMap::new(),
        memory: HashMap::new(),
        profile: Profile { interval, ..Default::default() },
    };
    let started = Instant::now();
    let mut next = started;
    while !done.load(std::sync::atomic::Ordering::Relaxed) {
        next += interval;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        if sampler.monitor.stop().is_err() {
            break; // QEMU ended
        }
        if let Err(why) = sampler.one() {
            sampler.profile.failed += 1;
            if sampler.profile.failures.len() < 5 && !sampler.profile.failures.contains(&why) {
                sampler.profile.failures.push(why);
            }
        }
        if sampler.monitor.cont().is_err() {
            break;
        }
    }
    let mut profile = sampler.finish();
    profile.took = started.elapsed();
    Ok((profile, images, kernel))
}

/// The sampling loop's state.
struct Sampler<'a> {
    monitor: Monitor,
    /// The physical address of the kernel's `ksCurThread`.
    current: u64,
    /// The physical address of `ksIdleThread`, and the idle thread's TCB once the
    /// kernel has set it.
    idle_thread: Option<u64>,
    idle_tcb: Option<u64>,
    kernel: &'a Symbols,
    /// Names the profiler expects (the components', the root task's).
    known: Vec<String>,
    images: &'a BTreeMap<String, Symbols>,
    /// Each TCB's name, once read (a thread is named just after it starts, so one
    /// sampled before that is looked at again later), and how often it was seen.
    names: HashMap<u64, (Option<String>, u64)>,
    /// Where in a TCB object the kernel keeps the name.
    name_offset: Option<usize>,
    /// Samples by TCB, named at the end.
    by_tcb: HashMap<u64, Usage>,
    /// Bytes mapped in each address space (by CR3), and when that was read.
    memory: HashMap<u64, (Instant, u64)>,
    profile: Profile,
}

impl Sampler<'_> {
    /// One sample (the guest is stopped).
    fn one(&mut self) -> Result<(), String> {
        let io = |e: std::io::Error| e.to_string();
        let registers = self.monitor.hmp("info registers").map_err(io)?;
        self.profile.samples += 1;
        let Some(cpu) = parse_registers(&registers) else {
            // 32-bit registers (EIP, no RIP): the firmware and the boot loader, before
            // seL4 enters long mode.
            if registers.contains("EIP=") {
                self.profile.by_thread.entry(FIRMWARE.to_string()).or_default().kernel += 1;
                return Ok(());
            }
            return Err(format!("unreadable registers ({:?})", registers.chars().take(60).collect::<String>()));
        };
        if cpu.halted {
            self.profile.idle += 1;
            return Ok(());
        }
        let tcb = *parse_words(&self.monitor.hmp(&format!("xp /1gx {:#x}", self.current)).map_err(io)?)
            .first()
            .ok_or("unreadable ksCurThread")?;
        if self.idle_tcb.is_none() {
            if let Some(addr) = self.idle_thread {
                let words = parse_words(&self.monitor.hmp(&format!("xp /1gx {addr:#x}")).map_err(io)?);
                self.idle_tcb = words.first().copied().filter(|&t| t != 0);
            }
        }
        if Some(tcb) == self.idle_tcb {
            self.profile.idle += 1;
            return Ok(());
        }
        if tcb == 0 {
            // The kernel has not started a thread yet.
            self.profile.by_thread.entry(BOOT.to_string()).or_default().kernel += 1;
            *self.profile.kernel_addresses.entry(cpu.rip).or_default() += 1;
            return Ok(());
        }
        let name = self.name(tcb)?;
        let usage = self.by_tcb.entry(tcb).or_default();
        if cpu.cpl != 3 {
            usage.kernel += 1;
            *self.profile.kernel_addresses.entry(cpu.rip).or_default() += 1;
            return Ok(());
        }
        usage.user += 1;
        *usage.addresses.entry(cpu.rip).or_default() += 1;
        // The thread's own address space is current: look at its mappings now and
        // then, and at its component's counters.
        usage.cr3 = Some(cpu.cr3);
        let stale = self.memory.get(&cpu.cr3).is_none_or(|(when, _)| when.elapsed() > Duration::from_millis(500));
        if stale {
            let bytes = parse_user_memory(&self.monitor.hmp("info mem").map_err(io)?);
            self.memory.insert(cpu.cr3, (Instant::now(), bytes));
        }
        let counters = name.as_deref().and_then(|n| image_of(self.images, n)).and_then(|s| s.counters);
        if let Some(addr) = counters {
            let words = parse_words(&self.monitor.hmp(&format!("x /{COUNTERS}gx {addr:#x}")).map_err(io)?);
            if let Ok(values) = <[u64; COUNTERS]>::try_from(words.as_slice()) {
                let now = (Instant::now(), values);
                usage.counts = Some(match usage.counts {
                    None => [now, now],
                    Some([first, _]) => [first, now],
                });
            }
        }
        Ok(())
    }

    /// The name of the thread whose TCB is at `tcb`, read from the TCB (again every
    /// 16th time while it has none).
    fn name(&mut self, tcb: u64) -> Result<Option<String>, String> {
        let entry = self.names.entry(tcb).or_insert((None, 0));
        entry.1 += 1;
        if entry.0.is_some() || !(entry.1 - 1).is_multiple_of(16) {
            return Ok(entry.0.clone());
        }
        // A TCB is in the kernel's window onto physical memory, or (the idle thread's,
        // in 16.0.0) in the kernel's image.
        let physical = self.kernel.physical(tcb).or_else(|| tcb.checked_sub(PPTR_BASE));
        let size = self.kernel.tcb_size.unwrap_or(TCB_SIZE);
        let block = physical.ok_or(format!("ksCurThread {tcb:#x} is in no kernel mapping"))? & !(size - 1);
        let text = self.monitor.hmp(&format!("xp /{}gx {block:#x}", size / 8)).map_err(|e| e.to_string())?;
        let bytes = bytes_of(&parse_words(&text));
        let found = match self.name_offset {
            Some(offset) => name_at(&bytes, offset),
            None => find_name_offset(&bytes, &self.known).map(|(offset, name)| {
                self.name_offset = Some(offset);
                name
            }),
        };
        self.names.insert(tcb, (found.clone(), self.names.get(&tcb).map_or(1, |e| e.1)));
        Ok(found)
    }

    /// The profile, with each thread's samples under its name (threads of one name,
    /// a component's or a command's, together).
    fn finish(mut self) -> Profile {
        for (tcb, mut usage) in self.by_tcb {
            usage.memory = usage.cr3.and_then(|cr3| self.memory.get(&cr3)).map(|(_, bytes)| *bytes);
            let name = self.names.get(&tcb).and_then(|(n, _)| n.clone()).unwrap_or_else(|| format!("thread {tcb:#x}"));
            self.profile.by_thread.entry(name).or_default().merge(usage);
        }
        self.profile
    }
}

impl Usage {
    /// Pushes that found a ring full, and pushes that did not, between the first and
    /// last reading of the counters.
    fn rings(&self) -> Option<(u64, u64)> {
        let [(_, first), (_, last)] = self.counts?;
        Some((last[3].saturating_sub(first[3]), last[2].saturating_sub(first[2])))
    }

    /// Adds another thread's samples (of the same component or command).
    fn merge(&mut self, other: Usage) {
        self.user += other.user;
        self.kernel += other.kernel;
        for (addr, n) in other.addresses {
            *self.addresses.entry(addr).or_default() += n;
        }
        self.memory = self.memory.max(other.memory);
        // The counters are the address space's: the earliest and the latest reading.
        self.counts = match (self.counts, other.counts) {
            (Some([a0, a1]), Some([b0, b1])) => {
                Some([if a0.0 <= b0.0 { a0 } else { b0 }, if a1.0 >= b1.0 { a1 } else { b1 }])
            }
            (a, b) => a.or(b),
        };
    }
}

/// How `kaal profile` runs the system.
#[derive(Debug, Clone)]
pub struct Options {
    /// A command to type into the system's shell (then `exit 0`); without one, the
    /// system's `[linux] demo`, if any.
    pub command: Option<String>,
    /// Stop the system after this long if it has not ended.
    pub limit: Duration,
    /// Time between samples.
    pub interval: Duration,
}

/// Boots `built` with QEMU's monitor on a socket, samples it until it ends (or
/// `options.limit`), and returns the run and the report.
pub fn run(
    built: &crate::BuiltSystem,
    options: &Options,
    reporter: &crate::progress::Reporter,
) -> crate::Result<(crate::qemu::BootOutcome, String)> {
    use crate::ToolError;
    let step = "profiling the system";
    if !built.kernel.config.debug_build {
        return Err(ToolError::new(
            step,
            "the kernel is a release build, which keeps no thread names, so samples cannot say whose they are",
            "profile on a debug kernel: leave out `--kernel release` (debug is the default)",
        ));
    }
    let kernel_elf =
        ["build/kernel.elf", "kernel.elf"].iter().map(|p| built.kernel.dir.join(p)).find(|p| p.is_file()).ok_or_else(
            || {
                ToolError::new(
                    step,
                    format!("no kernel.elf (with symbols) in {}", built.kernel.dir.display()),
                    "delete that directory so the kernel is built again",
                )
            },
        )?;
    // `components` and the image's ELFs after the root task's are in the same order.
    let images: BTreeMap<String, PathBuf> = built
        .components
        .iter()
        .zip(built.image.elfs.iter().skip(1))
        .map(|((name, _), (_, elf))| (name.clone(), elf.clone()))
        .collect();
    let mut images = images;
    if let Some((_, root)) = built.image.elfs.first() {
        images.insert(ROOT.to_string(), root.clone());
    }
    let target = Target { images, kernel_elf };
    // A Unix socket's path is short (108 bytes): in the temporary directory.
    let socket = std::env::temp_dir().join(format!("kaal-profile-{}.qmp", std::process::id()));
    let _ = std::fs::remove_file(&socket);
    let mut cfg = built.qemu_config(None);
    cfg.extra_args.extend(["-qmp".to_string(), format!("unix:{},server=on,wait=off", socket.display())]);
    cfg.timeout = options.limit + Duration::from_secs(30);
    let typed: Vec<String> = match &options.command {
        Some(command) => vec![command.clone(), "exit 0".into()],
        None => built.demo(),
    };
    if built.has_terminal() && !typed.is_empty() {
        reporter.info(format!("typing into the system's shell: {}", typed.join("; ")));
        cfg.input = crate::qemu::Input::Script(typed);
    } else if options.command.is_some() {
        return Err(ToolError::new(
            step,
            format!("{} has no shell to type the command into (no [linux])", built.system.display),
            "leave out --command: the profile covers the system's own run",
        ));
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    cfg.stop = Some(stop.clone());
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (kernel, image) = (built.kernel.image.clone(), built.image.path.clone());
    reporter.info(format!(
        "booting {} under the profiler: a sample every {} ms, for at most {} s",
        built.system.display,
        options.interval.as_millis(),
        options.limit.as_secs()
    ));
    let runner = {
        let done = done.clone();
        std::thread::spawn(move || {
            let outcome = crate::qemu::boot(&kernel, &image, &cfg);
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            outcome
        })
    };
    let limit = {
        let (stop, done, limit) = (stop.clone(), done.clone(), options.limit);
        std::thread::spawn(move || {
            let until = Instant::now() + limit;
            while Instant::now() < until && !done.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        })
    };
    let sampled = sample(&socket, &target, options.interval, &done);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let outcome = runner.join().map_err(|_| ToolError::new(step, "the QEMU runner panicked", "retry"))??;
    let _ = limit.join();
    let _ = std::fs::remove_file(&socket);
    let (profile, images, kernel) = sampled.map_err(|why| {
        ToolError::new(
            step,
            why,
            "run it again with -v to see QEMU's command line; the profiler needs QEMU's QMP monitor",
        )
    })?;
    Ok((outcome, report(&profile, &images, &kernel)))
}

/// The image a thread's code is in: its component's, or for the root task's threads
/// (named for the services they run) the root task's. A Linux process (`linux:...`)
/// has none here.
fn image_of<'a>(images: &'a BTreeMap<String, Symbols>, name: &str) -> Option<&'a Symbols> {
    images
        .get(name)
        .or_else(|| (!name.starts_with("linux:") && !name.starts_with('(')).then(|| images.get(ROOT)).flatten())
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// Per-second rates of the counters between their first and last reading.
fn rates(usage: &Usage) -> Option<[f64; COUNTERS]> {
    let [(t0, first), (t1, last)] = usage.counts?;
    let seconds = t1.duration_since(t0).as_secs_f64();
    (seconds > 0.05).then(|| std::array::from_fn(|i| last[i].saturating_sub(first[i]) as f64 / seconds))
}

fn hot(addresses: &BTreeMap<u64, u64>, symbols: Option<&Symbols>, top: usize) -> Vec<(String, u64)> {
    let mut by_function: BTreeMap<String, u64> = BTreeMap::new();
    for (addr, n) in addresses {
        let name = symbols.and_then(|s| s.lookup(*addr)).map_or_else(|| format!("{addr:#x}"), str::to_string);
        *by_function.entry(name).or_default() += n;
    }
    let mut list: Vec<(String, u64)> = by_function.into_iter().collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    list.truncate(top);
    list
}

/// The report: the per-component table, each one's hot functions, and findings.
pub fn report(profile: &Profile, images: &BTreeMap<String, Symbols>, kernel: &Symbols) -> String {
    let mut out = String::new();
    let total = profile.samples.max(1);
    out.push_str(&format!(
        "{} samples, one every {} ms of wall time over {:.1} s (QEMU monitor sampling; TCG has no PMU)\n\n",
        profile.samples,
        profile.interval.as_millis(),
        profile.took.as_secs_f64()
    ));
    out.push_str(
        "| component | CPU | user | in seL4 | mapped memory | IPC/s | notifications/s | ring pushes/s | full rings |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|---|---|\n");
    let mut rows: Vec<(&String, &Usage)> = profile.by_thread.iter().collect();
    rows.sort_by(|a, b| (b.1.user + b.1.kernel).cmp(&(a.1.user + a.1.kernel)).then(a.0.cmp(b.0)));
    for (name, usage) in &rows {
        let rate = rates(usage);
        let shown = |i: usize| rate.map_or_else(|| "-".to_string(), |r| format!("{:.0}", r[i]));
        let full = usage
            .rings()
            .map_or_else(|| "-".to_string(), |(full, pushes)| format!("{full} ({:.0}%)", percent(full, full + pushes)));
        out.push_str(&format!(
            "| {name} | {:.1}% | {:.1}% | {:.1}% | {} | {} | {} | {} | {full} |\n",
            percent(usage.user + usage.kernel, total),
            percent(usage.user, total),
            percent(usage.kernel, total),
            usage.memory.map_or_else(|| "-".to_string(), mib),
            shown(0),
            shown(1),
            shown(2),
        ));
    }
    out.push_str(&format!("| {IDLE} | {:.1}% | | | | | | | |\n", percent(profile.idle, total)));

    out.push_str("\nHot functions (share of each one's own samples):\n");
    for (name, usage) in &rows {
        let own = usage.user + usage.kernel;
        if own == 0 {
            continue;
        }
        let list = hot(&usage.addresses, image_of(images, name), 4);
        let text: Vec<String> = list.iter().map(|(f, n)| format!("{:.0}% {f}", percent(*n, own))).collect();
        let kernel_part =
            if usage.kernel > 0 { format!("; {:.0}% in seL4", percent(usage.kernel, own)) } else { String::new() };
        out.push_str(&format!(
            "  {name}: {}{kernel_part}\n",
            if text.is_empty() { "-".into() } else { text.join(", ") }
        ));
    }
    let kernel_hot = hot(&profile.kernel_addresses, Some(kernel), 4);
    if !kernel_hot.is_empty() {
        let kernel_total: u64 = profile.kernel_addresses.values().sum();
        let text: Vec<String> =
            kernel_hot.iter().map(|(f, n)| format!("{:.0}% {f}", percent(*n, kernel_total))).collect();
        out.push_str(&format!("  seL4 (all threads): {}\n", text.join(", ")));
    }

    out.push_str("\nFindings:\n");
    let findings = findings(profile, &rows);
    for line in &findings {
        out.push_str(&format!("  - {line}\n"));
    }
    if findings.is_empty() {
        out.push_str(
            "  - no bottleneck stands out: no component is busy most of the time and no ring was often full\n",
        );
    }
    if profile.failed > 0 {
        out.push_str(&format!(
            "\n{} of {} samples could not be read: {}\n",
            profile.failed,
            profile.samples,
            profile.failures.join("; ")
        ));
    }
    out
}

/// What stands out: a component busy most of the time, rings often full, the kernel's
/// share, an idle system.
fn findings(profile: &Profile, rows: &[(&String, &Usage)]) -> Vec<String> {
    let total = profile.samples.max(1);
    let busy = profile.samples - profile.idle;
    let mut out = Vec::new();
    for (name, usage) in rows {
        let own = usage.user + usage.kernel;
        if percent(own, total) >= 75.0 {
            out.push(format!(
                "{name} is busy in {:.0}% of the samples: it is the bottleneck (CPU-bound); what waits for it waits \
                 on the CPU",
                percent(own, total)
            ));
        }
        if let Some((full, pushes)) = usage.rings() {
            if full >= 10 && percent(full, full + pushes) >= 10.0 {
                out.push(format!(
                    "{name} found a ring full in {full} of {} pushes ({:.0}%): the consumer on the other side keeps \
                     up too slowly (a queue always full)",
                    full + pushes,
                    percent(full, full + pushes)
                ));
            }
        }
    }
    let kernel: u64 = rows.iter().map(|(_, u)| u.kernel).sum();
    if busy > 0 && percent(kernel, busy) >= 40.0 {
        out.push(format!(
            "seL4 itself runs {:.0}% of the busy time: the components cross into the kernel often (IPC, faults, \
             interrupts)",
            percent(kernel, busy)
        ));
    }
    if percent(profile.idle, total) >= 80.0 {
        out.push(format!(
            "the CPU idles {:.0}% of the time: nothing here is CPU-bound; the system waits for input, a device, the \
             host or a timer",
            percent(profile.idle, total)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_registers_a_sample_needs() {
        let text = "RAX=0000000000000000 RBX=0000000000000001\r\nRIP=00000000004012a0 RFL=00000202 [-------] CPL=3 \
                    II=0 A20=1 SMM=0 HLT=0\r\nCR0=80010033 CR2=0000000000000000 CR3=000000001ffb4000 CR4=00000620\r\n";
        assert_eq!(parse_registers(text), Some(Cpu { rip: 0x4012a0, cr3: 0x1ffb4000, cpl: 3, halted: false }));
        let idle = text.replace("HLT=0", "HLT=1").replace("CPL=3", "CPL=0");
        assert!(parse_registers(&idle).unwrap().halted);
        assert_eq!(parse_registers("RAX=0"), None);
    }

    #[test]
    fn reads_words_and_user_mappings() {
        let words =
            "ffffffff80731478: 0xffffff801ffb5400 0x0000000000000002\r\nffffffff80731488: 0x0000000000000003\r\n";
        assert_eq!(parse_words(words), [0xffffff801ffb5400, 2, 3]);
        let mem = "0000000000400000-0000000000420000 0000000000020000 ur-\r\n\
                   0000000000420000-0000000000430000 0000000000010000 urw\r\n\
                   ffffff8000000000-ffffff8080000000 0000000080000000 -rw\r\n";
        assert_eq!(parse_user_memory(mem), 0x30000);
    }

    #[test]
    fn finds_the_name_in_a_tcb_and_prefers_the_longest_whole_name() {
        let mut block = vec![0u8; 2048];
        block[1504..1507].copy_from_slice(b"net");
        block[1704..1711].copy_from_slice(b"net-dde");
        let known = vec!["net".to_string(), "net-dde".to_string(), "vfs".to_string()];
        assert_eq!(find_name_offset(&block, &known), Some((1704, "net-dde".into())));
        // 16.0.0: the name follows a pointer, whose last byte is 0xff.
        let mut block = vec![0u8; 2048];
        block[0x318..0x320].copy_from_slice(&0xffff_ff80_1ff8_9400u64.to_le_bytes());
        block[0x320..0x323].copy_from_slice(b"vfs");
        assert_eq!(find_name_offset(&block, &known), Some((0x320, "vfs".into())));
        // Part of a longer string is not a name: not at a word's start.
        let mut block = vec![0u8; 64];
        block[13..19].copy_from_slice(b"xvfs\0\0");
        assert_eq!(find_name_offset(&block, &known), None);
        let mut block = vec![0u8; 64];
        block[20..28].copy_from_slice(b"linux:sh");
        assert_eq!(name_at(&block, 20).as_deref(), Some("linux:sh"));
        assert_eq!(name_at(&block, 0), None);
    }

    #[test]
    fn the_report_names_a_busy_component_and_a_full_ring() {
        let now = Instant::now();
        let later = now + Duration::from_secs(2);
        let mut profile = Profile { samples: 100, idle: 10, interval: Duration::from_millis(2), ..Default::default() };
        profile.by_thread.insert(
            "vfs".into(),
            Usage {
                user: 70,
                kernel: 10,
                addresses: BTreeMap::from([(0x1000, 60), (0x2000, 10)]),
                memory: Some(3 << 20),
                cr3: None,
                counts: Some([(now, [0, 0, 0, 0]), (later, [2000, 100, 90, 30])]),
            },
        );
        profile.by_thread.insert("blk".into(), Usage { user: 10, ..Default::default() });
        let symbols =
            Symbols { functions: vec![(0x1000, 0x1800, "kaal_vfs::ext2::read".into())], ..Default::default() };
        let images = BTreeMap::from([("vfs".to_string(), symbols)]);
        let text = report(&profile, &images, &Symbols::default());
        assert!(text.contains("| vfs | 80.0% | 70.0% | 10.0% | 3.0 MiB | 1000 | 50 | 45 | 30 (25%) |"), "{text}");
        assert!(text.contains("vfs: 75% kaal_vfs::ext2::read, 12% 0x2000; 12% in seL4"), "{text}");
        assert!(text.contains("vfs is busy in 80% of the samples: it is the bottleneck"), "{text}");
        assert!(text.contains("vfs found a ring full in 30 of 120 pushes (25%)"), "{text}");
        assert!(text.contains("| (idle) | 10.0% |"), "{text}");
    }
}
