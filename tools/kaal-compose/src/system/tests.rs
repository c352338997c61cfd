//! `system.toml` reading: a complete file, one case per kind of mistake, and input that
//! is not a system description at all.

use std::fmt::Write as _;

use super::*;

const FULL: &str = r#"# A server, a client and a logger.
[system]
name = "pipeline"
description = "requests flow one way, logs the other"

[resources]
heap = "32 MiB"
max-threads = 8
priorities = { lowest = 10, highest = 200 }

[qemu]
memory = "1 GiB"
args = ["-serial", "tcp::4444,server,nowait"]

[components.server]
path = "server"
priority = 150
heap = "1M"
stack = 131072
devices = ["com2", "pci:00:1F.2"]
dma = "40 KiB"
daemon = true

[components.client]
path = "../client"

[components.logger]
path = "logger"
priority = 150

[connections.channels.requests]
server = "server"
clients = ["logger", "client"]

[connections.notifications.ready]
signal = ["server"]
wait = "client"

[connections.rings.log]
producer = "client"
consumer = "logger"
slots = 256
item-size = 64

[connections.memory.frames]
size = "5 KiB"
writers = ["server"]
readers = ["client", "logger"]
"#;

/// Two components and nothing else; cases append to it from line 9.
const BASE: &str = r#"[system]
name = "demo"

[components.server]
path = "server"

[components.client]
path = "client"
"#;

fn base(extra: &str) -> String {
    format!("{BASE}{extra}")
}

fn errors_of(text: &str) -> Vec<ConfigError> {
    match parse("system.toml", text) {
        Ok(system) => panic!("expected errors, got {system:#?}\nfrom:\n{text}"),
        Err(ConfigErrors(errors)) => errors,
    }
}

/// A scratch directory for tests that touch files, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("kaal-system-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating a scratch directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn reads_a_complete_system() {
    let system = parse("system.toml", FULL).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(system.name, "pipeline");
    assert_eq!(system.platform, Platform::QemuX86_64);
    assert_eq!(system.description.as_deref(), Some("requests flow one way, logs the other"));
    assert_eq!(
        system.resources,
        Resources { heap: 32 << 20, max_threads: 8, lowest_priority: 10, highest_priority: 200 }
    );
    assert_eq!(system.qemu, Qemu { memory_mib: 1024, args: vec!["-serial".into(), "tcp::4444,server,nowait".into()] });

    let order: Vec<(&str, u8)> = system.components.iter().map(|c| (c.name.as_str(), c.priority)).collect();
    assert_eq!(order, [("logger", 150), ("server", 150), ("client", 100)], "start order");
    let server = &system.components[1];
    assert_eq!(
        *server,
        Component {
            name: "server".into(),
            path: PathBuf::from("server"),
            priority: 150,
            heap: 1 << 20,
            stack: 128 << 10,
            devices: vec!["com2".into(), "pci:00:1f.2".into()],
            dma: 64 << 10,
            daemon: true,
            log: "info".into(),
            budget: None,
            time: false,
            passive: false,
            mounts: vec![],
            network: None,
            realtime: None,
            config: None,
            processes: 0,
            line: 15,
        }
    );
    let client = &system.components[2];
    assert_eq!((client.heap, client.stack, client.daemon), (256 << 10, 64 << 10, false), "defaults");
    assert_eq!(client.path, PathBuf::from("../client"));
    assert!(client.devices.is_empty());
    assert_eq!(client.dma, 0, "no DMA memory unless asked for");

    assert_eq!(
        system.channels,
        [Channel { name: "requests".into(), server: "server".into(), clients: vec!["logger".into(), "client".into()] }]
    );
    assert_eq!(
        system.notifications,
        [NotificationLink { name: "ready".into(), signal: vec!["server".into()], wait: "client".into() }]
    );
    let ring =
        Ring { name: "log".into(), producer: "client".into(), consumer: "logger".into(), slots: 256, item_size: 64 };
    assert_eq!(system.rings, std::slice::from_ref(&ring));
    assert_eq!(ring.bytes(), 20480, "256-byte header + 16 KiB of slots, in whole pages");
    assert_eq!(
        system.regions,
        [Region {
            name: "frames".into(),
            size: 8192,
            writers: vec!["server".into()],
            readers: vec!["client".into(), "logger".into()],
            dma: false,
        }]
    );
}

#[test]
fn applies_defaults_to_a_minimal_system() {
    let system = parse("system.toml", BASE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        system.resources,
        Resources { heap: 16 << 20, max_threads: 64, lowest_priority: 1, highest_priority: 254 }
    );
    assert_eq!(system.qemu, Qemu { memory_mib: 512, args: vec![] });
    assert_eq!(system.description, None);
    let names: Vec<&str> = system.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["client", "server"], "equal priorities start by name");
    assert!(system.components.iter().all(|c| c.priority == 100));
    assert!(system.channels.is_empty() && system.notifications.is_empty());
    assert!(system.rings.is_empty() && system.regions.is_empty());
}

#[test]
fn reads_budgets_for_mcs_kernels() {
    let text =
        base("[components.spin]\npath = \"spin\"\nbudget = \"1500 us\"\nperiod = \"1 s\"\noverrun = \"fault\"\n");
    let system = parse("system.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    let spin = system.components.iter().find(|c| c.name == "spin").expect("spin");
    assert_eq!(spin.budget, Some(Budget { budget_us: 1500, period_us: 1_000_000, overrun_fault: true }));
    assert!(system.components.iter().filter(|c| c.name != "spin").all(|c| c.budget.is_none()));
}

/// File systems: two ext2 (one on a read-only disk) and a ramfs, mounted by two of
/// three components, in an order unlike their names'.
const FILES: &str = r#"[system]
name = "files"

[disks.data]
directory = "files"

[disks.logs]
image = "logs.img"
read-only = true

[filesystems.scratch]
kind = "ramfs"
size = "8 MiB"

[filesystems.data]
kind = "ext2"
disk = "data"

[filesystems.logs]
kind = "ext2"
disk = "logs"

[filesystems.spare]
kind = "ramfs"

[components.shell]
path = "shell"
mounts = { "/" = "scratch", "/data" = "data", "/pub" = { filesystem = "data", subtree = "/public", read-only = true } }

[components.app]
path = "app"
mounts = { "/tmp" = "scratch", "/logs" = "logs" }

[components.idle]
path = "idle"
"#;

#[test]
fn expands_file_systems_into_services() {
    let system = parse("system.toml", FILES).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        system.filesystems,
        [
            FileSystem {
                name: "scratch".into(),
                kind: FileSystemKind::Ramfs { size: 8 << 20 },
                read_only: false,
                line: 11
            },
            FileSystem {
                name: "data".into(),
                kind: FileSystemKind::Ext2 { disk: "data".into() },
                read_only: false,
                line: 15
            },
            FileSystem {
                name: "logs".into(),
                kind: FileSystemKind::Ext2 { disk: "logs".into() },
                read_only: true,
                line: 19
            },
            FileSystem {
                name: "spare".into(),
                kind: FileSystemKind::Ramfs { size: 4 << 20 },
                read_only: false,
                line: 23
            },
        ],
        "in file order; a file system nobody mounts is fine"
    );
    let config = "filesystem 0 scratch ramfs 8388608\n\
                  filesystem 1 data ext2 disk-data 0\n\
                  filesystem 2 logs ext2 disk-logs 1\n\
                  filesystem 3 spare ramfs 4194304\n\
                  client 0 shell vfs-shell vfs-shell-done\n\
                  client 1 app vfs-app vfs-app-done\n\
                  mount 0 / 0 / rw\n\
                  mount 0 /data 1 / rw\n\
                  mount 0 /pub 1 /public ro\n\
                  mount 1 /tmp 0 / rw\n\
                  mount 1 /logs 2 / ro\n";
    assert_eq!(system.vfs_config().as_deref(), Some(config));

    let order: Vec<(&str, u8)> = system.components.iter().map(|c| (c.name.as_str(), c.priority)).collect();
    assert_eq!(
        order,
        [("disk-data", 210), ("disk-logs", 210), ("vfs", 200), ("app", 100), ("idle", 100), ("shell", 100)]
    );
    let component = |name: &str| system.components.iter().find(|c| c.name == name).expect(name);
    let vfs = component("vfs");
    assert_eq!(vfs.path, crate::assemble::kaal_checkout().join("services/vfs"));
    assert!(vfs.is_built_in() && !component("shell").is_built_in());
    assert_eq!((vfs.heap, vfs.stack, vfs.dma, vfs.daemon, vfs.line), (48 << 20, 1 << 20, 0, true, 11));
    assert_eq!(vfs.config.as_deref(), Some(config));
    assert!(vfs.devices.is_empty() && vfs.mounts.is_empty() && !vfs.time && vfs.log == "info");
    let disk = component("disk-logs");
    assert_eq!(disk.path, crate::assemble::kaal_checkout().join("services/blk"));
    assert_eq!((disk.heap, disk.dma, disk.daemon, disk.line), (1 << 20, 1 << 20, true, 19));
    assert_eq!(disk.devices, ["pci:00:11.0"]);
    assert_eq!(disk.config, None);
    assert_eq!(
        component("shell").mounts,
        [
            Mount { point: "/".into(), filesystem: "scratch".into(), subtree: "/".into(), read_only: false },
            Mount { point: "/data".into(), filesystem: "data".into(), subtree: "/".into(), read_only: false },
            Mount { point: "/pub".into(), filesystem: "data".into(), subtree: "/public".into(), read_only: true },
        ]
    );
    assert!(component("idle").mounts.is_empty());

    assert!(system.channels.is_empty());
    let link = |name: &str, signal: &[&str], wait: &str| NotificationLink {
        name: name.into(),
        signal: signal.iter().map(|s| s.to_string()).collect(),
        wait: wait.into(),
    };
    assert_eq!(
        system.notifications,
        [
            link("vfs-app-done", &["vfs"], "app"),
            link("vfs-shell-done", &["vfs"], "shell"),
            link("vfs-wake", &["shell", "app"], "vfs"),
        ],
        "clients in file order"
    );
    let ring = |name: &str, producer: &str, consumer: &str, slots, item_size| Ring {
        name: name.into(),
        producer: producer.into(),
        consumer: consumer.into(),
        slots,
        item_size,
    };
    assert_eq!(
        system.rings,
        [
            ring("disk-data-req", "vfs", "disk-data", 16, 24),
            ring("disk-data-resp", "disk-data", "vfs", 32, 16),
            ring("disk-logs-req", "vfs", "disk-logs", 16, 24),
            ring("disk-logs-resp", "disk-logs", "vfs", 32, 16),
        ]
    );
    let region = |name: &str, size, writers: [&str; 2]| Region {
        name: name.into(),
        size,
        writers: writers.map(String::from).to_vec(),
        readers: vec![],
        dma: false,
    };
    assert_eq!(
        system.regions,
        [
            region("disk-data-data", 512 << 10, ["vfs", "disk-data"]),
            region("disk-logs-data", 512 << 10, ["vfs", "disk-logs"]),
            region("vfs-app", 256 << 10, ["app", "vfs"]),
            region("vfs-shell", 256 << 10, ["shell", "vfs"]),
        ]
    );

    // The plan grants them like any other component's.
    let plan = crate::planner::plan(&system).unwrap_or_else(|e| panic!("{e}"));
    let grants = |name: &str| {
        let planned = plan.components.iter().find(|c| c.name == name).expect(name);
        planned.grants.iter().map(|g| (g.name.as_str(), g.source)).collect::<Vec<_>>()
    };
    let vfs_grants = grants("vfs");
    assert!(vfs_grants.contains(&("config", kaal_abi::plan::Source::Text(config))), "{vfs_grants:?}");
    assert!(vfs_grants.contains(&("vfs-wake", kaal_abi::plan::Source::NotificationWait(2))), "{vfs_grants:?}");
    let app = grants("app");
    let wake = kaal_abi::plan::Source::NotificationSignal { notification: 2, badge: 2 };
    assert!(app.contains(&("vfs-wake", wake)), "the second client signals bit 1: {app:?}");
    assert!(app.contains(&("vfs-app-done", kaal_abi::plan::Source::NotificationWait(0))), "{app:?}");
    assert!(app.iter().any(|(name, _)| *name == "vfs-app"), "{app:?}");
    assert!(grants("disk-data").iter().any(|(name, _)| *name == "pci:00:10.0:config"));
}

#[test]
fn adds_nothing_without_file_systems() {
    let system = parse("system.toml", BASE).unwrap_or_else(|e| panic!("{e}"));
    assert!(system.filesystems.is_empty() && system.vfs_config().is_none());
    assert!(system.components.iter().all(|c| !c.is_built_in() && c.config.is_none() && c.mounts.is_empty()));
    // Nobody mounts it: the service still runs, with no clients.
    let system = parse("system.toml", &base("[filesystems.s]\nkind = \"ramfs\"\n")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(system.vfs_config().as_deref(), Some("filesystem 0 s ramfs 4194304\n"));
    assert!(system.channels.is_empty());
    assert_eq!(
        system.notifications,
        [NotificationLink { name: "vfs-wake".into(), signal: vec![], wait: "vfs".into() }]
    );
    let names: Vec<&str> = system.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["vfs", "client", "server"]);
}

