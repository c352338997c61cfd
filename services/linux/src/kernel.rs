//! Processes and threads, their faults, and the Linux system calls.
//!
//! Every trap a Linux thread takes arrives at the server's one endpoint as a fault
//! message badged with the thread's id. A system call (an `int 0xA0`, which the loader
//! put where the program had `syscall`) is answered at once with a fault reply that
//! sets RAX and moves RIP past the instruction, or, when it has to wait (wait4, a read
//! from an empty pipe or the terminal), left unanswered: the thread stays blocked in the
//! kernel, the server goes on, and the call completes later with
//! `TCB_WriteRegisters(resume)`. Nothing here ever waits for a process.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;

use kaal_core::ipc::Server;
use kaal_core::process::{self, ProcessThread, Registers};
use kaal_core::supervisor::Fault;
use kaal_core::time::Instant;
use kaal_core::{println, Badge};
use kaal_posix::fs;
use kaal_posix::io::{Read, Seek, SeekFrom, Write};
use kaal_posix::linux::abi::{self, errno, nr, signal};
use kaal_posix::linux::{patch, signal_frame};

use crate::confine::{self, Need};
use crate::files::{self, Fd, FdTable, Listing, Object, OpenFile, Pipe};
use crate::loader::{self, Image};
use crate::mm::{self, Area, Backing, Mm, Pool, PAGE};

mod net;

pub type Pid = u32;

/// Bytes of program images kept for the next execve.
const IMAGE_CACHE: usize = 24 << 20;
/// The most bytes of one file a private file mapping copies into the server.
const MAX_FILE_MAPPING: u64 = 8 << 20;
/// The most bytes of arguments and environment execve takes (the initial stack's limit).
const MAX_EXEC_STRINGS: usize = kaal_posix::linux::stack::MAX_IMAGE;

/// `AT_FDCWD` as a register holds it.
const FDCWD: u64 = abi::AT_FDCWD as i64 as u64;

/// How a finished process ended, as wait4 reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    Exited(u8),
    Killed(u32),
}

impl Ended {
    fn wait_status(self) -> u32 {
        match self {
            Ended::Exited(code) => abi::wait_status_exited(code as u32),
            Ended::Killed(sig) => abi::wait_status_signaled(sig, false),
        }
    }
}

/// What a thread that was not answered waits for.
#[derive(Clone, Copy, Debug)]
enum Wait {
    /// wait4(pid, status, options).
    Child { pid: i64, status: u64, options: u64 },
    /// read(fd, buf, len) on a pipe or the terminal.
    Read { fd: u64, buf: u64, len: u64 },
    /// write(fd, buf, len) on a full pipe.
    Write { fd: u64, buf: u64, len: u64 },
    /// poll(fds, n, timeout): until a descriptor is ready, or `until`.
    Poll { fds: u64, n: u64, until: Option<Instant> },
    /// nanosleep until then.
    Sleep { until: Instant },
    /// rt_sigsuspend: until a signal is delivered; the mask before the call comes back
    /// after the handler.
    Suspend { old_mask: u64 },
    /// futex(FUTEX_WAIT) on `addr` until a FUTEX_WAKE there, or `until`.
    Futex { addr: u64, until: Option<Instant> },
    /// accept4 on a listener with no connection queued.
    Accept { fd: u64, addr: u64, len_ptr: u64, flags: u64 },
    /// connect during the handshake.
    Connect { fd: u64 },
    /// sendto on a socket whose send buffer is full.
    Send { fd: u64, buf: u64, len: u64, flags: u64, addr: u64, alen: u64 },
    /// recvfrom on a socket with nothing received.
    Recv { fd: u64, buf: u64, len: u64, flags: u64, addr: u64, alen: u64 },
    /// sendfile to a full pipe or socket.
    SendFile { out_fd: u64, in_fd: u64, offset_ptr: u64, count: u64 },
}

struct Thread {
    tid: u64,
    handle: ProcessThread,
    /// The FS base (TLS), which fault messages do not carry.
    tls: u64,
    /// CLONE_CHILD_CLEARTID / set_tid_address: cleared and woken at exit.
    clear_tid: u64,
    /// A call it waits in: its registers at the trap, and what it waits for.
    waiting: Option<(Registers, Wait)>,
}

enum State {
    Running,
    Zombie(Ended),
}

struct Proc {
    pid: Pid,
    ppid: Pid,
    pgid: Pid,
    sid: Pid,
    /// What `/proc/self/exe` names, and the command (for reports).
    exe: String,
    comm: String,
    mm: Mm,
    threads: Vec<Thread>,
    fds: FdTable,
    cwd: String,
    state: State,
    /// Signal handlers (the kernel's `struct sigaction`), by number.
    actions: BTreeMap<u32, abi::SigAction>,
    mask: u64,
    pending: u64,
    umask: u64,
    /// The confinements it is under (inherited; see [`crate::confine`]).
    rules: confine::Rules,
}

/// The outcome of a system call.
enum Outcome {
    /// Answer with this value (a negative errno as a two's-complement word).
    Return(u64),
    /// Answer with this value and set the TLS base too.
    ReturnTls(u64),
    /// Do not answer: the thread waits (its registers are saved).
    Wait(Wait),
    /// Continue the thread with exactly these registers (rt_sigreturn).
    Restore(Registers),
    /// The thread or process is gone: nothing to answer.
    Gone,
}

fn err(e: u64) -> Outcome {
    Outcome::Return(e.wrapping_neg())
}

/// The terminal's settings and what it has received.
pub struct Tty {
    pub termios: abi::Termios,
    pub pgrp: Pid,
    /// Bytes typed and not yet read.
    pub input: alloc::collections::VecDeque<u8>,
}

pub struct Kernel {
    pool: Pool,
    faults: Server,
    input: crate::console::Input,
    timer: kaal_core::time::Timer,
    wake: kaal_core::time::WakeTarget,
    /// The deadline the time service was last asked to wake us at.
    wake_at: Option<Instant>,
    priority: u8,
    procs: BTreeMap<Pid, Proc>,
    /// Thread id (the fault badge) to process.
    owner: BTreeMap<u64, Pid>,
    next_pid: u32,
    images: BTreeMap<String, Rc<Image>>,
    pub tty: Tty,
    /// Unimplemented syscalls already reported.
    reported: BTreeSet<u64>,
    /// init's end, once it exits.
    pub init_ended: Option<Ended>,
    /// The last page fault (thread, ip, address): the same one twice is a real fault.
    last_fault: (u64, u64, u64),
    /// The thread whose system call is being handled: a signal for it is delivered as
    /// the call returns.
    current: Option<(Pid, u64)>,
    /// Something a waiting call may wait for happened (a pipe or the terminal moved, a
    /// process ended, a signal came): the waiting calls are looked at again. Most calls
    /// (getppid, clock_gettime, mmap) change nothing of the kind, and skip that.
    changed: bool,
    /// The waits on sockets are tried again only at the server's ticks (each try is a
    /// request to the network server): set while those are tried.
    net_tick: bool,
    /// The confined programs' grants, from the configuration.
    rules: Vec<Rc<confine::Rule>>,
}

impl Kernel {
    pub fn new(
        pool: Pool,
        faults: Server,
        priority: u8,
        input: crate::console::Input,
        timer: kaal_core::time::Timer,
        wake: kaal_core::time::WakeTarget,
    ) -> Self {
        Self {
            pool,
            faults,
            input,
            timer,
            wake,
            wake_at: None,
            priority,
            procs: BTreeMap::new(),
            owner: BTreeMap::new(),
            next_pid: 1,
            images: BTreeMap::new(),
            tty: Tty { termios: abi::Termios::default_tty(), pgrp: 1, input: alloc::collections::VecDeque::new() },
            reported: BTreeSet::new(),
            init_ended: None,
            last_fault: (0, 0, 0),
            current: None,
            changed: false,
            net_tick: false,
            rules: Vec::new(),
        }
    }

    /// The confined programs' grants (`[linux.confine]`).
    pub fn set_rules(&mut self, rules: Vec<confine::Rule>) {
        self.rules = rules.into_iter().map(Rc::new).collect();
    }

    /// Starts init: pid 1, with the terminal as its descriptors 0, 1 and 2.
    pub fn start_init(&mut self, argv: &[String], env: &[String]) -> Result<(), String> {
        let path = argv.first().cloned().unwrap_or_default();
        let image = self.image(&path).map_err(|e| alloc::format!("{path}: {}", errno_text(e)))?;
        let argv: Vec<Vec<u8>> = argv.iter().map(|a| a.as_bytes().to_vec()).collect();
        let env: Vec<Vec<u8>> = env.iter().map(|a| a.as_bytes().to_vec()).collect();
        let (mm, regs) = loader::exec(&mut self.pool, &image, &path, &argv, &env)
            .map_err(|e| alloc::format!("{path}: {}", errno_text(e)))?;
        let mut fds = FdTable::default();
        let tty = OpenFile::new(Object::Tty, 2);
        for _ in 0..3 {
            let _ = fds.insert(Fd { file: tty.clone(), cloexec: false });
        }
        let pid = self.alloc_pid();
        let mut proc = Proc {
            pid,
            ppid: 0,
            pgid: pid,
            sid: pid,
            exe: path.clone(),
            comm: comm_of(&path),
            mm,
            threads: Vec::new(),
            fds,
            cwd: "/".to_string(),
            state: State::Running,
            actions: BTreeMap::new(),
            mask: 0,
            pending: 0,
            umask: 0o022,
            rules: Vec::new(),
        };
        if let Some(rule) = self.rules.iter().find(|r| r.program == path) {
            proc.rules.push(rule.clone());
        }
        let thread =
            self.spawn(&mut proc, pid as u64, &regs).map_err(|e| alloc::format!("{path}: {}", errno_text(e)))?;
        proc.threads.push(thread);
        self.procs.insert(pid, proc);
        Ok(())
    }

    fn alloc_pid(&mut self) -> Pid {
        let pid = self.next_pid;
        self.next_pid += 1;
        pid
    }

    fn spawn(&mut self, proc: &mut Proc, tid: u64, regs: &Registers) -> Result<Thread, u64> {
        let badge = Badge::new(tid).ok_or(errno::EAGAIN)?;
        let handle = proc
            .mm
            .process
            .spawn_thread(&mut self.pool.alloc, &self.faults, badge, self.priority, regs)
            .map_err(|_| errno::EAGAIN)?;
        // Named by its command, as the kernel's fault reports and the profiler show it.
        handle.set_name(&alloc::format!("linux:{}", proc.comm));
        self.owner.insert(tid, proc.pid);
        Ok(Thread { tid, handle, tls: regs.tls_base, clear_tid: 0, waiting: None })
    }

    /// The patched image of the program at `path`, read once and kept (while the
    /// images kept stay under [`IMAGE_CACHE`]; those no process runs go first).
    fn image(&mut self, path: &str) -> Result<Rc<Image>, u64> {
        if let Some(image) = self.images.get(path) {
            return Ok(image.clone());
        }
        let cached: usize = self.images.values().map(|i| i.bytes.len()).sum();
        if cached > IMAGE_CACHE {
            self.images.retain(|_, image| Rc::strong_count(image) > 1);
        }
        let image = Rc::new(loader::Image::read(path)?);
        self.images.insert(path.to_string(), image.clone());
        Ok(image)
    }

    /// Serves faults until init exits.
    pub fn run(&mut self) -> Ended {
        loop {
            if let Some(ended) = self.init_ended {
                return ended;
            }
            let changed = core::mem::take(&mut self.changed);
            if changed {
                self.wake_waiters();
            }
            if changed || self.wake_at.is_none() {
                self.arm_timer();
            }
            // Faults are at most 19 words; a message of another kind that is longer is
            // cut, and ends the process that sent it (below).
            let received = self.faults.recv_sized::<{ process::FAULT_EXTRA_WORDS }>();
            let tid = received.badge;
            let label = received.msg.label();
            if label == 0 && received.msg.is_empty() {
                // The bound notification: the time service (a sleeper's deadline, or
                // the terminal's poll).
                self.wake_at = None;
                let bytes = self.input.drain();
                if !bytes.is_empty() {
                    self.tty_input(&bytes);
                }
                self.net_tick = true;
                self.wake_waiters();
                self.net_tick = false;
                continue;
            }
            let word = |i: usize| received.msg.word(i);
            let Some(&pid) = self.owner.get(&tid) else {
                println!("[linux] a message from unknown thread {tid} (label {label:#x}) ignored");
                continue;
            };
            match Fault::decode(label, word) {
                Some(Fault::UnknownSyscall { ip, number, .. }) => {
                    let regs = Registers::from_unknown_syscall(word);
                    if (number >> 24) & 0xff != patch::VECTOR {
                        // A `syscall` the loader did not rewrite: RSP is already lost.
                        println!(
                            "[linux] pid {pid} ({}): a raw `syscall` at {ip:#x} the loader did not rewrite; \
                             killed (the kernel loses its stack pointer)",
                            self.comm(pid)
                        );
                        self.kill_process(pid, Ended::Killed(signal::SIGSYS));
                        continue;
                    }
                    self.syscall(pid, tid, regs);
                }
                Some(Fault::VmFault { ip, addr, write, .. }) => {
                    let repeat = self.last_fault == (tid, ip, addr);
                    self.last_fault = (tid, ip, addr);
                    let pool = &mut self.pool;
                    let handled =
                        !repeat && self.procs.get_mut(&pid).is_some_and(|p| p.mm.fault_in(pool, addr, write).is_ok());
                    if handled {
                        process::retry(&self.faults);
                    } else {
                        println!(
                            "[linux] pid {pid} ({}): segmentation fault at {addr:#x} (ip {ip:#x}, {})",
                            self.comm(pid),
                            if write { "write" } else { "read" }
                        );
                        self.kill_process(pid, Ended::Killed(signal::SIGSEGV));
                    }
                }
                Some(Fault::UserException { ip, number, .. }) => {
                    let sig = match number {
                        0 => signal::SIGFPE,
                        6 => signal::SIGILL,
                        _ => signal::SIGSEGV,
                    };
                    println!(
                        "[linux] pid {pid} ({}): CPU exception {number} at {ip:#x}: {}",
                        self.comm(pid),
                        abi::signal_name(sig)
                    );
                    self.kill_process(pid, Ended::Killed(sig));
                }
                Some(other) => {
                    println!("[linux] pid {pid} ({}): {other}; killed", self.comm(pid));
                    self.kill_process(pid, Ended::Killed(signal::SIGKILL));
                }
                None => {
                    // Not a fault: a message the process sent on its fault endpoint with
                    // a raw seL4 syscall. It is not answered, and it ends the process.
                    println!("[linux] pid {pid}: a message with label {label:#x} on its fault endpoint; killed");
                    self.kill_process(pid, Ended::Killed(signal::SIGSYS));
                }
            }
        }
    }

