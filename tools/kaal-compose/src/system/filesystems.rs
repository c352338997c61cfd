//! `[filesystems.NAME]` and components' `mounts`: file systems, served by KaaL's own
//! `vfs` component, which the tool adds (with a block driver for each disk an ext2 file
//! system is on, and the connections between them) once the user's part is checked.
//!
//! ```toml
//! [filesystems.scratch]
//! kind = "ramfs"
//! size = "8 MiB"          # default 4 MiB
//!
//! [filesystems.data]
//! kind = "ext2"
//! disk = "data"           # a [disks.NAME]
//!
//! [components.app]
//! path = "app"
//! mounts = { "/" = "scratch", "/data" = "data", "/pub" = { filesystem = "data", subtree = "/public", read-only = true } }
//! ```
//!
//! What is added, and its names, is described at [`FileSystem`]; the `vfs` service's
//! configuration at [`super::super::System::vfs_config`].

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::super::raw::{Name, RawComponent, RawConnections, RawDisk, RawFileSystem, RawMount, Tables};
use super::super::size::show_size;
use super::super::{
    did_you_mean, dotted, generated, key_part, vfs_config_text, Component, Disk, FileSystem, FileSystemKind, Mount,
    NotificationLink, Region, Resources, Ring, PAGE,
};
use super::{
    Checker, Grants, SizeLimit, CONNECTION_NAME_LEN, DEFAULT_LOG, HEAP, KIB, MAX_CAPS, MAX_REGIONS, MIB, NAME_LEN,
    STACK,
};

const RAMFS_SIZE: SizeLimit = SizeLimit { what: "a ramfs", default: 4 * MIB, min: 64 * KIB, max: 256 * MIB };
const KINDS: [&str; 2] = ["ramfs", "ext2"];
const KIND_FORMS: &str = "use `kind = \"ramfs\"` (files in memory, empty at boot) or `kind = \"ext2\"` (the ext2 file \
                          system on a disk, with `disk = \"NAME\"`)";

/// The `vfs` service: its priority (at most), its heap for each ext2 file system's block
/// cache, and beyond that and the ramfs contents.
const VFS_PRIORITY: u8 = 200;
const VFS_HEAP: u64 = 16 * MIB;
const VFS_HEAP_SLACK: u64 = 4 * MIB;
/// rsext4 keeps whole blocks and inode tables in locals: 64 KiB overflowed in mount.
const VFS_STACK: u64 = MIB;
/// Each disk's block driver: above `vfs`, so completions are not left waiting.
const DISK_PRIORITY: u8 = 210;
const DISK_HEAP: u64 = MIB;
const DISK_DMA: u64 = MIB;
/// Ring geometry (slots, bytes per slot) between `vfs` and a block driver.
const DISK_REQUESTS: (u32, u32) = (16, 24);
const DISK_RESPONSES: (u32, u32) = (32, 16);
const DISK_DATA: u64 = 512 * KIB;
/// Each client's buffer, shared with `vfs`.
const CLIENT_BUFFER: u64 = 256 * KIB;
/// The longest of the names made from a disk's (`disk-D-resp`) less the disk's own.
const DISK_NAME_EXTRA: usize = "disk--resp".len();
const CLIENT_NAME_EXTRA: usize = "vfs-".len();

/// A component that mounts file systems: its name and mounts, in file order.
pub(super) type Client = (String, Vec<Mount>);

/// What the tool adds for the file systems.
pub(super) struct FileServices {
    pub components: Vec<Component>,
    pub notifications: Vec<NotificationLink>,
    pub rings: Vec<Ring>,
    pub regions: Vec<Region>,
}

/// The tables of `raw` in file order.
fn in_file_order<T>(raw: &Tables<T>) -> Vec<(&Name, &Spanned<T>)> {
    let mut tables: Vec<_> = raw.iter().collect();
    tables.sort_by_key(|(name, _)| name.span().start);
    tables
}

/// The `vfs` service's path in the KaaL checkout, and each block driver's.
pub(super) fn service_path(service: &str) -> std::path::PathBuf {
    crate::assemble::kaal_checkout().join("services").join(service)
}

