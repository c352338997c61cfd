//! `system.toml` exactly as written: every value with its span, nothing checked beyond
//! its TOML type. Numbers are `i64` so that an out-of-range value reaches the validator,
//! which can say which range, rather than failing in serde.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use toml::Spanned;

pub(super) type Name = Spanned<String>;
pub(super) type Names = Spanned<Vec<Name>>;
pub(super) type Tables<T> = BTreeMap<Name, Spanned<T>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawFile {
    pub system: Spanned<RawSystem>,
    pub resources: Option<Spanned<RawResources>>,
    pub qemu: Option<Spanned<RawQemu>>,
    pub kernel: Option<Spanned<RawKernel>>,
    pub time: Option<Spanned<RawTime>>,
    pub devices: Option<Spanned<Tables<RawDevice>>>,
    pub disks: Option<Spanned<Tables<RawDisk>>>,
    pub filesystems: Option<Spanned<Tables<RawFileSystem>>>,
    pub network: Option<Spanned<RawNetwork>>,
    pub realtime: Option<Spanned<RawRealtime>>,
    pub linux: Option<Spanned<RawLinux>>,
    pub components: Option<Spanned<Tables<RawComponent>>>,
    pub connections: Option<RawConnections>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawSystem {
    pub name: Name,
    pub platform: Option<Spanned<String>>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawResources {
    pub heap: Option<Spanned<RawSize>>,
    pub max_threads: Option<Spanned<i64>>,
    pub priorities: Option<Spanned<RawPriorities>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawPriorities {
    pub lowest: Option<Spanned<i64>>,
    pub highest: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawQemu {
    pub memory: Option<Spanned<RawSize>>,
    pub args: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawTime {
    pub source: Option<Spanned<String>>,
}

/// `[disks.NAME]`: a virtio-blk disk, from an image or a directory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawDisk {
    pub image: Option<Spanned<String>>,
    pub directory: Option<Spanned<String>>,
    pub size: Option<Spanned<RawSize>>,
    pub read_only: Option<Spanned<bool>>,
    /// Debian packages whose files go into the image too.
    pub packages: Option<Spanned<Vec<Spanned<String>>>>,
    /// Programs `kaal build` compiles for Linux and puts in the image, by their path there.
    pub programs: Option<Spanned<Tables<RawProgram>>>,
}

/// One of a disk's `programs`: `"/bin/app" = { rust = "app" }` or `{ c = "hello.c" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawProgram {
    /// A C source file, built with `musl-gcc -static`.
    pub c: Option<Spanned<String>>,
    /// A Rust crate's directory, built for x86_64-unknown-linux-gnu with `+crt-static`.
    pub rust: Option<Spanned<String>>,
}

/// `[filesystems.NAME]`: a ramfs, or the ext2 file system on a disk.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawFileSystem {
    pub kind: Spanned<String>,
    pub size: Option<Spanned<RawSize>>,
    pub disk: Option<Name>,
    pub read_only: Option<Spanned<bool>>,
}

/// `[network]`: the network card and the guest's address.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawNetwork {
    pub nic: Option<Spanned<String>>,
    pub address: Option<Spanned<String>>,
    pub gateway: Option<Spanned<String>>,
    pub forwards: Option<Vec<Spanned<String>>>,
    pub driver: Option<Spanned<RawNicDriver>>,
}

/// `[network] driver`: a crate of the system's own (`"my-nic"`), or a Linux driver
/// (`{ type = "dde-linux", driver = "8139cp" }`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawNicDriver {
    Path(String),
    Linux(RawLinuxDriver),
}

/// `{ type = "dde-linux", driver = "8139cp" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLinuxDriver {
    #[serde(rename = "type")]
    pub kind: String,
    pub driver: String,
    /// Functions of the emulation to leave out (the driver stops with the name of the
    /// first it calls).
    pub without: Option<Vec<String>>,
}

