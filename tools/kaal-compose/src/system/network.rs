//! `[network]` and components' `network`: a network card on QEMU's user-mode network,
//! served by KaaL's own `net` component (the TCP/IP stack) over the card's driver `nic`,
//! both of which the tool adds (with the connections between them and to each client)
//! once the user's part is checked.
//!
//! ```toml
//! [time]                      # the stack needs timers
//! source = "pit"
//!
//! [network]
//! nic = "e1000"               # or "virtio-net" or "rtl8139"; default "e1000"
//! # driver = "my-nic"                                  # the system's own driver crate
//! # driver = { type = "dde-linux", driver = "e1000" }  # Linux's, unmodified (kaal-dde)
//! address = "dhcp"            # default; or a static "10.0.2.15/24"
//! gateway = "10.0.2.2"        # only with a static address
//! forwards = ["8080:80", "udp:5353:53"]   # host port on 127.0.0.1 to guest port
//!
//! [components.web]
//! path = "web"
//! network = { listen = [80, 7], connect = [8000] }
//! ```
//!
//! What is added, and its names, is described at [`Network`]; the `net` service's
//! configuration at [`super::super::System::net_config`].

use std::collections::BTreeMap;

use toml::Spanned;

use super::super::raw::{Name, RawComponent, RawConnections, RawNetwork, RawNicDriver, RawQemu, RawTime, Tables};
use super::super::{
    did_you_mean, generated, key_part, net_config_text, Address, Component, DeviceSignal, Forward, Network,
    NetworkGrant, NicKind, NotificationLink, Region, Resources,
};
use super::{Checker, Grants, CONNECTION_NAME_LEN, DEFAULT_LOG, KIB, MAX_CAPS, MAX_REGIONS, MIB, STACK};

/// The card's driver: above `net`, so the card's queues are not left waiting.
const NIC_PRIORITY: u8 = 220;
const NIC_HEAP: u64 = 2 * MIB;
const NIC_DMA: u64 = 256 * KIB;
/// A Linux driver's DMA memory (kaal_dde::DMA_BYTES): its rings and socket buffers,
/// the most a component's DMA memory can be (one contiguous region, kaal-root's limit).
const NIC_DDE_DMA: u64 = MIB;
const _: () = assert!(NIC_DDE_DMA <= super::DMA.max);
/// The component that runs a Linux NIC driver (services/nic-dde).
const NIC_DDE: &str = "nic-dde";
/// The TCP/IP stack: above the block drivers' clients (and `vfs`), below the drivers.
const NET_PRIORITY: u8 = 205;
const NET_HEAP: u64 = 32 * MIB;
const NET_STACK: u64 = 256 * KIB;
/// The packet buffers (DMA memory: a power of two) and the descriptor queues.
const NIC_BUFFERS: u64 = MIB;
const NIC_QUEUES: u64 = 16 * KIB;
/// Each client's region, shared with `net`.
const CLIENT_BUFFER: u64 = 256 * KIB;
/// The longest of the names made from a client's (`net-C-done`) less the client's own.
const CLIENT_NAME_EXTRA: usize = "net--done".len();
const NIC_FORMS: &str = "use `nic = \"e1000\"` (an Intel 82540EM, the default), `nic = \"virtio-net\"` (a virtio \
                         network device) or `nic = \"rtl8139\"` (a Realtek RTL8139C+, driven by Linux's 8139cp)";
const ADDRESS_FORMS: &str = "write `address = \"dhcp\"` (QEMU's DHCP server gives 10.0.2.15, the default) or a \
                             static address with its prefix length, e.g. `address = \"10.0.2.15/24\"`";
const TIME_HELP: &str = "add a time service to system.toml:\n  [time]\n  source = \"pit\"";

/// A component with `network`: its name and grant, in file order.
pub(super) type NetClient = (String, NetworkGrant);

/// What the tool adds for the network.
pub(super) struct NetServices {
    pub components: Vec<Component>,
    pub notifications: Vec<NotificationLink>,
    pub regions: Vec<Region>,
    pub device_signals: Vec<DeviceSignal>,
}

