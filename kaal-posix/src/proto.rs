//! The protocol between a file client and the VFS server.
//!
//! Each client has one region shared with the server, `vfs-<client>`, holding two
//! rings and a buffer:
//!
//! | bytes | holds |
//! |---|---|
//! | `REQUESTS ..` (4 KiB) | the ring of [`Request`]s, client to server |
//! | `RESPONSES ..` (4 KiB) | the ring of [`Response`]s, server to client |
//! | `BUFFER ..` | paths and data (below, offsets from `BUFFER`) |
//!
//! A client pushes a request and signals `vfs-wake` (its own badge bit) if the server
//! asked to be woken; the server serves every client's ring, then sleeps on
//! `vfs-wake`; it answers on the client's response ring and signals `vfs-<client>-done`
//! if the client sleeps. The server takes a client's request only when that client's
//! response ring has room, so a client that does not take its answers stalls only
//! itself, and a client that corrupts its rings is no longer served (the server says
//! so). A client that bounds its waits (`fs::init_with_timeout`) gets an error if the
//! server stops answering.
//!
//! In the buffer:
//!
//! | bytes | holds |
//! |---|---|
//! | `0 .. PATH_MAX` | the request's path, UTF-8 |
//! | `PATH_MAX .. 2 * PATH_MAX` | its second path (rename, link, symlink's target) |
//! | `DATA ..` | data read or written, directory entries |
//!
//! A request names an operation ([`op`]) and four words:
//!
//! | word | holds |
//! |---|---|
//! | 0 | a handle, or open flags ([`open`]) for OPEN |
//! | 1 | a file offset ([`APPEND`] for a write at the end) |
//! | 2 | a data length in bytes |
//! | 3 | the first path's length (bits 0-15) and the second's (bits 16-31) |
//!
//! The response carries the request's `id`, a [`Status`] (0 for success) and the results
//! each operation lists below. The server checks every word and byte: a bad handle,
//! length or path gets an error status, never a crash.

use bytemuck::{Pod, Zeroable};

/// One request (40 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct Request {
    /// [`op`].
    pub op: u32,
    /// The client's name for it, returned in the response.
    pub id: u32,
    pub words: [u64; 4],
}

/// One response (40 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct Response {
    /// [`Status`].
    pub status: u32,
    /// The request's `id`.
    pub id: u32,
    pub words: [u64; 4],
}

/// Where the request ring lies in a client's region, and the response ring.
pub const REQUESTS: usize = 0;
pub const RESPONSES: usize = 4096;
/// Bytes of each ring's window.
pub const RING_BYTES: usize = 4096;
/// Slots in each ring (a client has one request in flight; the rest is slack).
pub const RING_SLOTS: u32 = 4;
/// Where the buffer starts in a client's region.
pub const BUFFER: usize = 8192;
/// The notification clients signal.
pub const WAKE: &str = "vfs-wake";
/// The prefix of a client's region: `vfs-<component name>`.
pub const BUFFER_PREFIX: &str = "vfs-";
/// The suffix of a client's done notification: `vfs-<component name>-done`.
pub const DONE_SUFFIX: &str = "-done";

/// Bytes for each path in the buffer (and the longest path).
pub const PATH_MAX: usize = 4096;
/// Where data starts in the buffer.
pub const DATA: usize = 2 * PATH_MAX;
/// The smallest region a client can have.
pub const MIN_REGION: usize = BUFFER + DATA + 4096;
/// The longest name of one directory entry.
pub const NAME_MAX: usize = 255;
/// Offset word of a WRITE that appends: the server writes at the file's end.
pub const APPEND: u64 = u64::MAX;