    fn comm(&self, pid: Pid) -> String {
        self.procs.get(&pid).map_or_else(String::new, |p| p.comm.clone())
    }

    /// Handles one system call of thread `tid` and answers it (or leaves it waiting).
    fn syscall(&mut self, pid: Pid, tid: u64, mut regs: Registers) {
        self.current = Some((pid, tid));
        // Calls that can complete another's wait: on pipes, descriptors, processes and
        // signals. (Waits of the caller itself go on the list; a deadline re-arms.)
        self.changed |= matches!(
            regs.rax,
            nr::READ
                | nr::WRITE
                | nr::READV
                | nr::WRITEV
                | nr::SENDFILE
                | nr::CLOSE
                | nr::DUP2
                | nr::DUP3
                | nr::EXIT
                | nr::EXIT_GROUP
                | nr::KILL
                | nr::TKILL
                | nr::TGKILL
                | nr::EXECVE
                | nr::NANOSLEEP
                | nr::CLOCK_NANOSLEEP
                | nr::POLL
                | nr::PPOLL
                | nr::WAIT4
                | nr::RT_SIGSUSPEND
                | nr::FUTEX
                | nr::CLONE
                | nr::FORK
                | nr::VFORK
        );
        let outcome = self.dispatch(pid, tid, &mut regs);
        self.current = None;
        self.finish(pid, tid, regs, outcome);
    }

    fn finish(&mut self, pid: Pid, tid: u64, mut regs: Registers, outcome: Outcome) {
        match outcome {
            Outcome::Return(value) => {
                regs.rax = value;
                regs.rip += 2;
                self.resume(pid, tid, regs, true, None);
            }
            Outcome::ReturnTls(value) => {
                regs.rax = value;
                regs.rip += 2;
                self.resume(pid, tid, regs, false, None);
            }
            Outcome::Restore(regs) => self.resume(pid, tid, regs, false, None),
            Outcome::Wait(wait) => {
                if let Some(thread) = self.thread_mut(pid, tid) {
                    thread.waiting = Some((regs, wait));
                }
            }
            Outcome::Gone => {}
        }
    }

    fn thread_mut(&mut self, pid: Pid, tid: u64) -> Option<&mut Thread> {
        self.procs.get_mut(&pid)?.threads.iter_mut().find(|t| t.tid == tid)
    }

    /// Retries every waiting call; those that can complete now are answered.
    fn wake_waiters(&mut self) {
        loop {
            let mut progressed = false;
            let waiting: Vec<(Pid, u64, Registers, Wait)> = self
                .procs
                .values()
                .flat_map(|p| p.threads.iter().filter_map(|t| t.waiting.map(|(r, w)| (p.pid, t.tid, r, w))))
                .collect();
            for (pid, tid, mut regs, wait) in waiting {
                // As for a call being made: a signal the retry raises for this thread
                // (SIGPIPE) is delivered by the resume below, not by kick().
                self.current = Some((pid, tid));
                let outcome = self.retry(pid, tid, &mut regs, wait);
                self.current = None;
                if let Outcome::Wait(_) = outcome {
                    continue;
                }
                if let Some(thread) = self.thread_mut(pid, tid) {
                    thread.waiting = None;
                }
                progressed = true;
                if let Outcome::Return(value) = outcome {
                    regs.rax = value;
                    regs.rip += 2;
                    self.resume(pid, tid, regs, false, None);
                }
            }
            if !progressed {
                return;
            }
        }
    }

    fn retry(&mut self, pid: Pid, tid: u64, regs: &mut Registers, wait: Wait) -> Outcome {
        if !self.net_tick && self.waits_on_network(pid, wait) {
            return Outcome::Wait(wait);
        }
        match wait {
            Wait::Child { pid: which, status, options } => self.wait4(pid, which, status, options),
            Wait::Read { fd, buf, len } => self.read(pid, fd, buf, len),
            Wait::Write { fd, buf, len } => self.write(pid, fd, buf, len),
            Wait::Poll { fds, n, until } => match until {
                Some(at) if Instant::now() >= at => self.poll(pid, fds, n, 0),
                _ => match self.poll(pid, fds, n, 0) {
                    Outcome::Return(0) => Outcome::Wait(wait),
                    other => other,
                },
            },
            Wait::Suspend { .. } => Outcome::Wait(wait),
            Wait::Futex { until, .. } => match until {
                Some(at) if Instant::now() >= at => err(errno::ETIMEDOUT),
                _ => Outcome::Wait(wait),
            },
            Wait::Accept { fd, addr, len_ptr, flags } => self.accept(pid, fd, addr, len_ptr, flags),
            Wait::Connect { fd } => self.connect_done(pid, fd),
            Wait::Send { fd, buf, len, flags, addr, alen } => self.sendto(pid, fd, buf, len, flags, addr, alen),
            Wait::Recv { fd, buf, len, flags, addr, alen } => self.recvfrom(pid, fd, buf, len, flags, addr, alen),
            Wait::SendFile { out_fd, in_fd, offset_ptr, count } => self.sendfile(pid, out_fd, in_fd, offset_ptr, count),
            Wait::Sleep { until } => {
                let _ = (tid, regs);
                if Instant::now() >= until {
                    Outcome::Return(0)
                } else {
                    Outcome::Wait(wait)
                }
            }
        }
    }

    /// Whether `wait` waits on the network server (a socket call, a read or write of a
    /// socket, or a poll by a process with sockets open), which a tick looks at again,
    /// rather than on something here.
    fn waits_on_network(&self, pid: Pid, wait: Wait) -> bool {
        let is_socket = |fd: u64| self.fd_file(pid, fd).is_ok_and(|f| matches!(f.borrow().object, Object::Socket(_)));
        match wait {
            Wait::Accept { .. } | Wait::Connect { .. } | Wait::Send { .. } | Wait::Recv { .. } => true,
            Wait::Read { fd, .. } | Wait::Write { fd, .. } | Wait::SendFile { out_fd: fd, .. } => is_socket(fd),
            Wait::Poll { .. } => {
                self.procs.get(&pid).is_some_and(|p| p.fds.any(|f| matches!(f.borrow().object, Object::Socket(_))))
            }
            _ => false,
        }
    }

    /// Asks the time service to wake the server at the earliest sleeper's deadline, or
    /// for the terminal's next poll.
    fn arm_timer(&mut self) {
        let poll = Instant::now().checked_add(crate::console::POLL);
        let earliest = self
            .procs
            .values()
            .flat_map(|p| p.threads.iter())
            .filter_map(|t| match t.waiting {
                Some((_, Wait::Sleep { until }))
                | Some((_, Wait::Poll { until: Some(until), .. }))
                | Some((_, Wait::Futex { until: Some(until), .. })) => Some(until),
                _ => None,
            })
            .chain(poll)
            .min();
        let Some(at) = earliest else { return };
        if self.wake_at.is_some_and(|armed| armed <= at) {
            return;
        }
        if let Err(e) = self.timer.wake_at(at, self.wake) {
            println!("[linux] the time service refused a wake-up: {e}; sleeping processes wait on");
        }
        self.wake_at = Some(at);
    }

    /// Input arrived on the terminal (from the console driver).
    fn tty_input(&mut self, bytes: &[u8]) {
        let t = self.tty.termios;
        let canonical = t.lflag & abi::ICANON != 0;
        let echo = t.lflag & abi::ECHO != 0;
        let mut echoed = Vec::new();
        for &raw in bytes {
            let b = if raw == b'\r' && t.iflag & abi::ICRNL != 0 { b'\n' } else { raw };
            if t.lflag & abi::ISIG != 0 && (b == t.cc[abi::VINTR] || b == t.cc[abi::VQUIT]) {
                // Ctrl-C (Ctrl-\): SIGINT (SIGQUIT) to the foreground process group.
                let sig = if b == t.cc[abi::VINTR] { signal::SIGINT } else { signal::SIGQUIT };
                self.tty.input.clear();
                if echo {
                    echoed.extend_from_slice(if sig == signal::SIGINT { b"^C\n" } else { b"^\\\n" });
                }
                let pgrp = self.tty.pgrp;
                self.signal_group(pgrp, sig);
                continue;
            }
            if canonical && (b == t.cc[abi::VERASE] || b == 8) {
                // Erase the last character of the line being typed.
                if self.tty.input.back().is_some_and(|&c| c != b'\n' && c != t.cc[abi::VEOF]) {
                    self.tty.input.pop_back();
                    if echo {
                        echoed.extend_from_slice(b"\x08 \x08");
                    }
                }
                continue;
            }
            self.tty.input.push_back(b);
            if echo && b != t.cc[abi::VEOF] {
                echoed.push(b);
            }
        }
        if !echoed.is_empty() {
            crate::console::write_translated(&echoed, t.oflag & abi::OPOST != 0 && t.oflag & abi::ONLCR != 0);
        }
        self.wake_waiters();
    }

    fn signal_group(&mut self, pgrp: Pid, sig: u32) {
        let members: Vec<Pid> = self.procs.values().filter(|p| p.pgid == pgrp).map(|p| p.pid).collect();
        for pid in members {
            self.send_signal(pid, sig);
        }
    }

    /// Sends `sig` to `pid`, as its action says: SIGKILL and default actions that
    /// terminate end the process; ignored signals are dropped; a blocked signal stays
    /// pending; a caught one is delivered with a signal frame (see [`Self::resume`]),
    /// at once if its thread waits in a call (which then fails with EINTR) or runs, or
    /// when the call it is making returns.
    fn send_signal(&mut self, pid: Pid, sig: u32) {
        let Some(proc) = self.procs.get_mut(&pid) else { return };
        if !matches!(proc.state, State::Running) || sig == 0 || sig > 64 {
            return;
        }
        if sig == signal::SIGKILL {
            self.kill_process(pid, Ended::Killed(sig));
            return;
        }
        let bit = signal::bit(sig);
        let handler = proc.actions.get(&sig).map_or(signal::SIG_DFL, |a| a.handler);
        if handler == signal::SIG_IGN || (handler == signal::SIG_DFL && ignored_by_default(sig)) {
            return;
        }
        if proc.mask & bit != 0 {
            proc.pending |= bit;
            return;
        }
        if handler == signal::SIG_DFL {
            self.kill_process(pid, Ended::Killed(sig));
            return;
        }
        proc.pending |= bit;
        self.kick(pid);
    }

    /// Gets a signal pending for `pid` delivered: its thread is made to leave the call it
    /// waits in (EINTR), or stopped where it runs.
    fn kick(&mut self, pid: Pid) {
        let current = self.current;
        let Some(proc) = self.procs.get_mut(&pid) else { return };
        let Some(thread) = proc.threads.first_mut() else { return };
        let tid = thread.tid;
        if current == Some((pid, tid)) {
            // Delivered as its call returns.
            return;
        }
        if let Some((mut regs, wait)) = thread.waiting.take() {
            // rt_sigsuspend: the handler runs under the suspend mask; the frame keeps
            // the mask from before the call, which rt_sigreturn puts back.
            let saved_mask = match wait {
                Wait::Suspend { old_mask } => Some(old_mask),
                _ => None,
            };
            let pending = proc.pending & !proc.mask;
            let sig = pending.trailing_zeros() + 1;
            let restart = proc.actions.get(&sig).is_some_and(|a| a.flags & signal::SA_RESTART != 0)
                && matches!(wait, Wait::Child { .. } | Wait::Read { .. } | Wait::Write { .. });
            if !restart {
                // With SA_RESTART the call is made again after the handler: the
                // registers still point at the `int` with the call's number in RAX.
                regs.rax = errno::EINTR.wrapping_neg();
                regs.rip += 2;
            }
            self.resume(pid, tid, regs, false, saved_mask);
            return;
        }
        // Running (or about to fault): stop it where it is.
        thread.handle.suspend();
        match thread.handle.registers() {
            Ok(regs) => self.resume(pid, tid, regs, false, None),
            Err(_) => {
                let _ = thread.handle.resume_with(&Registers::default());
                self.kill_process(pid, Ended::Killed(signal::SIGKILL));
            }
        }
    }