/// The tables of `raw` in file order.
fn in_file_order<T>(raw: &Tables<T>) -> Vec<(&Name, &Spanned<T>)> {
    let mut tables: Vec<_> = raw.iter().collect();
    tables.sort_by_key(|(name, _)| name.span().start);
    tables
}

/// A built-in service's path in the KaaL checkout.
fn service_path(service: &str) -> std::path::PathBuf {
    crate::assemble::kaal_checkout().join("services").join(service)
}

impl Checker<'_> {
    /// Checks `[network]` (and that the system has what it needs: a time service, no
    /// network card of its own in `[qemu] args`).
    pub(super) fn network(
        &mut self,
        raw: Option<&Spanned<RawNetwork>>,
        raw_time: Option<&Spanned<RawTime>>,
        raw_qemu: Option<&Spanned<RawQemu>>,
    ) -> Option<Network> {
        let raw_network = raw?;
        let (span, raw) = (raw_network.span(), raw_network.get_ref());
        let line = self.source.line(span.start);
        if raw_time.is_none() {
            self.report(
                &span,
                "network",
                "the system has a network but no time service: the network stack needs timers (retransmission, \
                 DHCP leases, ARP)",
                TIME_HELP,
            );
        }
        let nic = match &raw.nic {
            None => NicKind::default(),
            Some(nic) => match NicKind::ALL.into_iter().find(|k| k.as_str() == nic.get_ref()) {
                Some(kind) => kind,
                None => {
                    let suggestion = did_you_mean(nic.get_ref(), NicKind::ALL.map(NicKind::as_str));
                    self.report(
                        &nic.span(),
                        "network.nic",
                        format!("network card `{}` is not one KaaL drives", nic.get_ref()),
                        format!("{suggestion}{NIC_FORMS}"),
                    );
                    NicKind::default()
                }
            },
        };
        let gateway = raw.gateway.as_ref().and_then(|gateway| match ipv4(gateway.get_ref()) {
            Ok(ip) => Some((ip, gateway)),
            Err(why) => {
                self.report(
                    &gateway.span(),
                    "network.gateway",
                    format!("`{}` is not an IPv4 address: {why}", gateway.get_ref()),
                    "write the router's address as four numbers from 0 to 255, e.g. `gateway = \"10.0.2.2\"` \
                     (QEMU's user network)",
                );
                None
            }
        });
        let address = match &raw.address {
            None => Address::Dhcp,
            Some(address) if address.get_ref() == "dhcp" => Address::Dhcp,
            Some(address) => match static_address(address.get_ref()) {
                Ok((address, prefix)) => Address::Static { address, prefix, gateway: gateway.map(|(ip, _)| ip) },
                Err(why) => {
                    let suggestion = did_you_mean(address.get_ref(), ["dhcp"]);
                    self.report(
                        &address.span(),
                        "network.address",
                        format!("`{}` is not an address: {why}", address.get_ref()),
                        format!("{suggestion}{ADDRESS_FORMS}"),
                    );
                    Address::Dhcp
                }
            },
        };
        let is_dhcp = raw.address.as_ref().is_none_or(|a| a.get_ref() == "dhcp");
        if let (true, Some(gateway)) = (is_dhcp, &raw.gateway) {
            self.report(
                &gateway.span(),
                "network.gateway",
                "a gateway goes with a static address, and this network's address comes from DHCP (which gives \
                 the gateway too)",
                "remove `gateway`, or give a static address: `address = \"10.0.2.15/24\"`",
            );
        }
        let forwards = self.forwards(raw.forwards.as_deref().unwrap_or_default());
        self.qemu_network_args(raw_qemu, line);
        let (mut driver, mut linux, mut linux_without) = (None, None, Vec::new());
        match raw.driver.as_ref().map(|d| (d.span(), d.get_ref())) {
            Some((span, RawNicDriver::Path(path))) if path.trim().is_empty() => self.report(
                &span,
                "network.driver",
                "the NIC driver's path is empty",
                "name the driver component's crate directory, relative to system.toml (`driver = \"my-nic\"`), \
                 or remove `driver` to use KaaL's own",
            ),
            Some((_, RawNicDriver::Path(path))) => driver = Some(std::path::PathBuf::from(path)),
            Some((span, RawNicDriver::Linux(table))) if table.kind != "dde-linux" => self.report(
                &span,
                "network.driver",
                format!("driver type `{}` is not one KaaL knows", table.kind),
                "write `driver = { type = \"dde-linux\", driver = \"8139cp\" }` for a Linux driver, or \
                 `driver = \"PATH\"` for a driver crate of your own",
            ),
            Some((span, RawNicDriver::Linux(table))) => match crate::dde::driver(&table.driver) {
                Ok(known) if known.device != nic.qemu_device() => self.report(
                    &span,
                    "network.driver",
                    format!(
                        "Linux's {} drives QEMU's `{}`, but this network's card is `{}`",
                        known.name,
                        known.device,
                        nic.as_str()
                    ),
                    match NicKind::ALL.into_iter().find(|k| k.qemu_device() == known.device) {
                        Some(kind) => {
                            format!("set `nic = \"{}\"`, or choose the driver for `{}`", kind.as_str(), nic.as_str())
                        }
                        None => format!("choose a Linux driver for `{}`", nic.as_str()),
                    },
                ),
                Ok(known) => {
                    linux = Some(known.name.to_string());
                    linux_without = table.without.clone().unwrap_or_default();
                }
                Err(e) => self.report(&span, "network.driver", e.cause, e.help),
            },
            // A card KaaL has no native driver for runs its Linux one.
            None => linux = nic.linux_default().map(str::to_string),
        }
        Some(Network { nic, address, forwards, driver, linux, linux_without })
    }

    /// `forwards`: each well formed, no host port twice (for one protocol).
    fn forwards(&mut self, raw: &[Spanned<String>]) -> Vec<Forward> {
        let mut forwards: Vec<(Forward, usize)> = Vec::new();
        for entry in raw {
            let forward = match Forward::parse(entry.get_ref()) {
                Ok(forward) => forward,
                Err(why) => {
                    self.report(&entry.span(), "network.forwards", format!("{why}: not a forward"), Forward::FORMS);
                    continue;
                }
            };
            let line = self.source.line(entry.span().start);
            let taken = forwards.iter().find(|(f, _)| f.host == forward.host && f.protocol == forward.protocol);
            if let Some((other, other_line)) = taken {
                self.report(
                    &entry.span(),
                    "network.forwards",
                    format!(
                        "host port {} ({}) is forwarded twice: to guest port {} (`{other}`, line {other_line}) and to \
                         guest port {}",
                        forward.host,
                        forward.protocol.as_str(),
                        other.guest,
                        forward.guest
                    ),
                    "a host port can be forwarded to one guest port: pick another host port for one of them",
                );
                continue;
            }
            forwards.push((forward, line));
        }
        forwards.into_iter().map(|(f, _)| f).collect()
    }

    /// With `[network]` the tool attaches the card itself, so `[qemu] args` may not add
    /// one, or anything at its PCI slot.
    fn qemu_network_args(&mut self, raw: Option<&Spanned<RawQemu>>, network_line: usize) {
        let Some(args) = raw.and_then(|q| q.get_ref().args.as_ref()) else { return };
        let option = |arg: &str| arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')).map(str::to_string);
        for (i, arg) in args.iter().enumerate() {
            let text = arg.get_ref();
            match option(text).as_deref() {
                Some(name @ ("netdev" | "nic" | "net")) => self.report(
                    &arg.span(),
                    "qemu.args",
                    format!(
                        "`[qemu] args` set up a network (`-{name}`), but the tool attaches the network itself for \
                         [network] (line {network_line})"
                    ),
                    format!(
                        "remove `-{name}` and its value from `args`; the tool adds `-netdev user` with the \
                         forwards of [network] and the card at PCI slot {:02x}",
                        Network::NIC_SLOT
                    ),
                ),
                Some("device") => {
                    let Some(device) = args.get(i + 1) else { continue };
                    let driver = device.get_ref().split(',').next().unwrap_or_default();
                    if driver.starts_with("e1000") || driver.starts_with("virtio-net") || driver == "rtl8139" {
                        self.report(
                            &device.span(),
                            "qemu.args",
                            format!(
                                "`[qemu] args` add a network card (`{driver}`), but [network] (line {network_line}) \
                                 has the tool attach one"
                            ),
                            format!(
                                "remove `-device {}` from `args`; choose the card with `nic` in [network]",
                                device.get_ref()
                            ),
                        );
                    } else if pci_slot(device.get_ref()) == Some(Network::NIC_SLOT) {
                        self.report(
                            &device.span(),
                            "qemu.args",
                            format!(
                                "`[qemu] args` put `{driver}` at PCI slot {:02x}, which is the network card's \
                                 ([network], line {network_line})",
                                Network::NIC_SLOT
                            ),
                            "give the device another `addr` (slots 0x10-0x1f are the disks')",
                        );
                    }
                }
                _ => {}
            }
        }
    }

    /// Each component's `network`, checked: the components that have one, in file order.
    pub(super) fn component_network(
        &mut self,
        raw: &Tables<RawComponent>,
        raw_network: Option<&Spanned<RawNetwork>>,
    ) -> Vec<NetClient> {
        let mut clients: Vec<NetClient> = Vec::new();
        // Listening ports so far: (component, line).
        let mut listeners: BTreeMap<u16, (String, usize)> = BTreeMap::new();
        for (component, table) in in_file_order(raw) {
            let Some(raw_grant) = &table.get_ref().network else { continue };
            let name = component.get_ref();
            let key = format!("components.{}.network", key_part(name));
            if raw_network.is_none() {
                self.report(
                    &raw_grant.span(),
                    &key,
                    format!("component `{name}` asks for the network, but the system declares no [network]"),
                    format!(
                        "declare the network (the stack needs a time service too):\n  [network]\n  address = \
                         \"dhcp\"\n\n  [time]\n  source = \"pit\"\nor remove `network` from [components.{}]",
                        key_part(name)
                    ),
                );
                continue;
            }
            let grant = raw_grant.get_ref();
            let listed =
                |list: &Option<Spanned<Vec<Spanned<i64>>>>| list.as_ref().is_some_and(|l| !l.get_ref().is_empty());
            if !listed(&grant.listen) && !listed(&grant.connect) {
                self.report(
                    &raw_grant.span(),
                    &key,
                    format!("component `{name}` has a `network` grant with no ports"),
                    "list the ports it uses: `network = { listen = [80] }` to serve on port 80, `network = { \
                     connect = [8000] }` to reach servers on port 8000; or remove `network`",
                );
                continue;
            }
            let longest = generated::net_client_done(name);
            if longest.len() > CONNECTION_NAME_LEN {
                self.report(
                    &raw_grant.span(),
                    &key,
                    format!(
                        "component `{name}` uses the network, so the tool gives it notification `{longest}`, whose \
                         name is {} bytes long; the limit is {CONNECTION_NAME_LEN}",
                        longest.len()
                    ),
                    format!(
                        "shorten the component's name to at most {} bytes",
                        CONNECTION_NAME_LEN - CLIENT_NAME_EXTRA
                    ),
                );
            }
            let listen = self.ports(grant.listen.as_ref(), &format!("{key}.listen"), name, "listen on");
            let connect = self.ports(grant.connect.as_ref(), &format!("{key}.connect"), name, "connect to");
            if let Some(list) = &grant.listen {
                for entry in list.get_ref() {
                    let Ok(port) = u16::try_from(*entry.get_ref()) else { continue };
                    if port == 0 {
                        continue;
                    }
                    let line = self.source.line(entry.span().start);
                    match listeners.get(&port) {
                        Some((other, other_line)) if other != name => self.report(
                            &entry.span(),
                            format!("{key}.listen"),
                            format!(
                                "port {port} is granted to component `{other}` (line {other_line}) to listen on, \
                                 and to `{name}` too: they could not both listen on it"
                            ),
                            format!("give one of them another port, or remove {port} from one `listen`"),
                        ),
                        Some(_) => {} // the same component twice: `ports` reports that
                        None => {
                            listeners.insert(port, (name.clone(), line));
                        }
                    }
                }
            }
            clients.push((name.clone(), NetworkGrant { listen, connect }));
        }
        self.client_name_clashes(raw, &clients);
        clients
    }

    /// A list of ports: each 1 to 65535, none twice. Returns the valid ones in order.
    pub(super) fn ports(
        &mut self,
        raw: Option<&Spanned<Vec<Spanned<i64>>>>,
        key: &str,
        name: &str,
        what: &str,
    ) -> Vec<u16> {
        let mut ports = Vec::new();
        for entry in raw.map(|l| l.get_ref().as_slice()).unwrap_or_default() {
            let Some(port) = self.in_range(
                entry,
                key,
                1..=65535,
                |n| format!("port {n} is out of range"),
                "ports run from 1 to 65535",
            ) else {
                continue;
            };
            let port = port as u16;
            if ports.contains(&port) {
                self.report(
                    &entry.span(),
                    key,
                    format!("component `{name}` is granted port {port} to {what} twice"),
                    "remove the second one",
                );
                continue;
            }
            ports.push(port);
        }
        ports
    }

    /// Clients whose generated names would be another's (component `wake` would get
    /// region `net-wake`; `a-done`, region `net-a-done`, which is `a`'s notification).
    fn client_name_clashes(&mut self, raw: &Tables<RawComponent>, clients: &[NetClient]) {
        let mut names: BTreeMap<String, String> = [generated::NET_WAKE, generated::NIC_BUFFERS, generated::NIC_QUEUES]
            .map(|n| (n.to_string(), "the network service".to_string()))
            .into_iter()
            .collect();
        for (client, _) in clients {
            for generated in [generated::net_client_buffer(client), generated::net_client_done(client)] {
                let Some(other) = names.get(&generated) else {
                    names.insert(generated, format!("component `{client}`"));
                    continue;
                };
                let Some((component, table)) = raw.iter().find(|(n, _)| n.get_ref() == client) else { continue };
                let span = table.get_ref().network.as_ref().map_or(component.span(), Spanned::span);
                self.report(
                    &span,
                    format!("components.{}.network", key_part(client)),
                    format!(
                        "component `{client}` uses the network, so the tool would name a connection of it \
                         `{generated}`, which is already the name of one for {other}"
                    ),
                    "rename the component",
                );
                break;
            }
        }
    }

    /// With a network, the card's PCI function is `nic`'s: no component may list it.
    pub(super) fn network_devices_elsewhere(&mut self, raw_components: &Tables<RawComponent>, network_line: usize) {
        for (component, device) in super::device_claims(raw_components) {
            let Some(Ok(address)) = device.get_ref().strip_prefix("pci:").map(super::pci_address) else { continue };
            if address != Network::NIC_DEVICE {
                continue;
            }
            self.report(
                &device.span(),
                format!("components.{}.devices", key_part(component)),
                format!(
                    "`{address}` is the network card, which the tool's driver `nic` drives for [network] (line \
                     {network_line})"
                ),
                "remove it from `devices` and use the network through `network = { listen = [...], connect = [...] \
                 }`; or remove [network] to drive a card yourself (at another slot)",
            );
        }
    }

    /// Reports components and connections with the names of the parts the tool adds
    /// for the network (see [`Network`]).
    pub(super) fn network_reserved_names(
        &mut self,
        raw_components: &Tables<RawComponent>,
        connections: &RawConnections,
        raw_network: Option<&Spanned<RawNetwork>>,
        clients: &[NetClient],
    ) {
        let Some(raw_network) = raw_network else { return };
        let at = format!("the system's network ([network] at line {})", self.source.line(raw_network.span().start));
        let mut reserved = vec![
            (generated::NIC.to_string(), "the network card's driver".to_string()),
            (generated::NET.to_string(), "the network service".to_string()),
            (generated::NIC_BUFFERS.to_string(), "the network card's packet buffers".to_string()),
            (generated::NIC_QUEUES.to_string(), "the network card's descriptor queues".to_string()),
            (generated::NET_WAKE.to_string(), "the notification that wakes the network service".to_string()),
            (
                generated::NIC_KICK.to_string(),
                "the signal with which the network service wakes the card's driver".to_string(),
            ),
        ];
        for (client, _) in clients {
            reserved.push((
                generated::net_client_buffer(client),
                format!("the buffer component `{client}` reaches the network through"),
            ));
            reserved.push((
                generated::net_client_done(client),
                format!("the notification that tells component `{client}` its network request is answered"),
            ));
        }
        self.reserved_clashes(raw_components, connections, &reserved, &at);
    }

    /// The components and connections that serve the network, and what they grant each
    /// client (in `grants`). Reports limits the added parts exceed at `[network]`.
    pub(super) fn net_services(
        &mut self,
        raw: &Spanned<RawNetwork>,
        network: &Network,
        clients: &[NetClient],
        resources: &Resources,
        grants: &mut BTreeMap<String, Grants>,
    ) -> NetServices {
        let span = raw.span();
        let line = self.source.line(span.start);
        let priority = |p: u8| p.clamp(resources.lowest_priority, resources.highest_priority);
        let (nic, net) = (generated::NIC.to_string(), generated::NET.to_string());
        let service = |name: &str, crate_dir: &str| Component {
            name: name.to_string(),
            path: service_path(crate_dir),
            priority: 0,
            heap: 0,
            stack: STACK.default,
            devices: Vec::new(),
            dma: 0,
            daemon: true,
            log: DEFAULT_LOG.to_string(),
            budget: None,
            time: false,
            passive: false,
            mounts: Vec::new(),
            network: None,
            realtime: None,
            config: None,
            processes: 0,
            line,
        };
        let client_names: Vec<&str> = clients.iter().map(|(name, _)| name.as_str()).collect();
        let grant_list: Vec<(&str, &NetworkGrant)> = clients.iter().map(|(name, g)| (name.as_str(), g)).collect();
        let components = vec![
            Component {
                priority: priority(NIC_PRIORITY),
                heap: NIC_HEAP,
                dma: if network.linux.is_some() { NIC_DDE_DMA } else { NIC_DMA },
                // A Linux driver's timers and sleeping work items wake it.
                time: network.linux.is_some(),
                devices: vec![Network::NIC_DEVICE.to_string()],
                path: match (&network.driver, &network.linux) {
                    (Some(path), _) => path.clone(),
                    (None, Some(_)) => service_path(NIC_DDE),
                    (None, None) => service_path(network.nic.service()),
                },
                ..service(&nic, network.nic.service())
            },
            Component {
                priority: priority(NET_PRIORITY),
                heap: NET_HEAP,
                stack: NET_STACK,
                time: true,
                config: Some(net_config_text(network, &grant_list)),
                ..service(&net, "net")
            },
        ];
        let shared = |name: &str, size: u64, writers: [&str; 2], dma: bool| Region {
            name: name.to_string(),
            size,
            writers: writers.map(String::from).to_vec(),
            readers: Vec::new(),
            dma,
        };
        let mut out = NetServices {
            components,
            notifications: vec![NotificationLink {
                name: generated::NET_WAKE.to_string(),
                signal: std::iter::once(nic.as_str()).chain(client_names.iter().copied()).map(String::from).collect(),
                wait: net.clone(),
            }],
            regions: vec![
                shared(generated::NIC_BUFFERS, NIC_BUFFERS, [&nic, &net], true),
                shared(generated::NIC_QUEUES, NIC_QUEUES, [&nic, &net], false),
            ],
            device_signals: vec![DeviceSignal {
                name: generated::NIC_KICK.to_string(),
                device: Network::NIC_DEVICE.to_string(),
                signal: vec![net.clone()],
            }],
        };
        // It waits on `net-wake`, signals `nic-kick`, uses the time service, and maps
        // the two regions it shares with `nic` and its configuration.
        let mut net_grants = Grants { notification_ends: 2, regions: 3, time: true, ..Grants::default() };
        for client in &client_names {
            out.regions.push(shared(&generated::net_client_buffer(client), CLIENT_BUFFER, [client, &net], false));
            out.notifications.push(NotificationLink {
                name: generated::net_client_done(client),
                signal: vec![net.clone()],
                wait: client.to_string(),
            });
            let entry = grants.entry(client.to_string()).or_default();
            entry.notification_ends += 2;
            entry.regions += 1;
            net_grants.notification_ends += 1;
            net_grants.regions += 1;
        }
        let split = "give the network to fewer components (one can serve the others over a channel)";
        if net_grants.capabilities() > MAX_CAPS {
            self.report(
                &span,
                "network",
                format!(
                    "the network service `net` would be granted {} capabilities, but a component can hold at most \
                     {MAX_CAPS}",
                    net_grants.capabilities()
                ),
                format!(
                    "it has 4 of its own (wake-up, the card's signal, the time service) and 1 for each of the {} \
                     components with `network`\n{split}",
                    clients.len()
                ),
            );
        }
        if net_grants.mapped_regions() > MAX_REGIONS {
            self.report(
                &span,
                "network",
                format!(
                    "the network service `net` would map {} shared memory regions, but a component can map at most \
                     {MAX_REGIONS}",
                    net_grants.mapped_regions()
                ),
                format!(
                    "it has 3 of its own (the packet buffers, the queues, its configuration) and 1 for each of the \
                     {} components with `network`\n{split}",
                    clients.len()
                ),
            );
        }
        out
    }
}

