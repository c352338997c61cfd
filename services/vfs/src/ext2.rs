//! ext2, read-write, through the `rsext4` crate (pinned `=0.9.2`) and only through
//! this file: the rest of the server sees [`FileSystem`].
//!
//! rsext4 is an ext4 implementation whose OS-independent core (`rsext4::Ext4`) also
//! handles rev-1 ext2 as `mke2fs -t ext2` makes it: no journal, no extents, files on
//! direct and indirect blocks. It was checked with `e2fsck -fn` after every kind of
//! change this server makes (services/vfs host tests). What it does not do, and what
//! happens instead:
//!
//! - **A directory cannot grow past 12 blocks** on a file system without extents (it
//!   does not give directories indirect blocks): about 1,200 names of 25 bytes with
//!   4 KiB blocks (a host test makes 1,212). The create fails with `Unsupported`, and the directory
//!   is unchanged.
//! - **An unlinked inode is freed only by a separate "reap"** ([`FileSystem::release`]),
//!   which the server calls when the last name is gone and nobody has the file open.
//!   Until then the inode is on the orphan list (rsext4 refuses to unmount with
//!   orphans, `Busy`). The server never unmounts while the system runs; a file that was
//!   unlinked while open when the system stops stays on the orphan list, which
//!   `e2fsck -p` clears.
//! - **Timestamps** come from the server's clock (seconds since boot plus the build's
//!   epoch; KaaL has no wall-clock service yet).
//! - Owners are uid 0 and gid 0; permissions are 0644 for files and 0755 for
//!   directories. Device nodes, FIFOs and sockets are listed but not opened.

use alloc::vec::Vec;

use kaal_posix::proto::{Kind, Stat, Status};
use rsext4::{
    Clock, DirectoryCursor, DirectoryEntryType, Ext4, Ext4Error, Ext4ErrorKind, Ext4Result, Ext4Timestamp, FileName,
    FilePermissions, InodeNumber, MountOptions, MountServices, MountedServices, MutationContext, NoopObserver,
    RenameOptions,
};

use alloc::rc::Rc;
use core::cell::RefCell;

use crate::cache::{BlockCache, Disk, SharedCache};
use crate::fsys::{Cursor, Entry, FileSystem, FsError, FsResult, Ino, Space};

/// Seconds since 1970 for inode times.
struct ServerClock(fn() -> u32);

impl Clock for ServerClock {
    fn now(&self) -> Ext4Result<Ext4Timestamp> {
        Ok(Ext4Timestamp::new(i64::from((self.0)()), 0))
    }
}

type Mounted<D> = Ext4<SharedCache<D>, MountedServices<(), NoopObserver, ()>>;

pub struct Ext2<D: Disk> {
    fs: Mounted<D>,
    /// The same cache rsext4 uses, for reads of file data by block map.
    cache: Rc<RefCell<BlockCache<D>>>,
    read_only: bool,
    /// The last file read by block map: its inode, size and runs. rsext4 maps an
    /// indirect-block file by walking all its pointers, whatever range is asked for, so
    /// the map is kept between the reads of one file; any change to any file drops it.
    map: Option<(Ino, u64, Vec<rsext4::FileExtent>)>,
}

/// Reads at least this long go by the file's block map (see [`Ext2::read_mapped`]).
const MAPPED_READ: usize = 2 * crate::cache::BLOCK;

/// Why a mount failed, for the server's report: what rsext4 found, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountError {
    pub status: Status,
    pub problem: &'static str,
    pub at: &'static str,
}

fn problem(kind: Ext4ErrorKind) -> &'static str {
    match kind {
        Ext4ErrorKind::Io => "the disk reported an I/O error",
        Ext4ErrorKind::Corrupted => "its metadata is corrupt",
        Ext4ErrorKind::ChecksumMismatch => "a metadata checksum does not match",
        Ext4ErrorKind::UnsupportedFeature => "it uses a feature KaaL's ext2 does not support",
        Ext4ErrorKind::BadSuperblock => "the superblock's geometry is invalid (or the image is truncated)",
        Ext4ErrorKind::InvalidMagic => "there is no ext2 superblock (bad magic number)",
        Ext4ErrorKind::NoSpace => "no space left",
        Ext4ErrorKind::NoMemory => "out of memory",
        Ext4ErrorKind::ReadOnly => "the file system is read-only",
        Ext4ErrorKind::NotFound => "not found",
        Ext4ErrorKind::AlreadyExists => "it already exists",
        Ext4ErrorKind::NotDirectory => "not a directory",
        Ext4ErrorKind::IsDirectory => "it is a directory",
        Ext4ErrorKind::NotEmpty => "the directory is not empty",
        Ext4ErrorKind::TooManyLinks => {
            "too many links (a directory is full: ext2 directories hold at most 12 blocks here)"
        }
        Ext4ErrorKind::FileTooLarge => "the file would be too large",
        Ext4ErrorKind::Busy => "busy",
        _ => "the ext2 code refused the operation",
    }
}