/// A component's `network = { listen = [80], connect = [8000] }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawNetworkGrant {
    pub listen: Option<Spanned<Vec<Spanned<i64>>>>,
    pub connect: Option<Spanned<Vec<Spanned<i64>>>>,
}

/// `[realtime]`: how the real-time scheduler runs the components with `realtime`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawRealtime {
    pub policy: Option<Spanned<String>>,
    pub timer: Option<Spanned<String>>,
    pub priority: Option<Spanned<i64>>,
}

/// `[linux]`: the Linux personality, which runs static Linux binaries from the file
/// systems it mounts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawLinux {
    /// The first program and its arguments.
    pub init: Option<Spanned<Vec<Spanned<String>>>>,
    /// Its environment, `NAME=value` each.
    pub env: Option<Spanned<Vec<Spanned<String>>>>,
    /// Lines typed at init when `kaal run` has no input at all.
    pub demo: Option<Spanned<Vec<Spanned<String>>>>,
    /// RAM for the Linux processes.
    pub memory: Option<Spanned<RawSize>>,
    /// The Linux processes' view of the files.
    pub mounts: Option<Spanned<Tables<RawMount>>>,
    /// The ports the Linux processes may listen on and connect to (all of them: the
    /// personality is one client of the network server).
    pub network: Option<Spanned<RawNetworkGrant>>,
    /// `[linux.confine."/bin/app"]`: what a program and the processes it starts may use.
    pub confine: Option<Spanned<Tables<RawConfine>>>,
    pub priority: Option<Spanned<i64>>,
    pub log: Option<Spanned<String>>,
}

/// `[linux.confine."<program>"]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawConfine {
    /// Subtrees it may use: `"/tmp" = "read-write"`, `"/etc" = "read-only"`.
    pub files: Option<Spanned<Tables<String>>>,
    /// The ports it may listen on and connect to (some of [linux]'s).
    pub network: Option<Spanned<RawNetworkGrant>>,
}

/// A component's `realtime = { period = "100ms", deadline = "10ms", wcet = "2ms" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawRealtimeTask {
    pub period: Spanned<String>,
    pub deadline: Option<Spanned<String>>,
    pub wcet: Spanned<String>,
    pub criticality: Option<Spanned<String>>,
    pub offset: Option<Spanned<String>>,
}

/// One of a component's `mounts`: `"/data" = "data"` or
/// `"/pub" = { filesystem = "data", subtree = "/public", read-only = true }`.
#[derive(Debug)]
pub(super) enum RawMount {
    FileSystem(String),
    Table(RawMountTable),
}

/// What a mount expects, quoted in type errors.
pub(super) const MOUNT_EXPECTED: &str =
    "a file system's name or a table { filesystem = \"<name>\", subtree = \"/<dir>\", read-only = true }";

// By hand rather than `#[serde(untagged)]`, as for `RawKernelSource`.
impl<'de> Deserialize<'de> for RawMount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MountVisitor;
        impl<'de> Visitor<'de> for MountVisitor {
            type Value = RawMount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(MOUNT_EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawMount::FileSystem(v.to_string()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                RawMountTable::deserialize(de::value::MapAccessDeserializer::new(map)).map(RawMount::Table)
            }
        }
        deserializer.deserialize_any(MountVisitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawMountTable {
    pub filesystem: Name,
    pub subtree: Option<Spanned<String>>,
    pub read_only: Option<Spanned<bool>>,
}

/// `[devices.NAME]`: a fixed device KaaL does not ship.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawDevice {
    pub description: Option<Spanned<String>>,
    /// `"0x70-0x71"` or `"0x70"`.
    pub ports: Option<Spanned<String>>,
    pub irq: Option<Spanned<i64>>,
    pub mmio: Option<Spanned<RawMmio>>,
    pub probe: Option<Spanned<RawProbe>>,
}

/// `mmio = { address = 0xfed40000, size = "4 KiB" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawMmio {
    pub address: Spanned<i64>,
    pub size: Spanned<RawSize>,
}

