//! `system.toml`: the declarative description of a KaaL system, read and checked before
//! anything builds.
//!
//! A system is a set of components (each a cargo crate, built into its own seL4 process
//! with one thread) and the connections between them: channels (endpoints), notifications,
//! shared rings and shared memory regions. The root task creates exactly what the file
//! describes and nothing else, so the file is the system's whole authority graph and the
//! place where mistakes are cheapest to catch.
//!
//! Reading happens in two passes. `document` deals with TOML itself (syntax, duplicate
//! and unknown keys, value types) and yields the file as written (`raw`); `validate`
//! then checks what the file means (names, references, ranges, capability and memory
//! budgets), collecting every mistake so that one run reports them all. Each error quotes
//! the file, line and dotted key, and says how to fix it.
//!
//! ```toml
//! [system]
//! name = "pipeline"
//!
//! [components.server]
//! path = "server"
//! priority = 150
//!
//! [components.client]
//! path = "client"
//!
//! [connections.channels.requests]
//! server = "server"
//! clients = ["client"]
//! ```

mod document;
mod duration;
mod error;
mod raw;
mod size;
mod validate;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use error::Source;
pub use error::{ConfigError, ConfigErrors};

/// A checked system description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct System {
    pub name: String,
    pub platform: Platform,
    pub description: Option<String>,
    pub resources: Resources,
    pub qemu: Qemu,
    pub kernel: Kernel,
    /// The time service (`[time]`), if any.
    pub time: Option<TimeSource>,
    /// The fixed devices it declares (`[devices.NAME]`), by name.
    pub devices: Vec<DeclaredDevice>,
    /// Its disks (`[disks.NAME]`), by name.
    pub disks: Vec<Disk>,
    /// Its file systems (`[filesystems.NAME]`), in file order: the index the `vfs`
    /// service knows each by. When there are any, the components and connections
    /// below include the built-in services that serve them (see [`FileSystem`]).
    pub filesystems: Vec<FileSystem>,
    /// Its network (`[network]`), if any. When there is one, the components and
    /// connections below include the built-in services that serve it (see [`Network`]).
    pub network: Option<Network>,
    /// The real-time scheduler (`[realtime]`), if any component is a real-time task.
    pub realtime: Option<Realtime>,
    /// The Linux personality (`[linux]`), which the tool adds as component `linux`.
    pub linux: Option<Linux>,
    /// In start order: highest priority first, then by name.
    pub components: Vec<Component>,
    /// Each connection list is sorted by name.
    pub channels: Vec<Channel>,
    pub notifications: Vec<NotificationLink>,
    pub rings: Vec<Ring>,
    pub regions: Vec<Region>,
    /// Rights to signal a device's interrupt notification (only the tool's built-in
    /// services make these), sorted by name.
    pub device_signals: Vec<DeviceSignal>,
}

/// The machines KaaL can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Platform {
    #[default]
    QemuX86_64,
}

impl Platform {
    /// The name used in `system.toml`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Platform::QemuX86_64 => "qemu-x86_64",
        }
    }
}

/// What the root task itself may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resources {
    /// The root task's heap, in bytes.
    pub heap: u64,
    /// Most threads the root task will create (one per component).
    pub max_threads: u32,
    /// Component priorities must lie in `lowest_priority..=highest_priority`.
    pub lowest_priority: u8,
    pub highest_priority: u8,
}

/// The kernel the system runs on (`[kernel]`). What the file leaves out is the tool's
/// to choose (`--kernel`), by default seL4 5.0.0 debug.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Kernel {
    /// The choice: version, flavour, the verified configuration, MCS.
    pub choice: kaal_sel4::KernelChoice,
    /// Where its source comes from, when not the default.
    pub source: Option<KernelSourceSpec>,
}

/// Where a kernel's source comes from (`[kernel] source`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelSourceSpec {
    /// A source tree, relative to the system.toml's directory unless absolute.
    Path(PathBuf),
    /// A git repository and tag, which the tool clones into its cache.
    Git { url: String, tag: String },
}

/// How QEMU runs the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qemu {
    pub memory_mib: u32,
    /// Extra arguments, usually devices.
    pub args: Vec<String>,
}