fn status(kind: Ext4ErrorKind) -> Status {
    match kind {
        Ext4ErrorKind::NotFound => Status::NotFound,
        Ext4ErrorKind::AlreadyExists => Status::AlreadyExists,
        Ext4ErrorKind::NotDirectory => Status::NotADirectory,
        Ext4ErrorKind::IsDirectory => Status::IsADirectory,
        Ext4ErrorKind::NotEmpty => Status::DirectoryNotEmpty,
        Ext4ErrorKind::ReadOnly => Status::ReadOnlyFilesystem,
        Ext4ErrorKind::NoSpace | Ext4ErrorKind::QuotaExceeded => Status::StorageFull,
        Ext4ErrorKind::NoMemory => Status::OutOfMemory,
        Ext4ErrorKind::Corrupted
        | Ext4ErrorKind::ChecksumMismatch
        | Ext4ErrorKind::BadSuperblock
        | Ext4ErrorKind::InvalidMagic => Status::Corrupt,
        Ext4ErrorKind::Io | Ext4ErrorKind::Timeout | Ext4ErrorKind::JournalAborted => Status::Io,
        Ext4ErrorKind::FileTooLarge => Status::FileTooLarge,
        Ext4ErrorKind::InvalidInput | Ext4ErrorKind::Overflow | Ext4ErrorKind::BadFileDescriptor => {
            Status::InvalidInput
        }
        Ext4ErrorKind::Busy => Status::Busy,
        Ext4ErrorKind::PermissionDenied => Status::PermissionDenied,
        Ext4ErrorKind::TooManyLinks
        | Ext4ErrorKind::Unsupported
        | Ext4ErrorKind::UnsupportedFeature
        | Ext4ErrorKind::UnsupportedCapability => Status::Unsupported,
    }
}

fn fs_error(e: Ext4Error) -> FsError {
    FsError::new(status(e.kind()), problem(e.kind()))
}

fn operation(e: &Ext4Error) -> &'static str {
    match e.context() {
        Some(rsext4::ErrorContext::Operation { op }) => op,
        Some(rsext4::ErrorContext::Capability { name }) => name,
        _ => "",
    }
}

fn name(bytes: &[u8]) -> FsResult<FileName<'_>> {
    FileName::new(bytes).map_err(|_| FsError::from(Status::InvalidFilename))
}

fn inode(number: Ino) -> FsResult<InodeNumber> {
    InodeNumber::from_u64(number).map_err(|_| FsError::new(Status::NotFound, "no such inode"))
}

const CONTEXT: MutationContext = MutationContext::new(0, 0, 0, 0o022);

fn kind(t: DirectoryEntryType) -> Kind {
    match t {
        DirectoryEntryType::RegularFile => Kind::File,
        DirectoryEntryType::Directory => Kind::Directory,
        DirectoryEntryType::Symlink => Kind::Symlink,
        _ => Kind::Other,
    }
}

fn to_cursor(c: DirectoryCursor) -> Cursor {
    match c {
        DirectoryCursor::Start => Cursor(0, 0),
        DirectoryCursor::Linear { offset } => Cursor(1, offset),
        DirectoryCursor::HTree { major, minor, collision } => {
            Cursor(2 | u64::from(collision) << 32, u64::from(major) << 32 | u64::from(minor))
        }
        DirectoryCursor::End => Cursor(3, 0),
    }
}

fn from_cursor(c: Cursor) -> DirectoryCursor {
    match c.0 & 0xffff_ffff {
        0 => DirectoryCursor::Start,
        1 => DirectoryCursor::Linear { offset: c.1 },
        2 => DirectoryCursor::HTree { major: (c.1 >> 32) as u32, minor: c.1 as u32, collision: (c.0 >> 32) as u32 },
        _ => DirectoryCursor::End,
    }
}