    /// Continues thread `tid` with `regs` (its registers as the call it made returns, or
    /// as it was stopped), running the handler of a signal that is pending and not
    /// blocked first: a frame with `regs` and the mask goes on its stack and it starts
    /// in the handler, which returns through `rt_sigreturn`. `reply`: answer the fault
    /// it waits on (cheaper) if nothing else changes. `saved_mask`: the mask to restore
    /// after the handler (or now, if none runs) when it is not the current one (the
    /// mask from before rt_sigsuspend).
    fn resume(&mut self, pid: Pid, tid: u64, mut regs: Registers, reply: bool, saved_mask: Option<u64>) {
        let Some(proc) = self.procs.get_mut(&pid) else { return };
        let Some(thread) = proc.threads.iter().find(|t| t.tid == tid) else { return };
        regs.tls_base = thread.tls;
        let deliverable = proc.pending & !proc.mask;
        if deliverable == 0 {
            if let Some(mask) = saved_mask {
                proc.mask = mask;
            }
            if reply {
                process::reply_registers(&self.faults, &regs);
            } else if let Some(thread) = proc.threads.iter().find(|t| t.tid == tid) {
                let _ = thread.handle.resume_with(&regs);
            }
            return;
        }
        let sig = deliverable.trailing_zeros() + 1;
        proc.pending &= !signal::bit(sig);
        let action = proc.actions.get(&sig).copied().unwrap_or_default();
        if action.handler == signal::SIG_DFL || action.handler == signal::SIG_IGN {
            // Blocked while its default applied, unblocked since.
            if action.handler == signal::SIG_DFL && !ignored_by_default(sig) {
                self.kill_process(pid, Ended::Killed(sig));
            } else {
                self.resume(pid, tid, regs, reply, saved_mask);
            }
            return;
        }
        let interrupted = frame_regs(&regs);
        let restorer = if action.flags & signal::SA_RESTORER != 0 { action.restorer } else { 0 };
        let restored = saved_mask.unwrap_or(proc.mask);
        let (frame, sp) = signal_frame::build_frame(&interrupted, sig, restored, restorer, regs.rsp);
        let mut blocked = proc.mask | action.mask;
        if action.flags & signal::SA_NODEFER == 0 {
            blocked |= signal::bit(sig);
        }
        proc.mask = blocked & !signal::UNBLOCKABLE;
        if action.flags & signal::SA_RESETHAND != 0 {
            proc.actions.remove(&sig);
        }
        let written = self.procs.get_mut(&pid).map(|p| p.mm.write(&mut self.pool, sp, &frame));
        if !matches!(written, Some(Ok(()))) {
            // No room for the frame: Linux forces SIGSEGV.
            println!(
                "[linux] pid {pid} ({}): no stack for the handler of {}; killed",
                self.comm(pid),
                abi::signal_name(sig)
            );
            self.kill_process(pid, Ended::Killed(signal::SIGSEGV));
            return;
        }
        let entry = signal_frame::handler_entry(&interrupted, sig, action.handler, sp);
        let mut next = registers_of(&entry);
        next.tls_base = regs.tls_base;
        if let Some(thread) = self.procs.get(&pid).and_then(|p| p.threads.iter().find(|t| t.tid == tid)) {
            let _ = thread.handle.resume_with(&next);
        }
    }

    /// rt_sigreturn: the registers and mask from the frame the handler returned over.
    fn sigreturn(&mut self, pid: Pid, regs: &Registers) -> Outcome {
        let at = signal_frame::frame_address_at_sigreturn(regs.rsp);
        let frame = match self.read_mem(pid, at, signal_frame::FRAME_SIZE) {
            Ok(f) => f,
            Err(_) => {
                println!("[linux] pid {pid} ({}): rt_sigreturn without a signal frame; killed", self.comm(pid));
                self.kill_process(pid, Ended::Killed(signal::SIGSEGV));
                return Outcome::Gone;
            }
        };
        match signal_frame::parse_frame(&frame) {
            Ok((restored, mask)) => {
                if let Some(proc) = self.procs.get_mut(&pid) {
                    proc.mask = mask;
                }
                Outcome::Restore(registers_of(&restored))
            }
            Err(why) => {
                println!("[linux] pid {pid} ({}): a bad signal frame ({why}); killed", self.comm(pid));
                self.kill_process(pid, Ended::Killed(signal::SIGSEGV));
                Outcome::Gone
            }
        }
    }

    /// rt_sigsuspend(mask): waits with `mask` until a signal is delivered.
    fn sigsuspend(&mut self, pid: Pid, tid: u64, regs: &Registers, set: u64) -> Outcome {
        let raw = match self.read_mem(pid, set, 8) {
            Ok(r) => r,
            Err(e) => return err(e),
        };
        let mask = u64::from_le_bytes(raw.as_slice().try_into().unwrap_or_default()) & !signal::UNBLOCKABLE;
        let Some(proc) = self.procs.get_mut(&pid) else { return Outcome::Gone };
        let old_mask = core::mem::replace(&mut proc.mask, mask);
        if proc.pending & !mask != 0 {
            // Already pending: the call fails with EINTR and the handler runs under the
            // suspend mask; the frame keeps the mask from before the call.
            let mut now = *regs;
            now.rax = errno::EINTR.wrapping_neg();
            now.rip += 2;
            self.resume(pid, tid, now, false, Some(old_mask));
            return Outcome::Gone;
        }
        Outcome::Wait(Wait::Suspend { old_mask })
    }

    /// Ends process `pid`: its threads stop, its memory and descriptors go, its
    /// children go to init, and its parent is told.
    fn kill_process(&mut self, pid: Pid, ended: Ended) {
        self.changed = true;
        let Some(proc) = self.procs.get_mut(&pid) else { return };
        if !matches!(proc.state, State::Running) {
            return;
        }
        for thread in proc.threads.drain(..) {
            self.owner.remove(&thread.tid);
            proc.mm.process.remove_thread(thread.handle, self.pool.alloc.cspace());
        }
        proc.mm.clear(&mut self.pool);
        proc.fds.clear();
        proc.state = State::Zombie(ended);
        let ppid = proc.ppid;
        for child in self.procs.values_mut().filter(|c| c.ppid == pid) {
            child.ppid = 1;
        }
        if pid == 1 {
            self.init_ended = Some(ended);
            return;
        }
        if ppid == 1 && !self.procs.contains_key(&1) {
            self.procs.remove(&pid);
            return;
        }
        self.send_signal(ppid, signal::SIGCHLD);
        // Orphans init does not wait for are reaped at once.
        let reap: Vec<Pid> = self
            .procs
            .values()
            .filter(|p| {
                p.ppid == 1
                    && matches!(p.state, State::Zombie(_))
                    && self.procs.get(&1).is_none_or(|i| matches!(i.state, State::Zombie(_)))
            })
            .map(|p| p.pid)
            .collect();
        for pid in reap {
            self.procs.remove(&pid);
        }
    }

    // ---- memory helpers ----

    fn read_mem(&mut self, pid: Pid, addr: u64, len: usize) -> Result<Vec<u8>, u64> {
        let mut out = vec![0u8; len];
        let proc = self.procs.get_mut(&pid).ok_or(errno::ESRCH)?;
        proc.mm.read(&mut self.pool, addr, &mut out)?;
        Ok(out)
    }

    fn write_mem(&mut self, pid: Pid, addr: u64, data: &[u8]) -> Result<(), u64> {
        let proc = self.procs.get_mut(&pid).ok_or(errno::ESRCH)?;
        proc.mm.write(&mut self.pool, addr, data)
    }

    fn read_path(&mut self, pid: Pid, addr: u64) -> Result<String, u64> {
        let proc = self.procs.get_mut(&pid).ok_or(errno::ESRCH)?;
        let bytes = proc.mm.read_cstr(&mut self.pool, addr, 4096)?;
        let text = String::from_utf8(bytes).map_err(|_| errno::EINVAL)?;
        Ok(text)
    }

    /// `path` (relative to `dirfd` or the cwd) as the VFS sees it, if the process's
    /// confinement lets it use the path so (see [`crate::confine`]).
    fn resolve_for(&mut self, pid: Pid, dirfd: u64, addr: u64, need: Need) -> Result<String, u64> {
        let path = self.resolve(pid, dirfd, addr)?;
        let proc = self.procs.get(&pid).ok_or(errno::ESRCH)?;
        confine::check_path(&proc.rules, &path, need)?;
        Ok(path)
    }

    /// `path` (relative to `dirfd` or the cwd) as the VFS sees it.
    fn resolve(&mut self, pid: Pid, dirfd: u64, addr: u64) -> Result<String, u64> {
        let path = self.read_path(pid, addr)?;
        if path.is_empty() {
            return Err(errno::ENOENT);
        }
        let proc = self.procs.get(&pid).ok_or(errno::ESRCH)?;
        if path.starts_with('/') || abi::int_arg(dirfd) == abi::AT_FDCWD {
            return Ok(files::absolute(&proc.cwd, &path));
        }
        let fd = proc.fds.get(dirfd)?;
        let base = match &fd.file.borrow().object {
            Object::Dir { path, .. } => path.clone(),
            _ => return Err(errno::ENOTDIR),
        };
        Ok(files::absolute(&base, &path))
    }

    /// A NULL-terminated array of strings (argv, envp); E2BIG past `budget` bytes in all.
    fn read_string_array(&mut self, pid: Pid, addr: u64, budget: &mut usize) -> Result<Vec<Vec<u8>>, u64> {
        let mut out = Vec::new();
        if addr == 0 {
            return Ok(out);
        }
        for i in 0..4096u64 {
            let proc = self.procs.get_mut(&pid).ok_or(errno::ESRCH)?;
            let ptr = proc.mm.read_u64(&mut self.pool, addr.checked_add(i * 8).ok_or(errno::EFAULT)?)?;
            if ptr == 0 {
                return Ok(out);
            }
            let s = proc.mm.read_cstr(&mut self.pool, ptr, *budget).map_err(|e| {
                if e == errno::ENAMETOOLONG {
                    errno::E2BIG
                } else {
                    e
                }
            })?;
            *budget = budget.checked_sub(s.len() + 1 + 8).ok_or(errno::E2BIG)?;
            out.push(s);
        }
        Err(errno::E2BIG)
    }

    // ---- the system calls ----