/// One isolated process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    pub name: String,
    /// The crate's directory, as written: relative to the directory of `system.toml`;
    /// for a built-in service, absolute (in the KaaL checkout).
    pub path: PathBuf,
    pub priority: u8,
    pub heap: u64,
    pub stack: u64,
    /// Devices it drives, by canonical (lowercase) name.
    pub devices: Vec<String>,
    /// Bytes of physically contiguous DMA memory for its drivers (a power of two, or 0).
    pub dma: u64,
    /// It serves forever: the system does not wait for it to exit.
    pub daemon: bool,
    /// The most detailed defmt level its crate logs at (`trace` ..= `error`, `off`).
    pub log: String,
    /// Its CPU budget, enforced by an MCS kernel (`None`: a plain time slice).
    pub budget: Option<Budget>,
    /// It may use the time service (`time = true`): sleeps and timeouts.
    pub time: bool,
    /// seL4 MCS: a passive server (`passive = true`; only with `daemon = true`).
    pub passive: bool,
    /// The file systems it mounts (`mounts = { ... }`), in file order; it reaches them
    /// through channel `vfs` and its buffer region `vfs-<name>`.
    pub mounts: Vec<Mount>,
    /// The ports it may use on the network (`network = { ... }`); it reaches the network
    /// service through its buffer region `net-<name>` (see [`Network`]).
    pub network: Option<NetworkGrant>,
    /// Its timing as a real-time task (`realtime = { ... }`): a spec named after the
    /// component that passed [`kaal_sched::TaskSpec::check`] and, with the system's other
    /// tasks, the [`Realtime::policy`]'s admission test. Task `i` is the `i`th component
    /// with a spec in start order.
    pub realtime: Option<kaal_sched::TaskSpec>,
    /// Bytes of RAM it may build processes from (granted as one untyped block, with
    /// its own address space and the ASID pool); 0 for an ordinary component. The Linux
    /// personality's (`[linux] memory`).
    pub processes: u64,
    /// Text granted to it as the read-only region `config`, for built-in services;
    /// `None` for components from system.toml.
    pub config: Option<String>,
    /// The line of its `[components.<name>]` table, for later errors about it (for a
    /// built-in service, of the table that asked for it).
    pub line: usize,
}

impl Component {
    /// Whether the tool added it (a built-in service such as `vfs`) rather than
    /// system.toml: only those have absolute paths, into the KaaL checkout.
    pub fn is_built_in(&self) -> bool {
        self.path.is_absolute()
    }
}

/// The component `[linux]` adds.
pub const LINUX: &str = "linux";

/// `[linux]`: the Linux personality's first process and its processes' memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linux {
    /// init's program and arguments.
    pub init: Vec<String>,
    /// init's environment, `NAME=value` each.
    pub env: Vec<String>,
    /// Lines `kaal run` types at init when it has no input at all (its standard input
    /// is /dev/null or closed, as in CI): a scripted demo of the system. Empty: none,
    /// and init gets end of input at once.
    pub demo: Vec<String>,
    /// Bytes of RAM for the Linux processes (a power of two).
    pub memory: u64,
    /// What confined programs may use, by program.
    pub confine: Vec<Confinement>,
    /// The line of `[linux]`.
    pub line: usize,
}

/// `[linux.confine."/bin/app"]`: a program that, with every process it starts, may use
/// only these subtrees and ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confinement {
    /// The program's path as the Linux processes see it (as execve names it).
    pub program: String,
    /// Subtrees and whether they are writable, in path order.
    pub files: Vec<(String, bool)>,
    pub listen: Vec<u16>,
    pub connect: Vec<u16>,
}

/// A one-shot timer: the one the time service drives, or the real-time scheduler's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    /// The 8254 PIT, one-shot.
    Pit,
    /// The HPET's timer 0, one-shot, on the PIT's interrupt line (legacy replacement).
    Hpet,
}

impl TimeSource {
    /// The broker's name for the device.
    pub const fn device(self) -> &'static str {
        match self {
            TimeSource::Pit => "pit",
            TimeSource::Hpet => "hpet",
        }
    }

    /// The devices it takes from everyone else: in legacy replacement mode the HPET's
    /// timer 0 takes over the PIT's interrupt line (ISA IRQ 0), and the broker lists
    /// both on it, so whichever of the two is the timer, neither may be given to a
    /// component (its claim would fail at boot, the line in use).
    pub const fn devices(self) -> &'static [&'static str] {
        match self {
            TimeSource::Pit => &["pit", "hpet"],
            TimeSource::Hpet => &["hpet", "pit"],
        }
    }

    /// Why the other of the PIT and the HPET cannot go to a component beside this timer,
    /// which `owner` drives: the words after "device `…` " in the error.
    pub fn shared_line(self, owner: &str) -> String {
        match self {
            TimeSource::Hpet => format!("shares its interrupt line with {owner}'s HPET, which replaces it"),
            TimeSource::Pit => format!(
                "shares its interrupt line with {owner}'s PIT: the HPET runs in legacy replacement mode, on the \
                 PIT's line (ISA IRQ 0)"
            ),
        }
    }
}