impl<D: Disk> Ext2<D> {
    /// Mounts the ext2 file system on `cache` (read-only if `read_only` or the disk is).
    pub fn mount(cache: BlockCache<D>, read_only: bool, clock: fn() -> u32) -> Result<Self, MountError> {
        let read_only = read_only || cache.disk().read_only();
        let cache = Rc::new(RefCell::new(cache));
        let options = if read_only {
            MountOptions { readonly: true, replay_journal: false, block_validity: true }
        } else {
            MountOptions { block_validity: true, ..MountOptions::read_write() }
        };
        let services = MountServices::new(ServerClock(clock), (), NoopObserver);
        let fs = Ext4::mount(SharedCache(cache.clone()), services, options).map_err(|e| MountError {
            status: status(e.kind()),
            problem: problem(e.kind()),
            at: operation(&e),
        })?;
        Ok(Ext2 { fs, cache, read_only, map: None })
    }

    /// A read by the file's block map: rsext4 maps the range (merging adjacent
    /// indirect-block pointers into runs), and the runs are read through the cache in
    /// one go each, where rsext4's own read would take one block per device call.
    /// `None` if the map is not plain initialised data (the caller reads normally).
    fn read_mapped(&mut self, number: Ino, offset: u64, out: &mut [u8]) -> FsResult<Option<usize>> {
        let size = self.fs.inode(inode(number)?).map_err(fs_error)?.size;
        if offset >= size {
            return Ok(Some(0));
        }
        let len = (out.len() as u64).min(size - offset) as usize;
        if !matches!(&self.map, Some((ino, mapped, _)) if *ino == number && *mapped == size) {
            let map = self
                .fs
                .inode_extents(inode(number)?, 0, size, rsext4::FileExtentTarget::Data, 1 << 20)
                .map_err(fs_error)?;
            if !map.complete || map.extents.iter().any(|e| e.state != rsext4::FileExtentState::Initialized) {
                return Ok(None);
            }
            self.map = Some((number, size, map.extents));
        }
        let Some((_, _, extents)) = &self.map else { return Ok(None) };
        let end = offset + len as u64;
        let mut cache = self.cache.borrow_mut();
        // Runs are in file order; what lies between them is a hole, read as zeros.
        let mut filled = offset;
        for e in extents {
            let lo = offset.max(e.logical_start);
            let hi = end.min(e.logical_start + e.length);
            if lo >= hi {
                continue;
            }
            out[(filled.min(lo) - offset) as usize..(lo - offset) as usize].fill(0);
            let dest = &mut out[(lo - offset) as usize..(hi - offset) as usize];
            cache.read_at(e.physical_start + (lo - e.logical_start), dest).map_err(|_| FsError::from(Status::Io))?;
            filled = filled.max(hi);
        }
        out[(filled - offset) as usize..len].fill(0);
        Ok(Some(len))
    }

    fn writable(&self) -> FsResult<()> {
        if self.read_only {
            Err(Status::ReadOnlyFilesystem.into())
        } else {
            Ok(())
        }
    }
}

impl<D: Disk> FileSystem for Ext2<D> {
    fn kind(&self) -> &'static str {
        "ext2"
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn root(&self) -> Ino {
        u64::from(self.fs.root_inode().raw())
    }

    fn stat(&mut self, number: Ino) -> FsResult<Stat> {
        let info = self.fs.inode(inode(number)?).map_err(fs_error)?;
        let kind = match info.file_type() {
            DirectoryEntryType::RegularFile => Kind::File,
            DirectoryEntryType::Directory => Kind::Directory,
            DirectoryEntryType::Symlink => Kind::Symlink,
            _ => Kind::Other,
        };
        Ok(Stat {
            size: info.size,
            kind,
            mode: info.mode & 0o7777,
            links: u32::from(info.links),
            inode: number,
            mtime: info.mtime,
        })
    }

    fn lookup(&mut self, dir: Ino, child: &[u8]) -> FsResult<Option<Ino>> {
        let found = self.fs.lookup_child(inode(dir)?, name(child)?).map_err(fs_error)?;
        Ok(found.map(|info| u64::from(info.number.raw())))
    }

    fn read(&mut self, number: Ino, offset: u64, out: &mut [u8]) -> FsResult<usize> {
        if out.len() >= MAPPED_READ {
            if let Some(n) = self.read_mapped(number, offset, out)? {
                return Ok(n);
            }
        }
        self.fs.read_inode(inode(number)?, offset, out).map_err(fs_error)
    }

    fn write(&mut self, number: Ino, offset: u64, data: &[u8]) -> FsResult<()> {
        self.writable()?;
        self.map = None;
        self.fs.write_inode(inode(number)?, offset, data).map_err(fs_error)
    }

    fn set_len(&mut self, number: Ino, size: u64) -> FsResult<()> {
        self.writable()?;
        self.map = None;
        self.fs.truncate_inode(inode(number)?, size).map_err(fs_error)
    }

