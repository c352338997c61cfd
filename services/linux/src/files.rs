//! Open files: what a Linux file descriptor refers to, and the descriptor tables.
//!
//! Files on disk go to the VFS server through `kaal_posix::fs` (so the Linux processes
//! see exactly the personality's `mounts`); pipes, the terminal and `/dev/null` live
//! here. An open file is shared by the descriptors `dup` and `fork` make, as on Linux:
//! they share its offset.

use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

use kaal_posix::fs;
use kaal_posix::io::ErrorKind;
use kaal_posix::linux::abi::errno;

/// Bytes a pipe holds (Linux's default).
pub const PIPE_CAPACITY: usize = 64 * 1024;
/// The most descriptors a process may have open.
pub const MAX_FDS: usize = 1024;

/// Bytes all pipes may hold together: a process cannot fill the server's heap with
/// pipes (a write to a pipe waits, or is EAGAIN, while the total is reached).
pub const PIPES_TOTAL: usize = 8 << 20;

/// Bytes in all pipes now.
static BUFFERED: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// A pipe's buffer and how many ends are open.
#[derive(Default)]
pub struct Pipe {
    bytes: VecDeque<u8>,
    pub readers: usize,
    pub writers: usize,
}

impl Pipe {
    /// Bytes a write may add now.
    pub fn room(&self) -> usize {
        let all = PIPES_TOTAL.saturating_sub(BUFFERED.load(core::sync::atomic::Ordering::Relaxed));
        (PIPE_CAPACITY - self.bytes.len()).min(all)
    }

    pub fn push(&mut self, data: &[u8]) {
        let n = data.len().min(self.room());
        self.bytes.extend(data[..n].iter().copied());
        BUFFERED.fetch_add(n, core::sync::atomic::Ordering::Relaxed);
    }

    /// The first `n` bytes, left in the pipe.
    pub fn peek(&self, n: usize) -> Vec<u8> {
        self.bytes.iter().take(n).copied().collect()
    }

    /// Drops the first `n` bytes.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.bytes.len());
        self.bytes.drain(..n);
        BUFFERED.fetch_sub(n, core::sync::atomic::Ordering::Relaxed);
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        BUFFERED.fetch_sub(self.bytes.len(), core::sync::atomic::Ordering::Relaxed);
    }
}

/// A directory being listed by `getdents64`.
pub struct Listing {
    pub entries: Vec<(u64, u8, String)>,
    pub next: usize,
}

/// What a descriptor refers to.
pub enum Object {
    /// The terminal (the console).
    Tty,
    Null,
    File {
        file: fs::File,
    },
    Dir {
        path: String,
        listing: Option<Listing>,
    },
    PipeRead(Rc<RefCell<Pipe>>),
    PipeWrite(Rc<RefCell<Pipe>>),
    /// A socket of the network server's (see [`crate::sockets`]).
    Socket(crate::sockets::Socket),
}

/// An open file: what it is and how it was opened.
pub struct OpenFile {
    pub object: Object,
    /// O_APPEND, O_NONBLOCK and the access mode, as `fcntl(F_GETFL)` reports them.
    pub flags: u64,
}

impl OpenFile {
    pub fn new(object: Object, flags: u64) -> Rc<RefCell<OpenFile>> {
        match &object {
            Object::PipeRead(p) => p.borrow_mut().readers += 1,
            Object::PipeWrite(p) => p.borrow_mut().writers += 1,
            _ => {}
        }
        Rc::new(RefCell::new(OpenFile { object, flags }))
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        match &self.object {
            Object::PipeRead(p) => p.borrow_mut().readers -= 1,
            Object::PipeWrite(p) => p.borrow_mut().writers -= 1,
            _ => {}
        }
    }
}

/// One descriptor.
#[derive(Clone)]
pub struct Fd {
    pub file: Rc<RefCell<OpenFile>>,
    pub cloexec: bool,
}

/// A process's descriptors.
#[derive(Clone, Default)]
pub struct FdTable {
    fds: Vec<Option<Fd>>,
}

impl FdTable {
    pub fn get(&self, fd: u64) -> Result<&Fd, u64> {
        self.fds.get(fd as usize).and_then(Option::as_ref).ok_or(errno::EBADF)
    }

    pub fn get_mut(&mut self, fd: u64) -> Result<&mut Fd, u64> {
        self.fds.get_mut(fd as usize).and_then(Option::as_mut).ok_or(errno::EBADF)
    }

    /// The lowest free descriptor at or above `from`.
    pub fn insert_from(&mut self, from: usize, fd: Fd) -> Result<u64, u64> {
        let at = (from..MAX_FDS).find(|&i| self.fds.get(i).is_none_or(Option::is_none)).ok_or(errno::EMFILE)?;
        self.set(at, fd);
        Ok(at as u64)
    }

    pub fn insert(&mut self, fd: Fd) -> Result<u64, u64> {
        self.insert_from(0, fd)
    }

    /// Puts `fd` at `at`, closing what was there.
    pub fn set(&mut self, at: usize, fd: Fd) {
        if self.fds.len() <= at {
            self.fds.resize(at + 1, None);
        }
        self.fds[at] = Some(fd);
    }

    pub fn close(&mut self, fd: u64) -> Result<Fd, u64> {
        self.fds.get_mut(fd as usize).and_then(Option::take).ok_or(errno::EBADF)
    }

    /// Whether any open descriptor's file is one `f` picks.
    pub fn any(&self, f: impl Fn(&Rc<RefCell<OpenFile>>) -> bool) -> bool {
        self.fds.iter().flatten().any(|fd| f(&fd.file))
    }

    /// execve: descriptors marked close-on-exec go.
    pub fn close_on_exec(&mut self) {
        for slot in &mut self.fds {
            if slot.as_ref().is_some_and(|fd| fd.cloexec) {
                *slot = None;
            }
        }
    }

    pub fn clear(&mut self) {
        self.fds.clear();
    }
}

/// The errno for a VFS error.
pub fn errno_of(e: &kaal_posix::io::Error) -> u64 {
    match e.kind() {
        ErrorKind::NotFound => errno::ENOENT,
        ErrorKind::PermissionDenied => errno::EACCES,
        ErrorKind::AlreadyExists => errno::EEXIST,
        ErrorKind::NotADirectory => errno::ENOTDIR,
        ErrorKind::IsADirectory => errno::EISDIR,
        ErrorKind::DirectoryNotEmpty => errno::ENOTEMPTY,
        ErrorKind::InvalidInput => errno::EINVAL,
        ErrorKind::StorageFull => errno::ENOSPC,
        ErrorKind::ReadOnlyFilesystem => errno::EROFS,
        ErrorKind::FileTooLarge => errno::EFBIG,
        ErrorKind::Unsupported => errno::ENOSYS,
        ErrorKind::InvalidFilename => errno::ENAMETOOLONG,
        ErrorKind::FilesystemLoop => errno::ELOOP,
        ErrorKind::CrossesDevices => errno::EXDEV,
        ErrorKind::OutOfMemory => errno::ENOMEM,
        ErrorKind::ResourceBusy => errno::EBUSY,
        _ => errno::EIO,
    }
}

/// `path` made absolute against `cwd` and normalised (`.` and `..` resolved).
pub fn absolute(cwd: &str, path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let joined = if path.starts_with('/') { [path, ""] } else { [cwd, path] };
    for part in joined.iter().flat_map(|p| p.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    let mut out = String::from("/");
    out.push_str(&parts.join("/"));
    out
}