/// The real-time scheduler (`[realtime]`): a thread of the root task, above every
/// component, that releases the real-time components' jobs and holds each to its WCET.
///
/// Each real-time component `C` is granted the notifications `rt:release:C` (it waits
/// there for each release) and `rt:events` (it signals there that a job is done), which
/// the planner adds after the system's own; the names are in [`generated`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Realtime {
    pub policy: RtPolicy,
    /// The timer it claims from the broker; `None`: the system has a time service, which
    /// it sets its deadlines through.
    pub timer: Option<TimeSource>,
    /// The seL4 priority of every real-time component.
    pub priority: u8,
}

/// Who runs next among the released jobs, and the admission test that goes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RtPolicy {
    /// Earliest deadline first.
    #[default]
    Edf,
    /// Fixed priorities, shorter period first.
    RateMonotonic,
    /// Fixed priorities, shorter deadline first.
    DeadlineMonotonic,
}

impl RtPolicy {
    pub const ALL: [RtPolicy; 3] = [RtPolicy::Edf, RtPolicy::RateMonotonic, RtPolicy::DeadlineMonotonic];

    /// The name used in `system.toml`, the boot plan and kaal-sched's messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            RtPolicy::Edf => "edf",
            RtPolicy::RateMonotonic => "rate-monotonic",
            RtPolicy::DeadlineMonotonic => "deadline-monotonic",
        }
    }

    /// Whether `tasks` (in task order) meet every deadline under this policy: kaal-sched's
    /// own test, as the root task's scheduler runs it again at boot.
    pub fn admit(self, tasks: &[kaal_sched::TaskSpec]) -> Result<(), kaal_sched::Refusal> {
        use kaal_sched::admission;
        let order = match self {
            RtPolicy::Edf => return admission::edf(tasks).map(drop),
            RtPolicy::RateMonotonic => admission::rate_monotonic_order(tasks),
            RtPolicy::DeadlineMonotonic => admission::deadline_monotonic_order(tasks),
        };
        admission::response_times(tasks, &order).map(drop).map_err(|refusal| refusal.with_policy(self.as_str()))
    }
}

/// A virtio-blk disk (`[disks.NAME]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    pub name: String,
    pub source: DiskSource,
    pub read_only: bool,
    /// Its PCI slot on bus 0 (the tool places disks from [`Disk::FIRST_SLOT`] on).
    pub slot: u8,
    /// Its table's line in system.toml, for errors found later.
    pub line: usize,
}

/// Where a disk's contents come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskSource {
    /// A raw image, as written (relative to system.toml's directory): the guest writes
    /// to it in place.
    Image(PathBuf),
    /// A directory, as written, that `kaal build` turns into an ext2 image of `size`
    /// bytes (`mke2fs -t ext2 -b 4096 -d`).
    ///
    /// `packages` are Debian packages (from the Debian archive, by `apt-get download`)
    /// whose files `kaal build` unpacks over the directory's in the image.
    Directory { dir: PathBuf, size: u64, packages: Vec<String>, programs: Vec<Program> },
}

/// A program `kaal build` compiles for Linux (static, x86_64) into a disk's image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// Where it goes in the image (absolute).
    pub path: String,
    pub source: ProgramSource,
}

/// What a [`Program`] is built from (paths relative to system.toml's directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgramSource {
    /// A C file: `musl-gcc -static -O2`.
    C(PathBuf),
    /// A Rust crate: `cargo build --release --target x86_64-unknown-linux-gnu` with
    /// `-C target-feature=+crt-static` (a static glibc binary, std and all).
    Rust(PathBuf),
}

impl Disk {
    /// The first PCI slot disks get (clear of QEMU's own devices at 0-3 and of
    /// `-device` arguments written without `addr`, which take the next free slot).
    pub const FIRST_SLOT: u8 = 0x10;
    /// Most disks a system may have (slots 0x10-0x1f).
    pub const MAX: usize = 16;

    /// The broker's name for its PCI function.
    pub fn pci_address(&self) -> String {
        format!("pci:00:{:02x}.0", self.slot)
    }
}

/// A file system (`[filesystems.NAME]`), served by the built-in `vfs` component.
///
/// Declaring any adds, to the validated system: component `vfs` (the file system
/// service, configured by [`System::vfs_config`]); for each ext2 file system on disk
/// `D`, a block driver component `disk-D` with rings `disk-D-req` (requests, `vfs` to
/// `disk-D`) and `disk-D-resp` (completions) and region `disk-D-data` (the sectors);
/// channel `vfs`, whose clients are the components with `mounts`, in file order; and
/// for each client `C`, region `vfs-C`, the buffer its requests' data goes through.
/// The names are in [`generated`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSystem {
    pub name: String,
    pub kind: FileSystemKind,
    /// Every mount of it is read-only.
    pub read_only: bool,
    /// Its table's line in system.toml, for errors found later.
    pub line: usize,
}