    fn dispatch(&mut self, pid: Pid, tid: u64, regs: &mut Registers) -> Outcome {
        let (a0, a1, a2, a3, a4, _a5) = (regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9);
        let number = regs.rax;
        let r = |v: Result<u64, u64>| match v {
            Ok(v) => Outcome::Return(v),
            Err(e) => err(e),
        };
        match number {
            nr::READ => self.read(pid, a0, a1, a2),
            nr::WRITE => self.write(pid, a0, a1, a2),
            nr::READV => self.vectored(pid, a0, a1, a2, Self::read),
            nr::WRITEV => self.vectored(pid, a0, a1, a2, Self::write),
            nr::PREAD64 => r(self.pread(pid, a0, a1, a2, a3)),
            nr::OPEN => r(self.openat(pid, FDCWD, a0, a1, a2)),
            nr::OPENAT => r(self.openat(pid, a0, a1, a2, a3)),
            nr::CLOSE => r(self.close(pid, a0)),
            nr::LSEEK => r(self.lseek(pid, a0, a1 as i64, a2)),
            nr::FSTAT => r(self.fstat(pid, a0, a1)),
            nr::STAT => r(self.fstatat(pid, FDCWD, a0, a1, 0)),
            nr::LSTAT => r(self.fstatat(pid, FDCWD, a0, a1, abi::AT_SYMLINK_NOFOLLOW)),
            nr::NEWFSTATAT => r(self.fstatat(pid, a0, a1, a2, a3)),
            nr::STATX => r(self.statx(pid, a0, a1, a2, a4)),
            nr::GETDENTS64 => r(self.getdents64(pid, a0, a1, a2)),
            nr::ACCESS => r(self.faccessat(pid, FDCWD, a0)),
            nr::FACCESSAT | nr::FACCESSAT2 => r(self.faccessat(pid, a0, a1)),
            nr::MKDIR => r(self.mkdirat(pid, FDCWD, a0)),
            nr::MKDIRAT => r(self.mkdirat(pid, a0, a1)),
            nr::UNLINK => r(self.unlinkat(pid, FDCWD, a0, 0)),
            nr::RMDIR => r(self.unlinkat(pid, FDCWD, a0, abi::AT_REMOVEDIR)),
            nr::UNLINKAT => r(self.unlinkat(pid, a0, a1, a2)),
            nr::RENAME => r(self.renameat(pid, FDCWD, a0, FDCWD, a1)),
            nr::RENAMEAT | nr::RENAMEAT2 => r(self.renameat(pid, a0, a1, a2, a3)),
            nr::READLINK => r(self.readlinkat(pid, FDCWD, a0, a1, a2)),
            nr::READLINKAT => r(self.readlinkat(pid, a0, a1, a2, a3)),
            nr::SYMLINK => r(self.symlink(pid, a0, a1)),
            nr::GETCWD => r(self.getcwd(pid, a0, a1)),
            nr::CHDIR => r(self.chdir(pid, a0)),
            nr::FCHDIR => r(self.fchdir(pid, a0)),
            nr::DUP => r(self.dup(pid, a0)),
            nr::DUP2 => r(self.dup3(pid, a0, a1, 0, true)),
            nr::DUP3 => r(self.dup3(pid, a0, a1, a2, false)),
            nr::FCNTL => r(self.fcntl(pid, a0, a1, a2)),
            nr::IOCTL => r(self.ioctl(pid, a0, a1, a2)),
            nr::PIPE => r(self.pipe2(pid, a0, 0)),
            nr::PIPE2 => r(self.pipe2(pid, a0, a1)),
            nr::POLL => self.poll(pid, a0, a1, a2 as i64 as i32 as i64),
            nr::PPOLL => match self.ppoll_timeout(pid, a2) {
                Ok(timeout) => self.poll(pid, a0, a1, timeout),
                Err(e) => err(e),
            },
            nr::SENDFILE => self.sendfile(pid, a0, a1, a2, a3),
            nr::SOCKET => r(self.socket(pid, a0, a1)),
            nr::SOCKETPAIR => err(errno::EAFNOSUPPORT),
            nr::BIND => r(self.bind(pid, a0, a1, a2)),
            nr::LISTEN => r(self.listen(pid, a0, a1)),
            nr::ACCEPT => self.accept(pid, a0, a1, a2, 0),
            nr::ACCEPT4 => self.accept(pid, a0, a1, a2, a3),
            nr::CONNECT => self.connect(pid, a0, a1, a2),
            nr::SENDTO => self.sendto(pid, a0, a1, a2, a3, a4, _a5),
            nr::RECVFROM => self.recvfrom(pid, a0, a1, a2, a3, a4, _a5),
            nr::SHUTDOWN => r(self.shutdown(pid, a0, a1)),
            nr::GETSOCKNAME => r(self.socket_name(pid, a0, a1, a2, false)),
            nr::GETPEERNAME => r(self.socket_name(pid, a0, a1, a2, true)),
            nr::SETSOCKOPT => r(self.setsockopt(pid, a0, a1, a2, a3, a4)),
            nr::GETSOCKOPT => r(self.getsockopt(pid, a0, a1, a2, a3, a4)),
            nr::BRK => Outcome::Return(self.brk(pid, a0)),
            nr::MMAP => r(self.mmap(pid, a0, a1, a2, a3, a4 as i64 as i32 as i64, _a5)),
            nr::MUNMAP => r(self.munmap(pid, a0, a1)),
            nr::MPROTECT => r(self.mprotect(pid, a0, a1, a2)),
            nr::MADVISE => Outcome::Return(0),
            nr::ARCH_PRCTL => self.arch_prctl(pid, tid, a0, a1),
            nr::PRCTL => r(self.prctl(pid, a0, a1)),
            nr::SET_TID_ADDRESS => {
                if let Some(t) = self.thread_mut(pid, tid) {
                    t.clear_tid = a0;
                }
                Outcome::Return(tid)
            }
            nr::SET_ROBUST_LIST => Outcome::Return(0),
            nr::RT_SIGACTION => r(self.rt_sigaction(pid, a0, a1, a2)),
            nr::RT_SIGRETURN => self.sigreturn(pid, regs),
            nr::RT_SIGSUSPEND => self.sigsuspend(pid, tid, regs, a0),
            nr::RT_SIGPROCMASK => r(self.rt_sigprocmask(pid, a0, a1, a2)),
            nr::SIGALTSTACK => Outcome::Return(0),
            nr::GETPID => Outcome::Return(pid as u64),
            nr::GETTID => Outcome::Return(tid),
            nr::GETPPID => Outcome::Return(self.procs.get(&pid).map_or(0, |p| p.ppid as u64)),
            nr::GETUID | nr::GETEUID | nr::GETGID | nr::GETEGID => Outcome::Return(0),
            nr::SETUID | nr::SETGID => Outcome::Return(0),
            nr::GETPGRP => Outcome::Return(self.procs.get(&pid).map_or(0, |p| p.pgid as u64)),
            nr::GETPGID => r(self.getpgid(pid, a0)),
            nr::SETPGID => r(self.setpgid(pid, a0, a1)),
            nr::GETSID => Outcome::Return(self.procs.get(&pid).map_or(0, |p| p.sid as u64)),
            nr::SETSID => r(self.setsid(pid)),
            nr::UMASK => {
                let old = self.procs.get(&pid).map_or(0o022, |p| p.umask);
                if let Some(p) = self.procs.get_mut(&pid) {
                    p.umask = a0 & 0o777;
                }
                Outcome::Return(old)
            }
            nr::UNAME => r(self.uname(pid, a0)),
            nr::GETRANDOM => r(self.getrandom(pid, a0, a1)),
            nr::CLOCK_GETTIME => r(self.clock_gettime(pid, a0, a1)),
            nr::GETTIMEOFDAY => r(self.gettimeofday(pid, a0)),
            nr::TIME => {
                let now = realtime_ns() / 1_000_000_000;
                if a0 != 0 {
                    if let Err(e) = self.write_mem(pid, a0, &now.to_le_bytes()) {
                        return err(e);
                    }
                }
                Outcome::Return(now)
            }
            nr::NANOSLEEP => self.nanosleep(pid, a0),
            nr::CLOCK_NANOSLEEP => self.clock_nanosleep(pid, a0, a1, a2),
            nr::PRLIMIT64 => r(self.prlimit(pid, a1, a3)),
            nr::GETRLIMIT => r(self.prlimit(pid, a0, a1)),
            nr::SCHED_YIELD => Outcome::Return(0),
            nr::SCHED_GETAFFINITY => r(self.sched_getaffinity(pid, a1, a2)),
            nr::EXIT => {
                self.exit_thread(pid, tid, a0 as u8);
                Outcome::Gone
            }
            nr::EXIT_GROUP => {
                self.kill_process(pid, Ended::Exited(a0 as u8));
                Outcome::Gone
            }
            nr::WAIT4 => self.wait4(pid, a0 as i64 as i32 as i64, a1, a2),
            nr::KILL => r(self.kill(pid, a0 as i64 as i32 as i64, a1)),
            nr::TGKILL | nr::TKILL => {
                let sig = if number == nr::TGKILL { a2 } else { a1 };
                r(self.kill(pid, pid as i64, sig))
            }
            nr::CLONE => self.clone(pid, tid, regs, a0, a1, a2, a3, a4),
            nr::FORK | nr::VFORK => self.clone(pid, tid, regs, signal::SIGCHLD as u64, 0, 0, 0, 0),
            nr::EXECVE => self.execve(pid, tid, a0, a1, a2),
            nr::SYNC => {
                let _ = fs::sync();
                Outcome::Return(0)
            }
            nr::FSYNC | nr::FDATASYNC => {
                let _ = fs::sync();
                Outcome::Return(0)
            }
            nr::RSEQ => err(errno::ENOSYS),
            nr::FUTEX => self.futex(pid, a0, a1, a2, a3, a4, _a5),
            _ => {
                if self.reported.insert(number) {
                    println!(
                        "[linux] pid {pid} ({}): system call {} ({number}) is not implemented: ENOSYS",
                        self.comm(pid),
                        abi::name(number).unwrap_or("unknown")
                    );
                }
                err(errno::ENOSYS)
            }
        }
    }

    fn fd_file(&self, pid: Pid, fd: u64) -> Result<Rc<RefCell<OpenFile>>, u64> {
        Ok(self.procs.get(&pid).ok_or(errno::ESRCH)?.fds.get(fd)?.file.clone())
    }

    fn read(&mut self, pid: Pid, fd: u64, buf: u64, len: u64) -> Outcome {
        let file = match self.fd_file(pid, fd) {
            Ok(f) => f,
            Err(e) => return err(e),
        };
        if matches!(file.borrow().object, Object::Socket(_)) {
            return self.recvfrom(pid, fd, buf, len, 0, 0, 0);
        }
        let len = len.min(1 << 20) as usize;
        let mut open = file.borrow_mut();
        let nonblock = open.flags & abi::O_NONBLOCK != 0;
        let wait = Outcome::Wait(Wait::Read { fd, buf, len: len as u64 });
        // The bytes are copied out first and taken only once they reached the process:
        // a bad buffer (EFAULT) loses no input.
        let (data, taken): (Vec<u8>, usize) = match &mut open.object {
            Object::Tty => {
                if self.tty.input.is_empty() {
                    return if nonblock { err(errno::EAGAIN) } else { wait };
                }
                if self.tty.termios.lflag & abi::ICANON != 0 {
                    // A whole line; end-of-file (Ctrl-D) ends it too and is not passed on.
                    let eof = self.tty.termios.cc[abi::VEOF];
                    let Some(end) = self.tty.input.iter().position(|&b| b == b'\n' || b == eof) else {
                        return if nonblock { err(errno::EAGAIN) } else { wait };
                    };
                    let take = (end + 1).min(len);
                    let mut line: Vec<u8> = self.tty.input.iter().take(take).copied().collect();
                    if line.last() == Some(&eof) {
                        line.pop();
                    }
                    (line, take)
                } else {
                    let take = self.tty.input.len().min(len);
                    (self.tty.input.iter().take(take).copied().collect(), take)
                }
            }
            Object::Null => (Vec::new(), 0),
            Object::File { file, .. } => {
                let mut out = vec![0u8; len];
                match file.read(&mut out) {
                    Ok(n) => {
                        out.truncate(n);
                        (out, n)
                    }
                    Err(e) => return err(files::errno_of(&e)),
                }
            }
            Object::Dir { .. } => return err(errno::EISDIR),
            Object::PipeRead(pipe) => {
                let pipe = pipe.borrow();
                if pipe.is_empty() {
                    if pipe.writers == 0 {
                        return Outcome::Return(0);
                    }
                    return if nonblock { err(errno::EAGAIN) } else { wait };
                }
                let take = pipe.len().min(len);
                (pipe.peek(take), take)
            }
            Object::PipeWrite(_) => return err(errno::EBADF),
            Object::Socket(_) => return err(errno::EBADF),
        };
        drop(open);
        let written = self.write_mem(pid, buf, &data);
        let mut open = file.borrow_mut();
        match (&mut open.object, &written) {
            (Object::Tty, Ok(())) => drop(self.tty.input.drain(..taken)),
            (Object::PipeRead(pipe), Ok(())) => pipe.borrow_mut().consume(taken),
            (Object::File { file, .. }, Err(_)) => {
                let _ = file.seek(SeekFrom::Current(-(taken as i64)));
            }
            _ => {}
        }
        match written {
            Ok(()) => Outcome::Return(data.len() as u64),
            Err(e) => err(e),
        }
    }

    fn write(&mut self, pid: Pid, fd: u64, buf: u64, len: u64) -> Outcome {
        let file = match self.fd_file(pid, fd) {
            Ok(f) => f,
            Err(e) => return err(e),
        };
        if matches!(file.borrow().object, Object::Socket(_)) {
            return self.sendto(pid, fd, buf, len, 0, 0, 0);
        }
        let len = len.min(1 << 20) as usize;
        // A pipe takes only what fits; read no more than that from the process.
        let room = match &file.borrow().object {
            Object::PipeWrite(pipe) => {
                let pipe = pipe.borrow();
                if pipe.readers == 0 {
                    drop(pipe);
                    self.send_signal(pid, signal::SIGPIPE);
                    return err(errno::EPIPE);
                }
                pipe.room()
            }
            _ => len,
        };
        if room == 0 && len > 0 {
            return if file.borrow().flags & abi::O_NONBLOCK != 0 {
                err(errno::EAGAIN)
            } else {
                Outcome::Wait(Wait::Write { fd, buf, len: len as u64 })
            };
        }
        let data = match self.read_mem(pid, buf, len.min(room)) {
            Ok(d) => d,
            Err(e) => return err(e),
        };
        let mut file = file.borrow_mut();
        let append = file.flags & abi::O_APPEND != 0;
        match &mut file.object {
            Object::Tty => {
                let onlcr = self.tty.termios.oflag & abi::ONLCR != 0 && self.tty.termios.oflag & abi::OPOST != 0;
                crate::console::write_translated(&data, onlcr);
                Outcome::Return(data.len() as u64)
            }
            Object::Null => Outcome::Return(data.len() as u64),
            Object::File { file, .. } => {
                if append {
                    if let Err(e) = file.seek(SeekFrom::End(0)) {
                        return err(files::errno_of(&e));
                    }
                }
                match file.write(&data) {
                    Ok(n) => Outcome::Return(n as u64),
                    Err(e) => err(files::errno_of(&e)),
                }
            }
            Object::Dir { .. } => err(errno::EISDIR),
            Object::PipeRead(_) => err(errno::EBADF),
            Object::PipeWrite(pipe) => {
                pipe.borrow_mut().push(&data);
                Outcome::Return(data.len() as u64)
            }
            Object::Socket(_) => err(errno::EBADF),
        }
    }

    fn iovecs(&mut self, pid: Pid, iov: u64, count: u64) -> Result<Vec<(u64, u64)>, u64> {
        if count > 1024 {
            return Err(errno::EINVAL);
        }
        let raw = self.read_mem(pid, iov, count as usize * 16)?;
        Ok(raw
            .chunks_exact(16)
            .map(|c| {
                let base = u64::from_le_bytes(c[..8].try_into().unwrap_or_default());
                let len = u64::from_le_bytes(c[8..].try_into().unwrap_or_default());
                (base, len)
            })
            .collect())
    }

    /// readv/writev: `op` (read or write) on each buffer of the iovec array in turn,
    /// until one moves less than it asked; the total, or the first buffer's outcome if
    /// it moved nothing (an error, or a wait).
    fn vectored(
        &mut self,
        pid: Pid,
        fd: u64,
        iov: u64,
        count: u64,
        op: fn(&mut Self, Pid, u64, u64, u64) -> Outcome,
    ) -> Outcome {
        let vecs = match self.iovecs(pid, iov, count) {
            Ok(v) => v,
            Err(e) => return err(e),
        };
        let mut total = 0u64;
        for (base, len) in vecs {
            if len == 0 {
                continue;
            }
            match op(self, pid, fd, base, len) {
                Outcome::Return(n) if (n as i64) >= 0 => {
                    total += n;
                    if n < len {
                        break;
                    }
                }
                other if total == 0 => return other,
                _ => break,
            }
        }
        Outcome::Return(total)
    }

    fn pread(&mut self, pid: Pid, fd: u64, buf: u64, len: u64, offset: u64) -> Result<u64, u64> {
        let file = self.fd_file(pid, fd)?;
        let data = {
            let mut file = file.borrow_mut();
            let Object::File { file, .. } = &mut file.object else { return Err(errno::ESPIPE) };
            let here = file.stream_position().map_err(|e| files::errno_of(&e))?;
            file.seek(SeekFrom::Start(offset)).map_err(|e| files::errno_of(&e))?;
            let mut out = vec![0u8; len.min(1 << 20) as usize];
            let n = file.read(&mut out);
            let _ = file.seek(SeekFrom::Start(here));
            out.truncate(n.map_err(|e| files::errno_of(&e))?);
            out
        };
        self.write_mem(pid, buf, &data)?;
        Ok(data.len() as u64)
    }