/// `a.b.c.d` as four bytes, or why it is not one.
fn ipv4(text: &str) -> Result<[u8; 4], String> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() != 4 {
        return Err("it must be four numbers separated by dots (a.b.c.d)".to_string());
    }
    let mut ip = [0u8; 4];
    for (byte, part) in ip.iter_mut().zip(&parts) {
        let valid = !part.is_empty() && part.len() <= 3 && part.bytes().all(|b| b.is_ascii_digit());
        *byte = match part.parse::<u16>() {
            Ok(n) if valid && n <= 255 => n as u8,
            _ => return Err(format!("`{part}` is not a number from 0 to 255")),
        };
    }
    Ok(ip)
}

/// `a.b.c.d/prefix` (prefix 1 to 32), or why it is not one.
fn static_address(text: &str) -> Result<([u8; 4], u8), String> {
    let Some((ip, prefix)) = text.split_once('/') else {
        return Err("a static address needs its prefix length (`/24`)".to_string());
    };
    let ip = ipv4(ip)?;
    match prefix.parse::<u8>() {
        Ok(n @ 1..=32) if prefix.bytes().all(|b| b.is_ascii_digit()) => Ok((ip, n)),
        _ => Err(format!("the prefix length `{prefix}` is not a number from 1 to 32")),
    }
}