#[test]
fn built_in_services_are_checked_in_the_kaal_checkout() {
    let scratch = Scratch::new("services");
    for dir in ["server", "client"] {
        std::fs::create_dir_all(scratch.0.join(dir)).expect("creating a crate directory");
        std::fs::write(scratch.0.join(dir).join("Cargo.toml"), "[package]\n").expect("writing Cargo.toml");
    }
    let mut system = parse("system.toml", &base("[filesystems.s]\nkind = \"ramfs\"\n")).expect("valid");
    let vfs = system.components.iter_mut().find(|c| c.name == "vfs").expect("vfs");
    vfs.path = scratch.0.join("absent-service");
    let errors = check_component_dirs(&system, &scratch.0, "system.toml").unwrap_err().0;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].line, 9, "the [filesystems] table asked for it");
    assert!(errors[0].message.contains("component `vfs` is a service KaaL provides, but its crate"), "{}", errors[0]);
    assert!(errors[0].help.contains("KaaL checkout"), "{}", errors[0]);
    let vfs = system.components.iter_mut().find(|c| c.name == "vfs").expect("vfs");
    vfs.path = scratch.0.join("server");
    assert_eq!(check_component_dirs(&system, &scratch.0, "system.toml"), Ok(()));
}

const NETWORK: &str = r#"[system]
name = "web"

[time]
source = "pit"

[network]
nic = "virtio-net"
address = "10.0.2.15/24"
gateway = "10.0.2.2"
forwards = ["8080:80", "udp:5353:53", "tcp:7007:7"]

[components.web]
path = "web"
network = { listen = [80, 7], connect = [8000] }

[components.idle]
path = "idle"

[components.fetcher]
path = "fetcher"
network = { connect = [8000] }
"#;

#[test]
fn expands_the_network_into_services() {
    let system = parse("system.toml", NETWORK).unwrap_or_else(|e| panic!("{e}"));
    let tcp = |host, guest| Forward { protocol: Protocol::Tcp, host, guest };
    assert_eq!(
        system.network,
        Some(Network {
            nic: NicKind::VirtioNet,
            address: Address::Static { address: [10, 0, 2, 15], prefix: 24, gateway: Some([10, 0, 2, 2]) },
            forwards: vec![tcp(8080, 80), Forward { protocol: Protocol::Udp, host: 5353, guest: 53 }, tcp(7007, 7)],
            driver: None,
            linux: None,
            linux_without: vec![],
        })
    );
    let config = "nic virtio-net\n\
                  address 10.0.2.15/24 gateway 10.0.2.2\n\
                  client 0 web listen 80,7 connect 8000\n\
                  client 1 fetcher listen - connect 8000\n";
    assert_eq!(system.net_config().as_deref(), Some(config));
    assert_eq!(system.vfs_config(), None);

    let order: Vec<(&str, u8)> = system.components.iter().map(|c| (c.name.as_str(), c.priority)).collect();
    assert_eq!(order, [("nic", 220), ("net", 205), ("fetcher", 100), ("idle", 100), ("web", 100)]);
    let component = |name: &str| system.components.iter().find(|c| c.name == name).expect(name);
    let nic = component("nic");
    assert_eq!(nic.path, crate::assemble::kaal_checkout().join("services/nic-virtio"));
    assert!(nic.is_built_in());
    assert_eq!(
        (nic.heap, nic.stack, nic.dma, nic.daemon, nic.time, nic.line),
        (2 << 20, 64 << 10, 256 << 10, true, false, 7)
    );
    assert_eq!(nic.devices, ["pci:00:0a.0"]);
    assert_eq!((nic.config.as_deref(), nic.network.as_ref()), (None, None));
    let net = component("net");
    assert_eq!(net.path, crate::assemble::kaal_checkout().join("services/net"));
    assert_eq!((net.heap, net.stack, net.dma, net.daemon, net.time, net.line), (32 << 20, 256 << 10, 0, true, true, 7));
    assert!(net.devices.is_empty() && net.mounts.is_empty() && net.network.is_none());
    assert_eq!(net.config.as_deref(), Some(config));
    assert_eq!(
        component("web").network,
        Some(NetworkGrant { listen: vec![80, 7], connect: vec![8000] }),
        "ports in the order written"
    );
    assert_eq!(component("fetcher").network, Some(NetworkGrant { listen: vec![], connect: vec![8000] }));
    assert_eq!(component("idle").network, None);

    let link = |name: &str, signal: &[&str], wait: &str| NotificationLink {
        name: name.into(),
        signal: signal.iter().map(|s| s.to_string()).collect(),
        wait: wait.into(),
    };
    assert_eq!(
        system.notifications,
        [
            link("net-fetcher-done", &["net"], "fetcher"),
            link("net-wake", &["nic", "web", "fetcher"], "net"),
            link("net-web-done", &["net"], "web"),
        ],
        "the card first, then the clients in file order"
    );
    let region = |name: &str, size, writers: [&str; 2], dma| Region {
        name: name.into(),
        size,
        writers: writers.map(String::from).to_vec(),
        readers: vec![],
        dma,
    };
    assert_eq!(
        system.regions,
        [
            region("net-fetcher", 256 << 10, ["fetcher", "net"], false),
            region("net-web", 256 << 10, ["web", "net"], false),
            region("nic-buffers", 1 << 20, ["nic", "net"], true),
            region("nic-queues", 16 << 10, ["nic", "net"], false),
        ]
    );
    assert!(system.channels.is_empty() && system.rings.is_empty());
    assert_eq!(
        system.device_signals,
        [DeviceSignal { name: "nic-kick".into(), device: "pci:00:0a.0".into(), signal: vec!["net".into()] }]
    );

    // The plan grants them like any other component's.
    let plan = crate::planner::plan(&system).unwrap_or_else(|e| panic!("{e}"));
    let grants = |name: &str| {
        let planned = plan.components.iter().find(|c| c.name == name).expect(name);
        planned.grants.iter().map(|g| (g.name.as_str(), g.source)).collect::<Vec<_>>()
    };
    use kaal_abi::plan::Source;
    let wake = |badge| Source::NotificationSignal { notification: 1, badge };
    assert!(grants("nic").contains(&("net-wake", wake(1))), "the card signals bit 0: {:?}", grants("nic"));
    assert!(grants("web").contains(&("net-wake", wake(2))), "the first client bit 1: {:?}", grants("web"));
    assert!(grants("fetcher").contains(&("net-wake", wake(4))), "the second bit 2: {:?}", grants("fetcher"));
    assert!(grants("web").contains(&("net-web-done", Source::NotificationWait(2))), "{:?}", grants("web"));
    assert!(grants("web").iter().any(|(name, _)| *name == "net-web"));
    assert!(grants("idle").iter().all(|(name, _)| !name.starts_with("net")), "{:?}", grants("idle"));
    let net_grants = grants("net");
    assert!(net_grants.contains(&("config", Source::Text(config))), "{net_grants:?}");
    assert!(net_grants.contains(&("net-wake", Source::NotificationWait(1))), "{net_grants:?}");
    assert!(net_grants.contains(&("nic-kick", Source::DeviceEventsSignal { device: 0, badge: 2 })), "{net_grants:?}");
    assert!(net_grants.contains(&("nic-buffers", Source::Region { region: 2, writable: true })), "{net_grants:?}");
    assert!(grants("nic").iter().any(|(name, _)| *name == "pci:00:0a.0:config"));
}