/// What a file system keeps its files on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSystemKind {
    /// Memory in the `vfs` service, empty at boot: at most `size` bytes of files.
    Ramfs { size: u64 },
    /// The ext2 file system on disk `disk` (a [`Disk`] name), driven by component
    /// `disk-<disk>`.
    Ext2 { disk: String },
}

impl FileSystemKind {
    /// The name used in `system.toml` (`kind = "..."`) and the `vfs` configuration.
    pub const fn as_str(&self) -> &'static str {
        match self {
            FileSystemKind::Ramfs { .. } => "ramfs",
            FileSystemKind::Ext2 { .. } => "ext2",
        }
    }
}

/// One entry of a component's `mounts`: file system `filesystem`'s directory `subtree`
/// appears at `point`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Absolute, normal (no `.`, `..` or empty components): `/` or `/data`.
    pub point: String,
    /// A [`FileSystem`] name.
    pub filesystem: String,
    /// Absolute and normal, like `point`; `/` for the whole file system.
    pub subtree: String,
    pub read_only: bool,
}

/// The names of the components and connections the tool adds for file systems (see
/// [`FileSystem`]); system.toml may not use them.
pub mod generated {
    /// The file system service, and its channel.
    pub const VFS: &str = "vfs";

    /// The block driver component for disk `disk`.
    pub fn disk_driver(disk: &str) -> String {
        format!("disk-{disk}")
    }

    /// The ring of requests from `vfs` to disk `disk`'s driver.
    pub fn disk_requests(disk: &str) -> String {
        format!("disk-{disk}-req")
    }

    /// The ring of completions from disk `disk`'s driver back to `vfs`.
    pub fn disk_responses(disk: &str) -> String {
        format!("disk-{disk}-resp")
    }

    /// The region the sectors of disk `disk` pass through.
    pub fn disk_data(disk: &str) -> String {
        format!("disk-{disk}-data")
    }

    /// Client `component`'s region, shared with `vfs`: its request and response rings
    /// and its data buffer (`kaal_posix::proto`).
    pub fn client_buffer(component: &str) -> String {
        format!("vfs-{component}")
    }

    /// The notification every client signals (badge bit `1 << i` for the `i`th) after
    /// queueing a request, and `vfs` waits on.
    pub const WAKE: &str = "vfs-wake";

    /// The notification `vfs` signals when it answered client `component`.
    pub fn client_done(component: &str) -> String {
        format!("vfs-{component}-done")
    }

    /// The network card's driver component (see [`super::Network`]).
    pub const NIC: &str = "nic";

    /// The network service: the TCP/IP stack, serving the components with `network`.
    pub const NET: &str = "net";

    /// The packet buffers, DMA memory the card reads and writes, shared by `nic` and `net`.
    pub const NIC_BUFFERS: &str = "nic-buffers";

    /// The descriptor queues between `nic` and `net` (`kaal_ipc::net`).
    pub const NIC_QUEUES: &str = "nic-queues";

    /// The notification `nic` (badge bit 0) and every network client (bit `1 << (i + 1)`
    /// for the `i`th) signal, and `net` waits on.
    pub const NET_WAKE: &str = "net-wake";

    /// The right of `net` to signal the card's interrupt notification, so that `nic`
    /// wakes when there is something to send.
    pub const NIC_KICK: &str = "nic-kick";

    /// Network client `component`'s region, shared with `net`: its socket requests and
    /// their data (`kaal_posix::netproto`).
    pub fn net_client_buffer(component: &str) -> String {
        format!("net-{component}")
    }

    /// The notification `net` signals when it answered network client `component`.
    pub fn net_client_done(component: &str) -> String {
        format!("net-{component}-done")
    }

    /// The notification every real-time component signals (badge bit `1 << i` for task
    /// `i`) when a job is done, and the real-time scheduler waits on. Its `:` keeps it
    /// apart from every name system.toml can give.
    pub const RT_EVENTS: &str = "rt:events";

    /// The notification real-time component `component` waits on for its releases.
    pub fn rt_release(component: &str) -> String {
        format!("rt:release:{component}")
    }
}