impl Checker<'_> {
    /// Checks `[filesystems]`, returning them in file order.
    pub(super) fn filesystems(
        &mut self,
        raw: Option<&Spanned<Tables<RawFileSystem>>>,
        disks: &[Disk],
        raw_disks: Option<&Spanned<Tables<RawDisk>>>,
        raw_components: &Tables<RawComponent>,
    ) -> Vec<FileSystem> {
        let Some(raw) = raw else { return Vec::new() };
        let declared: Vec<&str> =
            raw_disks.map(|d| d.get_ref().keys().map(|k| k.get_ref().as_str()).collect()).unwrap_or_default();
        // Disks already holding a file system: (file system, its line).
        let mut holders: BTreeMap<&str, (&str, usize)> = BTreeMap::new();
        let mut filesystems = Vec::new();
        for (name, table) in in_file_order(raw.get_ref()) {
            let key = format!("filesystems.{}", key_part(name.get_ref()));
            self.name(name, &key, "file system", NAME_LEN);
            let (fs, label) = (table.get_ref(), format!("file system `{}`", name.get_ref()));
            let line = self.source.line(name.span().start);
            let kind = match fs.kind.get_ref().as_str() {
                "ramfs" => {
                    if let Some(disk) = &fs.disk {
                        self.report(
                            &disk.span(),
                            format!("{key}.disk"),
                            format!("{label} is a ramfs, which keeps its files in memory: it takes no disk"),
                            "remove `disk`, or write `kind = \"ext2\"` to use the file system on the disk",
                        );
                    }
                    let size = self.size(fs.size.as_ref(), &format!("{key}.size"), &RAMFS_SIZE);
                    FileSystemKind::Ramfs { size: size.next_multiple_of(PAGE) }
                }
                "ext2" => {
                    if let Some(size) = &fs.size {
                        self.report(
                            &size.span(),
                            format!("{key}.size"),
                            format!("{label} is the ext2 file system on its disk, whose size is the disk's"),
                            "remove `size`; a disk made from a directory takes `size` in its [disks.NAME] table",
                        );
                    }
                    let Some(disk) = &fs.disk else {
                        let disks = if declared.is_empty() {
                            "declare one:\n  [disks.data]\n  directory = \"files\"\n  size = \"16 MiB\"".to_string()
                        } else {
                            format!("the disks are: {}", declared.join(", "))
                        };
                        self.report(
                            &name.span(),
                            &key,
                            format!("{label} is ext2 but names no disk"),
                            format!("add `disk = \"NAME\"`, naming the [disks.NAME] it is on; {disks}"),
                        );
                        continue;
                    };
                    let Some(d) = self.filesystem_disk(disk, &key, &label, disks, &declared) else { continue };
                    match holders.get(d.name.as_str()) {
                        Some((other, other_line)) => {
                            self.report(
                                &disk.span(),
                                format!("{key}.disk"),
                                format!(
                                    "disk `{}` holds file system `{other}` (line {other_line}) already, and {label} \
                                     names it too",
                                    d.name
                                ),
                                format!(
                                    "a disk holds one file system: declare another [disks.NAME] for `{}`",
                                    name.get_ref()
                                ),
                            );
                            continue;
                        }
                        None => holders.insert(d.name.as_str(), (name.get_ref().as_str(), line)),
                    };
                    FileSystemKind::Ext2 { disk: d.name.clone() }
                }
                other => {
                    let suggestion = did_you_mean(other, KINDS);
                    self.report(
                        &fs.kind.span(),
                        format!("{key}.kind"),
                        format!("file system kind `{other}` does not exist"),
                        format!("{suggestion}{KIND_FORMS}"),
                    );
                    continue;
                }
            };
            let disk = match &kind {
                FileSystemKind::Ext2 { disk } => disks.iter().find(|d| &d.name == disk),
                FileSystemKind::Ramfs { .. } => None,
            };
            let read_only = match (&fs.read_only, disk) {
                (Some(ro), Some(disk)) if !*ro.get_ref() && disk.read_only => {
                    self.report(
                        &ro.span(),
                        format!("{key}.read-only"),
                        format!(
                            "{label} is read-write, but its disk `{}` is read-only (line {})",
                            disk.name, disk.line
                        ),
                        format!(
                            "remove `read-only = false` (the file system is then read-only too), or remove \
                             `read-only = true` from [disks.{}]",
                            key_part(&disk.name)
                        ),
                    );
                    true
                }
                (Some(ro), _) => *ro.get_ref(),
                (None, Some(disk)) => disk.read_only,
                (None, None) => false,
            };
            filesystems.push(FileSystem { name: name.get_ref().clone(), kind, read_only, line });
        }
        self.filesystem_disks_elsewhere(raw, raw_components, disks);
        filesystems
    }

    /// The disk an ext2 file system names, if it is declared and valid (an unknown one
    /// is reported; a declared one with mistakes was reported with them).
    fn filesystem_disk<'d>(
        &mut self,
        disk: &Name,
        key: &str,
        label: &str,
        disks: &'d [Disk],
        declared: &[&str],
    ) -> Option<&'d Disk> {
        let name = disk.get_ref();
        if !declared.contains(&name.as_str()) {
            let help = if declared.is_empty() {
                format!("declare it:\n  [disks.{}]\n  directory = \"files\"\n  size = \"16 MiB\"", key_part(name))
            } else {
                format!("{}the disks are: {}", did_you_mean(name, declared.iter().copied()), declared.join(", "))
            };
            self.report(
                &disk.span(),
                format!("{key}.disk"),
                format!("{label} is on disk `{name}`, which is not declared ([disks.{}])", key_part(name)),
                help,
            );
            return None;
        }
        let found = disks.iter().find(|d| &d.name == name)?;
        let ring = generated::disk_responses(name);
        if ring.len() > CONNECTION_NAME_LEN {
            self.report(
                &disk.span(),
                format!("{key}.disk"),
                format!(
                    "{label} is on disk `{name}`, so the tool connects it with ring `{ring}`, whose name is {} bytes \
                     long; the limit is {CONNECTION_NAME_LEN}",
                    ring.len()
                ),
                format!(
                    "shorten the disk's name to at most {} bytes, in [disks.{}] and here",
                    CONNECTION_NAME_LEN - DISK_NAME_EXTRA,
                    key_part(name)
                ),
            );
            return None;
        }
        Some(found)
    }

    /// A disk that holds a file system is the `vfs` service's, through its block
    /// driver: no component may list it under `disks`, or its PCI function under
    /// `devices`.
    fn filesystem_disks_elsewhere(
        &mut self,
        raw: &Spanned<Tables<RawFileSystem>>,
        raw_components: &Tables<RawComponent>,
        disks: &[Disk],
    ) {
        let held: Vec<(&str, &Disk, usize)> = raw
            .get_ref()
            .iter()
            .filter(|(_, fs)| fs.get_ref().kind.get_ref() == "ext2")
            .filter_map(|(name, fs)| {
                let disk = fs.get_ref().disk.as_ref()?;
                let disk = disks.iter().find(|d| d.name == *disk.get_ref())?;
                Some((name.get_ref().as_str(), disk, self.source.line(name.span().start)))
            })
            .collect();
        for (component, table) in raw_components {
            let listed = table.get_ref().disks.as_ref().map(|d| d.get_ref().as_slice()).unwrap_or_default();
            for entry in listed {
                let Some((fs, disk, line)) = held.iter().find(|(_, d, _)| d.name == *entry.get_ref()) else {
                    continue;
                };
                self.report(
                    &entry.span(),
                    format!("components.{}.disks", key_part(component.get_ref())),
                    format!(
                        "disk `{}` holds file system `{fs}` (line {line}), which the file system service drives, so \
                         component `{}` cannot drive it too",
                        disk.name,
                        component.get_ref()
                    ),
                    format!(
                        "remove `{}` from `disks` and reach its files through `mounts`, e.g. `mounts = {{ \"/data\" = \
                         \"{fs}\" }}`; or remove [filesystems.{}]",
                        disk.name,
                        key_part(fs)
                    ),
                );
            }
        }
        for (component, device) in super::device_claims(raw_components) {
            let Some(Ok(address)) = device.get_ref().strip_prefix("pci:").map(super::pci_address) else { continue };
            let Some((fs, disk, line)) = held.iter().find(|(_, d, _)| d.pci_address() == address) else { continue };
            self.report(
                &device.span(),
                format!("components.{}.devices", key_part(component)),
                format!(
                    "`{address}` is disk `{}`, which holds file system `{fs}` (line {line}) and is driven by the file \
                     system service",
                    disk.name
                ),
                "remove it from `devices` and reach the files through `mounts`",
            );
        }
    }

    /// Each component's `mounts`, checked: the components that have any, in file order.
    pub(super) fn component_mounts(
        &mut self,
        raw: &Tables<RawComponent>,
        filesystems: &[FileSystem],
        raw_filesystems: Option<&Spanned<Tables<RawFileSystem>>>,
    ) -> Vec<Client> {
        let declared: Vec<&str> =
            raw_filesystems.map(|f| f.get_ref().keys().map(|k| k.get_ref().as_str()).collect()).unwrap_or_default();
        let mut clients = Vec::new();
        for (component, table) in in_file_order(raw) {
            let Some(raw_mounts) = &table.get_ref().mounts else { continue };
            let name = component.get_ref();
            let key = format!("components.{}.mounts", key_part(name));
            if raw_mounts.get_ref().is_empty() {
                self.report(
                    &raw_mounts.span(),
                    &key,
                    format!("component `{name}` has an empty `mounts`"),
                    "mount a file system, e.g. `mounts = { \"/\" = \"scratch\" }`, or remove `mounts`",
                );
                continue;
            }
            let buffer = generated::client_buffer(name);
            if buffer.len() > CONNECTION_NAME_LEN {
                self.report(
                    &raw_mounts.span(),
                    &key,
                    format!(
                        "component `{name}` mounts file systems, so the tool gives it shared region `{buffer}`, whose \
                         name is {} bytes long; the limit is {CONNECTION_NAME_LEN}",
                        buffer.len()
                    ),
                    format!(
                        "shorten the component's name to at most {} bytes",
                        CONNECTION_NAME_LEN - CLIENT_NAME_EXTRA
                    ),
                );
            }
            let mut mounts = Vec::new();
            for (point, value) in in_file_order(raw_mounts.get_ref()) {
                let mount_key = dotted(&["components", name.as_str(), "mounts", point.get_ref().as_str()]);
                self.mount_path(point.get_ref(), &point.span(), &mount_key, "mount point");
                let (filesystem, subtree, read_only) = match value.get_ref() {
                    RawMount::FileSystem(fs) => (Spanned::new(value.span(), fs.clone()), None, None),
                    RawMount::Table(t) => (t.filesystem.clone(), t.subtree.as_ref(), t.read_only.as_ref()),
                };
                let fs_key = match value.get_ref() {
                    RawMount::FileSystem(_) => mount_key.clone(),
                    RawMount::Table(_) => format!("{mount_key}.filesystem"),
                };
                let Some(fs) = self.mounted(&filesystem, &fs_key, filesystems, &declared) else { continue };
                if let Some(subtree) = subtree {
                    self.mount_path(subtree.get_ref(), &subtree.span(), &format!("{mount_key}.subtree"), "subtree");
                }
                if let Some(rw) = read_only.filter(|ro| !*ro.get_ref() && fs.read_only) {
                    self.report(
                        &rw.span(),
                        format!("{mount_key}.read-only"),
                        format!(
                            "component `{name}` mounts file system `{}` read-write at `{}`, but `{}` is read-only \
                             (line {})",
                            fs.name,
                            point.get_ref(),
                            fs.name,
                            fs.line
                        ),
                        "remove `read-only = false` (the mount is then read-only), or make the file system writable",
                    );
                }
                mounts.push(Mount {
                    point: point.get_ref().clone(),
                    filesystem: fs.name.clone(),
                    subtree: subtree.map_or_else(|| "/".to_string(), |s| s.get_ref().clone()),
                    read_only: read_only.map_or(fs.read_only, |ro| *ro.get_ref() || fs.read_only),
                });
            }
            clients.push((name.clone(), mounts));
        }
        clients
    }

    /// The file system a mount names, if it is declared and valid.
    fn mounted<'f>(
        &mut self,
        name: &Name,
        key: &str,
        filesystems: &'f [FileSystem],
        declared: &[&str],
    ) -> Option<&'f FileSystem> {
        let text = name.get_ref();
        if declared.contains(&text.as_str()) {
            // A declared one with mistakes was reported with them.
            return filesystems.iter().find(|fs| &fs.name == text);
        }
        let help = if declared.is_empty() {
            format!("declare it:\n  [filesystems.{}]\n  kind = \"ramfs\"", key_part(text))
        } else {
            format!("{}the file systems are: {}", did_you_mean(text, declared.iter().copied()), declared.join(", "))
        };
        self.report(
            &name.span(),
            key,
            format!("file system `{text}` is not declared ([filesystems.{}])", key_part(text)),
            help,
        );
        None
    }

    /// Checks a mount point or subtree: absolute, normal, of letters, digits, `.`, `_`,
    /// `-` and `/`.
    fn mount_path(&mut self, path: &str, span: &Range<usize>, key: &str, what: &str) {
        let Some(problem) = path_problem(path) else { return };
        let fix = normal_path(path).filter(|fixed| fixed != path).map(|fixed| format!("; try `{fixed}`"));
        self.report(
            span,
            key,
            format!("{what} `{path}` {problem}"),
            format!(
                "write an absolute path without `.` or `..` components or a trailing `/`, using letters, digits, \
                 `.`, `_`, `-` and `/`{}",
                fix.unwrap_or_default()
            ),
        );
    }

    /// Reports components and connections with the names of the parts the tool adds
    /// for file systems (see [`FileSystem`]).
    pub(super) fn reserved_names(
        &mut self,
        raw_components: &Tables<RawComponent>,
        connections: &RawConnections,
        raw_filesystems: Option<&Spanned<Tables<RawFileSystem>>>,
        filesystems: &[FileSystem],
        clients: &[Client],
    ) {
        let Some(first) = raw_filesystems.and_then(|f| in_file_order(f.get_ref()).first().map(|(n, _)| n.span()))
        else {
            return;
        };
        let at = format!("[filesystems] at line {}", self.source.line(first.start));
        let mut reserved = vec![
            (generated::VFS.to_string(), "the file system service".to_string()),
            (generated::WAKE.to_string(), "the notification that wakes the file system service".to_string()),
        ];
        for fs in filesystems {
            let FileSystemKind::Ext2 { disk } = &fs.kind else { continue };
            let what = |part: &str| format!("{part} of disk `{disk}` (file system `{}`)", fs.name);
            reserved.push((generated::disk_driver(disk), what("the block driver")));
            reserved.push((generated::disk_requests(disk), what("the request ring")));
            reserved.push((generated::disk_responses(disk), what("the completion ring")));
            reserved.push((generated::disk_data(disk), what("the data region")));
        }
        for (client, _) in clients {
            reserved.push((
                generated::client_buffer(client),
                format!("the buffer component `{client}` reaches its mounts through"),
            ));
            reserved.push((
                generated::client_done(client),
                format!("the notification that tells component `{client}` its request is answered"),
            ));
        }
        self.reserved_clashes(raw_components, connections, &reserved, &format!("the system's file systems ({at})"));
    }

    /// Reports components and connections named like one of `reserved` (a name, and
    /// what it is for), which the tool adds for `added_for` ("the system's network").
    pub(super) fn reserved_clashes(
        &mut self,
        raw_components: &Tables<RawComponent>,
        connections: &RawConnections,
        reserved: &[(String, String)],
        added_for: &str,
    ) {
        let mut names: Vec<(&Name, String, &str)> =
            raw_components.keys().map(|n| (n, format!("components.{}", key_part(n.get_ref())), "component")).collect();
        let kinds = [
            ("channels", "channel", connections.channels.as_ref().map(|t| t.keys().collect::<Vec<_>>())),
            ("notifications", "notification", connections.notifications.as_ref().map(|t| t.keys().collect())),
            ("rings", "ring", connections.rings.as_ref().map(|t| t.keys().collect())),
            ("memory", "shared region", connections.memory.as_ref().map(|t| t.keys().collect())),
        ];
        for (kind, noun, keys) in kinds {
            for name in keys.unwrap_or_default() {
                names.push((name, format!("connections.{kind}.{}", key_part(name.get_ref())), noun));
            }
        }
        for (name, key, noun) in names {
            let Some((_, what)) = reserved.iter().find(|(r, _)| r == name.get_ref()) else { continue };
            self.report(
                &name.span(),
                key,
                format!("the name `{}` is reserved for {what}, which the tool adds for {added_for}", name.get_ref()),
                format!("rename the {noun}"),
            );
        }
    }

    /// The components and connections that serve the file systems, and what they grant
    /// each client (in `grants`). Reports limits the added parts exceed at the first
    /// `[filesystems]` table.
    pub(super) fn file_services(
        &mut self,
        raw: &Spanned<Tables<RawFileSystem>>,
        filesystems: &[FileSystem],
        disks: &[Disk],
        clients: &[Client],
        resources: &Resources,
        grants: &mut BTreeMap<String, Grants>,
    ) -> FileServices {
        let first = in_file_order(raw.get_ref()).first().map_or(raw.span(), |(name, _)| name.span());
        let line = self.source.line(first.start);
        let priority = |p: u8| p.clamp(resources.lowest_priority, resources.highest_priority);
        let service = |name: String, crate_dir: &str, line: usize| Component {
            name,
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
        let vfs = generated::VFS.to_string();
        let mut out =
            FileServices { components: Vec::new(), notifications: Vec::new(), rings: Vec::new(), regions: Vec::new() };
        // It waits on `vfs-wake`, and maps its configuration.
        let mut vfs_grants = Grants { notification_ends: 1, regions: 1, ..Grants::default() };

        let ramfs: u64 = filesystems
            .iter()
            .map(|fs| match fs.kind {
                FileSystemKind::Ramfs { size } => size,
                FileSystemKind::Ext2 { .. } => 0,
            })
            .sum();
        // Whole 2 MiB pages: a heap of them is mapped with large pages (one capability
        // each), where 4 KiB pages would use a root CNode slot per page.
        // A block cache for each ext2 file system (services/vfs: CACHE_BLOCKS).
        let ext2 = filesystems.iter().filter(|fs| matches!(fs.kind, FileSystemKind::Ext2 { .. })).count() as u64;
        let heap = (VFS_HEAP * ext2 + ramfs + VFS_HEAP_SLACK).next_multiple_of(2 * MIB);
        if heap > HEAP.max {
            self.report(
                &first,
                "filesystems",
                format!(
                    "the ramfs file systems hold {} in all, so the file system service `vfs` would need a heap of {}; \
                     a component's heap is at most {}",
                    show_size(ramfs),
                    show_size(heap),
                    show_size(HEAP.max)
                ),
                "make the ramfs file systems smaller",
            );
        }
        for fs in filesystems {
            let FileSystemKind::Ext2 { disk } = &fs.kind else { continue };
            let Some(d) = disks.iter().find(|d| &d.name == disk) else { continue };
            let driver = generated::disk_driver(disk);
            out.components.push(Component {
                priority: priority(DISK_PRIORITY),
                heap: DISK_HEAP,
                devices: vec![d.pci_address()],
                dma: DISK_DMA,
                ..service(driver.clone(), "blk", fs.line)
            });
            let ring = |name: String, producer: &str, consumer: &str, (slots, item_size): (u32, u32)| Ring {
                name,
                producer: producer.to_string(),
                consumer: consumer.to_string(),
                slots,
                item_size,
            };
            out.rings.push(ring(generated::disk_requests(disk), &vfs, &driver, DISK_REQUESTS));
            out.rings.push(ring(generated::disk_responses(disk), &driver, &vfs, DISK_RESPONSES));
            out.regions.push(Region {
                name: generated::disk_data(disk),
                size: DISK_DATA,
                writers: vec![vfs.clone(), driver.clone()],
                readers: Vec::new(),
                dma: false,
            });
            vfs_grants.ring_ends += 2;
            vfs_grants.regions += 1;
        }
        out.notifications.push(NotificationLink {
            name: generated::WAKE.to_string(),
            signal: clients.iter().map(|(name, _)| name.clone()).collect(),
            wait: vfs.clone(),
        });
        for (client, _) in clients {
            out.regions.push(Region {
                name: generated::client_buffer(client),
                size: CLIENT_BUFFER,
                writers: vec![client.clone(), vfs.clone()],
                readers: Vec::new(),
                dma: false,
            });
            out.notifications.push(NotificationLink {
                name: generated::client_done(client),
                signal: vec![vfs.clone()],
                wait: client.clone(),
            });
            let entry = grants.entry(client.clone()).or_default();
            entry.notification_ends += 2;
            entry.regions += 1;
            vfs_grants.notification_ends += 1;
            vfs_grants.regions += 1;
        }
        let split = "mount the file systems in fewer components (one can serve the others' files over a channel), \
                     or declare fewer ext2 file systems";
        if vfs_grants.capabilities() > MAX_CAPS {
            self.report(
                &first,
                "filesystems",
                format!(
                    "the file system service `vfs` would be granted {} capabilities, but a component can hold at most \
                     {MAX_CAPS}",
                    vfs_grants.capabilities()
                ),
                format!(
                    "it has 1 for its wake-up notification, 1 for each client's and 4 for each ext2 file system (2 \
                     ring ends)\n{split}"
                ),
            );
        }
        if vfs_grants.mapped_regions() > MAX_REGIONS {
            self.report(
                &first,
                "filesystems",
                format!(
                    "the file system service `vfs` would map {} shared memory regions, but a component can map at \
                     most {MAX_REGIONS}",
                    vfs_grants.mapped_regions()
                ),
                format!(
                    "it has a region for its configuration, 3 for each ext2 file system and 1 for each of the {} \
                     components with `mounts`\n{split}",
                    clients.len()
                ),
            );
        }
        let list: Vec<(&str, &[Mount])> =
            clients.iter().map(|(name, mounts)| (name.as_str(), mounts.as_slice())).collect();
        out.components.insert(
            0,
            Component {
                priority: priority(VFS_PRIORITY),
                heap: heap.min(HEAP.max),
                stack: VFS_STACK,
                config: Some(vfs_config_text(filesystems, &list)),
                ..service(vfs.clone(), "vfs", line)
            },
        );
        out
    }
}