/// The PCI slot a `-device` value puts its device at (`addr=08`, `addr=0x8.0`), if any.
fn pci_slot(device: &str) -> Option<u8> {
    let addr = device.split(',').find_map(|option| option.strip_prefix("addr="))?;
    let slot = addr.split('.').next()?;
    let slot = slot.strip_prefix("0x").unwrap_or(slot);
    u8::from_str_radix(slot, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_addresses() {
        assert_eq!(ipv4("10.0.2.15"), Ok([10, 0, 2, 15]));
        assert!(ipv4("10.0.2").is_err());
        assert!(ipv4("10.0.2.256").unwrap_err().contains("`256`"));
        assert!(ipv4("10.0..1").is_err());
        assert!(ipv4("10.0.2.+1").is_err());
        assert_eq!(static_address("10.0.2.15/24"), Ok(([10, 0, 2, 15], 24)));
        assert_eq!(static_address("192.168.1.1/32"), Ok(([192, 168, 1, 1], 32)));
        assert!(static_address("10.0.2.15").unwrap_err().contains("prefix length"));
        assert!(static_address("10.0.2.15/0").unwrap_err().contains("1 to 32"));
        assert!(static_address("10.0.2.15/33").unwrap_err().contains("1 to 32"));
        assert!(static_address("10.0.2.15/+8").is_err());
    }

    #[test]
    fn finds_pci_slots_in_device_arguments() {
        assert_eq!(pci_slot("e1000,netdev=n0,addr=08"), Some(8));
        assert_eq!(pci_slot("virtio-rng-pci,addr=0x8.0"), Some(8));
        assert_eq!(pci_slot("virtio-rng-pci,addr=1f"), Some(0x1f));
        assert_eq!(pci_slot("virtio-rng-pci"), None);
    }
}