/// The system's network (`[network]`): one network card on QEMU's user-mode network
/// (NAT, with the host reachable at 10.0.2.2), served by KaaL's network service.
///
/// Declaring it adds, to the validated system: component `nic` (the card's driver,
/// services/nic-e1000 or services/nic-virtio, at PCI function [`Network::NIC_DEVICE`]);
/// component `net` (the TCP/IP stack, services/net, configured by
/// [`System::net_config`]); regions `nic-buffers` (DMA memory) and `nic-queues` between
/// them; notification `net-wake`, which `nic` and each client signal and `net` waits on;
/// device signal `nic-kick`, with which `net` wakes `nic`; and for each client `C` (a
/// component with `network = { ... }`), in file order, region `net-C` and notification
/// `net-C-done`. The names are in [`generated`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub nic: NicKind,
    pub address: Address,
    /// The host ports forwarded to the guest, in file order.
    pub forwards: Vec<Forward>,
    /// The NIC driver component's crate, if the system brings its own (`driver =
    /// "PATH"`, relative to system.toml): it serves the same rings (`kaal_ipc::net`)
    /// as KaaL's drivers, in place of `services/nic-<kind>`.
    pub driver: Option<PathBuf>,
    /// The Linux driver that drives the card (`driver = { type = "dde-linux", driver =
    /// "8139cp" }`, or the default for a card KaaL has no driver of its own for), run by
    /// services/nic-dde over kaal-dde.
    pub linux: Option<String>,
    /// Functions of kaal-dde's glue the Linux driver is built without (`without = [..]`):
    /// it stops with the name of the first it calls.
    pub linux_without: Vec<String>,
}

impl Network {
    /// The card's PCI slot on bus 0.
    pub const NIC_SLOT: u8 = 0x0a;
    /// The card's PCI function, by the broker's name.
    pub const NIC_DEVICE: &'static str = "pci:00:0a.0";
}

/// The network card QEMU emulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NicKind {
    /// An Intel 82540EM (`-device e1000`).
    #[default]
    E1000,
    /// A virtio network device (`-device virtio-net-pci`).
    VirtioNet,
    /// A Realtek RTL8139C+ (`-device rtl8139`), driven by Linux's 8139cp (kaal-dde).
    Rtl8139,
}

impl NicKind {
    /// Every kind, as written in system.toml.
    pub const ALL: [NicKind; 3] = [NicKind::E1000, NicKind::VirtioNet, NicKind::Rtl8139];

    /// The name used in `system.toml` (`nic = "..."`) and the `net` configuration.
    pub const fn as_str(self) -> &'static str {
        match self {
            NicKind::E1000 => "e1000",
            NicKind::VirtioNet => "virtio-net",
            NicKind::Rtl8139 => "rtl8139",
        }
    }

    /// The Linux driver a card with no KaaL driver of its own runs (kaal-dde).
    pub const fn linux_default(self) -> Option<&'static str> {
        match self {
            NicKind::Rtl8139 => Some("8139cp"),
            NicKind::E1000 | NicKind::VirtioNet => None,
        }
    }

    /// QEMU's `-device` driver for it.
    pub const fn qemu_device(self) -> &'static str {
        match self {
            NicKind::E1000 => "e1000",
            NicKind::VirtioNet => "virtio-net-pci",
            NicKind::Rtl8139 => "rtl8139",
        }
    }

    /// Its driver's crate, under `services/` in the KaaL checkout.
    pub const fn service(self) -> &'static str {
        match self {
            NicKind::E1000 => "nic-e1000",
            NicKind::VirtioNet => "nic-virtio",
            NicKind::Rtl8139 => "nic-dde",
        }
    }
}

/// How the guest gets its IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Address {
    /// From QEMU's DHCP server (10.0.2.15, gateway 10.0.2.2).
    #[default]
    Dhcp,
    /// Fixed: `address/prefix`, and the router off the local network, if any.
    Static { address: [u8; 4], prefix: u8, gateway: Option<[u8; 4]> },
}

/// A transport protocol a forward carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// Its name in QEMU's `hostfwd` and in URLs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// A host port on 127.0.0.1 that QEMU forwards to a guest port (`hostfwd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    pub protocol: Protocol,
    pub host: u16,
    pub guest: u16,
}

impl Forward {
    /// How a forward is written, for errors.
    pub const FORMS: &'static str = "write HOST:GUEST for TCP (\"8080:80\": host port 8080 on 127.0.0.1 to guest \
                                     port 80) or udp:HOST:GUEST for UDP (\"udp:5353:53\"); ports are 1 to 65535";