    fn openat(&mut self, pid: Pid, dirfd: u64, path: u64, flags: u64, mode: u64) -> Result<u64, u64> {
        let _ = mode;
        let writes = flags & abi::O_ACCMODE != abi::O_RDONLY || flags & (abi::O_CREAT | abi::O_TRUNC) != 0;
        let path = self.resolve_for(pid, dirfd, path, if writes { Need::Write } else { Need::Read })?;
        let cloexec = flags & abi::O_CLOEXEC != 0;
        let object = match path.as_str() {
            "/dev/null" => Object::Null,
            "/dev/tty" | "/dev/console" | "/dev/tty0" | "/dev/ttyS0" => Object::Tty,
            _ => {
                let meta = fs::metadata(&path);
                let is_dir = meta.as_ref().is_ok_and(|m| m.is_dir());
                if is_dir {
                    if flags & abi::O_ACCMODE != abi::O_RDONLY {
                        return Err(errno::EISDIR);
                    }
                    Object::Dir { path: path.clone(), listing: None }
                } else {
                    if flags & abi::O_DIRECTORY != 0 {
                        return Err(if meta.is_ok() { errno::ENOTDIR } else { errno::ENOENT });
                    }
                    let access = flags & abi::O_ACCMODE;
                    let mut options = fs::OpenOptions::new();
                    options
                        .read(access != abi::O_WRONLY)
                        .write(access != abi::O_RDONLY)
                        .create(flags & abi::O_CREAT != 0)
                        .truncate(flags & abi::O_TRUNC != 0);
                    if flags & abi::O_CREAT != 0 && flags & abi::O_EXCL != 0 {
                        options.create_new(true);
                    }
                    let file = options.open(&path).map_err(|e| files::errno_of(&e))?;
                    Object::File { file }
                }
            }
        };
        let file = OpenFile::new(object, flags & (abi::O_ACCMODE | abi::O_APPEND | abi::O_NONBLOCK));
        let proc = self.procs.get_mut(&pid).ok_or(errno::ESRCH)?;
        proc.fds.insert(Fd { file, cloexec })
    }

    fn close(&mut self, pid: Pid, fd: u64) -> Result<u64, u64> {
        let proc = self.procs.get_mut(&pid).ok_or(errno::ESRCH)?;
        proc.fds.close(fd)?;
        Ok(0)
    }

    fn lseek(&mut self, pid: Pid, fd: u64, offset: i64, whence: u64) -> Result<u64, u64> {
        let file = self.fd_file(pid, fd)?;
        let mut file = file.borrow_mut();
        match &mut file.object {
            Object::File { file, .. } => {
                let to = match whence {
                    0 => SeekFrom::Start(u64::try_from(offset).map_err(|_| errno::EINVAL)?),
                    1 => SeekFrom::Current(offset),
                    2 => SeekFrom::End(offset),
                    _ => return Err(errno::EINVAL),
                };
                file.seek(to).map_err(|e| files::errno_of(&e))
            }
            Object::Dir { listing, .. } if offset == 0 && whence == 0 => {
                *listing = None;
                Ok(0)
            }
            Object::Null => Ok(0),
            _ => Err(errno::ESPIPE),
        }
    }

    fn stat_of_object(&self, object: &Object) -> Result<abi::Stat, u64> {
        match object {
            Object::Tty => Ok(char_device(0x0500, 0o620)),
            Object::Null => Ok(char_device(0x0103, 0o666)),
            Object::File { file, .. } => file.metadata().map(|m| stat_of(&m)).map_err(|e| files::errno_of(&e)),
            Object::Dir { path, .. } => fs::metadata(path).map(|m| stat_of(&m)).map_err(|e| files::errno_of(&e)),
            Object::PipeRead(_) | Object::PipeWrite(_) => {
                Ok(abi::Stat { mode: abi::S_IFIFO | 0o600, nlink: 1, blksize: 4096, ..Default::default() })
            }
            Object::Socket(_) => {
                Ok(abi::Stat { mode: abi::S_IFSOCK | 0o777, nlink: 1, blksize: 4096, ..Default::default() })
            }
        }
    }

    fn fstat(&mut self, pid: Pid, fd: u64, out: u64) -> Result<u64, u64> {
        let file = self.fd_file(pid, fd)?;
        let stat = self.stat_of_object(&file.borrow().object)?;
        self.write_mem(pid, out, &stat.encode())?;
        Ok(0)
    }

    fn stat_path(&mut self, pid: Pid, dirfd: u64, path_addr: u64, flags: u64) -> Result<abi::Stat, u64> {
        if flags & abi::AT_EMPTY_PATH != 0 && self.read_path(pid, path_addr).is_ok_and(|p| p.is_empty()) {
            let file = self.fd_file(pid, dirfd)?;
            return self.stat_of_object(&file.borrow().object);
        }
        let path = self.resolve_for(pid, dirfd, path_addr, Need::Read)?;
        match path.as_str() {
            "/dev/null" => return Ok(char_device(0x0103, 0o666)),
            "/dev/tty" | "/dev/console" => return Ok(char_device(0x0500, 0o620)),
            _ => {}
        }
        let meta =
            if flags & abi::AT_SYMLINK_NOFOLLOW != 0 { fs::symlink_metadata(&path) } else { fs::metadata(&path) };
        meta.map(|m| stat_of(&m)).map_err(|e| files::errno_of(&e))
    }

    fn fstatat(&mut self, pid: Pid, dirfd: u64, path: u64, out: u64, flags: u64) -> Result<u64, u64> {
        let stat = self.stat_path(pid, dirfd, path, flags)?;
        self.write_mem(pid, out, &stat.encode())?;
        Ok(0)
    }

    fn statx(&mut self, pid: Pid, dirfd: u64, path: u64, flags: u64, out: u64) -> Result<u64, u64> {
        let stat = self.stat_path(pid, dirfd, path, flags)?;
        self.write_mem(pid, out, &abi::Statx::from(&stat).encode())?;
        Ok(0)
    }

    fn getdents64(&mut self, pid: Pid, fd: u64, buf: u64, len: u64) -> Result<u64, u64> {
        let file = self.fd_file(pid, fd)?;
        let mut out = Vec::new();
        {
            let mut file = file.borrow_mut();
            let Object::Dir { path, listing } = &mut file.object else { return Err(errno::ENOTDIR) };
            if listing.is_none() {
                let mut entries = vec![(1, abi::DT_DIR, ".".to_string()), (1, abi::DT_DIR, "..".to_string())];
                for entry in fs::read_dir(path).map_err(|e| files::errno_of(&e))? {
                    let entry = entry.map_err(|e| files::errno_of(&e))?;
                    let kind = match entry.file_type() {
                        Ok(t) if t.is_dir() => abi::DT_DIR,
                        Ok(t) if t.is_symlink() => abi::DT_LNK,
                        _ => abi::DT_REG,
                    };
                    entries.push((entry.ino(), kind, entry.file_name().to_string()));
                }
                *listing = Some(Listing { entries, next: 0 });
            }
            let Some(listing) = listing else { return Ok(0) };
            while let Some((ino, kind, name)) = listing.entries.get(listing.next) {
                if out.len() + abi::dirent64_len(name.len()) > len as usize {
                    break;
                }
                abi::dirent64(*ino, (listing.next + 1) as i64, *kind, name.as_bytes(), &mut out);
                listing.next += 1;
            }
            if out.is_empty() && listing.next < listing.entries.len() {
                return Err(errno::EINVAL);
            }
        }
        self.write_mem(pid, buf, &out)?;
        Ok(out.len() as u64)
    }

    fn faccessat(&mut self, pid: Pid, dirfd: u64, path: u64) -> Result<u64, u64> {
        self.stat_path(pid, dirfd, path, 0).map(|_| 0)
    }

    fn mkdirat(&mut self, pid: Pid, dirfd: u64, path: u64) -> Result<u64, u64> {
        let path = self.resolve_for(pid, dirfd, path, Need::Write)?;
        fs::create_dir(&path).map(|_| 0).map_err(|e| files::errno_of(&e))
    }

    fn unlinkat(&mut self, pid: Pid, dirfd: u64, path: u64, flags: u64) -> Result<u64, u64> {
        let path = self.resolve_for(pid, dirfd, path, Need::Write)?;
        let done = if flags & abi::AT_REMOVEDIR != 0 { fs::remove_dir(&path) } else { fs::remove_file(&path) };
        done.map(|_| 0).map_err(|e| files::errno_of(&e))
    }

    fn renameat(&mut self, pid: Pid, olddir: u64, old: u64, newdir: u64, new: u64) -> Result<u64, u64> {
        let old = self.resolve_for(pid, olddir, old, Need::Write)?;
        let new = self.resolve_for(pid, newdir, new, Need::Write)?;
        fs::rename(&old, &new).map(|_| 0).map_err(|e| files::errno_of(&e))
    }

    fn symlink(&mut self, pid: Pid, target: u64, link: u64) -> Result<u64, u64> {
        let target = self.read_path(pid, target)?;
        let link = self.resolve_for(pid, FDCWD, link, Need::Write)?;
        fs::symlink(&target, &link).map(|_| 0).map_err(|e| files::errno_of(&e))
    }

    fn readlinkat(&mut self, pid: Pid, dirfd: u64, path: u64, buf: u64, len: u64) -> Result<u64, u64> {
        let raw = self.read_path(pid, path)?;
        let target = if raw == "/proc/self/exe" {
            self.procs.get(&pid).ok_or(errno::ESRCH)?.exe.clone()
        } else {
            let path = self.resolve_for(pid, dirfd, path, Need::Read)?;
            fs::read_link(&path).map_err(|e| files::errno_of(&e))?
        };
        let bytes = target.as_bytes();
        let n = bytes.len().min(len as usize);
        self.write_mem(pid, buf, &bytes[..n])?;
        Ok(n as u64)
    }

    fn getcwd(&mut self, pid: Pid, buf: u64, len: u64) -> Result<u64, u64> {
        let mut cwd = self.procs.get(&pid).ok_or(errno::ESRCH)?.cwd.clone().into_bytes();
        cwd.push(0);
        if cwd.len() as u64 > len {
            return Err(errno::ERANGE);
        }
        self.write_mem(pid, buf, &cwd)?;
        Ok(cwd.len() as u64)
    }

    fn chdir(&mut self, pid: Pid, path: u64) -> Result<u64, u64> {
        let path = self.resolve_for(pid, FDCWD, path, Need::Read)?;
        let meta = fs::metadata(&path).map_err(|e| files::errno_of(&e))?;
        if !meta.is_dir() {
            return Err(errno::ENOTDIR);
        }
        self.procs.get_mut(&pid).ok_or(errno::ESRCH)?.cwd = path;
        Ok(0)
    }

    fn fchdir(&mut self, pid: Pid, fd: u64) -> Result<u64, u64> {
        let file = self.fd_file(pid, fd)?;
        let path = match &file.borrow().object {
            Object::Dir { path, .. } => path.clone(),
            _ => return Err(errno::ENOTDIR),
        };
        self.procs.get_mut(&pid).ok_or(errno::ESRCH)?.cwd = path;
        Ok(0)
    }

    fn dup(&mut self, pid: Pid, fd: u64) -> Result<u64, u64> {
        let proc = self.procs.get_mut(&pid).ok_or(errno::ESRCH)?;
        let file = proc.fds.get(fd)?.file.clone();
        proc.fds.insert(Fd { file, cloexec: false })
    }

    fn dup3(&mut self, pid: Pid, old: u64, new: u64, flags: u64, dup2: bool) -> Result<u64, u64> {
        let proc = self.procs.get_mut(&pid).ok_or(errno::ESRCH)?;
        let file = proc.fds.get(old)?.file.clone();
        if old == new {
            return if dup2 { Ok(new) } else { Err(errno::EINVAL) };
        }
        if new as usize >= files::MAX_FDS {
            return Err(errno::EBADF);
        }
        proc.fds.set(new as usize, Fd { file, cloexec: flags & abi::O_CLOEXEC != 0 });
        Ok(new)
    }

    fn fcntl(&mut self, pid: Pid, fd: u64, cmd: u64, arg: u64) -> Result<u64, u64> {
        let proc = self.procs.get_mut(&pid).ok_or(errno::ESRCH)?;
        match cmd {
            abi::F_DUPFD | abi::F_DUPFD_CLOEXEC => {
                let file = proc.fds.get(fd)?.file.clone();
                proc.fds.insert_from(arg as usize, Fd { file, cloexec: cmd == abi::F_DUPFD_CLOEXEC })
            }
            abi::F_GETFD => Ok(proc.fds.get(fd)?.cloexec as u64),
            abi::F_SETFD => {
                proc.fds.get_mut(fd)?.cloexec = arg & 1 != 0;
                Ok(0)
            }
            abi::F_GETFL => Ok(proc.fds.get(fd)?.file.borrow().flags),
            abi::F_SETFL => {
                let fd = proc.fds.get(fd)?;
                let mut file = fd.file.borrow_mut();
                file.flags =
                    (file.flags & !(abi::O_APPEND | abi::O_NONBLOCK)) | (arg & (abi::O_APPEND | abi::O_NONBLOCK));
                Ok(0)
            }
            _ => Err(errno::EINVAL),
        }
    }

    fn ioctl(&mut self, pid: Pid, fd: u64, request: u64, arg: u64) -> Result<u64, u64> {
        // FIOCLEX and FIONCLEX: close-on-exec, on any descriptor (Rust's std sets it so).
        const FIONCLEX: u64 = 0x5450;
        const FIOCLEX: u64 = 0x5451;
        if request == FIOCLEX || request == FIONCLEX {
            let proc = self.procs.get_mut(&pid).ok_or(errno::ESRCH)?;
            proc.fds.get_mut(fd)?.cloexec = request == FIOCLEX;
            return Ok(0);
        }
        let file = self.fd_file(pid, fd)?;
        if request == abi::FIONBIO {
            // Non-blocking on or off, as fcntl(F_SETFL, O_NONBLOCK) does.
            let raw = self.read_mem(pid, arg, 4)?;
            let on = u32::from_le_bytes(raw.as_slice().try_into().map_err(|_| errno::EFAULT)?) != 0;
            let mut open = file.borrow_mut();
            open.flags = if on { open.flags | abi::O_NONBLOCK } else { open.flags & !abi::O_NONBLOCK };
            return Ok(0);
        }
        if !matches!(file.borrow().object, Object::Tty) {
            return Err(errno::ENOTTY);
        }
        match request {
            abi::TCGETS => {
                let bytes = self.tty.termios.encode();
                self.write_mem(pid, arg, &bytes)?;
                Ok(0)
            }
            abi::TCSETS | abi::TCSETSW | abi::TCSETSF => {
                let raw = self.read_mem(pid, arg, 36)?;
                let bytes: [u8; 36] = raw.as_slice().try_into().map_err(|_| errno::EFAULT)?;
                self.tty.termios = abi::Termios::decode(&bytes);
                if request == abi::TCSETSF {
                    self.tty.input.clear();
                }
                Ok(0)
            }
            abi::TIOCGWINSZ => {
                let size = abi::Winsize { row: 24, col: 80, xpixel: 0, ypixel: 0 };
                self.write_mem(pid, arg, &size.encode())?;
                Ok(0)
            }
            abi::TIOCSWINSZ => Ok(0),
            abi::TIOCGPGRP => {
                let pgrp = self.tty.pgrp;
                self.write_mem(pid, arg, &pgrp.to_le_bytes())?;
                Ok(0)
            }
            abi::TIOCSPGRP => {
                let raw = self.read_mem(pid, arg, 4)?;
                let pgrp = u32::from_le_bytes(raw.as_slice().try_into().map_err(|_| errno::EFAULT)?);
                self.tty.pgrp = pgrp;
                Ok(0)
            }
            abi::FIONREAD => {
                let n = self.tty.input.len() as u32;
                self.write_mem(pid, arg, &n.to_le_bytes())?;
                Ok(0)
            }
            _ => Err(errno::EINVAL),
        }
    }