    fn create_file(&mut self, dir: Ino, child: &[u8]) -> FsResult<Ino> {
        self.writable()?;
        self.map = None;
        let mode = FilePermissions::new(0o644).map_err(fs_error)?;
        let info = self.fs.create_regular_file(CONTEXT, inode(dir)?, name(child)?, mode).map_err(fs_error)?;
        Ok(u64::from(info.number.raw()))
    }

    fn create_dir(&mut self, dir: Ino, child: &[u8]) -> FsResult<Ino> {
        self.writable()?;
        self.map = None;
        let mode = FilePermissions::new(0o755).map_err(fs_error)?;
        let info = self.fs.create_directory(CONTEXT, inode(dir)?, name(child)?, mode).map_err(fs_error)?;
        Ok(u64::from(info.number.raw()))
    }

    fn create_symlink(&mut self, dir: Ino, child: &[u8], target: &[u8]) -> FsResult<Ino> {
        self.writable()?;
        self.map = None;
        let info = self.fs.create_symlink(CONTEXT, inode(dir)?, name(child)?, target).map_err(fs_error)?;
        Ok(u64::from(info.number.raw()))
    }

    fn read_link(&mut self, number: Ino) -> FsResult<Vec<u8>> {
        let size = self.fs.inode(inode(number)?).map_err(fs_error)?.size;
        let mut target = alloc::vec![0u8; size.min(kaal_posix::proto::PATH_MAX as u64) as usize];
        let n = self.fs.read_inode(inode(number)?, 0, &mut target).map_err(fs_error)?;
        target.truncate(n);
        Ok(target)
    }

    fn link(&mut self, number: Ino, dir: Ino, child: &[u8]) -> FsResult<()> {
        self.writable()?;
        self.map = None;
        self.fs.hard_link(inode(number)?, inode(dir)?, name(child)?).map_err(fs_error).map(|_| ())
    }

    fn unlink(&mut self, dir: Ino, child: &[u8]) -> FsResult<(Ino, u32)> {
        self.writable()?;
        self.map = None;
        let outcome = self.fs.unlink(inode(dir)?, name(child)?).map_err(fs_error)?;
        Ok((u64::from(outcome.inode.raw()), u32::from(outcome.remaining_links)))
    }

    fn remove_dir(&mut self, dir: Ino, child: &[u8]) -> FsResult<Ino> {
        self.writable()?;
        self.map = None;
        let outcome = self.fs.remove_empty_directory(inode(dir)?, name(child)?).map_err(fs_error)?;
        Ok(u64::from(outcome.inode.raw()))
    }

    fn rename(&mut self, from_dir: Ino, from: &[u8], to_dir: Ino, to: &[u8]) -> FsResult<Option<Ino>> {
        self.writable()?;
        self.map = None;
        let outcome = self
            .fs
            .rename(inode(from_dir)?, name(from)?, inode(to_dir)?, name(to)?, RenameOptions::REPLACE)
            .map_err(fs_error)?;
        Ok(outcome.replaced.filter(|r| r.requires_reap()).map(|r| u64::from(r.inode.raw())))
    }

    fn read_dir(&mut self, dir: Ino, cursor: Cursor, max: usize) -> FsResult<(Vec<Entry>, Cursor)> {
        let start = from_cursor(cursor);
        if start == DirectoryCursor::End {
            return Ok((Vec::new(), cursor));
        }
        let entries = self.fs.read_directory(inode(dir)?, start, max).map_err(fs_error)?;
        let next = entries.last().map_or(DirectoryCursor::End, |e| e.next_cursor);
        let out = entries
            .into_iter()
            .filter(|e| e.name != b"." && e.name != b"..")
            .map(|e| Entry { ino: u64::from(e.inode.raw()), kind: kind(e.file_type), name: e.name })
            .collect();
        Ok((out, to_cursor(next)))
    }

    fn release(&mut self, number: Ino) -> FsResult<()> {
        self.writable()?;
        self.map = None;
        self.fs.reap_unlinked_inode(inode(number)?).map_err(fs_error)
    }

    fn sync(&mut self) -> FsResult<()> {
        self.fs.sync().map_err(fs_error)
    }

    fn space(&mut self) -> Space {
        let s = self.fs.statfs();
        Space { block_size: s.block_size, blocks: s.total_blocks, free_blocks: s.free_blocks }
    }

    fn unmount(&mut self) -> FsResult<()> {
        self.fs.unmount().map_err(fs_error)
    }

    fn measure_disk_read(&mut self, bytes: u64) -> FsResult<u64> {
        self.cache.borrow_mut().measure_raw_read(bytes).map_err(|_| FsError::from(Status::Io))
    }
}
