//! `[disks.NAME]`: virtio-blk disks, from a raw image or from a directory that `kaal
//! build` turns into ext2, and the components that drive them (`disks = ["NAME"]`).
//!
//! ```toml
//! [disks.data]
//! directory = "files"     # or: image = "data.img"
//! size = "16 MiB"
//!
//! [components.disk]
//! path = "disk"
//! disks = ["data"]
//! ```
//!
//! A disk becomes the PCI function `pci:00:SS.0`, from slot 0x10 on in name order; the
//! component that lists it gets that device's grants, as if it had listed the address
//! under `devices`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use toml::Spanned;

use super::super::raw::{RawComponent, RawDisk, RawProgram, Tables};
use super::super::{did_you_mean, key_part, Disk, DiskSource, Program, ProgramSource};
use super::{Checker, SizeLimit, GIB, MIB, NAME_LEN};

const DISK_SIZE: SizeLimit =
    SizeLimit { what: "a disk made from a directory", default: 32 * MIB, min: MIB, max: 4 * GIB };

impl Checker<'_> {
    /// A disk's `packages`: Debian package names (lowercase letters, digits, `+-.`,
    /// starting with a letter or digit, as Debian policy has them).
    fn packages(&mut self, raw: Option<&Spanned<Vec<Spanned<String>>>>, key: &str) -> Vec<String> {
        let Some(raw) = raw else { return Vec::new() };
        let mut packages = Vec::new();
        for name in raw.get_ref() {
            let text = name.get_ref();
            let valid = text.len() >= 2
                && text.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
            if valid {
                packages.push(text.clone());
            } else {
                self.report(
                    &name.span(),
                    key,
                    format!("`{text}` is not a Debian package name"),
                    "write the package's name as `apt-get download` takes it, e.g. \"busybox-static\"",
                );
            }
        }
        packages
    }

    /// A disk's `programs`: each at an absolute path in the image, from exactly one of
    /// a C file and a Rust crate, given relative to system.toml's directory.
    fn programs(&mut self, raw: Option<&Spanned<Tables<RawProgram>>>, key: &str) -> Vec<Program> {
        let Some(raw) = raw else { return Vec::new() };
        let mut programs = Vec::new();
        for (path, table) in raw.get_ref() {
            let at = format!("{key}.\"{}\"", path.get_ref());
            if !path.get_ref().starts_with('/') || path.get_ref().ends_with('/') || path.get_ref().contains("/../") {
                self.report(
                    &path.span(),
                    &at,
                    format!("`{}` is not an absolute file path in the image", path.get_ref()),
                    "write where the program goes, e.g. \"/bin/app\"",
                );
                continue;
            }
            let source = match (&table.get_ref().c, &table.get_ref().rust) {
                (Some(c), None) => self.disk_path(c, &format!("{at}.c")).map(ProgramSource::C),
                (None, Some(rust)) => self.disk_path(rust, &format!("{at}.rust")).map(ProgramSource::Rust),
                _ => {
                    self.report(
                        &table.span(),
                        &at,
                        format!("program `{}` needs exactly one of `c` and `rust`", path.get_ref()),
                        "write { c = \"hello.c\" } (built with musl-gcc -static) or { rust = \"app\" } (a crate, \
                         built with +crt-static)",
                    );
                    None
                }
            };
            if let Some(source) = source {
                programs.push(Program { path: path.get_ref().clone(), source });
            }
        }
        programs
    }

    /// Checks `[disks]`.
    pub(super) fn disks(&mut self, raw: Option<&Spanned<Tables<RawDisk>>>) -> Vec<Disk> {
        let Some(raw) = raw else { return Vec::new() };
        let mut disks = Vec::new();
        for (index, (name, table)) in raw.get_ref().iter().enumerate() {
            let key = format!("disks.{}", key_part(name.get_ref()));
            self.name(name, &key, "disk", NAME_LEN - 8);
            let disk = table.get_ref();
            let forms = "give the disk `image = \"disk.img\"` (a raw image, used in place) or `directory = \"files\"` \
                         (kaal build makes an ext2 image of it)";
            let source = match (&disk.image, &disk.directory) {
                (Some(image), None) => {
                    if let Some(programs) = &disk.programs {
                        self.report(
                            &programs.span(),
                            format!("{key}.programs"),
                            format!("disk `{}` uses an image, which KaaL does not change", name.get_ref()),
                            "remove `programs`, or make the disk from a directory",
                        );
                    }
                    if let Some(packages) = &disk.packages {
                        self.report(
                            &packages.span(),
                            format!("{key}.packages"),
                            format!("disk `{}` uses an image, which KaaL does not change", name.get_ref()),
                            "remove `packages`, or make the disk from a directory",
                        );
                    }
                    if let Some(size) = &disk.size {
                        self.report(
                            &size.span(),
                            format!("{key}.size"),
                            format!("disk `{}` uses an image, whose size is its own", name.get_ref()),
                            "remove `size`, or make the disk from a directory",
                        );
                    }
                    self.disk_path(image, &format!("{key}.image")).map(DiskSource::Image)
                }
                (None, Some(dir)) => {
                    let size = self.size(disk.size.as_ref(), &format!("{key}.size"), &DISK_SIZE);
                    let packages = self.packages(disk.packages.as_ref(), &format!("{key}.packages"));
                    let programs = self.programs(disk.programs.as_ref(), &format!("{key}.programs"));
                    self.disk_path(dir, &format!("{key}.directory")).map(|dir| DiskSource::Directory {
                        dir,
                        size,
                        packages,
                        programs,
                    })
                }
                (Some(image), Some(_)) => {
                    let message = format!("disk `{}` has both an image and a directory", name.get_ref());
                    self.report(&image.span(), &key, message, forms);
                    None
                }
                (None, None) => {
                    let message = format!("disk `{}` has neither an image nor a directory", name.get_ref());
                    self.report(&name.span(), &key, message, forms);
                    None
                }
            };
            if index == Disk::MAX {
                self.report(
                    &name.span(),
                    &key,
                    format!("a system has at most {} disks", Disk::MAX),
                    "put the contents of several into one",
                );
            }
            let Some(source) = source else { continue };
            disks.push(Disk {
                name: name.get_ref().clone(),
                source,
                read_only: disk.read_only.as_ref().is_some_and(|r| *r.get_ref()),
                slot: Disk::FIRST_SLOT + (index.min(Disk::MAX - 1)) as u8,
                line: self.source.line(name.span().start),
            });
        }
        disks
    }

    /// A path as written, relative to the directory of system.toml.
    fn disk_path(&mut self, path: &Spanned<String>, key: &str) -> Option<PathBuf> {
        let text = path.get_ref();
        if text.is_empty() || std::path::Path::new(text).is_absolute() {
            self.report(
                &path.span(),
                key,
                format!("`{text}` is not a relative path"),
                format!(
                    "write it relative to the directory of {}, so the system builds wherever it is checked out",
                    self.source.file
                ),
            );
            return None;
        }
        Some(PathBuf::from(text))
    }

    /// Each component's `disks`: the PCI addresses of the disks it lists (reported if
    /// unknown, or listed by two components).
    pub(super) fn component_disks(
        &mut self,
        raw: &Tables<RawComponent>,
        disks: &[Disk],
        raw_disks: Option<&Spanned<Tables<RawDisk>>>,
    ) -> BTreeMap<String, Vec<String>> {
        let declared: Vec<&str> =
            raw_disks.map(|d| d.get_ref().keys().map(|k| k.get_ref().as_str()).collect()).unwrap_or_default();
        let mut holders: BTreeMap<String, String> = BTreeMap::new();
        // PCI functions listed by address under `devices`, which a disk must not also be.
        let mut by_address: BTreeMap<String, String> = BTreeMap::new();
        for (component, device) in super::device_claims(raw) {
            if let Some(Ok(canonical)) = device.get_ref().strip_prefix("pci:").map(super::pci_address) {
                by_address.insert(canonical, component.to_string());
            }
        }
        let mut out = BTreeMap::new();
        for (component, table) in raw {
            let key = format!("components.{}.disks", key_part(component.get_ref()));
            let mut addresses = Vec::new();
            let listed = table.get_ref().disks.as_ref().map(|d| d.get_ref().as_slice()).unwrap_or_default();
            for disk in listed {
                let name = disk.get_ref();
                if !declared.contains(&name.as_str()) {
                    let help = if declared.is_empty() {
                        format!(
                            "declare it:\n  [disks.{}]\n  directory = \"files\"\n  size = \"16 MiB\"",
                            key_part(name)
                        )
                    } else {
                        format!(
                            "{}the disks are: {}",
                            did_you_mean(name, declared.iter().copied()),
                            declared.join(", ")
                        )
                    };
                    self.report(
                        &disk.span(),
                        &key,
                        format!("disk `{name}` is not declared ([disks.{}])", key_part(name)),
                        help,
                    );
                    continue;
                }
                match holders.get(name) {
                    Some(holder) => {
                        let message =
                            format!("disk `{name}` is listed by both `{holder}` and `{}`", component.get_ref());
                        self.report(
                            &disk.span(),
                            &key,
                            message,
                            "a disk is driven by one component; let the other reach it through that one",
                        );
                        continue;
                    }
                    None => holders.insert(name.clone(), component.get_ref().clone()),
                };
                if let Some(d) = disks.iter().find(|d| &d.name == name) {
                    if let Some(other) = by_address.get(&d.pci_address()) {
                        let message = format!(
                            "disk `{name}` is the PCI function {}, which component `{other}` also lists under `devices`",
                            d.pci_address()
                        );
                        self.report(&disk.span(), &key, message, "list the disk once, under `disks`");
                        continue;
                    }
                    addresses.push(d.pci_address());
                }
            }
            out.insert(component.get_ref().clone(), addresses);
        }
        out
    }
}
