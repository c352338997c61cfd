//! `Read`, `Write` and `Seek`, and the error every file and socket operation returns:
//! an [`ErrorKind`] like `std::io::ErrorKind`, the operation and the path (for a socket:
//! its address or port, `10.0.2.2:8000`, `port 80`).

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::netproto;
use crate::proto::Status;

/// What went wrong, as `std::io::ErrorKind` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    PermissionDenied,
    AlreadyExists,
    NotADirectory,
    IsADirectory,
    DirectoryNotEmpty,
    InvalidInput,
    /// A file's data did not have the expected form (e.g. not UTF-8), or the file
    /// system on disk is corrupt.
    InvalidData,
    ReadOnlyFilesystem,
    StorageFull,
    InvalidFilename,
    FilesystemLoop,
    Unsupported,
    CrossesDevices,
    FileTooLarge,
    ResourceBusy,
    OutOfMemory,
    /// `read_exact` reached the end of the file first.
    UnexpectedEof,
    /// `write_all` could not write everything.
    WriteZero,
    /// The VFS or network server is not reachable (no `mounts` or `network` in
    /// system.toml, or `init` not called), or it stopped answering; or a stream is not
    /// connected (yet, or any more).
    NotConnected,
    /// A non-blocking socket's operation cannot go ahead yet.
    WouldBlock,
    /// Another socket listens on (or is bound to) that port.
    AddrInUse,
    /// Nothing listens at the address connected to.
    ConnectionRefused,
    /// The peer reset the connection.
    ConnectionReset,
    /// Sending on a stream whose sending side was shut down.
    BrokenPipe,
    /// A socket's timeout (`set_read_timeout`, `connect_timeout` ...) passed.
    TimedOut,
    /// The network is down: no address yet (DHCP), or the NIC driver stopped.
    NetworkDown,
    /// No route to the address.
    HostUnreachable,
    Other,
}

impl ErrorKind {
    /// The kind for a server status.
    pub const fn from_status(status: Status) -> ErrorKind {
        match status {
            Status::Ok => ErrorKind::Other,
            Status::NotFound => ErrorKind::NotFound,
            Status::PermissionDenied => ErrorKind::PermissionDenied,
            Status::AlreadyExists => ErrorKind::AlreadyExists,
            Status::NotADirectory => ErrorKind::NotADirectory,
            Status::IsADirectory => ErrorKind::IsADirectory,
            Status::DirectoryNotEmpty => ErrorKind::DirectoryNotEmpty,
            Status::InvalidInput | Status::BadHandle | Status::BadRequest => ErrorKind::InvalidInput,
            Status::ReadOnlyFilesystem => ErrorKind::ReadOnlyFilesystem,
            Status::StorageFull => ErrorKind::StorageFull,
            Status::InvalidFilename => ErrorKind::InvalidFilename,
            Status::FilesystemLoop => ErrorKind::FilesystemLoop,
            Status::Unsupported => ErrorKind::Unsupported,
            Status::Io => ErrorKind::Other,
            Status::TooManyOpenFiles => ErrorKind::ResourceBusy,
            Status::CrossesDevices => ErrorKind::CrossesDevices,
            Status::OutOfMemory => ErrorKind::OutOfMemory,
            Status::Corrupt => ErrorKind::InvalidData,
            Status::Busy => ErrorKind::ResourceBusy,
            Status::FileTooLarge => ErrorKind::FileTooLarge,
        }
    }

    /// The kind for a network server status.
    pub const fn from_net_status(status: netproto::Status) -> ErrorKind {
        use netproto::Status as S;
        match status {
            S::Ok => ErrorKind::Other,
            S::PermissionDenied => ErrorKind::PermissionDenied,
            S::InvalidInput | S::BadHandle | S::BadRequest => ErrorKind::InvalidInput,
            S::TooManySockets => ErrorKind::ResourceBusy,
            S::OutOfMemory => ErrorKind::OutOfMemory,
            S::WouldBlock => ErrorKind::WouldBlock,
            S::AddrInUse => ErrorKind::AddrInUse,
            S::ConnectionRefused => ErrorKind::ConnectionRefused,
            S::ConnectionReset => ErrorKind::ConnectionReset,
            S::NotConnected => ErrorKind::NotConnected,
            S::BrokenPipe => ErrorKind::BrokenPipe,
            S::TimedOut => ErrorKind::TimedOut,
            S::NetworkDown => ErrorKind::NetworkDown,
            S::Unreachable => ErrorKind::HostUnreachable,
        }
    }
}