    fn pipe2(&mut self, pid: Pid, fds_addr: u64, flags: u64) -> Result<u64, u64> {
        let pipe = Rc::new(RefCell::new(Pipe::default()));
        let cloexec = flags & abi::O_CLOEXEC != 0;
        let status = flags & abi::O_NONBLOCK;
        let reader = OpenFile::new(Object::PipeRead(pipe.clone()), abi::O_RDONLY | status);
        let writer = OpenFile::new(Object::PipeWrite(pipe), abi::O_WRONLY | status);
        let proc = self.procs.get_mut(&pid).ok_or(errno::ESRCH)?;
        let r = proc.fds.insert(Fd { file: reader, cloexec })?;
        let w = match proc.fds.insert(Fd { file: writer, cloexec }) {
            Ok(w) => w,
            Err(e) => {
                let _ = proc.fds.close(r);
                return Err(e);
            }
        };
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&(r as u32).to_le_bytes());
        bytes[4..].copy_from_slice(&(w as u32).to_le_bytes());
        if let Err(e) = self.write_mem(pid, fds_addr, &bytes) {
            if let Some(proc) = self.procs.get_mut(&pid) {
                let _ = proc.fds.close(r);
                let _ = proc.fds.close(w);
            }
            return Err(e);
        }
        Ok(0)
    }

    /// Whether reading (`POLLIN`) or writing (`POLLOUT`) `file` would not wait, and
    /// whether it hung up.
    fn readiness(&self, file: &OpenFile) -> u16 {
        match &file.object {
            Object::Tty => {
                let eof = self.tty.termios.cc[abi::VEOF];
                let readable = if self.tty.termios.lflag & abi::ICANON != 0 {
                    self.tty.input.iter().any(|&b| b == b'\n' || b == eof)
                } else {
                    !self.tty.input.is_empty()
                };
                abi::POLLOUT | if readable { abi::POLLIN } else { 0 }
            }
            Object::PipeRead(p) => {
                let p = p.borrow();
                (if p.is_empty() { 0 } else { abi::POLLIN }) | if p.writers == 0 { abi::POLLHUP } else { 0 }
            }
            Object::PipeWrite(p) => {
                let p = p.borrow();
                if p.readers == 0 {
                    abi::POLLERR
                } else if p.room() > 0 {
                    abi::POLLOUT
                } else {
                    0
                }
            }
            Object::Socket(socket) => Self::socket_readiness(socket),
            _ => abi::POLLIN | abi::POLLOUT,
        }
    }

    fn poll(&mut self, pid: Pid, fds: u64, n: u64, timeout_ms: i64) -> Outcome {
        if n > files::MAX_FDS as u64 {
            return err(errno::EINVAL);
        }
        let mut raw = match self.read_mem(pid, fds, n as usize * 8) {
            Ok(r) => r,
            Err(e) => return err(e),
        };
        let mut ready = 0u64;
        for entry in raw.chunks_exact_mut(8) {
            let fd = i32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
            let events = u16::from_le_bytes([entry[4], entry[5]]);
            let revents = if fd < 0 {
                0
            } else {
                match self.fd_file(pid, fd as u64) {
                    Ok(file) => self.readiness(&file.borrow()) & (events | abi::POLLHUP | abi::POLLERR),
                    Err(_) => abi::POLLNVAL,
                }
            };
            entry[6..8].copy_from_slice(&revents.to_le_bytes());
            if revents != 0 {
                ready += 1;
            }
        }
        if ready == 0 && timeout_ms != 0 {
            let until = u64::try_from(timeout_ms)
                .ok()
                .and_then(|ms| Instant::now().checked_add(kaal_core::time::Duration::from_millis(ms)));
            return Outcome::Wait(Wait::Poll { fds, n, until });
        }
        match self.write_mem(pid, fds, &raw) {
            Ok(()) => Outcome::Return(ready),
            Err(e) => err(e),
        }
    }

    /// ppoll's timeout (a timespec, or none) in milliseconds, -1 for none.
    fn ppoll_timeout(&mut self, pid: Pid, ts: u64) -> Result<i64, u64> {
        if ts == 0 {
            return Ok(-1);
        }
        let raw = self.read_mem(pid, ts, 16)?;
        let ts = abi::Timespec::decode(&raw.as_slice().try_into().map_err(|_| errno::EFAULT)?);
        if ts.sec < 0 || !(0..1_000_000_000).contains(&ts.nsec) {
            return Err(errno::EINVAL);
        }
        Ok(ts.sec.saturating_mul(1000).saturating_add((ts.nsec + 999_999) / 1_000_000))
    }

    /// sendfile(out, in, offset, count): up to 64 KiB of `in` (from `*offset` if given,
    /// which then advances, else from its position) written to `out` as write(2) would;
    /// what `out` does not take stays unread. A full pipe or socket makes a blocking
    /// call wait.
    fn sendfile(&mut self, pid: Pid, out_fd: u64, in_fd: u64, offset_ptr: u64, count: u64) -> Outcome {
        let input = match self.fd_file(pid, in_fd) {
            Ok(f) => f,
            Err(e) => return err(e),
        };
        let start = if offset_ptr == 0 {
            None
        } else {
            match self.read_mem(pid, offset_ptr, 8) {
                Ok(raw) => match i64::from_le_bytes(raw.as_slice().try_into().unwrap_or_default()) {
                    at if at < 0 => return err(errno::EINVAL),
                    at => Some(at as u64),
                },
                Err(e) => return err(e),
            }
        };
        let data = {
            let mut open = input.borrow_mut();
            let Object::File { file, .. } = &mut open.object else { return err(errno::EINVAL) };
            let mut buf = vec![0u8; count.min(64 * 1024) as usize];
            let read = match start {
                None => file.read(&mut buf),
                Some(at) => file.stream_position().and_then(|here| {
                    file.seek(SeekFrom::Start(at))?;
                    let n = file.read(&mut buf);
                    file.seek(SeekFrom::Start(here))?;
                    n
                }),
            };
            match read {
                Ok(n) => {
                    buf.truncate(n);
                    buf
                }
                Err(e) => return err(files::errno_of(&e)),
            }
        };
        if data.is_empty() {
            return Outcome::Return(0);
        }
        let put = self.put(pid, out_fd, &data);
        let taken = put.unwrap_or_default();
        // What `out` did not take is read again next time.
        match start {
            Some(at) => {
                if let Err(e) = self.write_mem(pid, offset_ptr, &(at + taken as u64).to_le_bytes()) {
                    return err(e);
                }
            }
            None if taken < data.len() => {
                if let Object::File { file, .. } = &mut input.borrow_mut().object {
                    let _ = file.seek(SeekFrom::Current(-((data.len() - taken) as i64)));
                }
            }
            None => {}
        }
        let nonblock = self.fd_file(pid, out_fd).is_ok_and(|f| f.borrow().flags & abi::O_NONBLOCK != 0);
        match put {
            Ok(n) => Outcome::Return(n as u64),
            Err(crate::sockets::NetError::WouldBlock) if nonblock => err(errno::EAGAIN),
            Err(crate::sockets::NetError::WouldBlock) => {
                Outcome::Wait(Wait::SendFile { out_fd, in_fd, offset_ptr, count })
            }
            Err(crate::sockets::NetError::Errno(e)) => {
                if e == errno::EPIPE {
                    self.send_signal(pid, signal::SIGPIPE);
                }
                err(e)
            }
        }
    }

    /// Writes bytes the server holds to `fd` as write(2) would: how many it took, or
    /// WouldBlock when a pipe or socket takes none now.
    fn put(&mut self, pid: Pid, fd: u64, data: &[u8]) -> Result<usize, crate::sockets::NetError> {
        use crate::sockets::NetError;
        let out = self.fd_file(pid, fd)?;
        let mut out = out.borrow_mut();
        let append = out.flags & abi::O_APPEND != 0;
        match &mut out.object {
            Object::Tty => {
                let onlcr = self.tty.termios.oflag & abi::ONLCR != 0 && self.tty.termios.oflag & abi::OPOST != 0;
                crate::console::write_translated(data, onlcr);
                Ok(data.len())
            }
            Object::Null => Ok(data.len()),
            Object::File { file, .. } => {
                if append {
                    file.seek(SeekFrom::End(0)).map_err(|e| files::errno_of(&e))?;
                }
                file.write(data).map_err(|e| NetError::Errno(files::errno_of(&e)))
            }
            Object::PipeWrite(pipe) => {
                let mut pipe = pipe.borrow_mut();
                if pipe.readers == 0 {
                    return Err(NetError::Errno(errno::EPIPE));
                }
                let take = data.len().min(pipe.room());
                if take == 0 {
                    return Err(NetError::WouldBlock);
                }
                pipe.push(&data[..take]);
                Ok(take)
            }
            Object::Socket(socket) => match socket.state {
                crate::sockets::State::Connected { handle } => crate::sockets::send(handle, data),
                _ => Err(NetError::Errno(errno::ENOTCONN)),
            },
            Object::Dir { .. } => Err(NetError::Errno(errno::EISDIR)),
            Object::PipeRead(_) => Err(NetError::Errno(errno::EBADF)),
        }
    }

    fn brk(&mut self, pid: Pid, want: u64) -> u64 {
        let Some(proc) = self.procs.get_mut(&pid) else { return 0 };
        let mm = &mut proc.mm;
        let current = mm.brk;
        if want < mm.brk_start || want >= mm::MMAP_TOP {
            return current;
        }
        let (Some(old_end), Some(new_end)) = (mm::page_ceil(current), mm::page_ceil(want)) else { return current };
        if new_end > old_end {
            if !mm.is_free(old_end, new_end) {
                return current;
            }
            // The heap grows by one more area; what it holds stays where it is.
            mm.add_area(Area { start: old_end, end: new_end, prot: mm::R | mm::W, backing: Backing::Anon });
        } else if new_end < old_end {
            mm.remove_range(&mut self.pool, new_end, old_end);
        }
        mm.brk = want;
        want
    }

    #[allow(clippy::too_many_arguments)]
    fn mmap(&mut self, pid: Pid, addr: u64, len: u64, prot: u64, flags: u64, fd: i64, offset: u64) -> Result<u64, u64> {
        if len == 0 || !offset.is_multiple_of(PAGE) {
            return Err(errno::EINVAL);
        }
        let len = mm::page_ceil(len).ok_or(errno::ENOMEM)?;
        if len >= mm::USER_END {
            return Err(errno::ENOMEM);
        }
        if flags & abi::MAP_SHARED != 0 && flags & abi::MAP_ANONYMOUS == 0 {
            // Shared file mappings would need the VFS to share its pages.
            return Err(errno::ENODEV);
        }
        let backing = if flags & abi::MAP_ANONYMOUS != 0 {
            Backing::Anon
        } else {
            let file = self.fd_file(pid, fd as u64)?;
            let mut file = file.borrow_mut();
            let Object::File { file, .. } = &mut file.object else { return Err(errno::EACCES) };
            let size = file.metadata().map_err(|e| files::errno_of(&e))?.len();
            // Only what the file holds is read (the rest of the area is zeros), and a
            // mapping larger than the server can hold is ENOMEM, not an abort.
            let want = len.min(size.saturating_sub(offset));
            if want > MAX_FILE_MAPPING {
                return Err(errno::ENOMEM);
            }
            let here = file.stream_position().map_err(|e| files::errno_of(&e))?;
            file.seek(SeekFrom::Start(offset)).map_err(|e| files::errno_of(&e))?;
            let mut data = Vec::new();
            data.try_reserve_exact(want as usize).map_err(|_| errno::ENOMEM)?;
            data.resize(want as usize, 0);
            let mut got = 0;
            while got < data.len() {
                match file.read(&mut data[got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) => return Err(files::errno_of(&e)),
                }
            }
            let _ = file.seek(SeekFrom::Start(here));
            data.truncate(got);
            let limit = data.len() as u64;
            Backing::File { data: Rc::new(data), offset: 0, limit, shared: None }
        };
        let proc = self.procs.get_mut(&pid).ok_or(errno::ESRCH)?;
        let mm = &mut proc.mm;
        let start = if flags & (abi::MAP_FIXED | abi::MAP_FIXED_NOREPLACE) != 0 {
            if !addr.is_multiple_of(PAGE)
                || addr < mm::MMAP_MIN
                || addr.checked_add(len).is_none_or(|e| e > mm::USER_END)
            {
                return Err(errno::EINVAL);
            }
            if flags & abi::MAP_FIXED_NOREPLACE != 0 && !mm.is_free(addr, addr + len) {
                return Err(errno::EEXIST);
            }
            mm.remove_range(&mut self.pool, addr, addr + len);
            addr
        } else if addr != 0
            && addr.is_multiple_of(PAGE)
            && addr >= mm::MMAP_MIN
            && addr.checked_add(len).is_some_and(|end| end <= mm::MMAP_TOP)
            && mm.is_free(addr, addr + len)
        {
            addr
        } else {
            mm.find_free(len).ok_or(errno::ENOMEM)?
        };
        let prot = (if prot & abi::PROT_READ != 0 || prot & abi::PROT_EXEC != 0 { mm::R } else { 0 })
            | if prot & abi::PROT_WRITE != 0 { mm::W | mm::R } else { 0 };
        mm.add_area(Area { start, end: start + len, prot, backing });
        Ok(start)
    }

    fn munmap(&mut self, pid: Pid, addr: u64, len: u64) -> Result<u64, u64> {
        if !addr.is_multiple_of(PAGE) || len == 0 {
            return Err(errno::EINVAL);
        }
        let end = addr.checked_add(mm::page_ceil(len).ok_or(errno::EINVAL)?).ok_or(errno::EINVAL)?;
        let proc = self.procs.get_mut(&pid).ok_or(errno::ESRCH)?;
        proc.mm.remove_range(&mut self.pool, addr, end);
        Ok(0)
    }

    fn mprotect(&mut self, pid: Pid, addr: u64, len: u64, prot: u64) -> Result<u64, u64> {
        if !addr.is_multiple_of(PAGE) {
            return Err(errno::EINVAL);
        }
        let end = addr.checked_add(mm::page_ceil(len).ok_or(errno::EINVAL)?).ok_or(errno::EINVAL)?;
        let prot = (if prot & (abi::PROT_READ | abi::PROT_EXEC) != 0 { mm::R } else { 0 })
            | if prot & abi::PROT_WRITE != 0 { mm::W | mm::R } else { 0 };
        let proc = self.procs.get_mut(&pid).ok_or(errno::ESRCH)?;
        proc.mm.protect(&mut self.pool, addr, end, prot)?;
        Ok(0)
    }

    /// prctl: the process's name (`comm`, what `ps` and the reports show); other
    /// options are refused with EINVAL, as Linux does for an unknown one.
    fn prctl(&mut self, pid: Pid, option: u64, addr: u64) -> Result<u64, u64> {
        match option {
            abi::PR_SET_NAME => {
                let bytes = self.read_mem(pid, addr, 16)?;
                let end = bytes.iter().position(|b| *b == 0).unwrap_or(15).min(15);
                let name = String::from_utf8_lossy(&bytes[..end]).into_owned();
                self.procs.get_mut(&pid).ok_or(errno::ESRCH)?.comm = name;
                Ok(0)
            }
            abi::PR_GET_NAME => {
                let mut name = [0u8; 16];
                let comm = self.comm(pid);
                let len = comm.len().min(15);
                name[..len].copy_from_slice(&comm.as_bytes()[..len]);
                self.write_mem(pid, addr, &name)?;
                Ok(0)
            }
            _ => Err(errno::EINVAL),
        }
    }

    fn arch_prctl(&mut self, pid: Pid, tid: u64, code: u64, addr: u64) -> Outcome {
        match code {
            abi::ARCH_SET_FS => {
                if addr >= mm::USER_END {
                    return err(errno::EPERM);
                }
                match self.thread_mut(pid, tid) {
                    Some(thread) => {
                        thread.tls = addr;
                        Outcome::ReturnTls(0)
                    }
                    None => Outcome::Gone,
                }
            }
            abi::ARCH_GET_FS => {
                let tls = self.thread_mut(pid, tid).map_or(0, |t| t.tls);
                match self.write_mem(pid, addr, &tls.to_le_bytes()) {
                    Ok(()) => Outcome::Return(0),
                    Err(e) => err(e),
                }
            }
            _ => err(errno::EINVAL),
        }
    }

    fn rt_sigaction(&mut self, pid: Pid, sig: u64, new: u64, old: u64) -> Result<u64, u64> {
        let sig = sig as u32;
        if sig == 0 || sig > 64 {
            return Err(errno::EINVAL);
        }
        let current = self.procs.get(&pid).ok_or(errno::ESRCH)?.actions.get(&sig).copied().unwrap_or_default();
        if old != 0 {
            self.write_mem(pid, old, &current.encode())?;
        }
        if new != 0 {
            if sig == signal::SIGKILL || sig == signal::SIGSTOP {
                return Err(errno::EINVAL);
            }
            let raw = self.read_mem(pid, new, 32)?;
            let bytes: [u8; 32] = raw.as_slice().try_into().map_err(|_| errno::EFAULT)?;
            let action = abi::SigAction::decode(&bytes);
            self.procs.get_mut(&pid).ok_or(errno::ESRCH)?.actions.insert(sig, action);
        }
        Ok(0)
    }

    fn rt_sigprocmask(&mut self, pid: Pid, how: u64, set: u64, old: u64) -> Result<u64, u64> {
        let mask = self.procs.get(&pid).ok_or(errno::ESRCH)?.mask;
        if old != 0 {
            self.write_mem(pid, old, &mask.to_le_bytes())?;
        }
        if set != 0 {
            let new = self.read_mem(pid, set, 8)?;
            let new = u64::from_le_bytes(new.as_slice().try_into().map_err(|_| errno::EFAULT)?);
            let mask = match how {
                0 => mask | new,
                1 => mask & !new,
                2 => new,
                _ => return Err(errno::EINVAL),
            };
            self.procs.get_mut(&pid).ok_or(errno::ESRCH)?.mask = mask & !signal::UNBLOCKABLE;
        }
        Ok(0)
    }

    fn getpgid(&mut self, pid: Pid, which: u64) -> Result<u64, u64> {
        let which = if which == 0 { pid } else { which as Pid };
        Ok(self.procs.get(&which).ok_or(errno::ESRCH)?.pgid as u64)
    }

    fn setpgid(&mut self, pid: Pid, which: u64, pgid: u64) -> Result<u64, u64> {
        let which = if which == 0 { pid } else { which as Pid };
        let target = self.procs.get_mut(&which).ok_or(errno::ESRCH)?;
        if which != pid && target.ppid != pid {
            return Err(errno::ESRCH);
        }
        target.pgid = if pgid == 0 { which } else { pgid as Pid };
        Ok(0)
    }

    fn setsid(&mut self, pid: Pid) -> Result<u64, u64> {
        let proc = self.procs.get_mut(&pid).ok_or(errno::ESRCH)?;
        if proc.pgid == pid && proc.sid == pid {
            return Err(errno::EPERM);
        }
        proc.sid = pid;
        proc.pgid = pid;
        Ok(pid as u64)
    }

    fn uname(&mut self, pid: Pid, out: u64) -> Result<u64, u64> {
        let bytes = abi::utsname(b"Linux", b"kaal", b"6.1.0-kaal-sel4", b"#1 KaaL on seL4", b"x86_64");
        self.write_mem(pid, out, &bytes)?;
        Ok(0)
    }

    fn getrandom(&mut self, pid: Pid, buf: u64, len: u64) -> Result<u64, u64> {
        let len = len.min(256) as usize;
        let bytes = crate::random::bytes(len);
        self.write_mem(pid, buf, &bytes)?;
        Ok(len as u64)
    }

    fn clock_gettime(&mut self, pid: Pid, clock: u64, out: u64) -> Result<u64, u64> {
        let ns = match clock {
            0 | 5 | 8 => realtime_ns(),
            1 | 4 | 6 | 7 | 2 | 3 => Instant::now().since_boot().as_nanos() as u64,
            _ => return Err(errno::EINVAL),
        };
        let ts = abi::Timespec { sec: (ns / 1_000_000_000) as i64, nsec: (ns % 1_000_000_000) as i64 };
        self.write_mem(pid, out, &ts.encode())?;
        Ok(0)
    }

    fn gettimeofday(&mut self, pid: Pid, out: u64) -> Result<u64, u64> {
        if out != 0 {
            let ns = realtime_ns();
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&(ns / 1_000_000_000).to_le_bytes());
            b[8..].copy_from_slice(&((ns % 1_000_000_000) / 1000).to_le_bytes());
            self.write_mem(pid, out, &b)?;
        }
        Ok(0)
    }

    fn nanosleep(&mut self, pid: Pid, req: u64) -> Outcome {
        let raw = match self.read_mem(pid, req, 16) {
            Ok(r) => r,
            Err(e) => return err(e),
        };
        let ts = abi::Timespec::decode(&raw.as_slice().try_into().unwrap_or([0; 16]));
        if ts.sec < 0 || !(0..1_000_000_000).contains(&ts.nsec) {
            return err(errno::EINVAL);
        }
        let nanos = (ts.sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.nsec as u64);
        let Some(until) = Instant::now().checked_add(kaal_core::time::Duration::from_nanos(nanos)) else {
            return err(errno::EINVAL);
        };
        Outcome::Wait(Wait::Sleep { until })
    }

    fn clock_nanosleep(&mut self, pid: Pid, _clock: u64, flags: u64, req: u64) -> Outcome {
        if flags & 1 != 0 {
            // TIMER_ABSTIME: not used by busybox; the relative form covers sleep(1).
            return err(errno::EINVAL);
        }
        self.nanosleep(pid, req)
    }

    /// prlimit64/getrlimit: what the personality enforces (descriptors, the stack),
    /// unlimited otherwise; setting limits is accepted and changes nothing.
    fn prlimit(&mut self, pid: Pid, resource: u64, old: u64) -> Result<u64, u64> {
        const RLIMIT_STACK: u64 = 3;
        const RLIMIT_NOFILE: u64 = 7;
        let limit = match resource {
            RLIMIT_NOFILE => files::MAX_FDS as u64,
            RLIMIT_STACK => mm::STACK_SIZE,
            _ => u64::MAX,
        };
        if old != 0 {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&limit.to_le_bytes());
            b[8..].copy_from_slice(&limit.to_le_bytes());
            self.write_mem(pid, old, &b)?;
        }
        Ok(0)
    }

    fn sched_getaffinity(&mut self, pid: Pid, len: u64, mask: u64) -> Result<u64, u64> {
        if len < 8 {
            return Err(errno::EINVAL);
        }
        self.write_mem(pid, mask, &1u64.to_le_bytes())?;
        Ok(8)
    }

    fn wait4(&mut self, pid: Pid, which: i64, status: u64, options: u64) -> Outcome {
        let pgid = self.procs.get(&pid).map_or(0, |p| p.pgid);
        let matches = |p: &Proc| {
            p.ppid == pid
                && match which {
                    -1 => true,
                    0 => p.pgid == pgid,
                    w if w > 0 => p.pid == w as Pid,
                    w => p.pgid == (-w) as Pid,
                }
        };
        let children: Vec<(Pid, Option<Ended>)> = self
            .procs
            .values()
            .filter(|p| matches(p))
            .map(|p| (p.pid, if let State::Zombie(e) = p.state { Some(e) } else { None }))
            .collect();
        if children.is_empty() {
            return err(errno::ECHILD);
        }
        if let Some((child, ended)) = children.iter().find_map(|(p, e)| e.map(|e| (*p, e))) {
            if status != 0 {
                if let Err(e) = self.write_mem(pid, status, &ended.wait_status().to_le_bytes()) {
                    return err(e);
                }
            }
            self.procs.remove(&child);
            return Outcome::Return(child as u64);
        }
        if options & abi::WNOHANG != 0 {
            return Outcome::Return(0);
        }
        Outcome::Wait(Wait::Child { pid: which, status, options })
    }

    fn kill(&mut self, pid: Pid, target: i64, sig: u64) -> Result<u64, u64> {
        let sig = sig as u32;
        if sig > 64 {
            return Err(errno::EINVAL);
        }
        let targets: Vec<Pid> = match target {
            t if t > 0 => vec![t as Pid],
            0 => {
                let pgid = self.procs.get(&pid).map_or(0, |p| p.pgid);
                self.procs.values().filter(|p| p.pgid == pgid).map(|p| p.pid).collect()
            }
            -1 => self.procs.keys().copied().filter(|&p| p != 1 && p != pid).collect(),
            t => self.procs.values().filter(|p| p.pgid == (-t) as Pid).map(|p| p.pid).collect(),
        };
        let live: Vec<Pid> = targets
            .into_iter()
            .filter(|p| self.procs.get(p).is_some_and(|p| matches!(p.state, State::Running)))
            .collect();
        if live.is_empty() {
            return Err(errno::ESRCH);
        }
        if sig != 0 {
            for target in live {
                self.send_signal(target, sig);
            }
        }
        Ok(0)
    }

    fn exit_thread(&mut self, pid: Pid, tid: u64, code: u8) {
        let Some(proc) = self.procs.get_mut(&pid) else { return };
        if proc.threads.len() <= 1 {
            self.kill_process(pid, Ended::Exited(code));
            return;
        }
        if let Some(at) = proc.threads.iter().position(|t| t.tid == tid) {
            let thread = proc.threads.remove(at);
            self.owner.remove(&tid);
            proc.mm.process.remove_thread(thread.handle, self.pool.alloc.cspace());
            if thread.clear_tid != 0 {
                // CLONE_CHILD_CLEARTID: how pthread_join learns the thread ended.
                let _ = proc.mm.write(&mut self.pool, thread.clear_tid, &0u32.to_le_bytes());
                self.futex_wake(pid, thread.clear_tid, u32::MAX);
            }
        }
    }

    /// futex(2): FUTEX_WAIT and FUTEX_WAKE (and their _BITSET forms, with every bit),
    /// within one process (every futex here is private: processes share no memory).
    #[allow(clippy::too_many_arguments)]
    fn futex(&mut self, pid: Pid, addr: u64, op: u64, val: u64, timeout: u64, addr2: u64, val3: u64) -> Outcome {
        const FUTEX_CLOCK_REALTIME: u64 = 256;
        let cmd = op & 0x7f;
        match cmd {
            abi::FUTEX_WAIT | abi::FUTEX_WAIT_BITSET => {
                if !addr.is_multiple_of(4) {
                    return err(errno::EINVAL);
                }
                let now = match self.read_mem(pid, addr, 4) {
                    Ok(b) => u32::from_le_bytes(b.as_slice().try_into().unwrap_or_default()),
                    Err(e) => return err(e),
                };
                if now != val as u32 {
                    return err(errno::EAGAIN);
                }
                let until = if timeout == 0 {
                    None
                } else {
                    let raw = match self.read_mem(pid, timeout, 16) {
                        Ok(r) => r,
                        Err(e) => return err(e),
                    };
                    let ts = abi::Timespec::decode(&raw.as_slice().try_into().unwrap_or([0; 16]));
                    let Some(ns) = ts.as_nanos() else { return err(errno::EINVAL) };
                    let d = kaal_core::time::Duration::from_nanos(ns);
                    if cmd == abi::FUTEX_WAIT {
                        Instant::now().checked_add(d)
                    } else {
                        // An absolute time: CLOCK_MONOTONIC (nanoseconds since boot here)
                        // or, with FUTEX_CLOCK_REALTIME, the wall clock.
                        let now = if op & FUTEX_CLOCK_REALTIME != 0 {
                            kaal_core::time::Duration::from_nanos(realtime_ns())
                        } else {
                            Instant::now().since_boot()
                        };
                        Instant::now().checked_add(d.saturating_sub(now))
                    }
                };
                Outcome::Wait(Wait::Futex { addr, until })
            }
            abi::FUTEX_WAKE | abi::FUTEX_WAKE_BITSET => Outcome::Return(self.futex_wake(pid, addr, val as u32)),
            abi::FUTEX_REQUEUE | abi::FUTEX_CMP_REQUEUE => {
                // Wake `val`, move up to `timeout` (a count, for requeue) to `addr2`.
                if cmd == abi::FUTEX_CMP_REQUEUE {
                    match self.read_mem(pid, addr, 4) {
                        Ok(b) if u32::from_le_bytes(b.as_slice().try_into().unwrap_or_default()) == val3 as u32 => {}
                        Ok(_) => return err(errno::EAGAIN),
                        Err(e) => return err(e),
                    }
                }
                let woken = self.futex_wake(pid, addr, val as u32);
                let mut moved = 0u64;
                if let Some(proc) = self.procs.get_mut(&pid) {
                    for thread in &mut proc.threads {
                        if moved >= timeout {
                            break;
                        }
                        if let Some((_, Wait::Futex { addr: a, .. })) = &mut thread.waiting {
                            if *a == addr {
                                *a = addr2;
                                moved += 1;
                            }
                        }
                    }
                }
                Outcome::Return(woken + if cmd == abi::FUTEX_CMP_REQUEUE { moved } else { 0 })
            }
            _ => err(errno::ENOSYS),
        }
    }

    /// Wakes up to `count` threads of `pid` waiting on the futex at `addr`; how many.
    fn futex_wake(&mut self, pid: Pid, addr: u64, count: u32) -> u64 {
        let Some(proc) = self.procs.get_mut(&pid) else { return 0 };
        let mut woken = Vec::new();
        for thread in &mut proc.threads {
            if woken.len() as u32 >= count {
                break;
            }
            if let Some((regs, Wait::Futex { addr: a, .. })) = thread.waiting {
                if a == addr {
                    thread.waiting = None;
                    woken.push((thread.tid, regs));
                }
            }
        }
        let n = woken.len() as u64;
        for (tid, mut regs) in woken {
            regs.rax = 0;
            regs.rip += 2;
            self.resume(pid, tid, regs, false, None);
        }
        n
    }

    #[allow(clippy::too_many_arguments)]
    fn clone(
        &mut self,
        pid: Pid,
        tid: u64,
        regs: &Registers,
        flags: u64,
        stack: u64,
        parent_tid: u64,
        child_tid: u64,
        tls: u64,
    ) -> Outcome {
        if flags & abi::CLONE_THREAD != 0 {
            return self.clone_thread(pid, tid, regs, flags, stack, parent_tid, child_tid, tls);
        }
        // CLONE_VM without CLONE_THREAD is vfork's way (posix_spawn in glibc and musl,
        // so system(), popen() and std::process::Command): a child that shares the
        // parent's memory until it execs or exits. It is served as a fork on the stack
        // it was given: the child gets a copy, which it uses only to exec (or to exit),
        // and the parent continues at once. What the child writes for its parent in
        // the shared memory is lost (glibc's exec error code; musl reports it through a
        // pipe, which works), so a failed exec shows as exit status 127 instead.
        let Some(parent) = self.procs.get_mut(&pid) else { return Outcome::Gone };
        let mm = match parent.mm.fork(&mut self.pool) {
            Ok(mm) => mm,
            Err(e) => return err(e),
        };
        let parent_tls = parent.threads.iter().find(|t| t.tid == tid).map_or(0, |t| t.tls);
        let child_pid = self.next_pid;
        self.next_pid += 1;
        let parent = self.procs.get(&pid).expect("looked up above");
        let mut child = Proc {
            pid: child_pid,
            ppid: pid,
            pgid: parent.pgid,
            sid: parent.sid,
            exe: parent.exe.clone(),
            comm: parent.comm.clone(),
            mm,
            threads: Vec::new(),
            fds: parent.fds.clone(),
            cwd: parent.cwd.clone(),
            state: State::Running,
            actions: parent.actions.clone(),
            mask: parent.mask,
            pending: 0,
            umask: parent.umask,
            rules: parent.rules.clone(),
        };
        let mut child_regs = *regs;
        child_regs.rax = 0;
        child_regs.rip += 2;
        child_regs.tls_base = if flags & abi::CLONE_SETTLS != 0 { tls } else { parent_tls };
        if stack != 0 {
            child_regs.rsp = stack;
        }
        if flags & abi::CLONE_CHILD_SETTID != 0 {
            let _ = child.mm.write(&mut self.pool, child_tid, &child_pid.to_le_bytes());
        }
        if flags & abi::CLONE_PARENT_SETTID != 0 {
            let _ = self.write_mem(pid, parent_tid, &child_pid.to_le_bytes());
        }
        let mut thread = match self.spawn(&mut child, child_pid as u64, &child_regs) {
            Ok(t) => t,
            Err(e) => {
                child.mm.clear(&mut self.pool);
                return err(e);
            }
        };
        if flags & abi::CLONE_CHILD_CLEARTID != 0 {
            thread.clear_tid = child_tid;
        }
        child.threads.push(thread);
        self.procs.insert(child_pid, child);
        Outcome::Return(child_pid as u64)
    }

    /// clone(CLONE_VM|CLONE_THREAD|...): a thread in the caller's process, on `stack`,
    /// with the TLS base `tls` (CLONE_SETTLS). Its id is a process id nobody else has.
    #[allow(clippy::too_many_arguments)]
    fn clone_thread(
        &mut self,
        pid: Pid,
        tid: u64,
        regs: &Registers,
        flags: u64,
        stack: u64,
        parent_tid: u64,
        child_tid: u64,
        tls: u64,
    ) -> Outcome {
        if flags & abi::CLONE_VM == 0 || flags & abi::CLONE_SIGHAND == 0 {
            return err(errno::EINVAL);
        }
        let parent_tls = self.thread_mut(pid, tid).map_or(0, |t| t.tls);
        let new_tid = self.alloc_pid() as u64;
        let mut child = *regs;
        child.rax = 0;
        child.rip += 2;
        child.tls_base = if flags & abi::CLONE_SETTLS != 0 { tls } else { parent_tls };
        if stack != 0 {
            child.rsp = stack;
        }
        let id = (new_tid as u32).to_le_bytes();
        if flags & abi::CLONE_PARENT_SETTID != 0 {
            if let Err(e) = self.write_mem(pid, parent_tid, &id) {
                return err(e);
            }
        }
        if flags & abi::CLONE_CHILD_SETTID != 0 {
            if let Err(e) = self.write_mem(pid, child_tid, &id) {
                return err(e);
            }
        }
        let Some(mut proc) = self.procs.remove(&pid) else { return Outcome::Gone };
        let spawned = self.spawn(&mut proc, new_tid, &child);
        let outcome = match spawned {
            Ok(mut thread) => {
                if flags & abi::CLONE_CHILD_CLEARTID != 0 {
                    thread.clear_tid = child_tid;
                }
                proc.threads.push(thread);
                Outcome::Return(new_tid)
            }
            Err(e) => err(e),
        };
        self.procs.insert(pid, proc);
        outcome
    }

    fn execve(&mut self, pid: Pid, tid: u64, path: u64, argv: u64, envp: u64) -> Outcome {
        let raw = match self.read_path(pid, path) {
            Ok(p) => p,
            Err(e) => return err(e),
        };
        let path = if raw == "/proc/self/exe" {
            self.procs.get(&pid).map(|p| p.exe.clone()).unwrap_or_default()
        } else {
            match self.resolve_for(pid, FDCWD, path, Need::Read) {
                Ok(p) => p,
                Err(e) => return err(e),
            }
        };
        let mut budget = MAX_EXEC_STRINGS;
        let argv = self.read_string_array(pid, argv, &mut budget);
        let envp = self.read_string_array(pid, envp, &mut budget);
        let (argv, envp) = match (argv, envp) {
            (Ok(a), Ok(e)) => (a, e),
            (Err(e), _) | (_, Err(e)) => return err(e),
        };
        let image = match self.image(&path) {
            Ok(i) => i,
            Err(e) => return err(e),
        };
        let (mm, regs) = match loader::exec(&mut self.pool, &image, &path, &argv, &envp) {
            Ok(x) => x,
            Err(e) => return err(e),
        };
        // The point of no return: the old program goes.
        let Some(proc) = self.procs.get_mut(&pid) else { return Outcome::Gone };
        for thread in proc.threads.drain(..) {
            self.owner.remove(&thread.tid);
            proc.mm.process.remove_thread(thread.handle, self.pool.alloc.cspace());
        }
        let mut old = core::mem::replace(&mut proc.mm, mm);
        old.clear(&mut self.pool);
        proc.fds.close_on_exec();
        // A confined program: it and all it starts are held to its grant from now on.
        if let Some(rule) = self.rules.iter().find(|r| r.program == path) {
            if !proc.rules.iter().any(|r| Rc::ptr_eq(r, rule)) {
                proc.rules.push(rule.clone());
            }
        }
        proc.exe = path.clone();
        proc.comm = argv.first().map_or_else(|| comm_of(&path), |a| comm_of(&String::from_utf8_lossy(a)));
        // Caught signals go back to their defaults; ignored ones stay ignored.
        proc.actions.retain(|_, a| a.handler == signal::SIG_IGN);
        let mut proc = self.procs.remove(&pid).expect("present");
        let result = self.spawn(&mut proc, tid, &regs);
        match result {
            Ok(thread) => proc.threads.push(thread),
            Err(_) => {
                self.procs.insert(pid, proc);
                self.kill_process(pid, Ended::Killed(signal::SIGKILL));
                return Outcome::Gone;
            }
        }
        self.procs.insert(pid, proc);
        Outcome::Gone
    }

    /// Pages in use, for the end-of-run report.
    pub fn pages_in_use(&self) -> usize {
        self.pool.in_use
    }
}