/// Operations (the request's label).
pub mod op {
    /// Open `path` with word 0's [`super::open`] flags. Reply: handle, size, kind.
    pub const OPEN: u64 = 1;
    /// Close handle. Reply: nothing.
    pub const CLOSE: u64 = 2;
    /// Read up to `len` bytes at `offset` into the data area. Reply: bytes read.
    pub const READ: u64 = 3;
    /// Write `len` bytes from the data area at `offset`. Reply: bytes written, the
    /// offset after them.
    pub const WRITE: u64 = 4;
    /// Metadata of `path`, following a final symbolic link. Reply: [`super::Stat`] words.
    pub const STAT: u64 = 5;
    /// Metadata of `path`, not following a final symbolic link.
    pub const LSTAT: u64 = 6;
    /// Metadata of an open handle.
    pub const FSTAT: u64 = 7;
    /// Set an open file's length to `offset`.
    pub const TRUNCATE: u64 = 8;
    /// Make directory `path`.
    pub const MKDIR: u64 = 9;
    /// Remove empty directory `path`.
    pub const RMDIR: u64 = 10;
    /// Remove file or symbolic link `path`.
    pub const UNLINK: u64 = 11;
    /// Rename `path` to the second path.
    pub const RENAME: u64 = 12;
    /// Make the second path a hard link to `path`.
    pub const LINK: u64 = 13;
    /// Make `path` a symbolic link whose target is the second path.
    pub const SYMLINK: u64 = 14;
    /// The target of symbolic link `path`, into the data area. Reply: its length.
    pub const READLINK: u64 = 15;
    /// Directory entries of an open directory into the data area, continuing where
    /// the last READDIR of this handle stopped. Reply: entries, bytes (0 and 0 at the
    /// end). Each entry: kind (1 byte), name length (1 byte), inode (8 bytes LE), name.
    pub const READDIR: u64 = 16;
    /// Make a file's data and metadata durable.
    pub const FSYNC: u64 = 17;
    /// Make everything this client can write durable.
    pub const SYNC: u64 = 18;
    /// Space on the file system holding `path`. Reply: block size, blocks, free blocks.
    pub const STATFS: u64 = 19;
    /// Reads an open file from `offset` to its end inside the server, `len` bytes a
    /// step, and drops the data: the server's own cost of a read, for benchmarks.
    /// Reply: bytes read, the server's TSC cycles taken.
    pub const MEASURE_READ: u64 = 20;

    /// Reads `len` bytes (at most 256 MiB) from the start of the disk under the file
    /// system holding `path`, straight from the disk, inside the server: the raw block
    /// path's cost, for benchmarks. Reply: bytes read, the server's TSC cycles taken.
    pub const MEASURE_DISK_READ: u64 = 21;

    /// The largest operation number.
    pub const LAST: u64 = MEASURE_DISK_READ;
}

/// Open flags (word 0 of OPEN).
pub mod open {
    pub const READ: u64 = 1;
    pub const WRITE: u64 = 2;
    /// Create the file if it does not exist.
    pub const CREATE: u64 = 4;
    /// Create it, failing with AlreadyExists if it exists (implies CREATE).
    pub const CREATE_NEW: u64 = 8;
    /// Cut the file to length 0.
    pub const TRUNCATE: u64 = 16;
    /// Every write goes to the end, whatever offset it names (implies WRITE).
    pub const APPEND: u64 = 32;
    /// Open a directory, for READDIR.
    pub const DIRECTORY: u64 = 64;
    /// Every flag.
    pub const ALL: u64 = 127;
}

/// What an inode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    File = 1,
    Directory = 2,
    Symlink = 3,
    /// A device, FIFO or socket node (ext2 has them; KaaL does not open them).
    Other = 4,
}

impl Kind {
    pub const fn from_u8(v: u8) -> Kind {
        match v {
            1 => Kind::File,
            2 => Kind::Directory,
            3 => Kind::Symlink,
            _ => Kind::Other,
        }
    }
}

/// Metadata as the reply's four words carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub size: u64,
    pub kind: Kind,
    /// Permission bits (`0o755`).
    pub mode: u16,
    /// Links to it (hard links; a directory's subdirectories count).
    pub links: u32,
    pub inode: u64,
    /// Modification time, seconds since 1970 (0 if the file system keeps none).
    pub mtime: u32,
}

impl Stat {
    pub fn to_words(&self) -> [u64; 4] {
        [
            self.size,
            (self.kind as u64) << 32 | self.mode as u64,
            self.inode,
            (self.mtime as u64) << 32 | self.links as u64,
        ]
    }

    pub fn from_words(w: [u64; 4]) -> Stat {
        Stat {
            size: w[0],
            kind: Kind::from_u8((w[1] >> 32) as u8),
            mode: w[1] as u16,
            inode: w[2],
            links: w[3] as u32,
            mtime: (w[3] >> 32) as u32,
        }
    }
}

