//! What the VFS asks of a file system: KaaL's own trait, so that the ext2 crate behind
//! it can change without the server changing.

use alloc::vec::Vec;

use kaal_posix::proto::{Kind, Stat, Status};

/// An inode number within one file system.
pub type Ino = u64;

/// A directory position: opaque to the server, meaningful to the file system that
/// made it. `Cursor::START` begins a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(pub u64, pub u64);

impl Cursor {
    pub const START: Cursor = Cursor(0, 0);
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub ino: Ino,
    pub kind: Kind,
    pub name: Vec<u8>,
}

/// A file system error: the status a client sees, and for the server's log what the
/// file system said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsError {
    pub status: Status,
    pub detail: &'static str,
}

impl FsError {
    pub const fn new(status: Status, detail: &'static str) -> FsError {
        FsError { status, detail }
    }
}

impl From<Status> for FsError {
    fn from(status: Status) -> Self {
        FsError { status, detail: status.describe() }
    }
}

pub type FsResult<T> = Result<T, FsError>;

/// Space on a file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    pub block_size: u64,
    pub blocks: u64,
    pub free_blocks: u64,
}

/// A mounted file system. Names are single path components (no `/`, not empty, not `.`
/// or `..`; the server checks). Operations that change the tree leave it consistent
/// or fail without changing it.
pub trait FileSystem {
    /// "ramfs", "ext2".
    fn kind(&self) -> &'static str;
    fn read_only(&self) -> bool;
    fn root(&self) -> Ino;
    fn stat(&mut self, ino: Ino) -> FsResult<Stat>;
    fn lookup(&mut self, dir: Ino, name: &[u8]) -> FsResult<Option<Ino>>;
    /// Reads at `offset` into `out`: the bytes read (0 at or past the end).
    fn read(&mut self, ino: Ino, offset: u64, out: &mut [u8]) -> FsResult<usize>;
    fn write(&mut self, ino: Ino, offset: u64, data: &[u8]) -> FsResult<()>;
    fn set_len(&mut self, ino: Ino, size: u64) -> FsResult<()>;
    fn create_file(&mut self, dir: Ino, name: &[u8]) -> FsResult<Ino>;
    fn create_dir(&mut self, dir: Ino, name: &[u8]) -> FsResult<Ino>;
    fn create_symlink(&mut self, dir: Ino, name: &[u8], target: &[u8]) -> FsResult<Ino>;
    fn read_link(&mut self, ino: Ino) -> FsResult<Vec<u8>>;
    /// A new name in `dir` for the file `ino`.
    fn link(&mut self, ino: Ino, dir: Ino, name: &[u8]) -> FsResult<()>;
    /// Removes a non-directory's name: its inode and the links left. An inode with no
    /// links left is freed by [`FileSystem::release`] once nobody has it open.
    fn unlink(&mut self, dir: Ino, name: &[u8]) -> FsResult<(Ino, u32)>;
    /// Removes an empty directory: its inode (to [`FileSystem::release`]).
    fn remove_dir(&mut self, dir: Ino, name: &[u8]) -> FsResult<Ino>;
    /// Renames, replacing a non-directory or empty directory at the target: the
    /// replaced inode, if it has no links left (to release).
    fn rename(&mut self, from_dir: Ino, from: &[u8], to_dir: Ino, to: &[u8]) -> FsResult<Option<Ino>>;
    /// Up to `max` entries from `cursor` (without `.` and `..`), and where to go on;
    /// an empty list at the end.
    fn read_dir(&mut self, dir: Ino, cursor: Cursor, max: usize) -> FsResult<(Vec<Entry>, Cursor)>;
    /// Frees an inode whose last link went and which nobody has open.
    fn release(&mut self, ino: Ino) -> FsResult<()>;
    /// Writes everything to the device and makes it durable.
    fn sync(&mut self) -> FsResult<()>;
    fn space(&mut self) -> Space;
    /// Syncs and leaves the file system clean; nothing may be done with it afterwards.
    fn unmount(&mut self) -> FsResult<()>;

    /// Reads up to `bytes` of the file system's disk from its start, straight from the
    /// disk (not through any cache), and drops them: the bytes read. A benchmark's
    /// measure of the raw block path; `Unsupported` where there is no disk.
    fn measure_disk_read(&mut self, _bytes: u64) -> FsResult<u64> {
        Err(FsError::new(Status::Unsupported, "this file system has no disk"))
    }
}
