//! The configuration `kaal build` writes for the VFS server (granted to it as the
//! read-only region `config`), parsed.
//!
//! One record per line, fields separated by spaces:
//!
//! ```text
//! filesystem <index> <name> ramfs <size-bytes>
//! filesystem <index> <name> ext2 <disk-component> <0|1 read-only>
//! client <index> <component> <region> <done-notification>
//! mount <index> <mount-point> <filesystem-index> <subtree> <ro|rw>
//! ```
//!
//! Client `index` signals `vfs-wake` with badge bit `1 << index` (the server serves
//! every client's ring whichever bits are set).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsKind {
    Ramfs { size: u64 },
    Ext2 { disk: String, read_only: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsConfig {
    pub name: String,
    pub kind: FsKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountConfig {
    pub point: String,
    pub filesystem: usize,
    pub subtree: String,
    pub writable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Its bit in `vfs-wake`'s badge.
    pub index: u64,
    pub name: String,
    /// Its region (rings and buffer) and the notification that tells it of answers.
    pub buffer: String,
    pub done: String,
    pub mounts: Vec<MountConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    pub filesystems: Vec<FsConfig>,
    pub clients: Vec<ClientConfig>,
}

/// A line the server cannot use: the tool and the server disagree (rebuild both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub line: usize,
    pub problem: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the VFS configuration's line {}: {} (the tool and the VFS server disagree; rebuild with `cargo kaal build`)",
            self.line, self.problem
        )
    }
}

impl core::error::Error for ConfigError {}

pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        let bad = |problem| ConfigError { line: line_no, problem };
        let fields: Vec<&str> = line.split(' ').filter(|f| !f.is_empty()).collect();
        let number = |i: usize| -> Result<u64, ConfigError> {
            fields.get(i).and_then(|f| f.parse().ok()).ok_or(bad("a number is missing or malformed"))
        };
        let text = |i: usize| -> Result<String, ConfigError> {
            fields.get(i).map(|f| f.to_string()).ok_or(bad("a field is missing"))
        };
        match fields.first().copied() {
            None => continue,
            Some("filesystem") => {
                if number(1)? as usize != config.filesystems.len() {
                    return Err(bad("file systems are not numbered in order"));
                }
                let kind = match fields.get(3).copied() {
                    Some("ramfs") => FsKind::Ramfs { size: number(4)? },
                    Some("ext2") => FsKind::Ext2 { disk: text(4)?, read_only: number(5)? != 0 },
                    _ => return Err(bad("an unknown file-system kind")),
                };
                config.filesystems.push(FsConfig { name: text(2)?, kind });
            }
            Some("client") => {
                let index = number(1)?;
                if index >= 64 || config.clients.iter().any(|c| c.index == index) {
                    return Err(bad("a client index is repeated or past 63"));
                }
                config.clients.push(ClientConfig {
                    index,
                    name: text(2)?,
                    buffer: text(3)?,
                    done: text(4)?,
                    mounts: Vec::new(),
                });
            }
            Some("mount") => {
                let badge = number(1)?;
                let filesystem = number(3)? as usize;
                if filesystem >= config.filesystems.len() {
                    return Err(bad("a mount of an unknown file system"));
                }
                let writable = match fields.get(5).copied() {
                    Some("rw") => true,
                    Some("ro") => false,
                    _ => return Err(bad("a mount is neither ro nor rw")),
                };
                let mount = MountConfig { point: text(2)?, filesystem, subtree: text(4)?, writable };
                let client = config
                    .clients
                    .iter_mut()
                    .find(|c| c.index == badge)
                    .ok_or(bad("a mount for a client not listed before it"))?;
                client.mounts.push(mount);
            }
            Some(_) => return Err(bad("an unknown record")),
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_record_and_refuses_bad_ones() {
        let text = "filesystem 0 scratch ramfs 8388608\nfilesystem 1 data ext2 disk-data 0\n\
                    client 1 app vfs-app vfs-app-done\nmount 1 / 0 / rw\nmount 1 /pub 1 /public ro\n";
        let c = parse(text).unwrap();
        assert_eq!(c.filesystems[1].kind, FsKind::Ext2 { disk: "disk-data".into(), read_only: false });
        assert_eq!(c.clients[0].mounts[1].subtree, "/public");
        assert!(!c.clients[0].mounts[1].writable);
        assert_eq!(parse("filesystem 1 x ramfs 1").unwrap_err().line, 1);
        assert!(parse("filesystem 0 x zfs 1").is_err());
        assert!(parse("mount 1 / 0 / rw").is_err());
        assert!(parse("filesystem 0 x ramfs 1\nclient 1 a b c\nmount 1 / 3 / rw").is_err());
        assert!(parse("client 1 a b c\nclient 1 d e f").is_err());
        assert!(parse("bogus").is_err());
    }
}