/// A reply's status (its label): what went wrong, as a kind the client maps to
/// [`crate::io::ErrorKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Status {
    Ok = 0,
    NotFound = 1,
    PermissionDenied = 2,
    AlreadyExists = 3,
    NotADirectory = 4,
    IsADirectory = 5,
    DirectoryNotEmpty = 6,
    /// A bad argument: length, offset, flags, a path that is not UTF-8.
    InvalidInput = 7,
    ReadOnlyFilesystem = 8,
    /// No free blocks or inodes.
    StorageFull = 9,
    /// A name longer than [`NAME_MAX`] (a NUL in a path is `InvalidInput`).
    InvalidFilename = 10,
    /// Too many symbolic links in a row (40).
    FilesystemLoop = 11,
    /// Something the file system cannot do (the message says what).
    Unsupported = 12,
    /// The device failed.
    Io = 13,
    /// A handle the client does not have.
    BadHandle = 14,
    /// The client has as many files open as it may.
    TooManyOpenFiles = 15,
    /// A rename or link between two file systems.
    CrossesDevices = 16,
    /// The server ran out of memory for this request.
    OutOfMemory = 17,
    /// The file system's data on disk is inconsistent.
    Corrupt = 18,
    /// A directory that is a mount point, or a file that is in use in a way that
    /// forbids the request.
    Busy = 19,
    /// A file larger than the file system allows.
    FileTooLarge = 20,
    /// A request the server does not know.
    BadRequest = 21,
}

impl Status {
    pub const fn from_u64(v: u64) -> Status {
        match v {
            0 => Status::Ok,
            1 => Status::NotFound,
            2 => Status::PermissionDenied,
            3 => Status::AlreadyExists,
            4 => Status::NotADirectory,
            5 => Status::IsADirectory,
            6 => Status::DirectoryNotEmpty,
            7 => Status::InvalidInput,
            8 => Status::ReadOnlyFilesystem,
            9 => Status::StorageFull,
            10 => Status::InvalidFilename,
            11 => Status::FilesystemLoop,
            12 => Status::Unsupported,
            13 => Status::Io,
            14 => Status::BadHandle,
            15 => Status::TooManyOpenFiles,
            16 => Status::CrossesDevices,
            17 => Status::OutOfMemory,
            18 => Status::Corrupt,
            19 => Status::Busy,
            20 => Status::FileTooLarge,
            _ => Status::BadRequest,
        }
    }

    /// What it means, for messages.
    pub const fn describe(self) -> &'static str {
        match self {
            Status::Ok => "done",
            Status::NotFound => "not found (or outside what system.toml mounts for this component)",
            Status::PermissionDenied => "permission denied (the mount is read-only for this component)",
            Status::AlreadyExists => "it already exists",
            Status::NotADirectory => "not a directory",
            Status::IsADirectory => "it is a directory",
            Status::DirectoryNotEmpty => "the directory is not empty",
            Status::InvalidInput => "invalid argument",
            Status::ReadOnlyFilesystem => "the file system is read-only",
            Status::StorageFull => "no space left on the file system",
            Status::InvalidFilename => "invalid file name (empty, longer than 255 bytes, or with NUL)",
            Status::FilesystemLoop => "too many levels of symbolic links",
            Status::Unsupported => "the file system does not support this",
            Status::Io => "the disk reported an I/O error",
            Status::BadHandle => "not an open file of this component",
            Status::TooManyOpenFiles => "too many open files",
            Status::CrossesDevices => "the two paths are on different file systems",
            Status::OutOfMemory => "the VFS server is out of memory",
            Status::Corrupt => "the file system on disk is corrupt (run e2fsck on the image)",
            Status::Busy => "busy (a mount point, or in use)",
            Status::FileTooLarge => "the file would be larger than the file system allows",
            Status::BadRequest => "the VFS server does not know this request",
        }
    }
}

/// Packs the two path lengths into request word 3.
pub const fn path_lengths(first: usize, second: usize) -> u64 {
    (first as u64 & 0xffff) | ((second as u64 & 0xffff) << 16)
}

/// Unpacks request word 3.
pub const fn unpack_path_lengths(word: u64) -> (usize, usize) {
    ((word & 0xffff) as usize, ((word >> 16) & 0xffff) as usize)
}

/// The bytes one directory entry takes in the data area.
pub const fn entry_bytes(name_len: usize) -> usize {
    10 + name_len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_words_round_trip() {
        let s = Stat { size: 1 << 40, kind: Kind::Symlink, mode: 0o777, links: 3, inode: 99, mtime: 1_700_000_000 };
        assert_eq!(Stat::from_words(s.to_words()), s);
        assert_eq!(unpack_path_lengths(path_lengths(4096, 17)), (4096, 17));
        assert_eq!(core::mem::size_of::<Request>(), 40);
        assert_eq!(core::mem::size_of::<Response>(), 40);
        for v in 0..25 {
            let s = Status::from_u64(v);
            assert!(s as u64 == v || (v > 20 && s == Status::BadRequest));
        }
    }
}