/// Signals whose default action is to do nothing.
fn ignored_by_default(sig: u32) -> bool {
    matches!(sig, signal::SIGCHLD | signal::SIGWINCH | signal::SIGCONT | signal::SIGURG)
}

/// The signal frame's view of a thread's registers.
fn frame_regs(r: &Registers) -> signal_frame::Regs {
    signal_frame::Regs {
        r8: r.r8,
        r9: r.r9,
        r10: r.r10,
        r11: r.r11,
        r12: r.r12,
        r13: r.r13,
        r14: r.r14,
        r15: r.r15,
        rdi: r.rdi,
        rsi: r.rsi,
        rbp: r.rbp,
        rbx: r.rbx,
        rdx: r.rdx,
        rax: r.rax,
        rcx: r.rcx,
        rsp: r.rsp,
        rip: r.rip,
        eflags: r.rflags,
    }
}

fn registers_of(f: &signal_frame::Regs) -> Registers {
    Registers {
        rip: f.rip,
        rsp: f.rsp,
        rflags: f.eflags,
        rax: f.rax,
        rbx: f.rbx,
        rcx: f.rcx,
        rdx: f.rdx,
        rsi: f.rsi,
        rdi: f.rdi,
        rbp: f.rbp,
        r8: f.r8,
        r9: f.r9,
        r10: f.r10,
        r11: f.r11,
        r12: f.r12,
        r13: f.r13,
        r14: f.r14,
        r15: f.r15,
        tls_base: 0,
    }
}