/// What is wrong with a mount point or subtree, if anything ("is not absolute").
fn path_problem(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return Some("is not absolute: it must start with `/`".to_string());
    }
    if let Some(c) = path.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))) {
        return Some(format!("contains `{c}`, which a path here may not"));
    }
    if path == "/" {
        return None;
    }
    path[1..].split('/').find_map(|part| match part {
        "" => Some("has an empty component (`//`, or a `/` at the end)".to_string()),
        "." | ".." => Some(format!("has a `{part}` component")),
        _ => None,
    })
}

/// `path` made absolute and normal, if it uses only the allowed characters.
fn normal_path(path: &str) -> Option<String> {
    if path.chars().any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))) {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_mount_paths() {
        for good in ["/", "/data", "/a/b.c/d_e-f", "/..a", "/a..b"] {
            assert_eq!(path_problem(good), None, "{good}");
        }
        for (bad, problem) in [
            ("data", "is not absolute"),
            ("", "is not absolute"),
            ("/data/", "empty component"),
            ("//data", "empty component"),
            ("/a/./b", "`.` component"),
            ("/a/../b", "`..` component"),
            ("/a b", "contains ` `"),
            ("/é", "contains `é`"),
        ] {
            assert!(path_problem(bad).is_some_and(|p| p.contains(problem)), "{bad}: {:?}", path_problem(bad));
        }
        assert_eq!(normal_path("/data/").as_deref(), Some("/data"));
        assert_eq!(normal_path("a/./b/../c").as_deref(), Some("/a/c"));
        assert_eq!(normal_path("/a b"), None);
    }
}