/// A failed file or socket operation: its kind, what was being done, and to which path
/// (or socket address, or port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    /// "open", "read", "rename", "connect" ...
    operation: &'static str,
    path: String,
    /// The server's own words, or this crate's.
    detail: Cow<'static, str>,
}

impl Error {
    pub fn new(kind: ErrorKind, operation: &'static str, path: &str, detail: &'static str) -> Error {
        Error { kind, operation, path: String::from(path), detail: Cow::Borrowed(detail) }
    }

    /// As [`Error::new`], with a detail made at run time ("no address from DHCP after
    /// 5000 ms").
    pub fn with_detail(kind: ErrorKind, operation: &'static str, path: &str, detail: String) -> Error {
        Error { kind, operation, path: String::from(path), detail: Cow::Owned(detail) }
    }

    pub(crate) fn from_status(status: Status, operation: &'static str, path: &str) -> Error {
        Error::new(ErrorKind::from_status(status), operation, path, status.describe())
    }

    pub(crate) fn from_net_status(status: netproto::Status, operation: &'static str, path: &str) -> Error {
        Error::new(ErrorKind::from_net_status(status), operation, path, status.describe())
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The path the operation concerned (empty for an open file's read or write: see
    /// the file's own path in the message).
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// What went wrong, in words (the message without the operation and path).
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {} ({:?})", self.operation, self.detail, self.kind)
        } else {
            write!(f, "{} {}: {} ({:?})", self.operation, self.path, self.detail, self.kind)
        }
    }
}

impl core::error::Error for Error {}

pub type Result<T> = core::result::Result<T, Error>;

/// Where a seek counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeekFrom {
    Start(u64),
    End(i64),
    Current(i64),
}

/// Reads bytes, as `std::io::Read`.
pub trait Read {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize>;

    fn read_exact(&mut self, mut buf: &mut [u8]) -> Result<()> {
        while !buf.is_empty() {
            match self.read(buf)? {
                0 => return Err(Error::new(ErrorKind::UnexpectedEof, "read_exact", "", "the file ended first")),
                n => buf = &mut buf[n..],
            }
        }
        Ok(())
    }

    fn read_to_end(&mut self, out: &mut Vec<u8>) -> Result<usize> {
        let start = out.len();
        let mut chunk = alloc::vec![0u8; 64 * 1024];
        loop {
            match self.read(&mut chunk)? {
                0 => return Ok(out.len() - start),
                n => out.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn read_to_string(&mut self, out: &mut String) -> Result<usize> {
        let mut bytes = Vec::new();
        let n = self.read_to_end(&mut bytes)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::new(ErrorKind::InvalidData, "read_to_string", "", "the file is not UTF-8"))?;
        out.push_str(&text);
        Ok(n)
    }
}

/// Writes bytes, as `std::io::Write`.
pub trait Write {
    fn write(&mut self, buf: &[u8]) -> Result<usize>;

    fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    fn write_all(&mut self, mut buf: &[u8]) -> Result<()> {
        while !buf.is_empty() {
            match self.write(buf)? {
                0 => return Err(Error::new(ErrorKind::WriteZero, "write_all", "", "nothing was written")),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }
}

/// Moves the position, as `std::io::Seek`.
pub trait Seek {
    fn seek(&mut self, pos: SeekFrom) -> Result<u64>;

    fn rewind(&mut self) -> Result<()> {
        self.seek(SeekFrom::Start(0)).map(|_| ())
    }

    fn stream_position(&mut self) -> Result<u64> {
        self.seek(SeekFrom::Current(0))
    }
}