    /// Parses `HOST:GUEST`, `tcp:HOST:GUEST` or `udp:HOST:GUEST`; the error says what is
    /// wrong (see [`Forward::FORMS`] for how to write one).
    pub fn parse(text: &str) -> Result<Forward, String> {
        let (protocol, ports) = match text.split_once(':') {
            Some(("udp", rest)) => (Protocol::Udp, rest),
            Some(("tcp", rest)) => (Protocol::Tcp, rest),
            _ => (Protocol::Tcp, text),
        };
        let Some((host, guest)) = ports.split_once(':') else {
            return Err(format!("`{text}` is not HOST:GUEST"));
        };
        let port = |digits: &str, which: &str| match digits.parse::<u32>() {
            _ if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) => {
                Err(format!("the {which} port `{digits}` in `{text}` is not a number"))
            }
            Ok(n @ 1..=65535) => Ok(n as u16),
            _ => Err(format!("the {which} port {digits} in `{text}` is out of range")),
        };
        Ok(Forward { protocol, host: port(host, "host")?, guest: port(guest, "guest")? })
    }

    /// Where the host reaches it: `http://127.0.0.1:8080` for TCP to guest port 80 or
    /// 8080, else `tcp://127.0.0.1:H` or `udp://127.0.0.1:H`.
    pub fn url(&self) -> String {
        let scheme = match (self.protocol, self.guest) {
            (Protocol::Tcp, 80 | 8080) => "http",
            (protocol, _) => protocol.as_str(),
        };
        format!("{scheme}://127.0.0.1:{}", self.host)
    }
}

impl std::fmt::Display for Forward {
    /// As system.toml writes it: `8080:80`, `udp:5353:53`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.protocol == Protocol::Udp {
            f.write_str("udp:")?;
        }
        write!(f, "{}:{}", self.host, self.guest)
    }
}

/// What a component may do on the network (`network = { listen = [...], connect = [...] }`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkGrant {
    /// Local ports it may listen on or bind, in the order written.
    pub listen: Vec<u16>,
    /// Remote ports it may connect or send to, in the order written.
    pub connect: Vec<u16>,
}

/// A fixed device the system declares (`[devices.NAME]`): one KaaL does not ship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredDevice {
    pub name: String,
    pub description: String,
    pub ports: Option<kaal_abi::devices::PortRange>,
    pub irq: Option<u8>,
    pub mmio: Option<kaal_abi::devices::MmioRange>,
    pub probe: kaal_abi::devices::Probe,
}

impl DeclaredDevice {
    /// As a row of the broker's device table.
    pub fn as_fixed(&self) -> kaal_abi::devices::FixedDevice<'_> {
        kaal_abi::devices::FixedDevice {
            name: &self.name,
            description: &self.description,
            ports: self.ports,
            irq: self.irq,
            mmio: self.mmio,
            probe: self.probe,
            reserved: None,
        }
    }
}

impl System {
    /// Whether fixed device `name` (built in or declared) has an interrupt line; `None`
    /// if it is not a fixed device.
    pub fn fixed_device_irq(&self, name: &str) -> Option<Option<u8>> {
        if let Some(device) = kaal_abi::devices::built_in(name) {
            return Some(device.irq);
        }
        self.devices.iter().find(|d| d.name == name).map(|d| d.irq)
    }

    /// The configuration of the `vfs` service (the text it is granted as region
    /// `config`), or `None` if the system has no file systems. One record per line,
    /// fields separated by single spaces:
    ///
    /// ```text
    /// filesystem <index> <name> ramfs <size in bytes>
    /// filesystem <index> <name> ext2 <disk driver component> <1 if read-only, else 0>
    /// client <badge> <component> <buffer region>
    /// mount <badge> <mount point> <filesystem index> <subtree> <ro|rw>
    /// ```
    ///
    /// File systems are indexed from 0 in file order ([`System::filesystems`]); a
    /// client's badge is its place in channel `vfs` plus one. Every `filesystem` line
    /// comes first, then every `client` line, then the `mount` lines, by client and
    /// then in the order the client lists them.
    pub fn vfs_config(&self) -> Option<String> {
        if self.filesystems.is_empty() {
            return None;
        }
        let wake = self.notifications.iter().find(|n| n.name == generated::WAKE && n.wait == generated::VFS)?;
        let clients: Vec<(&str, &[Mount])> = wake
            .signal
            .iter()
            .map(|name| {
                let mounts = self.components.iter().find(|c| &c.name == name).map(|c| c.mounts.as_slice());
                (name.as_str(), mounts.unwrap_or_default())
            })
            .collect();
        Some(vfs_config_text(&self.filesystems, &clients))
    }
}