fn comm_of(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).chars().take(15).collect()
}

fn char_device(rdev: u64, perm: u32) -> abi::Stat {
    abi::Stat { mode: abi::S_IFCHR | perm, nlink: 1, rdev, blksize: 4096, ..Default::default() }
}

fn stat_of(m: &fs::Metadata) -> abi::Stat {
    let kind = if m.is_dir() {
        abi::S_IFDIR
    } else if m.is_symlink() {
        abi::S_IFLNK
    } else {
        abi::S_IFREG
    };
    let time = (m.mtime() as i64, 0);
    abi::Stat {
        dev: 0x801,
        ino: m.ino(),
        nlink: m.nlink() as u64,
        mode: kind | m.mode() as u32,
        uid: 0,
        gid: 0,
        rdev: 0,
        size: m.len() as i64,
        blksize: 4096,
        blocks: m.len().div_ceil(512) as i64,
        atime: time,
        mtime: time,
        ctime: time,
    }
}

/// Nanoseconds since 1970: the boot time is 2026-01-01 (KaaL has no wall clock yet,
/// as the VFS's file times).
fn realtime_ns() -> u64 {
    const EPOCH_NS: u64 = 1_767_225_600 * 1_000_000_000;
    EPOCH_NS + Instant::now().since_boot().as_nanos() as u64
}

pub fn errno_text(e: u64) -> &'static str {
    abi::errno_name(e)
}