#[test]
fn a_linux_driver_runs_in_the_dde_component() {
    // A card with no KaaL driver gets its Linux one.
    let system = parse("system.toml", &net("nic = \"rtl8139\"\n")).unwrap_or_else(|e| panic!("{e}"));
    let network = system.network.as_ref().expect("a network");
    assert_eq!((network.nic, network.linux.as_deref()), (NicKind::Rtl8139, Some("8139cp")));
    let nic = system.components.iter().find(|c| c.name == "nic").expect("nic");
    assert_eq!(nic.path, crate::assemble::kaal_checkout().join("services/nic-dde"));
    assert_eq!((nic.dma, nic.devices.as_slice()), (1 << 20, &["pci:00:0a.0".to_string()][..]));
    assert_eq!(system.net_config().as_deref(), Some("nic rtl8139\naddress dhcp\n"));
    // Linux's e1000 in place of KaaL's.
    let system = parse("system.toml", &net("driver = { type = \"dde-linux\", driver = \"e1000\" }\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    let network = system.network.as_ref().expect("a network");
    assert_eq!((network.nic, network.linux.as_deref()), (NicKind::E1000, Some("e1000")));
    let nic = system.components.iter().find(|c| c.name == "nic").expect("nic");
    assert_eq!(nic.path, crate::assemble::kaal_checkout().join("services/nic-dde"));
}

#[test]
fn network_defaults_to_an_e1000_on_dhcp() {
    let system = parse("system.toml", &base("[time]\n\n[network]\n")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        system.network,
        Some(Network {
            nic: NicKind::E1000,
            address: Address::Dhcp,
            forwards: vec![],
            driver: None,
            linux: None,
            linux_without: vec![]
        })
    );
    assert_eq!(system.net_config().as_deref(), Some("nic e1000\naddress dhcp\n"));
    let nic = system.components.iter().find(|c| c.name == "nic").expect("nic");
    assert_eq!(nic.path, crate::assemble::kaal_checkout().join("services/nic-e1000"));
    assert_eq!(nic.line, 11, "the [network] table asked for it");
    assert_eq!(
        system.notifications,
        [NotificationLink { name: "net-wake".into(), signal: vec!["nic".into()], wait: "net".into() }]
    );
    // A static address without a gateway.
    let system = parse("system.toml", &net("address = \"192.168.7.2/30\"\n")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(system.net_config().as_deref(), Some("nic e1000\naddress 192.168.7.2/30\n"));
    // Priorities clamped into the system's range, above its components'.
    let system = parse("system.toml", &net("\n[resources]\npriorities = { lowest = 1, highest = 150 }\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    let order: Vec<(&str, u8)> = system.components.iter().map(|c| (c.name.as_str(), c.priority)).collect();
    assert_eq!(order, [("net", 150), ("nic", 150), ("client", 100), ("server", 100)]);
    // Beside file systems.
    let system = parse("system.toml", &net("\n[filesystems.s]\nkind = \"ramfs\"\n\n[components.web]\npath = \"web\"\nmounts = { \"/\" = \"s\" }\nnetwork = { listen = [80] }\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = system.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["nic", "net", "vfs", "client", "server", "web"]);
    assert!(system.vfs_config().is_some_and(|c| c.contains("client 0 web")));
    assert!(system.net_config().is_some_and(|c| c.contains("client 0 web listen 80 connect -")));
}

#[test]
fn adds_nothing_without_a_network() {
    let system = parse("system.toml", BASE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((system.network.as_ref(), system.net_config()), (None, None));
    assert!(system.device_signals.is_empty());
    assert!(system.components.iter().all(|c| c.network.is_none()));
    // A system with a card of its own keeps it.
    let own = base("[qemu]\nargs = [\"-device\", \"e1000,netdev=n0,addr=03\", \"-netdev\", \"user,id=n0\"]\n");
    assert!(parse("system.toml", &own).is_ok());
}

#[test]
fn reads_forwards() {
    let forward = |protocol, host, guest| Ok(Forward { protocol, host, guest });
    assert_eq!(Forward::parse("8080:80"), forward(Protocol::Tcp, 8080, 80));
    assert_eq!(Forward::parse("tcp:1:65535"), forward(Protocol::Tcp, 1, 65535));
    assert_eq!(Forward::parse("udp:5353:53"), forward(Protocol::Udp, 5353, 53));
    for (bad, why) in [
        ("8080", "is not HOST:GUEST"),
        ("udp:53", "is not HOST:GUEST"),
        ("8080:80:1", "the guest port `80:1`"),
        (":80", "the host port `` in"),
        ("0:80", "the host port 0 in `0:80` is out of range"),
        ("80:65536", "the guest port 65536"),
        ("99999999999:1", "is out of range"),
        ("+80:80", "is not a number"),
        ("http:80:80", "is not a number"),
    ] {
        let error = Forward::parse(bad).unwrap_err();
        assert!(error.contains(why), "{bad}: {error}");
    }
    for text in ["8080:80", "udp:5353:53"] {
        assert_eq!(Forward::parse(text).map(|f| f.to_string()).as_deref(), Ok(text));
    }
    assert_eq!(Forward::parse("tcp:7007:7").map(|f| f.to_string()).as_deref(), Ok("7007:7"));
}

#[test]
fn reads_real_time_tasks() {
    use kaal_sched::{ms, us, Arrival, Criticality, TaskSpec};
    let text = base(
        r#"
[realtime]
policy = "deadline-monotonic"
priority = 200

[components.sensor]
path = "sensor"
realtime = { period = "100ms", deadline = "10ms", wcet = "2ms", criticality = "high", offset = "1.5ms" }

[components.control]
path = "control"
realtime = { period = "20 ms", wcet = "5ms" }
"#,
    );
    let system = parse("system.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        system.realtime,
        Some(Realtime { policy: RtPolicy::DeadlineMonotonic, timer: Some(TimeSource::Hpet), priority: 200 })
    );
    let order: Vec<(&str, u8, bool)> =
        system.components.iter().map(|c| (c.name.as_str(), c.priority, c.realtime.is_some())).collect();
    assert_eq!(order, [("control", 200, true), ("sensor", 200, true), ("client", 100, false), ("server", 100, false)]);
    let spec = |name: &str| system.components.iter().find(|c| c.name == name).and_then(|c| c.realtime);
    assert_eq!(
        spec("sensor"),
        Some(TaskSpec {
            name: "sensor",
            arrival: Arrival::Periodic,
            period: ms(100),
            deadline: ms(10),
            wcet: ms(2),
            criticality: Criticality::HIGH,
            offset: us(1500),
        })
    );
    // The deadline defaults to the period, the criticality to low, the offset to zero.
    assert_eq!(spec("control"), Some(TaskSpec::periodic("control", ms(20), ms(20), ms(5))));
}

#[test]
fn real_time_defaults_follow_the_time_service() {
    let task = "[components.s]\npath = \"s\"\nrealtime = { period = \"10ms\", wcet = \"1ms\" }\n";
    let system = parse("system.toml", &base(task)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(system.realtime, Some(Realtime { policy: RtPolicy::Edf, timer: Some(TimeSource::Hpet), priority: 230 }));
    assert_eq!(system.components[0].priority, 230);
    // With a time service, the scheduler sets its deadlines through it.
    let system =
        parse("system.toml", &base(&format!("[time]\nsource = \"hpet\"\n{task}"))).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(system.realtime.map(|rt| rt.timer), Some(None));
    // The scheduler's own PIT leaves the HPET to no component, as [time] does not: the
    // HPET would take the PIT's interrupt line, and its claim fail at boot.
    let text =
        base(&format!("[realtime]\ntimer = \"pit\"\n{task}[components.d]\npath = \"d\"\ndevices = [\"hpet\"]\n"));
    let errors = errors_of(&text);
    let found: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.key.as_str())).collect();
    assert_eq!(found, [(16, "components.d.devices")], "{}", ConfigErrors(errors.clone()));
    assert!(errors[0].message.contains("device `hpet` shares its interrupt line with the real-time scheduler's PIT"));
    let text = base(&format!("[time]\nsource = \"pit\"\n{task}[components.d]\npath = \"d\"\ndevices = [\"hpet\"]\n"));
    let errors = errors_of(&text);
    let found: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.key.as_str())).collect();
    assert_eq!(found, [(16, "components.d.devices")], "{}", ConfigErrors(errors.clone()));
    assert!(errors[0].message.contains("device `hpet` shares its interrupt line with the time service's PIT"));
    // No real-time component, no scheduler.
    assert_eq!(parse("system.toml", BASE).unwrap_or_else(|e| panic!("{e}")).realtime, None);
}

#[test]
fn ordinary_components_run_below_the_real_time_scheduler() {
    let task = "[components.s]\npath = \"s\"\nrealtime = { period = \"10ms\", wcet = \"1ms\" }\n";
    let at = |priority: u8, task: &str| base(&format!("{task}[components.d]\npath = \"d\"\npriority = {priority}\n"));
    // 253 is the highest beside real-time components; without them, 254 is anyone's.
    let system = parse("system.toml", &at(253, task)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(system.components[0].name, "d");
    assert_eq!(system.components[0].priority, 253);
    let system = parse("system.toml", &at(254, "")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(system.components[0].priority, 254);
    // One error each, at the `priority` line: the real-time one, not also the range.
    for priority in [254, 255] {
        let errors = errors_of(&at(priority, task));
        let found: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.key.as_str())).collect();
        assert_eq!(found, [(14, "components.d.priority")], "{}", ConfigErrors(errors.clone()));
        assert!(errors[0].message.contains(&format!("component `d` runs at priority {priority}")));
    }
    // Where [resources] priorities stop below 254, the range is what is wrong.
    let errors = errors_of(&at(254, &format!("[resources]\npriorities = {{ lowest = 1, highest = 240 }}\n{task}")));
    assert_eq!(errors.len(), 1, "{}", ConfigErrors(errors.clone()));
    assert_eq!(errors[0].message, "priority 254 is out of range");
}

#[test]
fn admits_real_time_sets_that_just_fit() {
    // U = 1.00 exactly: EDF and, with harmonic periods, rate-monotonic priorities fit.
    let pair = "[components.a]\npath = \"a\"\nrealtime = { period = \"5ms\", wcet = \"2ms\" }\n\
                [components.b]\npath = \"b\"\nrealtime = { period = \"10ms\", wcet = \"6ms\" }\n";
    for policy in ["edf", "rate-monotonic", "deadline-monotonic"] {
        let text = base(&format!("[realtime]\npolicy = \"{policy}\"\n{pair}"));
        let system = parse("system.toml", &text).unwrap_or_else(|e| panic!("{policy}: {e}"));
        assert_eq!(system.realtime.map(|rt| rt.policy.as_str()), Some(policy));
    }
}

/// `n` rings from `a` to `b`, for the grant limits.
fn rings_between(n: usize) -> String {
    (0..n).fold(String::new(), |mut text, i| {
        let _ = write!(
            text,
            "[connections.rings.r{i}]\nproducer = \"server\"\nconsumer = \"client\"\nslots = 2\nitem-size = 8\n"
        );
        text
    })
}

/// (case, system.toml, line of the first error, texts its message and help must contain)
fn cases() -> Vec<(&'static str, String, usize, Vec<&'static str>)> {
    vec![
        // TOML itself.
        (
            "unterminated string",
            base("[qemu]\nargs = [\"-serial\", \"stdio]\n"),
            10,
            vec!["qemu:", "invalid TOML", "close the string"],
        ),
        ("value of the wrong type", base("[components.logger]\npath = \"logger\"\npriority = \"high\"\n"), 11, vec![
            "components.logger.priority:",
            "`priority` must be a whole number, not string \"high\"",
            "`priority = 150`",
        ]),
        ("wrong type in a list", base("[components.logger]\npath = \"logger\"\ndevices = [\"com2\", 3]\n"), 11, vec![
            "each entry of `devices` must be a string, not integer `3`",
            "devices = [\"com2\"]",
        ]),
        (
            "missing required key",
            base("[connections.rings.log]\nproducer = \"client\"\nconsumer = \"server\"\nslots = 64\n"),
            9,
            vec!["connections.rings.log.item-size:", "ring `log` is missing `item-size`", "add it like `item-size = 64`"],
        ),
        ("missing [system]", "[components.a]\npath = \"a\"\n".to_string(), 1, vec![
            "the [system] table is missing",
            "[system]\n        name = \"my-system\"",
        ]),
        ("table given as a value", base("[qemu]\nmemory = { size = 1 }\n"), 10, vec![
            "`memory` must be a size like \"64 KiB\" or a number of bytes, not a table",
        ]),
        // Unknown keys.
        ("unknown component key", base("[components.logger]\npath = \"logger\"\nprio = 3\n"), 11, vec![
            "components.logger.prio: unknown key `prio` in component `logger`",
            "did you mean `priority`?",
            "component `logger` takes: path, priority, heap, stack, devices, disks, dma, daemon, log",
        ]),
        ("unknown section", base("[kernal]\nflavour = \"release\"\n"), 9, vec![
            "unknown section `[kernal]`",
            "did you mean `kernel`?",
            "[system], [resources], [qemu], [kernel], [time], [devices.<name>], [disks.<name>], [filesystems.<name>], [network], [realtime], [components.<name>] and [connections.<kind>.<name>]",
        ]),
        ("budget without a period", base("[components.spin]\npath = \"spin\"\nbudget = \"2 ms\"\n"), 11, vec![
            "components.spin: a budget needs both `budget` and `period`",
            "add the missing one, e.g. `budget = \"2 ms\"` and `period = \"10 ms\"`",
        ]),
        ("duration without a unit", base("[components.spin]\npath = \"spin\"\nbudget = \"5\"\nperiod = \"10 ms\"\n"), 11, vec![
            "components.spin.budget: `5` is not a duration: a duration needs a unit",
            "\"500 us\", \"2 ms\", \"1 s\"",
        ]),
        ("budget longer than its period", base(
            "[components.spin]\npath = \"spin\"\nbudget = \"20 ms\"\nperiod = \"10 ms\"\n",
        ), 11, vec![
            "components.spin.budget: the budget (20 ms) is longer than the period (10 ms)",
            "a budget runs from 20 us up to its period",
        ]),
        ("budget below the kernel's minimum", base(
            "[components.spin]\npath = \"spin\"\nbudget = \"10 us\"\nperiod = \"10 ms\"\n",
        ), 11, vec!["a budget of 10 us is below the kernel's minimum of 20 us"]),
        ("unknown overrun policy", base(
            "[components.spin]\npath = \"spin\"\nbudget = \"1 ms\"\nperiod = \"10 ms\"\noverrun = \"faults\"\n",
        ), 13, vec!["components.spin.overrun: overrun policy `faults` does not exist", "did you mean `fault`?"]),
        ("a passive server that is not a daemon", base("[components.spin]\npath = \"spin\"\npassive = true\n"), 11, vec![
            "components.spin.passive: a passive server must be a daemon",
            "add `daemon = true`, or remove `passive`",
        ]),
        ("overrun without a budget", base("[components.spin]\npath = \"spin\"\noverrun = \"fault\"\n"), 11, vec![
            "components.spin.overrun: `overrun` applies to a budget, and this component has none",
        ]),
        ("unknown log level", base("[components.logger]\npath = \"logger\"\nlog = \"verbose\"\n"), 11, vec![
            "components.logger.log: log level `verbose` does not exist",
            "use one of trace, debug, info, warn, error, off (the default is info)",
        ]),
        ("one crate, two log levels", base(
            "[components.a]\npath = \"twin\"\nlog = \"debug\"\n\n[components.b]\npath = \"twin\"\nlog = \"warn\"\n",
        ), 15, vec![
            "components.b.log: components `a` and `b` are the same crate (twin), so they log at one level",
            "give both the same `log` level",
        ]),
        ("unknown kernel flavour", base("[kernel]\nflavour = \"relase\"\n"), 10, vec![
            "kernel.flavour: kernel flavour `relase` does not exist",
            "did you mean `release`?",
            "what untrusted components should run on",
        ]),
        ("unknown kernel key", base("[kernel]\nrelease = \"13\"\n"), 10, vec![
            "kernel.release: unknown key `release` in [kernel]",
            "[kernel] takes: version, flavour, verified, mcs, source",
        ]),
        ("unknown kernel version", base("[kernel]\nversion = \"16.0\"\n"), 10, vec![
            "kernel.version: seL4 `16.0` is not a kernel KaaL builds",
            "did you mean `16.0.0`?",
        ]),
        ("verified on seL4 5.0.0", base("[kernel]\nverified = true\n"), 10, vec![
            "kernel.verified: the verified configuration (X64_verified) is a configuration of seL4 16.0.0",
            "add `version = \"16.0.0\"`",
        ]),
        ("verified and MCS", base("[kernel]\nversion = \"16.0.0\"\nverified = true\nmcs = true\n"), 12, vec![
            "kernel.mcs: the verified configuration, X64_verified, is not an MCS kernel",
        ]),
        ("verified debug", base("[kernel]\nversion = \"16.0.0\"\nflavour = \"debug\"\nverified = true\n"), 12, vec![
            "kernel.verified: the verified configuration, X64_verified, has no debug syscalls or console",
        ]),
        ("empty kernel source", base("[kernel]\nversion = \"16.0.0\"\nsource = \" \"\n"), 11, vec![
            "kernel.source: the kernel source path is empty",
        ]),
        ("git source without a tag", base("[kernel]\nversion = \"16.0.0\"\nsource = { git = \"https://github.com/seL4/seL4.git\" }\n"), 11, vec![
            "kernel.source.tag: [kernel.source] is missing `tag`",
        ]),
        ("kernel source of the wrong type", base("[kernel]\nversion = \"16.0.0\"\nsource = 5\n"), 11, vec![
            "kernel.source: `source` must be a path (a string) or a table { git = \"<url>\", tag = \"<tag>\" }",
        ]),
        ("git source with an unknown key", base("[kernel]\nversion = \"16.0.0\"\nsource = { git = \"x\", tag = \"16.0.0\", branch = \"master\" }\n"), 11, vec![
            "unknown key `branch` in [kernel.source]",
            "takes: git, tag",
        ]),
        ("kernel flavour of the wrong type", base("[kernel]\nflavour = true\n"), 10, vec![
            "kernel.flavour",
            "write it like `flavour = \"release\"`",
        ]),
        ("unknown connection kind", base("[connections.pipes.x]\nfrom = \"server\"\n"), 9, vec![
            "connections.pipes: unknown connection kind `pipes`",
            "[connections.rings.<name>]",
        ]),
        ("misspelt connection kind", base("[connections.ring.x]\nproducer = \"server\"\n"), 9, vec![
            "unknown connection kind `ring`",
            "did you mean `rings`?",
        ]),
        ("unknown key in [system]", base("[resources]\nheap-size = \"1 MiB\"\n"), 10, vec![
            "unknown key `heap-size` in [resources]",
            "did you mean `heap`?",
            "[resources] takes: heap, max-threads, priorities",
        ]),
        // Names defined or used twice.
        ("component defined twice", base("[components.server]\npath = \"other\"\n"), 9, vec![
            "components.server: component `server` is defined twice (first on line 4)",
            "rename one of them",
        ]),
        ("key set twice", "[system]\nname = \"a\"\nname = \"b\"\n".to_string(), 3, vec![
            "system.name: `system.name` is set twice (first on line 2)",
            "remove one of the two",
        ]),
        (
            "inline component defined twice",
            "[system]\nname = \"a\"\n[components]\nx = { path = \"x\" }\nx = { path = \"y\" }\n".to_string(),
            5,
            vec!["component `x` is defined twice (first on line 4)"],
        ),
        (
            "connection defined twice",
            base("[connections.channels.c]\nserver = \"server\"\nclients = [\"client\"]\n[connections.channels.c]\n"),
            12,
            vec!["channel `c` is defined twice (first on line 9)"],
        ),
        (
            "one name, two kinds",
            base(
                "[connections.channels.log]\nserver = \"server\"\nclients = [\"client\"]\n\
                 [connections.rings.log]\nproducer = \"server\"\nconsumer = \"client\"\nslots = 2\nitem-size = 8\n",
            ),
            12,
            vec!["connections.rings.log:", "the name `log` is used by both a channel (line 9) and a ring", "rename one"],
        ),
        (
            "listed twice",
            base("[connections.channels.c]\nserver = \"server\"\nclients = [\"client\", \"client\"]\n"),
            11,
            vec!["`client` is listed twice as a client of channel `c`", "remove the second one"],
        ),
        ("server and client", base("[connections.channels.c]\nserver = \"server\"\nclients = [\"server\"]\n"), 11, vec![
            "component `server` is both the server and a client of channel `c`",
            "cannot call itself",
        ]),
        (
            "ring to itself",
            base("[connections.rings.r]\nproducer = \"client\"\nconsumer = \"client\"\nslots = 2\nitem-size = 8\n"),
            11,
            vec!["ring `r` has `client` as both producer and consumer", "two different components"],
        ),
        ("waiter signals itself", base("[connections.notifications.n]\nsignal = [\"client\"]\nwait = \"client\"\n"), 10, vec![
            "component `client` both waits on and signals notification `n`",
            "remove `client` from `signal`",
        ]),
        (
            "writer and reader",
            base("[connections.memory.m]\nsize = \"4 KiB\"\nwriters = [\"server\"]\nreaders = [\"server\"]\n"),
            12,
            vec!["component `server` is both a writer and a reader of shared region `m`", "list it in `writers` only"],
        ),
        // References.
        ("misspelt component", base("[connections.channels.c]\nserver = \"server\"\nclients = [\"clinet\"]\n"), 11, vec![
            "connections.channels.c.clients:",
            "`clinet` (a client of channel `c`) is not a component",
            "did you mean `client`?\n        the components are: client, server",
        ]),
        ("unknown waiter", base("[connections.notifications.n]\nsignal = [\"server\"]\nwait = \"timer\"\n"), 11, vec![
            "`timer` (the waiter of notification `n`) is not a component",
            "the components are: client, server",
        ]),
        // Devices.
        (
            "device claimed twice",
            "[system]\nname = \"d\"\n[components.a]\npath = \"a\"\ndevices = [\"com2\"]\n[components.b]\npath = \"b\"\n\
             devices = [\"pit\", \"com2\"]\n"
                .to_string(),
            8,
            vec!["device `com2` is claimed by both `a` (line 5) and `b`", "exactly one component"],
        ),
        (
            "device listed twice",
            base("[components.d]\npath = \"d\"\ndevices = [\"pci:00:03.0\", \"pci:00:03.0\"]\n"),
            11,
            vec!["component `d` lists device `pci:00:03.0` twice"],
        ),
        ("unknown device", base("[components.d]\npath = \"d\"\ndevices = [\"hpte\"]\n"), 11, vec![
            "`hpte` is not a device KaaL knows",
            "did you mean `hpet`?",
            "pci:BB:DD.F",
            "[devices.hpte]",
            "docs/SYSTEM_TOML.md#devices-kaal-does-not-know",
        ]),
        // The time service.
        ("time without [time]", base("[components.d]\npath = \"d\"\ntime = true\n"), 11, vec![
            "component `d` asks for time, but the system has no time service",
            "[time]",
        ]),
        ("unknown time source", base("[time]\nsource = \"rtc\"\n"), 10, vec![
            "time source `rtc` does not exist",
            "source = \"hpet\"",
        ]),
        ("component claiming the time service's timer", base("[time]\nsource = \"pit\"\n\n[components.d]\npath = \"d\"\ndevices = [\"pit\"]\n"), 14, vec![
            "device `pit` drives the time service ([time] at line 9)",
        ]),
        ("component claiming the PIT beside an HPET time service", base("[time]\nsource = \"hpet\"\n\n[components.d]\npath = \"d\"\ndevices = [\"pit\"]\n"), 14, vec![
            "device `pit` shares its interrupt line with the time service's HPET, which replaces it",
        ]),
        ("component claiming the HPET beside a PIT time service", base("[time]\nsource = \"pit\"\n\n[components.d]\npath = \"d\"\ndevices = [\"hpet\"]\n"), 14, vec![
            "components.d.devices: device `hpet` shares its interrupt line with the time service's PIT: the HPET runs in legacy replacement mode, on the PIT's line (ISA IRQ 0) ([time] at line 9)",
            "use `time = true` for sleeps and timeouts",
        ]),
        // Disks.
        ("disk with an image and a directory", base("[disks.d]\nimage = \"d.img\"\ndirectory = \"files\"\n"), 10, vec![
            "disks.d: disk `d` has both an image and a directory",
            "image = \"disk.img\"",
        ]),
        ("disk with neither", base("[disks.d]\nread-only = true\n"), 9, vec![
            "disk `d` has neither an image nor a directory",
        ]),
        ("size of an image disk", base("[disks.d]\nimage = \"d.img\"\nsize = \"4 MiB\"\n"), 11, vec![
            "disks.d.size: disk `d` uses an image, whose size is its own",
        ]),
        ("disk too small", base("[disks.d]\ndirectory = \"files\"\nsize = \"64 KiB\"\n"), 11, vec![
            "a disk made from a directory of 64 KiB is too small",
        ]),
        ("absolute disk image", base("[disks.d]\nimage = \"/tmp/d.img\"\n"), 10, vec![
            "disks.d.image: `/tmp/d.img` is not a relative path",
        ]),
        ("unknown disk", base("[disks.data]\ndirectory = \"files\"\n\n[components.d]\npath = \"d\"\ndisks = [\"dta\"]\n"), 14, vec![
            "components.d.disks: disk `dta` is not declared ([disks.dta])",
            "did you mean `data`?",
        ]),
        ("disk without [disks]", base("[components.d]\npath = \"d\"\ndisks = [\"data\"]\n"), 11, vec![
            "disk `data` is not declared",
            "[disks.data]",
        ]),
        ("disk listed twice", base("[disks.data]\ndirectory = \"files\"\n\n[components.a]\npath = \"a\"\ndisks = [\"data\"]\n\n[components.b]\npath = \"b\"\ndisks = [\"data\"]\n"), 18, vec![
            "disk `data` is listed by both `a` and `b`",
        ]),
        ("disk also listed by address", base("[disks.data]\ndirectory = \"files\"\n\n[components.a]\npath = \"a\"\ndisks = [\"data\"]\n\n[components.b]\npath = \"b\"\ndevices = [\"pci:00:10.0\"]\n"), 14, vec![
            "disk `data` is the PCI function pci:00:10.0, which component `b` also lists under `devices`",
        ]),
        // File systems.
        ("unknown file system kind", base("[filesystems.f]\nkind = \"ramfz\"\n"), 10, vec![
            "filesystems.f.kind: file system kind `ramfz` does not exist",
            "did you mean `ramfs`?",
            "kind = \"ext2\"",
        ]),
        ("file system without a kind", base("[filesystems.f]\nsize = \"1 MiB\"\n"), 9, vec![
            "file system `f` is missing `kind`",
        ]),
        ("unknown file system key", base("[filesystems.f]\nkind = \"ramfs\"\nsizes = \"1 MiB\"\n"), 11, vec![
            "filesystems.f.sizes: unknown key `sizes` in file system `f`",
            "did you mean `size`?",
            "file system `f` takes: kind, size, disk, read-only",
        ]),
        ("ext2 without a disk", base("[filesystems.f]\nkind = \"ext2\"\n"), 9, vec![
            "filesystems.f: file system `f` is ext2 but names no disk",
            "add `disk = \"NAME\"`",
            "[disks.data]",
        ]),
        ("ramfs on a disk", base("[disks.d]\ndirectory = \"files\"\n\n[filesystems.f]\nkind = \"ramfs\"\ndisk = \"d\"\n"), 14, vec![
            "filesystems.f.disk: file system `f` is a ramfs, which keeps its files in memory: it takes no disk",
            "remove `disk`",
        ]),
        ("ramfs too small", base("[filesystems.f]\nkind = \"ramfs\"\nsize = \"4 KiB\"\n"), 11, vec![
            "filesystems.f.size: a ramfs of 4 KiB is too small",
            "a ramfs must be from 64 KiB to 256 MiB",
        ]),
        ("size of an ext2 file system", base("[disks.d]\ndirectory = \"files\"\n\n[filesystems.f]\nkind = \"ext2\"\ndisk = \"d\"\nsize = \"1 MiB\"\n"), 15, vec![
            "filesystems.f.size: file system `f` is the ext2 file system on its disk, whose size is the disk's",
        ]),
        ("file system on an unknown disk", base("[disks.data]\ndirectory = \"files\"\n\n[filesystems.f]\nkind = \"ext2\"\ndisk = \"dta\"\n"), 14, vec![
            "filesystems.f.disk: file system `f` is on disk `dta`, which is not declared ([disks.dta])",
            "did you mean `data`?",
        ]),
        ("two file systems on one disk", base("[disks.data]\ndirectory = \"files\"\n\n[filesystems.a]\nkind = \"ext2\"\ndisk = \"data\"\n\n[filesystems.b]\nkind = \"ext2\"\ndisk = \"data\"\n"), 18, vec![
            "filesystems.b.disk: disk `data` holds file system `a` (line 12) already, and file system `b` names it too",
            "declare another [disks.NAME] for `b`",
        ]),
        ("file system disk also listed by a component", base("[disks.data]\ndirectory = \"files\"\n\n[filesystems.f]\nkind = \"ext2\"\ndisk = \"data\"\n\n[components.d]\npath = \"d\"\ndisks = [\"data\"]\n"), 18, vec![
            "components.d.disks: disk `data` holds file system `f` (line 12), which the file system service drives",
            "reach its files through `mounts`",
        ]),
        ("file system disk also listed by address", base("[disks.data]\ndirectory = \"files\"\n\n[filesystems.f]\nkind = \"ext2\"\ndisk = \"data\"\n\n[components.d]\npath = \"d\"\ndevices = [\"pci:00:10.0\"]\n"), 18, vec![
            "`pci:00:10.0` is disk `data`, which holds file system `f` (line 12)",
        ]),
        ("read-write ext2 on a read-only disk", base("[disks.ro]\nimage = \"ro.img\"\nread-only = true\n\n[filesystems.f]\nkind = \"ext2\"\ndisk = \"ro\"\nread-only = false\n"), 16, vec![
            "filesystems.f.read-only: file system `f` is read-write, but its disk `ro` is read-only (line 9)",
        ]),
        ("disk name too long for its file system's rings", base("[disks.abcdefghijklmno]\ndirectory = \"files\"\n\n[filesystems.f]\nkind = \"ext2\"\ndisk = \"abcdefghijklmno\"\n"), 14, vec![
            "ring `disk-abcdefghijklmno-resp`, whose name is 25 bytes long; the limit is 24",
            "shorten the disk's name to at most 14 bytes",
        ]),
        ("mount of an unknown file system", base("[filesystems.scratch]\nkind = \"ramfs\"\n\n[components.d]\npath = \"d\"\nmounts = { \"/\" = \"scrach\" }\n"), 14, vec![
            "components.d.mounts.\"/\": file system `scrach` is not declared ([filesystems.scrach])",
            "did you mean `scratch`?",
        ]),
        ("mount without [filesystems]", base("[components.d]\npath = \"d\"\nmounts = { \"/\" = { filesystem = \"data\" } }\n"), 11, vec![
            "components.d.mounts.\"/\".filesystem: file system `data` is not declared",
            "[filesystems.data]",
        ]),
        ("relative mount point", base("[filesystems.s]\nkind = \"ramfs\"\n\n[components.d]\npath = \"d\"\nmounts = { \"data\" = \"s\" }\n"), 14, vec![
            "components.d.mounts.data: mount point `data` is not absolute",
            "try `/data`",
        ]),
        ("mount point with ..", base("[filesystems.s]\nkind = \"ramfs\"\n\n[components.d]\npath = \"d\"\nmounts = { \"/a/../b\" = \"s\" }\n"), 14, vec![
            "mount point `/a/../b` has a `..` component",
            "try `/b`",
        ]),
        ("mount point with an empty component", base("[filesystems.s]\nkind = \"ramfs\"\n\n[components.d]\npath = \"d\"\nmounts = { \"/data/\" = \"s\" }\n"), 14, vec![
            "mount point `/data/` has an empty component",
            "try `/data`",
        ]),
        ("mount point with a space", base("[filesystems.s]\nkind = \"ramfs\"\n\n[components.d]\npath = \"d\"\nmounts = { \"/my files\" = \"s\" }\n"), 14, vec![
            "mount point `/my files` contains ` `",
            "letters, digits, `.`, `_`, `-` and `/`",
        ]),
        ("subtree with .", base("[filesystems.s]\nkind = \"ramfs\"\n\n[components.d]\npath = \"d\"\nmounts = { \"/\" = { filesystem = \"s\", subtree = \"/x/.\" } }\n"), 14, vec![
            "components.d.mounts.\"/\".subtree: subtree `/x/.` has a `.` component",
            "try `/x`",
        ]),
        ("two mounts at one point", base("[filesystems.s]\nkind = \"ramfs\"\n\n[components.d]\npath = \"d\"\nmounts = { \"/\" = \"s\", \"/\" = \"s\" }\n"), 14, vec![
            "component `d` mounts two file systems at `/`",
            "a mount point holds one file system",
        ]),
        ("read-write mount of a read-only file system", base("[disks.ro]\nimage = \"ro.img\"\nread-only = true\n\n[filesystems.f]\nkind = \"ext2\"\ndisk = \"ro\"\n\n[components.d]\npath = \"d\"\nmounts = { \"/\" = { filesystem = \"f\", read-only = false } }\n"), 19, vec![
            "components.d.mounts.\"/\".read-only: component `d` mounts file system `f` read-write at `/`, but `f` is read-only (line 13)",
            "remove `read-only = false`",
        ]),
        ("unknown mount key", base("[filesystems.s]\nkind = \"ramfs\"\n\n[components.d]\npath = \"d\"\nmounts = { \"/\" = { filesystem = \"s\", subdir = \"/x\" } }\n"), 14, vec![
            "unknown key `subdir` in mount `/` of component `d`",
            "did you mean `subtree`?",
            "takes: filesystem, subtree, read-only",
        ]),
        ("mount without a file system", base("[filesystems.s]\nkind = \"ramfs\"\n\n[components.d]\npath = \"d\"\nmounts = { \"/\" = { subtree = \"/x\" } }\n"), 14, vec![
            "mount `/` of component `d` is missing `filesystem`",
            "add it like `filesystem = \"data\"`",
        ]),
        ("mount of the wrong type", base("[filesystems.s]\nkind = \"ramfs\"\n\n[components.d]\npath = \"d\"\nmounts = { \"/\" = 5 }\n"), 14, vec![
            "`/` must be a file system's name or a table { filesystem = \"<name>\"",
            "\"/\" = \"data\" (a file system)",
        ]),
        ("empty mounts", base("[filesystems.s]\nkind = \"ramfs\"\n\n[components.d]\npath = \"d\"\nmounts = {}\n"), 14, vec![
            "component `d` has an empty `mounts`",
        ]),
        ("component name too long for its buffer", base("[filesystems.s]\nkind = \"ramfs\"\n\n[components.abcdefghijklmnopqrstu]\npath = \"d\"\nmounts = { \"/\" = \"s\" }\n"), 14, vec![
            "shared region `vfs-abcdefghijklmnopqrstu`, whose name is 25 bytes long; the limit is 24",
            "shorten the component's name to at most 20 bytes",
        ]),
        ("component named like the file system service", base("[filesystems.s]\nkind = \"ramfs\"\n\n[components.vfs]\npath = \"vfs\"\n"), 12, vec![
            "components.vfs: the name `vfs` is reserved for the file system service",
            "([filesystems] at line 9)",
            "rename the component",
        ]),
        ("component named like a block driver", base("[disks.data]\ndirectory = \"files\"\n\n[filesystems.f]\nkind = \"ext2\"\ndisk = \"data\"\n\n[components.disk-data]\npath = \"d\"\n"), 16, vec![
            "the name `disk-data` is reserved for the block driver of disk `data` (file system `f`), which the tool adds",
        ]),
        ("connection named like a generated one", base("[disks.data]\ndirectory = \"files\"\n\n[filesystems.f]\nkind = \"ext2\"\ndisk = \"data\"\n\n[connections.memory.disk-data-data]\nsize = \"4 KiB\"\nwriters = [\"server\"]\n"), 16, vec![
            "connections.memory.disk-data-data: the name `disk-data-data` is reserved for the data region of disk `data`",
            "rename the shared region",
        ]),
        ("connection named like a client's buffer", base("[filesystems.s]\nkind = \"ramfs\"\n\n[components.d]\npath = \"d\"\nmounts = { \"/\" = \"s\" }\n\n[connections.channels.vfs-d]\nserver = \"server\"\nclients = [\"client\"]\n"), 16, vec![
            "the name `vfs-d` is reserved for the buffer component `d` reaches its mounts through",
        ]),
        ("file system services beyond max-threads", base("[resources]\nmax-threads = 2\n\n[filesystems.s]\nkind = \"ramfs\"\n"), 10, vec![
            "the system has 3 components (with the 1 the tool adds to serve its file systems) but [resources] max-threads is 2",
        ]),
        ("ramfs larger than a heap", base(&format!("[qemu]\nmemory = \"4 GiB\"\n{}", (0..4).fold(String::new(), |mut text, i| {
            let _ = write!(text, "\n[filesystems.r{i}]\nkind = \"ramfs\"\nsize = \"256 MiB\"\n");
            text
        }))), 12, vec![
            "filesystems: the ramfs file systems hold 1 GiB in all, so the file system service `vfs` would need a heap of 1028 MiB",
            "make the ramfs file systems smaller",
        ]),
        ("too many components with mounts", base(&(0..16).fold("[filesystems.s]\nkind = \"ramfs\"\n".to_string(), |mut text, i| {
            let _ = write!(text, "[components.c{i}]\npath = \"c\"\nmounts = {{ \"/\" = \"s\" }}\n");
            text
        })), 9, vec![
            "the file system service `vfs` would map 17 shared memory regions, but a component can map at most 16",
            "a region for its configuration, 3 for each ext2 file system and 1 for each of the 16 components with `mounts`",
            "mount the file systems in fewer components",
        ]),
        ("the PIT and the HPET", base("[components.a]\npath = \"a\"\ndevices = [\"pit\"]\n\n[components.b]\npath = \"b\"\ndevices = [\"hpet\"]\n"), 15, vec![
            "`hpet` and `pit` (component `a`, line 11) share one interrupt line",
        ]),
        ("IRQ 8 beside an HPET time service", base("[time]\nsource = \"hpet\"\n\n[devices.rtc]\nports = \"0x70-0x71\"\nirq = 8\n"), 14, vec![
            "IRQ 8 is taken by the HPET time service",
        ]),
        ("MMIO in the HPET's page", base("[devices.fb]\nmmio = { address = 0xfed00400, size = \"1 KiB\" }\n"), 10, vec![
            "overlaps 0xfed00000-0xfed003ff (the HPET (device `hpet`, found through ACPI)), in the same 4 KiB pages",
        ]),
        // Declared fixed devices ([devices.NAME]).
        ("device overlapping a built-in one", base("[devices.rtc]\nports = \"0x2f8-0x2f9\"\n"), 10, vec![
            "devices.rtc.ports: ports 0x2f8-0x2f9 of device `rtc` overlap device com2 (the 16550 UART at 0x2f8-0x2ff",
            "list `com2` in the component's `devices` and remove [devices.rtc]",
        ]),
        ("device on the kernel's ports", base("[devices.pci2]\nports = \"0xcf0-0xcff\"\n"), 10, vec![
            "ports 0xcf0-0xcff of device `pci2` overlap 0xcf8-0xcff (PCI configuration space",
            "never handed out",
        ]),
        ("device on the kernel's console", base("[devices.dbg]\nports = \"0x3f8\"\n"), 10, vec![
            "overlap device com1",
        ]),
        ("device on the debug-exit port", base("[devices.exit]\nports = \"0xf4\"\n"), 10, vec![
            "overlap 0xf4 (QEMU's isa-debug-exit port",
        ]),
        (
            "two devices overlapping",
            base("[devices.a]\nports = \"0x300-0x307\"\n\n[devices.b]\nports = \"0x304\"\n"),
            13,
            vec!["ports 0x304 of device `b` overlap device a (line 9)", "a port belongs to one device"],
        ),
        ("backwards port range", base("[devices.rtc]\nports = \"0x71-0x70\"\n"), 10, vec![
            "`0x71-0x70` is not a port range: the range 0x71-0x70 runs backwards",
            "ports = \"0x70-0x71\"",
        ]),
        ("port out of range", base("[devices.rtc]\nports = \"0x10000\"\n"), 10, vec![
            "port 0x10000 is out of range",
        ]),
        ("IRQ out of range", base("[devices.rtc]\nports = \"0x70-0x71\"\nirq = 16\n"), 11, vec![
            "devices.rtc.irq: IRQ 16 is not an ISA interrupt line",
            "lines 0-15",
        ]),
        ("IRQ 2", base("[devices.rtc]\nports = \"0x70-0x71\"\nirq = 2\n"), 11, vec!["IRQ 2 is the cascade"]),
        ("built-in device declared again", base("[devices.com2]\nports = \"0x2f8-0x2ff\"\n"), 9, vec![
            "`com2` is a device KaaL already knows (the 16550 UART at 0x2f8-0x2ff)",
            "remove [devices.com2]",
        ]),
        (
            "device declared twice",
            base("[devices.rtc]\nports = \"0x70-0x71\"\n\n[devices.rtc]\nirq = 8\n"),
            12,
            vec!["rtc"],
        ),
        ("bad device name", base("[devices.My-Rtc]\nports = \"0x70\"\n"), 9, vec![
            "`My-Rtc` cannot name a device: a device name starts with a lower-case letter",
        ]),
        ("device without ports or memory", base("[devices.rtc]\nirq = 8\n"), 9, vec![
            "device `rtc` has neither ports nor an MMIO window",
        ]),
        ("MMIO inside RAM", base("[devices.fb]\nmmio = { address = 0x100000, size = \"4 KiB\" }\n"), 10, vec![
            "MMIO address 0x100000 is inside the guest's RAM",
        ]),
        ("MMIO on the IOAPIC", base("[devices.fb]\nmmio = { address = 0xfec00800, size = \"4 KiB\" }\n"), 10, vec![
            "overlaps 0xfec00000-0xfec00fff (the IOAPIC",
        ]),
        ("probe offset outside the ports", base("[devices.rtc]\nports = \"0x70-0x71\"\nprobe = { scratch = 2 }\n"), 11, vec![
            "probe offset 2 is outside the device's ports",
            "it has 2 (0x70-0x71)",
        ]),
        ("probe that can never match", base("[devices.rtc]\nports = \"0x70-0x71\"\nprobe = { read = 1, mask = 0x0f, equals = 0x80 }\n"), 11, vec![
            "has bits outside `mask = 0x0f`",
        ]),
        ("read probe without equals", base("[devices.rtc]\nports = \"0x70-0x71\"\nprobe = { read = 1 }\n"), 11, vec![
            "a `read` probe needs `equals`",
        ]),
        ("unknown device key", base("[devices.rtc]\nport = \"0x70\"\n"), 10, vec!["did you mean `ports`?"]),
        ("com1", base("[components.d]\npath = \"d\"\ndevices = [\"com1\"]\n"), 11, vec![
            "COM1 is the seL4 kernel's serial console; use com2..com4",
        ]),
        ("bad PCI address", base("[components.d]\npath = \"d\"\ndevices = [\"pci:00:20.0\"]\n"), 11, vec![
            "`pci:00:20.0` is not a valid PCI address: the device `20` is not two hex digits from 00 to 1f",
        ]),
        // Priorities.
        ("priority out of range", base("[components.d]\npath = \"d\"\npriority = 300\n"), 11, vec![
            "components.d.priority: priority 300 is out of range",
            "priorities run from 1 to 254 ([resources] priorities); pick one in that range",
        ]),
        (
            "priority outside a custom range",
            base("[resources]\npriorities = { lowest = 10, highest = 150 }\n[components.d]\npath = \"d\"\npriority = 160\n"),
            13,
            vec!["priority 160 is out of range", "priorities run from 10 to 150"],
        ),
        (
            "default priority outside the range",
            "[system]\nname = \"p\"\n[resources]\npriorities = { highest = 50 }\n[components.a]\npath = \"a\"\n"
                .to_string(),
            5,
            vec!["component `a` has the default priority 100, outside [resources] priorities (1 to 50)", "set `priority`"],
        ),
        ("inverted range", base("[resources]\npriorities = { lowest = 200, highest = 100 }\n"), 10, vec![
            "the lowest priority 200 is above the highest 100",
            "priorities = { lowest = 100, highest = 200 }",
        ]),
        ("root task's priority", base("[resources]\npriorities = { highest = 255 }\n"), 10, vec![
            "priority 255 is reserved for the root task",
            "use 0 to 254",
        ]),
        // Sizes.
        ("decimal unit", base("[components.d]\npath = \"d\"\nheap = \"64 KB\"\n"), 11, vec![
            "components.d.heap: `64 KB` is not a size: `KB` is ambiguous (1000 or 1024?); use `KiB`",
            "units: B, KiB or K, MiB or M, GiB or G",
        ]),
        ("not a size", base("[resources]\nheap = \"lots\"\n"), 10, vec![
            "`lots` is not a size: the size does not start with a number",
            "\"64 KiB\", \"16MiB\", \"1 GiB\"",
        ]),
        ("negative size", base("[components.d]\npath = \"d\"\nstack = -4096\n"), 11, vec!["stack cannot be negative"]),
        ("stack too small", base("[components.d]\npath = \"d\"\nstack = \"8 KiB\"\n"), 11, vec![
            "stack of 8 KiB is too small",
            "stack must be from 16 KiB to 64 MiB",
        ]),
        ("DMA memory too large", base("[components.d]\npath = \"d\"\ndma = \"4 MiB\"\n"), 11, vec![
            "components.d.dma: DMA memory of 4 MiB is too large",
            "DMA memory must be from 0 bytes to 1 MiB",
        ]),
        ("root heap too large", base("[resources]\nheap = \"2 GiB\"\n"), 10, vec![
            "the root task's heap of 2 GiB is too large",
        ]),
        (
            "slots not a power of two",
            base("[connections.rings.r]\nproducer = \"server\"\nconsumer = \"client\"\nslots = 100\nitem-size = 8\n"),
            12,
            vec!["ring `r` has 100 slots, but slots must be a power of two from 2 to 65536", "`slots = 128`"],
        ),
        (
            "item size out of range",
            base("[connections.rings.r]\nproducer = \"server\"\nconsumer = \"client\"\nslots = 4\nitem-size = 0\n"),
            13,
            vec!["item-size 0 is out of range", "1 to 4096 bytes"],
        ),
        (
            "ring too large",
            base("[connections.rings.r]\nproducer = \"server\"\nconsumer = \"client\"\nslots = 65536\nitem-size = 64\n"),
            12,
            vec![
                "ring `r` needs 4100 KiB (65536 slots of 64 bytes plus a 256-byte header)",
                "a shared region holds at most 1 MiB; use fewer slots or smaller items",
            ],
        ),
        ("region too large", base("[connections.memory.m]\nsize = \"2 MiB\"\nreaders = [\"client\"]\n"), 10, vec![
            "a shared region of 2 MiB is too large",
            "from 4 KiB to 1 MiB",
        ]),
        ("QEMU memory too small", base("[qemu]\nmemory = \"64 MiB\"\n"), 10, vec![
            "qemu.memory: QEMU memory of 64 MiB is too small",
            "from 128 MiB to 16 GiB",
        ]),
        (
            "memory budget",
            base("[qemu]\nmemory = \"256 MiB\"\n[components.big]\npath = \"big\"\nheap = \"200 MiB\"\n"),
            10,
            vec![
                "the system needs 220 MiB of memory, but [qemu] memory of 256 MiB leaves 192 MiB after the 64 MiB \
                 reserved for the kernel and boot image",
                "the largest use is component `big`'s heap at 200 MiB: lower it, or raise [qemu] memory to at least \
                 \"284 MiB\"",
            ],
        ),
        // Grant limits.
        (
            "too many capabilities",
            base(&rings_between(22)).replace("path = \"server\"\n", "path = \"server\"\ndevices = [\"pit\", \"hpet\"]\n"),
            4,
            vec![
                "components.server: component `server` is granted 50 capabilities, but a component can hold at most 48",
                "it has 22 ring ends (2 each) and 2 devices (3 each)",
            ],
        ),
        (
            "too many regions",
            base(&(0..17).fold(String::new(), |mut text, i| {
                let _ = write!(text, "[connections.memory.m{i}]\nsize = 4096\nreaders = [\"client\"]\n");
                text
            })),
            7,
            vec!["component `client` is granted 17 shared memory regions, but a component can map at most 16"],
        ),
        // The system as a whole.
        ("no components", "[system]\nname = \"empty\"\n".to_string(), 1, vec![
            "components: the system has no components",
            "[components.hello]",
        ]),
        ("more components than threads", base("[resources]\nmax-threads = 1\n"), 10, vec![
            "the system has 2 components but [resources] max-threads is 1",
        ]),
        ("bad system name", "[system]\nname = \"My System\"\n[components.a]\npath = \"a\"\n".to_string(), 2, vec![
            "system.name: `My System` is not a valid system name",
            "try `my-system`",
        ]),
        ("empty component name", base("[components.\"\"]\npath = \"x\"\n"), 9, vec!["the component name is empty"]),
        (
            "long connection name",
            base("[connections.channels.a-very-long-channel-names]\nserver = \"server\"\nclients = [\"client\"]\n"),
            9,
            vec!["the channel name `a-very-long-channel-names` is 25 bytes long; the limit is 24", "`:space`"],
        ),
        (
            "unsupported platform",
            "[system]\nname = \"p\"\nplatform = \"rpi4\"\n[components.a]\npath = \"a\"\n".to_string(),
            3,
            vec!["platform `rpi4` is not supported; KaaL runs on `qemu-x86_64` only", "platform = \"qemu-x86_64\""],
        ),
        ("channel without clients", base("[connections.channels.c]\nserver = \"server\"\n"), 9, vec![
            "channel `c` has no clients",
            "clients = [\"...\"]",
        ]),
        ("notification without signallers", base("[connections.notifications.n]\nsignal = []\nwait = \"client\"\n"), 10, vec![
            "notification `n` has no signallers",
        ]),
        ("unused region", base("[connections.memory.m]\nsize = \"4 KiB\"\n"), 9, vec![
            "shared region `m` is used by no component",
        ]),
        ("absolute path", base("[components.d]\npath = \"/home/me/d\"\n"), 10, vec![
            "components.d.path: component path `/home/me/d` is absolute",
            "relative to the directory of system.toml",
        ]),
        ("empty path", base("[components.d]\npath = \"\"\n"), 10, vec!["component `d` has an empty path"]),
        // The network.
        ("unknown network key", net("nics = \"e1000\"\n"), 11, vec![
            "network.nics: unknown key `nics` in [network]",
            "did you mean `nic`?",
        ]),
        ("unknown network card", net("nic = \"ne2k\"\n"), 11, vec![
            "network.nic: network card `ne2k` is not one KaaL drives",
            "`nic = \"e1000\"`",
            "`nic = \"virtio-net\"`",
            "`nic = \"rtl8139\"`",
        ]),
        ("unknown driver type", net("driver = { type = \"dde-bsd\", driver = \"re\" }\n"), 11, vec![
            "network.driver: driver type `dde-bsd` is not one KaaL knows",
            "type = \"dde-linux\"",
        ]),
        ("unknown Linux driver", net("nic = \"rtl8139\"\ndriver = { type = \"dde-linux\", driver = \"8139too\" }\n"), 12, vec![
            "KaaL does not know how to build the Linux driver `8139too`",
            "use one of: 8139cp, e1000",
        ]),
        ("a Linux driver for another card", net("driver = { type = \"dde-linux\", driver = \"8139cp\" }\n"), 11, vec![
            "Linux's 8139cp drives QEMU's `rtl8139`, but this network's card is `e1000`",
            "set `nic = \"rtl8139\"`",
        ]),
        ("misspelt network card", net("nic = \"virtio_net\"\n"), 11, vec!["did you mean `virtio-net`?"]),
        ("static address without a prefix", net("address = \"10.0.2.15\"\n"), 11, vec![
            "network.address: `10.0.2.15` is not an address: a static address needs its prefix length (`/24`)",
            "`address = \"dhcp\"`",
            "`address = \"10.0.2.15/24\"`",
        ]),
        ("address prefix out of range", net("address = \"10.0.2.15/33\"\n"), 11, vec![
            "the prefix length `33` is not a number from 1 to 32",
        ]),
        ("address prefix of zero", net("address = \"10.0.2.15/0\"\n"), 11, vec!["not a number from 1 to 32"]),
        ("address out of range", net("address = \"10.0.2.300/24\"\n"), 11, vec!["`300` is not a number from 0 to 255"]),
        ("misspelt dhcp", net("address = \"dchp\"\n"), 11, vec!["did you mean `dhcp`?"]),
        ("malformed gateway", net("address = \"10.0.2.15/24\"\ngateway = \"10.0.2\"\n"), 12, vec![
            "network.gateway: `10.0.2` is not an IPv4 address: it must be four numbers separated by dots",
            "`gateway = \"10.0.2.2\"`",
        ]),
        ("gateway with dhcp", net("gateway = \"10.0.2.2\"\n"), 11, vec![
            "network.gateway: a gateway goes with a static address, and this network's address comes from DHCP",
            "remove `gateway`",
        ]),
        ("gateway with an explicit dhcp", net("address = \"dhcp\"\ngateway = \"10.0.2.2\"\n"), 12, vec![
            "a gateway goes with a static address",
        ]),
        ("forward without a guest port", net("forwards = [\"8080\"]\n"), 11, vec![
            "network.forwards: `8080` is not HOST:GUEST: not a forward",
            "udp:HOST:GUEST",
        ]),
        ("forward to port 0", net("forwards = [\"8080:0\"]\n"), 11, vec![
            "the guest port 0 in `8080:0` is out of range",
            "ports are 1 to 65535",
        ]),
        ("forward from a port too high", net("forwards = [\"udp:65536:53\"]\n"), 11, vec![
            "the host port 65536 in `udp:65536:53` is out of range",
        ]),
        ("forward of an unknown protocol", net("forwards = [\"sctp:1:2\"]\n"), 11, vec![
            "the host port `sctp` in `sctp:1:2` is not a number",
        ]),
        ("two forwards from one host port", net("forwards = [\n  \"8080:80\",\n  \"tcp:8080:81\",\n]\n"), 13, vec![
            "host port 8080 (tcp) is forwarded twice: to guest port 80 (`8080:80`, line 12) and to guest port 81",
            "pick another host port",
        ]),
        ("network without a time service", base("[network]\naddress = \"dhcp\"\n"), 9, vec![
            "network: the system has a network but no time service",
            "[time]",
            "source = \"pit\"",
        ]),
        ("network grant without [network]", base("[components.web]\npath = \"web\"\nnetwork = { listen = [80] }\n"), 11, vec![
            "components.web.network: component `web` asks for the network, but the system declares no [network]",
            "[network]",
            "[time]",
        ]),
        ("empty network grant", net("\n[components.web]\npath = \"web\"\nnetwork = {}\n"), 14, vec![
            "components.web.network: component `web` has a `network` grant with no ports",
            "`network = { listen = [80] }`",
        ]),
        ("network grant of empty lists", net("\n[components.web]\npath = \"web\"\nnetwork = { listen = [], connect = [] }\n"), 14, vec![
            "has a `network` grant with no ports",
        ]),
        ("listen port out of range", net("\n[components.web]\npath = \"web\"\nnetwork = { listen = [80, 70000] }\n"), 14, vec![
            "components.web.network.listen: port 70000 is out of range",
            "ports run from 1 to 65535",
        ]),
        ("connect port 0", net("\n[components.web]\npath = \"web\"\nnetwork = { connect = [0] }\n"), 14, vec![
            "components.web.network.connect: port 0 is out of range",
        ]),
        ("listen port twice", net("\n[components.web]\npath = \"web\"\nnetwork = { listen = [80, 7, 80] }\n"), 14, vec![
            "components.web.network.listen: component `web` is granted port 80 to listen on twice",
            "remove the second one",
        ]),
        ("connect port twice", net("\n[components.web]\npath = \"web\"\nnetwork = { connect = [8000, 8000] }\n"), 14, vec![
            "component `web` is granted port 8000 to connect to twice",
        ]),
        ("listen port of two components", net("\n[components.a]\npath = \"a\"\nnetwork = { listen = [80] }\n\n[components.b]\npath = \"b\"\nnetwork = { connect = [80], listen = [7, 80] }\n"), 18, vec![
            "components.b.network.listen: port 80 is granted to component `a` (line 14) to listen on, and to `b` too",
            "give one of them another port",
        ]),
        ("listen port of the wrong type", net("\n[components.web]\npath = \"web\"\nnetwork = { listen = [\"80\"] }\n"), 14, vec![
            "each entry of `listen` must be a whole number, not string \"80\"",
            "listen = [80, 7]",
        ]),
        ("unknown network grant key", net("\n[components.web]\npath = \"web\"\nnetwork = { listen = [80], ports = [1] }\n"), 14, vec![
            "components.web.network.ports: unknown key `ports` in component `web`'s network",
            "takes: listen, connect",
        ]),
        ("network grant of the wrong type", net("\n[components.web]\npath = \"web\"\nnetwork = [80]\n"), 14, vec![
            "`network = { listen = [80], connect = [8000] }`",
        ]),
        ("component name too long for its network connections", net("\n[components.abcdefghijklmnop]\npath = \"a\"\nnetwork = { listen = [80] }\n"), 14, vec![
            "notification `net-abcdefghijklmnop-done`, whose name is 25 bytes long; the limit is 24",
            "at most 15 bytes",
        ]),
        ("network client named like the wake notification", net("\n[components.wake]\npath = \"w\"\nnetwork = { listen = [80] }\n"), 14, vec![
            "components.wake.network: component `wake` uses the network, so the tool would name a connection of it `net-wake`",
            "rename the component",
        ]),
        ("component named like the network card's driver", net("\n[components.nic]\npath = \"nic\"\n"), 12, vec![
            "components.nic: the name `nic` is reserved for the network card's driver, which the tool adds for the system's network ([network] at line 10)",
            "rename the component",
        ]),
        ("component named like the network service", net("\n[components.net]\npath = \"net\"\n"), 12, vec![
            "the name `net` is reserved for the network service",
        ]),
        ("connection named like a network client's buffer", net("\n[components.web]\npath = \"web\"\nnetwork = { listen = [80] }\n\n[connections.memory.net-web]\nsize = \"4 KiB\"\nwriters = [\"server\"]\n"), 16, vec![
            "connections.memory.net-web: the name `net-web` is reserved for the buffer component `web` reaches the network through",
            "rename the shared region",
        ]),
        ("connection named like the card's signal", net("\n[connections.notifications.nic-kick]\nsignal = [\"server\"]\nwait = \"client\"\n"), 12, vec![
            "the name `nic-kick` is reserved for the signal with which the network service wakes the card's driver",
        ]),
        ("component driving the network card", net("\n[components.d]\npath = \"d\"\ndevices = [\"pci:00:0a.0\"]\n"), 14, vec![
            "components.d.devices: `pci:00:0a.0` is the network card, which the tool's driver `nic` drives for [network] (line 10)",
            "remove it from `devices`",
        ]),
        ("a network of one's own in [qemu] args", net("\n[qemu]\nargs = [\"-netdev\", \"user,id=n0\"]\n"), 13, vec![
            "qemu.args: `[qemu] args` set up a network (`-netdev`), but the tool attaches the network itself for [network] (line 10)",
            "remove `-netdev`",
        ]),
        ("a network card in [qemu] args", net("\n[qemu]\nargs = [\"-device\", \"virtio-net-pci,netdev=n0\"]\n"), 13, vec![
            "qemu.args: `[qemu] args` add a network card (`virtio-net-pci`), but [network] (line 10) has the tool attach one",
            "choose the card with `nic` in [network]",
        ]),
        ("a device at the network card's slot", net("\n[qemu]\nargs = [\"-device\", \"virtio-rng-pci,addr=0a\"]\n"), 13, vec![
            "`[qemu] args` put `virtio-rng-pci` at PCI slot 0a, which is the network card's",
        ]),
        ("network services beyond max-threads", net("\n[resources]\nmax-threads = 3\n"), 13, vec![
            "the system has 4 components (with the 2 the tool adds to serve its network) but [resources] max-threads is 3",
        ]),
        ("too many network clients", net(&(0..14).fold(String::new(), |mut text, i| {
            let _ = write!(text, "[components.c{i}]\npath = \"c\"\nnetwork = {{ connect = [{}] }}\n", 8000 + i);
            text
        })), 10, vec![
            "network: the network service `net` would map 17 shared memory regions, but a component can map at most 16",
            "1 for each of the 14 components with `network`",
            "give the network to fewer components",
        ]),
        // Real-time tasks.
        ("unknown key in [realtime]", rt("[realtime]\npolicy = \"edf\"\nslack = \"1ms\"\n"), 11, vec![
            "realtime.slack: unknown key `slack` in [realtime]",
            "[realtime] takes: policy, timer, priority",
        ]),
        ("unknown key in a component's realtime", base("[components.s]\npath = \"s\"\nrealtime = { period = \"10ms\", wcet = \"1ms\", budget = \"1ms\" }\n"), 11, vec![
            "components.s.realtime.budget: unknown key `budget` in component `s`'s realtime",
            "takes: period, deadline, wcet, criticality, offset",
        ]),
        ("real-time task without a WCET", base("[components.s]\npath = \"s\"\nrealtime = { period = \"10ms\" }\n"), 11, vec![
            "components.s.realtime.wcet: component `s`'s realtime is missing `wcet`",
            "add it like `wcet = \"2ms\"",
        ]),
        ("realtime that is not a table", base("[components.s]\npath = \"s\"\nrealtime = \"10ms\"\n"), 11, vec![
            "`realtime` must be a table",
            "realtime = { period = \"100ms\", deadline = \"10ms\", wcet = \"2ms\"",
        ]),
        ("unknown real-time policy", rt("[realtime]\npolicy = \"rate-monotone\"\n"), 10, vec![
            "realtime.policy: real-time policy `rate-monotone` does not exist",
            "did you mean `rate-monotonic`?",
            "\"deadline-monotonic\"",
        ]),
        ("unknown real-time timer", rt("[realtime]\ntimer = \"tsc\"\n"), 10, vec![
            "realtime.timer: the real-time scheduler cannot drive timer `tsc`",
            "`timer = \"hpet\"` (the HPET's timer 0, the default) or `timer = \"pit\"`",
        ]),
        ("real-time timer beside a time service", rt("[time]\n[realtime]\ntimer = \"pit\"\n"), 11, vec![
            "realtime.timer: the system has a time service ([time] at line 9), so the real-time scheduler claims no timer of its own: it sets its deadlines through the time service",
            "remove `timer`, or remove [time]",
        ]),
        ("real-time priority out of range", rt("[realtime]\npriority = 254\n"), 10, vec![
            "realtime.priority: real-time priority 254 is out of range",
            "real-time priorities run from 1 to 253: the scheduler's thread runs at 254 and the time service at 255",
        ]),
        ("real-time priority outside [resources] priorities", rt("[resources]\npriorities = { lowest = 1, highest = 200 }\n[realtime]\npriority = 210\n"), 12, vec![
            "realtime.priority: real-time priority 210 is outside [resources] priorities (1 to 200)",
            "pick a [realtime] priority from 1 to 200",
        ]),
        ("default real-time priority outside [resources] priorities", rt("[resources]\npriorities = { lowest = 1, highest = 200 }\n"), 13, vec![
            "components.s.realtime: real-time components run at the default [realtime] priority 230, outside [resources] priorities (1 to 200)",
            "add [realtime] with `priority` from 1 to 200",
        ]),
        ("real-time component with a priority of its own", base("[components.s]\npath = \"s\"\npriority = 150\nrealtime = { period = \"10ms\", wcet = \"1ms\" }\n"), 11, vec![
            "components.s.priority: a real-time component runs at [realtime] priority (230)",
            "remove `priority`",
        ]),
        ("passive real-time component", base("[components.s]\npath = \"s\"\ndaemon = true\npassive = true\nrealtime = { period = \"10ms\", wcet = \"1ms\" }\n"), 12, vec![
            "components.s.passive: a real-time component cannot be passive",
            "remove `passive`",
        ]),
        ("real-time component with an MCS budget", base("[components.s]\npath = \"s\"\nbudget = \"1 ms\"\nperiod = \"10 ms\"\nrealtime = { period = \"10ms\", wcet = \"1ms\" }\n"), 11, vec![
            "components.s.budget: a real-time component's budget is its `realtime` wcet",
            "remove `budget`",
        ]),
        ("unknown criticality", base("[components.s]\npath = \"s\"\nrealtime = { period = \"10ms\", wcet = \"1ms\", criticality = \"medium\" }\n"), 11, vec![
            "components.s.realtime.criticality: criticality `medium` does not exist",
            "`criticality = \"low\"`",
            "`criticality = \"high\"`",
        ]),
        ("real-time duration without a unit", base("[components.s]\npath = \"s\"\nrealtime = { period = \"100\", wcet = \"1ms\" }\n"), 11, vec![
            "components.s.realtime.period: `100` is not a duration: the duration has no unit",
            "e.g. `period = \"100ms\"`",
        ]),
        ("real-time duration in an unknown unit", base("[components.s]\npath = \"s\"\nrealtime = { period = \"10ms\", wcet = \"1 min\" }\n"), 11, vec![
            "components.s.realtime.wcet: `1 min` is not a duration: unknown unit",
            "e.g. `wcet = \"2ms\"`",
        ]),
        ("real-time duration as a number", base("[components.s]\npath = \"s\"\nrealtime = { period = 100, wcet = \"1ms\" }\n"), 11, vec![
            "`period` must be a string, not integer",
            "`period = \"100ms\"",
        ]),
        ("negative offset", base("[components.s]\npath = \"s\"\nrealtime = { period = \"10ms\", wcet = \"1ms\", offset = \"-1ms\" }\n"), 11, vec![
            "components.s.realtime.offset: `-1ms` is not a duration: a duration cannot be negative",
        ]),
        ("WCET beyond the deadline", base("[components.s]\npath = \"s\"\nrealtime = { period = \"100ms\", deadline = \"10ms\", wcet = \"20ms\" }\n"), 11, vec![
            "components.s.realtime: task `s`: WCET 20 ms is longer than its deadline 10 ms; shorten the work or lengthen the deadline",
            "0 < wcet <= deadline <= period",
        ]),
        ("deadline beyond the period", base("[components.s]\npath = \"s\"\nrealtime = { period = \"10ms\", deadline = \"20ms\", wcet = \"1ms\" }\n"), 11, vec![
            "task `s`: deadline 20 ms is longer than its period 10 ms",
        ]),
        ("WCET beyond the period", base("[components.s]\npath = \"s\"\nrealtime = { period = \"10ms\", wcet = \"11ms\" }\n"), 11, vec![
            "task `s`: WCET 11 ms is longer than its deadline 10 ms",
        ]),
        ("real-time period too short", base("[components.s]\npath = \"s\"\nrealtime = { period = \"5us\", wcet = \"1us\" }\n"), 11, vec![
            "task `s`: period 5 us is shorter than the 10 us minimum",
        ]),
        ("zero WCET", base("[components.s]\npath = \"s\"\nrealtime = { period = \"10ms\", wcet = \"0ms\" }\n"), 11, vec![
            "task `s`: WCET is zero",
        ]),
        ("real-time offset of an hour", base("[components.s]\npath = \"s\"\nrealtime = { period = \"10ms\", wcet = \"1ms\", offset = \"3600s\" }\n"), 11, vec![
            "task `s`: offset 3600 s is not under the 3600 s maximum",
        ]),
        ("[realtime] without real-time components", base("[realtime]\npolicy = \"edf\"\n"), 9, vec![
            "realtime: [realtime] is declared, but no component has `realtime`: nothing to schedule",
            "give a component `realtime = { period = \"100ms\", wcet = \"2ms\" }`, or remove [realtime]",
        ]),
        ("more real-time components than the scheduler runs", base(&(0..17).fold(String::new(), |mut text, i| {
            let _ = write!(text, "[components.t{i:02}]\npath = \"t\"\nrealtime = {{ period = \"100ms\", wcet = \"1ms\" }}\n");
            text
        })), 59, vec![
            "components.t16.realtime: the system has 17 real-time components, but the scheduler runs at most 16",
            "remove `realtime`",
        ]),
        ("component driving the real-time scheduler's HPET", rt("[components.d]\npath = \"d\"\ndevices = [\"hpet\"]\n"), 11, vec![
            "components.d.devices: device `hpet` is the real-time scheduler's timer (the default in a system without [time])",
            "remove it from the component's devices: whichever of the PIT and the HPET the scheduler drives, it holds the one interrupt line they share",
        ]),
        ("component driving the PIT beside the real-time scheduler's HPET", rt("[components.d]\npath = \"d\"\ndevices = [\"pit\"]\n"), 11, vec![
            "device `pit` shares its interrupt line with the real-time scheduler's HPET, which replaces it",
        ]),
        ("component driving the real-time scheduler's PIT", rt("[realtime]\ntimer = \"pit\"\n[components.d]\npath = \"d\"\ndevices = [\"pit\"]\n"), 13, vec![
            "components.d.devices: device `pit` is the real-time scheduler's timer ([realtime] at line 9)",
            "whichever of the PIT and the HPET the scheduler drives",
        ]),
        ("component driving the HPET beside the real-time scheduler's PIT", rt("[realtime]\ntimer = \"pit\"\n[components.d]\npath = \"d\"\ndevices = [\"hpet\"]\n"), 13, vec![
            "components.d.devices: device `hpet` shares its interrupt line with the real-time scheduler's PIT: the HPET runs in legacy replacement mode, on the PIT's line (ISA IRQ 0) ([realtime] at line 9)",
            "remove it from the component's devices",
        ]),
        ("component at the real-time scheduler's priority", rt("[components.d]\npath = \"d\"\npriority = 254\n"), 11, vec![
            "components.d.priority: component `d` runs at priority 254, level with the real-time scheduler's thread",
            "real-time systems keep components at 253 or below, so the scheduler (254) can always preempt them",
        ]),
        ("component at the time service's priority beside real-time components", rt("[components.d]\npath = \"d\"\npriority = 255\n"), 11, vec![
            "components.d.priority: component `d` runs at priority 255, above the real-time scheduler's thread (254), level with the time service",
            "keep components at 253 or below",
        ]),
        ("real-time task granted too many capabilities", base(&(0..47).fold(String::new(), |mut text, i| {
            let _ = write!(text, "[connections.notifications.n{i}]\nsignal = [\"server\"]\nwait = \"client\"\n");
            text
        })).replace("path = \"server\"\n", "path = \"server\"\nrealtime = { period = \"10ms\", wcet = \"1ms\" }\n"), 4, vec![
            "components.server: component `server` is granted 49 capabilities, but a component can hold at most 48",
            "47 notification ends (1 each) and 1 real-time task (2 each)",
        ]),
        ("real-time overload", base("[components.a]\npath = \"a\"\nrealtime = { period = \"5ms\", wcet = \"3ms\" }\n\n[components.b]\npath = \"b\"\nrealtime = { period = \"100ms\", wcet = \"47ms\" }\n"), 11, vec![
            "components.a.realtime: U = 1.07 > 1: no scheduler can meet every deadline; lengthen periods or shorten WCETs",
            "the tasks (WCET every period): `a` 3 ms every 5 ms, `b` 47 ms every 100 ms",
            "overloaded under any policy",
        ]),
        ("real-time demand beyond EDF", rt_pair("[realtime]\n", "period = \"10ms\", deadline = \"2ms\", wcet = \"2ms\"", "period = \"10ms\", deadline = \"3ms\", wcet = \"2ms\""), 9, vec![
            "realtime: demand in the first 3 ms is 4 ms > 3 ms",
            "`a` 2 ms every 10 ms (deadline 2 ms), `b` 2 ms every 10 ms (deadline 3 ms)",
            "EDF is optimal on one processor",
        ]),
        ("real-time response time beyond rate-monotonic", rt_pair("[realtime]\npolicy = \"rate-monotonic\"\n", "period = \"5ms\", wcet = \"2ms\"", "period = \"7ms\", wcet = \"4ms\""), 9, vec![
            "realtime: task `b` response time 8 ms > deadline 7 ms under rate-monotonic priorities",
            "switch to `policy = \"edf\"` in [realtime]",
        ]),
        // [linux] and what goes into its disk.
        ("linux without a time service", base("[filesystems.root]\nkind = \"ramfs\"\n[linux]\nmounts = { \"/\" = \"root\" }\n"), 11, vec![
            "linux: the Linux personality needs the time service",
            "source = \"pit\"",
        ]),
        ("linux without mounts", base("[time]\n[linux]\ninit = [\"/bin/sh\"]\n"), 10, vec![
            "[linux] has no mounts, so the Linux processes would see no files",
            "mounts = { \"/\" = \"root\" }",
        ]),
        ("linux init not absolute", base("[time]\n[filesystems.root]\nkind = \"ramfs\"\n[linux]\ninit = [\"sh\"]\nmounts = { \"/\" = \"root\" }\n"), 13, vec![
            "init program `sh` is not an absolute path",
            "\"/bin/sh\"",
        ]),
        ("linux memory not a power of two", base("[time]\n[filesystems.root]\nkind = \"ramfs\"\n[linux]\nmemory = \"48 MiB\"\nmounts = { \"/\" = \"root\" }\n"), 13, vec![
            "Linux memory of 48 MiB is not a power of two",
            "\"64 MiB\"",
        ]),
        ("linux environment without =", base("[time]\n[filesystems.root]\nkind = \"ramfs\"\n[linux]\nenv = [\"PATH\"]\nmounts = { \"/\" = \"root\" }\n"), 13, vec![
            "`PATH` is not NAME=value",
        ]),
        ("a component named linux beside [linux]", base("[time]\n[filesystems.root]\nkind = \"ramfs\"\n[linux]\nmounts = { \"/\" = \"root\" }\n[components.linux]\npath = \"l\"\n"), 14, vec![
            "a component is named `linux`",
            "rename the component",
        ]),
        ("a package name that is not Debian's", base("[disks.root]\ndirectory = \"root\"\npackages = [\"Busybox Static\"]\n"), 11, vec![
            "`Busybox Static` is not a Debian package name",
            "busybox-static",
        ]),
        ("packages on an image disk", base("[disks.root]\nimage = \"root.img\"\npackages = [\"busybox-static\"]\n"), 11, vec![
            "disk `root` uses an image, which KaaL does not change",
        ]),
        ("a program with two sources", base("[disks.root]\ndirectory = \"root\"\n[disks.root.programs]\n\"/bin/app\" = { c = \"a.c\", rust = \"app\" }\n"), 12, vec![
            "program `/bin/app` needs exactly one of `c` and `rust`",
        ]),
        ("a program at a relative path", base("[disks.root]\ndirectory = \"root\"\n[disks.root.programs]\n\"bin/app\" = { c = \"a.c\" }\n"), 12, vec![
            "`bin/app` is not an absolute file path in the image",
        ]),
        ("real-time response time beyond deadline-monotonic", rt_pair("[realtime]\npolicy = \"deadline-monotonic\"\n", "period = \"5ms\", wcet = \"2ms\"", "period = \"7ms\", wcet = \"4ms\""), 9, vec![
            "under deadline-monotonic priorities",
        ]),
    ]
}

/// [`BASE`], then `extra` (from line 9), then a real-time component `s` (its `realtime`
/// on the table's third line).
fn rt(extra: &str) -> String {
    base(&format!("{extra}[components.s]\npath = \"s\"\nrealtime = {{ period = \"10ms\", wcet = \"1ms\" }}\n"))
}

/// [`BASE`], then `extra` (from line 9), then real-time components `a` and `b` with
/// these `realtime` tables.
fn rt_pair(extra: &str, a: &str, b: &str) -> String {
    base(&format!(
        "{extra}[components.a]\npath = \"a\"\nrealtime = {{ {a} }}\n[components.b]\npath = \"b\"\nrealtime = {{ {b} }}\n"
    ))
}

/// [`BASE`] with a time service and a network (at line 10), then `extra`.
fn net(extra: &str) -> String {
    base(&format!("[time]\n[network]\n{extra}"))
}

#[test]
fn linux_adds_the_personality_with_its_mounts_memory_and_terminal() {
    let text = base(
        "[time]\n[disks.root]\ndirectory = \"root\"\npackages = [\"busybox-static\"]\n[disks.root.programs]\n\
         \"/bin/app\" = { rust = \"app\" }\n\"/bin/hello\" = { c = \"hello.c\" }\n[filesystems.root]\nkind = \"ext2\"\n\
         disk = \"root\"\n[linux]\ninit = [\"/bin/sh\", \"-l\"]\nenv = [\"PATH=/bin\"]\nmounts = { \"/\" = \"root\" }\n",
    );
    let system = parse("system.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    let linux = system.linux.as_ref().expect("[linux]");
    assert_eq!(
        (linux.init.as_slice(), linux.env.as_slice(), linux.memory),
        (&["/bin/sh".to_string(), "-l".into()][..], &["PATH=/bin".to_string()][..], 64 << 20)
    );
    let component = system.components.iter().find(|c| c.name == "linux").expect("component linux");
    assert_eq!(component.path, crate::assemble::kaal_checkout().join("services/linux"));
    assert!(component.is_built_in() && component.time && !component.daemon);
    assert_eq!(component.processes, 64 << 20);
    assert_eq!(component.devices, ["com1"], "the terminal: COM1's receiving side");
    assert_eq!(component.mounts.len(), 1);
    assert_eq!(component.config.as_deref(), Some("priority 99\narg /bin/sh\narg -l\nenv PATH=/bin\n"));
    let DiskSource::Directory { packages, programs, .. } = &system.disks[0].source else { panic!("a directory disk") };
    assert_eq!(packages, &["busybox-static"]);
    assert_eq!(
        programs,
        &[
            Program { path: "/bin/app".into(), source: ProgramSource::Rust("app".into()) },
            Program { path: "/bin/hello".into(), source: ProgramSource::C("hello.c".into()) },
        ]
    );
}

#[test]
fn explains_each_mistake_at_its_line() {
    let mut failures = String::new();
    let cases = cases();
    for (case, text, line, expected) in &cases {
        let errors = match parse("system.toml", text) {
            Ok(_) => {
                let _ = writeln!(failures, "{case}: parsed without error");
                continue;
            }
            Err(errors) => errors,
        };
        let first = &errors.0[0];
        let shown = first.to_string();
        if first.line != *line {
            let _ = writeln!(failures, "{case}: expected line {line}, got:\n{errors}\n");
        }
        for text in expected {
            if !shown.contains(text) {
                let _ = writeln!(failures, "{case}: missing {text:?} in:\n{errors}\n");
            }
        }
        if first.help.is_empty() {
            let _ = writeln!(failures, "{case}: no help in:\n{errors}\n");
        }
    }
    assert!(failures.is_empty(), "{failures}");
    assert!(cases.len() >= 14);
    assert!(
        cases
            .iter()
            .filter(|(name, ..)| name.contains("device") || name.contains("IRQ") || name.contains("probe"))
            .count()
            >= 15
    );
}

#[test]
fn shows_errors_in_the_documented_format() {
    let text = "[system]\nname = \"demo\"\ndescription = \"the example in the format's documentation\"\n\n\
                [components.client]\npath = \"client\"\n\n[components.server]\npath = \"server\"\n\
                heap = \"256 KiB\"\nstack = \"64 KiB\"\npriority = 300\n";
    assert_eq!(
        parse("system.toml", text).unwrap_err().to_string(),
        "error: system.toml:12:12: components.server.priority: priority 300 is out of range\n  \
         help: priorities run from 1 to 254 ([resources] priorities); pick one in that range"
    );
}

#[test]
fn collects_every_mistake_in_file_order() {
    let text = r#"[system]
name = "Bad Name"
[components.a]
path = "a"
priority = 999
devices = ["com1"]
[connections.channels.c]
server = "a"
clients = ["b"]
[connections.rings.c]
producer = "a"
consumer = "a"
slots = 3
item-size = 8
"#;
    let errors = errors_of(text);
    let found: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.key.as_str())).collect();
    assert_eq!(
        found,
        [
            (2, "system.name"),
            (5, "components.a.priority"),
            (6, "components.a.devices"),
            (9, "connections.channels.c.clients"),
            (10, "connections.rings.c"),
            (12, "connections.rings.c.consumer"),
            (13, "connections.rings.c.slots"),
        ]
    );
    let shown = ConfigErrors(errors).to_string();
    assert_eq!(shown.lines().filter(|line| line.starts_with("error: system.toml:")).count(), 7, "{shown}");
}

#[test]
fn quotes_keys_that_are_not_bare() {
    let errors = errors_of(&base("[components.\"my server\"]\npath = \"x\"\n"));
    assert_eq!(errors[0].key, "components.\"my server\"");
    assert_eq!(errors[0].message, "`my server` is not a valid component name");
    assert!(errors[0].help.ends_with("try `my-server`"), "{}", errors[0].help);
}

#[test]
fn reports_arrays_of_tables() {
    let errors = errors_of("[system]\nname = \"x\"\n[[components]]\npath = \"a\"\n");
    assert_eq!(errors[0].line, 3);
    assert_eq!(errors[0].message, "`components` must be a table, not a list");
    assert!(errors[0].help.contains("[components.hello]"), "{}", errors[0].help);
}

#[test]
fn loads_files_and_explains_unreadable_ones() {
    let scratch = Scratch::new("load");
    let path = scratch.0.join("system.toml");
    std::fs::write(&path, BASE).expect("writing system.toml");
    assert_eq!(load(&path).expect("loading").name, "demo");

    std::fs::write(&path, b"[system]\nname = \"\xff\"\n").expect("writing system.toml");
    let error = &load(&path).unwrap_err().0[0];
    assert_eq!(error.message, "the file is not UTF-8 text (invalid byte at offset 17)");

    let missing = scratch.0.join("absent/system.toml");
    let error = &load(&missing).unwrap_err().0[0];
    assert_eq!((error.line, error.column), (0, 0));
    assert!(error.message.starts_with("cannot read the system description: "), "{}", error.message);
    assert!(
        error.to_string().starts_with(&format!("error: {}: cannot read", missing.display())),
        "no line or column for a file that cannot be read: {error}"
    );
}

#[test]
fn checks_that_component_directories_are_crates() {
    let scratch = Scratch::new("dirs");
    std::fs::create_dir_all(scratch.0.join("server")).expect("creating server/");
    std::fs::write(scratch.0.join("server/Cargo.toml"), "[package]\n").expect("writing Cargo.toml");
    std::fs::create_dir_all(scratch.0.join("client")).expect("creating client/");
    let text = base("[components.logger]\npath = \"logger\"\n");
    let system = parse("system.toml", &text).expect("valid");

    let errors = check_component_dirs(&system, &scratch.0, "system.toml").unwrap_err().0;
    let found: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.key.as_str())).collect();
    assert_eq!(found, [(7, "components.client.path"), (9, "components.logger.path")]);
    assert!(errors[0].message.ends_with("client` has no Cargo.toml"), "{}", errors[0].message);
    assert!(errors[0].help.starts_with("a component is a cargo crate; run `cargo init --bin "), "{}", errors[0].help);
    assert!(errors[1].message.ends_with("logger` does not exist"), "{}", errors[1].message);

    std::fs::write(scratch.0.join("client/Cargo.toml"), "[package]\n").expect("writing Cargo.toml");
    std::fs::create_dir_all(scratch.0.join("logger")).expect("creating logger/");
    std::fs::write(scratch.0.join("logger/Cargo.toml"), "[package]\n").expect("writing Cargo.toml");
    assert_eq!(check_component_dirs(&system, &scratch.0, "system.toml"), Ok(()));
}

/// Every error points into the file and says something.
fn assert_sane(text: &str, result: Result<System, ConfigErrors>) {
    let Err(ConfigErrors(errors)) = result else { return };
    assert!(!errors.is_empty(), "an empty error list for {text:?}");
    let lines = text.split('\n').count();
    for error in &errors {
        assert!((1..=lines).contains(&error.line) && error.column >= 1, "bad position {error:?} for {text:?}");
        assert!(!error.message.is_empty() && !error.help.is_empty(), "empty text {error:?} for {text:?}");
    }
}

#[test]
fn never_panics_on_truncated_input() {
    for end in (0..=FULL.len()).filter(|end| FULL.is_char_boundary(*end)) {
        let text = &FULL[..end];
        assert_sane(text, parse("system.toml", text));
    }
}

#[test]
fn never_panics_on_mangled_input() {
    const PIECES: [&str; 22] = [
        "[",
        "]",
        "{",
        "}",
        "\"",
        "'",
        "=",
        ".",
        ",",
        "#",
        "\n",
        " ",
        "0",
        "-1",
        "x",
        "é",
        "\u{0}",
        "\r",
        "[[",
        "\"\"\"",
        "999999999999999999999",
        "components",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    for _ in 0..3000 {
        let mut text = FULL.to_string();
        for _ in 0..1 + next(4) {
            let mut at = next(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let cut = (at + next(3)).min(text.len());
            let cut = if text.is_char_boundary(cut) { cut } else { at };
            text.replace_range(at..cut, PIECES[next(PIECES.len())]);
        }
        assert_sane(&text, parse("system.toml", &text));
    }
}

#[test]
fn never_panics_on_pathological_input() {
    let inputs = [
        String::new(),
        "\u{feff}".to_string(),
        "[".repeat(10_000),
        format!("a = {}", "[".repeat(10_000)),
        format!("a = {}", "{ b = ".repeat(500)),
        format!("[{}]", vec!["x"; 500].join(".")),
        "[system]\nname = \"x\"\n[components.a]\npath = \"a\"\nheap = 9223372036854775807\n".to_string(),
        "[system]\nname = \"x\"\n[components.a]\npath = \"a\"\nheap = \"18446744073709551615 B\"\n".to_string(),
        "[system]\nname = \"x\"\n[components.a]\npath = \"a\"\npriority = -9223372036854775808\n".to_string(),
        "[system]\nname = \"x\"\n[qemu]\nmemory = \"16 GiB\"\n[components.a]\npath = \"a\"\nheap = \"1 GiB\"\n\
         [connections.rings.r]\nproducer = \"a\"\nconsumer = \"b\"\nslots = -9223372036854775808\nitem-size = 1\n"
            .to_string(),
        "system = 1\ncomponents = []\nconnections = \"x\"\n".to_string(),
        "[system]\nname = \"x\"\n[components]\na = 1\n[connections]\nchannels = 1\n".to_string(),
        "[system]\nname = \"x\"\n[system.name]\n".to_string(),
        "[a]\n[a]\n[a]\nx = 1\nx = 2\n\"\n".to_string(),
        "\u{0}\r\r\n=\n".to_string(),
    ];
    for text in &inputs {
        assert_sane(text, parse("system.toml", text));
    }
}