impl System {
    /// The configuration of the `net` service (the text it is granted as region
    /// `config`), or `None` if the system has no network. One item per line:
    ///
    /// ```text
    /// nic <e1000|virtio-net>
    /// address dhcp
    /// address <a.b.c.d>/<prefix>[ gateway <a.b.c.d>]
    /// client <index> <component> listen <ports|-> connect <ports|->
    /// ```
    ///
    /// Client `i` is the `i`th component with `network` in file order; it signals
    /// `net-wake` with badge bit `1 << (i + 1)` (bit 0 is `nic`'s). Ports are written
    /// as in system.toml, separated by commas; `-` is none.
    pub fn net_config(&self) -> Option<String> {
        let network = self.network.as_ref()?;
        let wake = self.notifications.iter().find(|n| n.name == generated::NET_WAKE && n.wait == generated::NET)?;
        let empty = NetworkGrant::default();
        let clients: Vec<(&str, &NetworkGrant)> = wake
            .signal
            .iter()
            .filter(|name| *name != generated::NIC)
            .map(|name| {
                let grant = self.components.iter().find(|c| &c.name == name).and_then(|c| c.network.as_ref());
                (name.as_str(), grant.unwrap_or(&empty))
            })
            .collect();
        Some(net_config_text(network, &clients))
    }
}

/// [`System::net_config`] for `network` and its clients, in badge order.
fn net_config_text(network: &Network, clients: &[(&str, &NetworkGrant)]) -> String {
    use std::fmt::Write as _;
    let ip = |a: [u8; 4]| format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3]);
    let ports = |list: &[u16]| {
        if list.is_empty() {
            "-".to_string()
        } else {
            list.iter().map(u16::to_string).collect::<Vec<_>>().join(",")
        }
    };
    let mut out = format!("nic {}\n", network.nic.as_str());
    let _ = match network.address {
        Address::Dhcp => writeln!(out, "address dhcp"),
        Address::Static { address, prefix, gateway: None } => writeln!(out, "address {}/{prefix}", ip(address)),
        Address::Static { address, prefix, gateway: Some(gateway) } => {
            writeln!(out, "address {}/{prefix} gateway {}", ip(address), ip(gateway))
        }
    };
    for (i, (client, grant)) in clients.iter().enumerate() {
        let _ = writeln!(out, "client {i} {client} listen {} connect {}", ports(&grant.listen), ports(&grant.connect));
    }
    out
}

/// [`System::vfs_config`] for `filesystems` (in index order) and the clients of channel
/// `vfs` (in badge order) with their mounts.
fn vfs_config_text(filesystems: &[FileSystem], clients: &[(&str, &[Mount])]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for (index, fs) in filesystems.iter().enumerate() {
        let _ = match &fs.kind {
            FileSystemKind::Ramfs { size } => writeln!(out, "filesystem {index} {} ramfs {size}", fs.name),
            FileSystemKind::Ext2 { disk } => writeln!(
                out,
                "filesystem {index} {} ext2 {} {}",
                fs.name,
                generated::disk_driver(disk),
                u8::from(fs.read_only)
            ),
        };
    }
    for (i, (client, _)) in clients.iter().enumerate() {
        let (buffer, done) = (generated::client_buffer(client), generated::client_done(client));
        let _ = writeln!(out, "client {i} {client} {buffer} {done}");
    }
    for (i, (_, mounts)) in clients.iter().enumerate() {
        for mount in *mounts {
            let Some(index) = filesystems.iter().position(|fs| fs.name == mount.filesystem) else { continue };
            let access = if mount.read_only { "ro" } else { "rw" };
            let _ = writeln!(out, "mount {i} {} {index} {} {access}", mount.point, mount.subtree);
        }
    }
    out
}

/// A component's CPU budget (seL4 MCS): `budget_us` of execution in every `period_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub budget_us: u64,
    pub period_us: u64,
    /// Overrunning it is a timeout fault (the supervisor stops and reports the
    /// component) rather than a wait for the next period.
    pub overrun_fault: bool,
}

/// An endpoint: clients call, the server receives. Each client's capability is badged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub name: String,
    pub server: String,
    /// In the order written (it decides the badges).
    pub clients: Vec<String>,
}

/// A notification: any of `signal` may signal it, `wait` waits on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationLink {
    pub name: String,
    pub signal: Vec<String>,
    pub wait: String,
}

/// A single-producer single-consumer ring in shared memory, with a notification each way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ring {
    pub name: String,
    pub producer: String,
    pub consumer: String,
    /// A power of two.
    pub slots: u32,
    /// Bytes per slot.
    pub item_size: u32,
}

impl Ring {
    /// Bytes of the ring's indices, ahead of the slots.
    pub const HEADER_BYTES: u64 = 256;

    /// The shared memory the ring takes, in whole pages.
    pub fn bytes(&self) -> u64 {
        (Self::HEADER_BYTES + u64::from(self.slots) * u64::from(self.item_size)).next_multiple_of(PAGE)
    }
}