/// `probe = { scratch = 7 }` or `probe = { read = 5, mask = 0x80, equals = 0x80 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawProbe {
    pub scratch: Option<Spanned<i64>>,
    pub read: Option<Spanned<i64>>,
    pub mask: Option<Spanned<i64>>,
    pub equals: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawKernel {
    pub version: Option<Spanned<String>>,
    pub flavour: Option<Spanned<String>>,
    pub verified: Option<Spanned<bool>>,
    pub mcs: Option<Spanned<bool>>,
    pub source: Option<Spanned<RawKernelSource>>,
}

/// `source = "path"` or `source = { git = "url", tag = "16.0.0" }`.
#[derive(Debug)]
pub(super) enum RawKernelSource {
    Path(String),
    Git(RawGitSource),
}

// By hand rather than `#[serde(untagged)]`, whose error ("data did not match any
// variant") says nothing about what to write.
impl<'de> Deserialize<'de> for RawKernelSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SourceVisitor;
        impl<'de> Visitor<'de> for SourceVisitor {
            type Value = RawKernelSource;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a path (a string) or a table { git = \"<url>\", tag = \"<tag>\" }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawKernelSource::Path(v.to_string()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                RawGitSource::deserialize(de::value::MapAccessDeserializer::new(map)).map(RawKernelSource::Git)
            }
        }
        deserializer.deserialize_any(SourceVisitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawGitSource {
    pub git: Spanned<String>,
    pub tag: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawComponent {
    pub path: Spanned<String>,
    pub priority: Option<Spanned<i64>>,
    pub heap: Option<Spanned<RawSize>>,
    pub stack: Option<Spanned<RawSize>>,
    pub devices: Option<Names>,
    pub disks: Option<Names>,
    pub dma: Option<Spanned<RawSize>>,
    pub daemon: Option<bool>,
    pub log: Option<Spanned<String>>,
    pub budget: Option<Spanned<String>>,
    pub period: Option<Spanned<String>>,
    pub overrun: Option<Spanned<String>>,
    pub time: Option<Spanned<bool>>,
    pub passive: Option<Spanned<bool>>,
    /// Mount point to file system.
    pub mounts: Option<Spanned<Tables<RawMount>>>,
    /// The ports it may use on the network.
    pub network: Option<Spanned<RawNetworkGrant>>,
    /// Its timing as a real-time task.
    pub realtime: Option<Spanned<RawRealtimeTask>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawConnections {
    pub channels: Option<Tables<RawChannel>>,
    pub notifications: Option<Tables<RawNotification>>,
    pub rings: Option<Tables<RawRing>>,
    pub memory: Option<Tables<RawRegion>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawChannel {
    pub server: Name,
    pub clients: Option<Names>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawNotification {
    pub signal: Option<Names>,
    pub wait: Name,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawRing {
    pub producer: Name,
    pub consumer: Name,
    pub slots: Spanned<i64>,
    pub item_size: Spanned<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawRegion {
    pub size: Spanned<RawSize>,
    pub writers: Option<Names>,
    pub readers: Option<Names>,
}

/// A size before its unit is understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RawSize {
    Bytes(i64),
    Text(String),
}

/// What a size was expected to look like, quoted in type errors.
pub(super) const SIZE_EXPECTED: &str = "a size like \"64 KiB\" or a number of bytes";

impl<'de> Deserialize<'de> for RawSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl Visitor<'_> for SizeVisitor {
            type Value = RawSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(SIZE_EXPECTED)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawSize, E> {
                Ok(RawSize::Bytes(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawSize, E> {
                Ok(RawSize::Bytes(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawSize, E> {
                Ok(RawSize::Text(v.to_string()))
            }
        }
        deserializer.deserialize_any(SizeVisitor)
    }
}

/// The keys the raw table `T` accepts, asked of its derived `Deserialize` so the list of
/// known keys offered in "unknown key" errors cannot drift from the structs above.
pub(super) fn keys_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    struct Probe<'a>(&'a mut &'static [&'static str]);

    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("probed"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
            unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}