/// A shared memory region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub name: String,
    /// In bytes, a whole number of pages.
    pub size: u64,
    /// Map it writable.
    pub writers: Vec<String>,
    /// Map it read-only.
    pub readers: Vec<String>,
    /// Physically contiguous RAM (a power of two of bytes), whose physical address
    /// every holder learns: packet buffers a device reads and writes by DMA while
    /// another component fills and drains them. Only the tool's built-in services make
    /// these (the network's buffers).
    pub dma: bool,
}

/// The right for components other than a device's driver to signal the notification
/// the device's interrupt arrives on, so that the driver, which waits there, also
/// wakes for them. Signaller `i` sets badge bit `2 << i` (the interrupt is bit 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSignal {
    /// The grant's name in each signaller.
    pub name: String,
    /// The device, by canonical name (`pci:00:0a.0`); its holder waits.
    pub device: String,
    pub signal: Vec<String>,
}

const PAGE: u64 = 4096;

/// Reads and checks the text of a `system.toml`; `file` is the name quoted in errors.
/// Touches no files: see [`check_component_dirs`] for that.
pub fn parse(file: &str, text: &str) -> Result<System, ConfigErrors> {
    let source = Source { file, text };
    let raw = document::read(&source)?;
    validate::system(&source, raw)
}

/// Reads and checks the `system.toml` at `path`.
pub fn load(path: &Path) -> Result<System, ConfigErrors> {
    let file = path.display().to_string();
    let unreadable = |message: String, help: &str| ConfigError {
        file: file.clone(),
        line: 0,
        column: 0,
        key: String::new(),
        message,
        help: help.to_string(),
    };
    let bytes = std::fs::read(path).map_err(|e| {
        unreadable(
            format!("cannot read the system description: {e}"),
            "check the path; a system is described by a `system.toml` in its directory",
        )
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        unreadable(
            format!("the file is not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()),
            "save it as UTF-8; TOML files must be UTF-8",
        )
    })?;
    parse(&file, &text)
}

/// Checks that each component's `path`, taken relative to `base` (the directory of
/// `system.toml`), is a crate directory; a built-in service's, in the KaaL checkout.
/// Errors quote the component's line in `file`.
pub fn check_component_dirs(system: &System, base: &Path, file: &str) -> Result<(), ConfigErrors> {
    let errors: Vec<ConfigError> = system
        .components
        .iter()
        .filter_map(|component| {
            let dir = base.join(&component.path);
            let (message, help) = if component.is_built_in() {
                // A service the tool added: part of KaaL, not of the system.
                if dir.join("Cargo.toml").is_file() {
                    return None;
                }
                (
                    format!(
                        "component `{}` is a service KaaL provides, but its crate `{}` is missing",
                        component.name,
                        dir.display()
                    ),
                    format!(
                        "the KaaL checkout this tool was built from ({}) is incomplete or older than the tool:                          update it, or rebuild the tool from a complete checkout",
                        crate::assemble::kaal_checkout().display()
                    ),
                )
            } else if !dir.is_dir() {
                (
                    format!("component `{}`: directory `{}` does not exist", component.name, dir.display()),
                    format!(
                        "create the crate with `cargo new --bin {}`, or fix `path` (it is relative to the \
                         directory of {file})",
                        dir.display()
                    ),
                )
            } else if !dir.join("Cargo.toml").is_file() {
                (
                    format!("component `{}`: `{}` has no Cargo.toml", component.name, dir.display()),
                    format!("a component is a cargo crate; run `cargo init --bin {}`", dir.display()),
                )
            } else {
                return None;
            };
            Some(ConfigError {
                file: file.to_string(),
                line: component.line,
                column: 1,
                key: if component.is_built_in() {
                    String::new()
                } else {
                    format!("components.{}.path", component.name)
                },
                message,
                help,
            })
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(errors))
    }
}

/// The connection kinds: their key under `[connections]` and what one is called.
const CONNECTION_KINDS: [(&str, &str); 4] =
    [("channels", "channel"), ("notifications", "notification"), ("rings", "ring"), ("memory", "shared region")];

/// The candidate closest to a misspelt `word`, if any is close enough to be a likely typo.
fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(word, candidate), candidate))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// "did you mean `x`?\n" for a close candidate, else nothing.
fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(word, candidates).map(|c| format!("did you mean `{c}`?\n")).unwrap_or_default()
}

/// A name as one segment of a dotted key: bare if TOML allows it, else quoted.
fn key_part(name: &str) -> String {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        name.to_string()
    } else {
        format!("{name:?}")
    }
}

/// The dotted key of a path of names.
fn dotted<S: AsRef<str>>(path: &[S]) -> String {
    path.iter().map(|part| key_part(part.as_ref())).collect::<Vec<_>>().join(".")
}
