//! Files, as `std::fs` has them, served by KaaL's VFS server.
//!
//! Call [`init`] once with the component; then use the functions and types here as
//! you would `std::fs`'s. Paths are absolute in the component's own view (what its
//! `mounts` in system.toml put where); a relative path is taken from `/`.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use kaal_core::component::Component;
use kaal_core::shared::SharedRegion;
use kaal_core::time::{Duration, Instant, Timer, WakeTarget};
use kaal_core::Notification;
use kaal_ipc::window::Window;
use kaal_ipc::{Consumer, Producer};

use crate::io::{self, Error, ErrorKind, Read, Seek, SeekFrom, Write};
use crate::proto::{self, op, open, Kind, Request, Response, Stat, Status};

type Ring = Window<&'static SharedRegion>;

struct Connection {
    requests: Producer<Request, Ring>,
    responses: Consumer<Response, Ring>,
    /// The region's buffer part.
    buffer: &'static SharedRegion,
    wake: Notification,
    done: Notification,
    /// With a timer: how long to wait for an answer.
    timeout: Option<(Timer, WakeTarget, Duration)>,
    next_id: u32,
    /// Set when a request timed out: it may still run later, against whatever the
    /// buffer then holds, so the connection is not used again.
    broken: bool,
}

/// The component's one connection. Components are single-threaded; `BUSY` turns a
/// re-entrant use (from a panic handler, say) into an error instead of two users of
/// one buffer.
struct Global(UnsafeCell<Option<Connection>>);
// SAFETY: access goes through `with_connection`, which lets one caller in at a time.
unsafe impl Sync for Global {}
static CONNECTION: Global = Global(UnsafeCell::new(None));
static BUSY: AtomicBool = AtomicBool::new(false);

/// Connects this component to the VFS server through what the tool granted it because
/// system.toml gives it `mounts`: its region `vfs-<name>` (two rings and a buffer) and
/// the notifications `vfs-wake` and `vfs-<name>-done`. Calls wait for their answers
/// for as long as it takes; see [`init_with_timeout`].
pub fn init(me: &mut Component) -> Result<(), kaal_core::Error> {
    connect(me, None)
}

/// As [`init`], but every call gives up after `timeout` with an error (`NotConnected`)
/// if the VFS server has not answered: a server that faulted cannot hang this
/// component. The component needs `time = true` for `timer`.
pub fn init_with_timeout(me: &mut Component, timer: Timer, timeout: Duration) -> Result<(), kaal_core::Error> {
    connect(me, Some((timer, timeout)))
}

fn connect(me: &mut Component, timeout: Option<(Timer, Duration)>) -> Result<(), kaal_core::Error> {
    let mut name = String::from(proto::BUFFER_PREFIX);
    name.push_str(me.name());
    let region = me.region(&name)?;
    if region.size() < proto::MIN_REGION {
        return Err(kaal_core::Error::InvalidSize {
            what: "VFS region (bytes)",
            value: region.size() as u64,
            limit: proto::MIN_REGION as u64,
        });
    }
    let wake = me.notification(proto::WAKE)?;
    name.push_str(proto::DONE_SUFFIX);
    let done = me.notification(&name)?;
    // The grant is mapped for the component's whole life.
    let region: &'static SharedRegion = Box::leak(Box::new(region));
    // The region was checked to hold both windows; a ring that does not fit them is a
    // KaaL bug, reported as the ring's size.
    let bad = kaal_core::Error::InvalidSize {
        what: "VFS ring (bytes)",
        value: proto::RING_BYTES as u64,
        limit: region.size() as u64,
    };
    let window = |at| Window::new(region, at, proto::RING_BYTES).map_err(|_| bad.clone());
    let requests = Producer::new(window(proto::REQUESTS)?, proto::RING_SLOTS).map_err(|_| bad.clone())?;
    let responses = Consumer::new(window(proto::RESPONSES)?, proto::RING_SLOTS).map_err(|_| bad.clone())?;
    let timeout = match timeout {
        Some((timer, after)) => {
            let target = timer.register(&done)?;
            Some((timer, target, after))
        }
        None => None,
    };
    let connection = Connection { requests, responses, buffer: region, wake, done, timeout, next_id: 0, broken: false };
    let twice = kaal_core::Error::InvalidSize { what: "kaal_posix::fs::init calls", value: 2, limit: 1 };
    with_connection(|slot| match slot {
        Some(_) => Err(Error::new(ErrorKind::AlreadyExists, "init", "", "already connected")),
        None => {
            *slot = Some(connection);
            Ok(())
        }
    })
    .map_err(|_| twice)?;
    // When `main` returns, what this component wrote is made durable: the system may
    // power off right after its last component ends.
    kaal_core::runtime::at_exit(sync_at_exit);
    Ok(())
}

fn sync_at_exit() {
    if let Err(e) = sync() {
        kaal_core::println!("[{}] kaal-posix: the sync at exit failed: {e}", kaal_core::component::current_name("?"));
    }
}

fn with_connection<T>(f: impl FnOnce(&mut Option<Connection>) -> io::Result<T>) -> io::Result<T> {
    if BUSY.swap(true, Ordering::Acquire) {
        return Err(Error::new(ErrorKind::ResourceBusy, "file operation", "", "the file API was re-entered"));
    }
    // SAFETY: BUSY admits one caller at a time.
    let result = f(unsafe { &mut *CONNECTION.0.get() });
    BUSY.store(false, Ordering::Release);
    result
}

/// One request: `paths` go into the buffer's path areas, `data` (for writes) into its
/// data area; `out` (for reads) receives up to its length from the data area.
struct Outgoing<'a> {
    op: u64,
    words: [u64; 3],
    path: &'a str,
    second: &'a str,
    data: &'a [u8],
}

impl Connection {
    /// Sends `request` and waits for its answer (a late answer to an earlier request
    /// that timed out is skipped).
    fn exchange(&mut self, op: u64, words: [u64; 4]) -> Result<Response, &'static str> {
        if self.broken {
            return Err("an earlier request timed out, so the connection is closed");
        }
        self.next_id = self.next_id.wrapping_add(1);
        let request = Request { op: op as u32, id: self.next_id, words };
        match self.requests.push_notify(request, &self.wake) {
            Ok(()) => {}
            Err(kaal_ipc::RingError::Full) => return Err("the VFS server has stopped taking requests"),
            Err(_) => return Err("the request ring is corrupt"),
        }
        let deadline = match &self.timeout {
            Some((timer, target, after)) => {
                let at = Instant::now().checked_add(*after).ok_or("the timeout is too long")?;
                timer.wake_at(at, *target).map_err(|_| "the time service refused the timeout")?;
                Some(at)
            }
            None => None,
        };
        loop {
            let answer = match deadline {
                Some(at) => self
                    .responses
                    .pop_until(&self.done, &self.wake, || Instant::now() >= at)
                    .map_err(|_| "the response ring is corrupt")?,
                None => Some(
                    self.responses.pop_blocking(&self.done, &self.wake).map_err(|_| "the response ring is corrupt")?,
                ),
            };
            match answer {
                Some(response) if response.id == request.id => {
                    if let Some((timer, target, _)) = &self.timeout {
                        let _ = timer.cancel(*target);
                    }
                    return Ok(response);
                }
                Some(_) => continue,
                None => {
                    self.broken = true;
                    return Err("the VFS server did not answer in time (it may have stopped; see its log)");
                }
            }
        }
    }
}

fn call(operation: &'static str, req: Outgoing<'_>, out: Option<&mut [u8]>) -> io::Result<[u64; 4]> {
    with_connection(|conn| {
        let conn = conn.as_mut().ok_or_else(|| {
            Error::new(
                ErrorKind::NotConnected,
                operation,
                req.path,
                "no VFS connection: give the component `mounts` in system.toml and call kaal_posix::fs::init",
            )
        })?;
        for (path, at) in [(req.path, 0), (req.second, proto::PATH_MAX)] {
            if path.len() > proto::PATH_MAX {
                return Err(Error::new(ErrorKind::InvalidInput, operation, path, "the path is longer than 4096 bytes"));
            }
            conn.buffer.write_bytes(proto::BUFFER + at, path.as_bytes());
        }
        conn.buffer.write_bytes(proto::BUFFER + proto::DATA, req.data);
        let lengths = proto::path_lengths(req.path.len(), req.second.len());
        let [w0, w1, w2] = req.words;
        let reply = conn
            .exchange(req.op, [w0, w1, w2, lengths])
            .map_err(|why| Error::new(ErrorKind::NotConnected, operation, req.path, why))?;
        let status = Status::from_u64(u64::from(reply.status));
        if status != Status::Ok {
            return Err(Error::from_status(status, operation, req.path));
        }
        if let Some(out) = out {
            conn.buffer.read_bytes(proto::BUFFER + proto::DATA, out);
        }
        Ok(reply.words)
    })
}

/// Sends one request exactly as given, unchecked, and returns the server's status and
/// words: for tools and tests of the protocol (a hostile client), not for programs.
/// `buffer` is written at the start of the buffer first (the paths area).
pub fn raw_request(op: u64, words: [u64; 4], buffer: &[u8]) -> io::Result<(Status, [u64; 4])> {
    with_connection(|conn| {
        let conn =
            conn.as_mut().ok_or_else(|| Error::new(ErrorKind::NotConnected, "raw_request", "", "no VFS connection"))?;
        conn.buffer.write_bytes(proto::BUFFER, buffer);
        let reply =
            conn.exchange(op, words).map_err(|why| Error::new(ErrorKind::NotConnected, "raw_request", "", why))?;
        Ok((Status::from_u64(u64::from(reply.status)), reply.words))
    })
}

/// Bytes of data one request moves at most.
fn data_capacity() -> usize {
    // SAFETY-free: read the size under the same guard.
    with_connection(|c| Ok(c.as_ref().map_or(0, |c| c.buffer.size() - proto::BUFFER - proto::DATA))).unwrap_or(0)
}

fn simple(operation: &'static str, op: u64, path: &str, second: &str) -> io::Result<[u64; 4]> {
    call(operation, Outgoing { op, words: [0; 3], path, second, data: &[] }, None)
}

fn absolute(path: &str) -> String {
    if path.starts_with('/') {
        String::from(path)
    } else {
        let mut p = String::from("/");
        p.push_str(path);
        p
    }
}

/// What kind of file, as `std::fs::FileType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileType(Kind);

impl FileType {
    pub fn is_file(&self) -> bool {
        self.0 == Kind::File
    }
    pub fn is_dir(&self) -> bool {
        self.0 == Kind::Directory
    }
    pub fn is_symlink(&self) -> bool {
        self.0 == Kind::Symlink
    }
}

/// Metadata, as `std::fs::Metadata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata(Stat);

impl Metadata {
    pub fn len(&self) -> u64 {
        self.0.size
    }
    pub fn is_empty(&self) -> bool {
        self.0.size == 0
    }
    pub fn is_file(&self) -> bool {
        self.0.kind == Kind::File
    }
    pub fn is_dir(&self) -> bool {
        self.0.kind == Kind::Directory
    }
    pub fn is_symlink(&self) -> bool {
        self.0.kind == Kind::Symlink
    }
    pub fn file_type(&self) -> FileType {
        FileType(self.0.kind)
    }
    /// Permission bits (`0o644`).
    pub fn mode(&self) -> u16 {
        self.0.mode
    }
    /// Hard links to it.
    pub fn nlink(&self) -> u32 {
        self.0.links
    }
    pub fn ino(&self) -> u64 {
        self.0.inode
    }
    /// Modification time, seconds since 1970.
    pub fn mtime(&self) -> u32 {
        self.0.mtime
    }
}

/// How to open a file, as `std::fs::OpenOptions`.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions {
    flags: u64,
}

impl OpenOptions {
    pub fn new() -> Self {
        OpenOptions { flags: 0 }
    }
    fn set(mut self, flag: u64, on: bool) -> Self {
        if on {
            self.flags |= flag
        } else {
            self.flags &= !flag
        }
        self
    }
    pub fn read(&mut self, on: bool) -> &mut Self {
        *self = self.set(open::READ, on);
        self
    }
    pub fn write(&mut self, on: bool) -> &mut Self {
        *self = self.set(open::WRITE, on);
        self
    }
    /// Every write goes to the end (and the file is opened for writing).
    pub fn append(&mut self, on: bool) -> &mut Self {
        *self = self.set(open::APPEND, on);
        self
    }
    pub fn truncate(&mut self, on: bool) -> &mut Self {
        *self = self.set(open::TRUNCATE, on);
        self
    }
    pub fn create(&mut self, on: bool) -> &mut Self {
        *self = self.set(open::CREATE, on);
        self
    }
    /// Create the file, which must not exist yet (`create` is then implied).
    pub fn create_new(&mut self, on: bool) -> &mut Self {
        *self = self.set(open::CREATE_NEW, on);
        self
    }
    pub fn open(&self, path: &str) -> io::Result<File> {
        File::open_with(path, self.flags)
    }
}

/// An open file, as `std::fs::File`. The position is kept here; each read and write
/// names its offset, so the server keeps no position. Closed when dropped.
#[derive(Debug)]
pub struct File {
    handle: u64,
    pos: u64,
    append: bool,
    path: String,
}

impl File {
    /// Opens `path` for reading.
    pub fn open(path: &str) -> io::Result<File> {
        File::open_with(path, open::READ)
    }

    /// Opens `path` for writing, creating it or cutting it to length 0.
    pub fn create(path: &str) -> io::Result<File> {
        File::open_with(path, open::WRITE | open::CREATE | open::TRUNCATE)
    }

    /// Creates `path` for reading and writing; it must not exist yet.
    pub fn create_new(path: &str) -> io::Result<File> {
        File::open_with(path, open::READ | open::WRITE | open::CREATE | open::CREATE_NEW)
    }

    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    fn open_with(path: &str, flags: u64) -> io::Result<File> {
        let path = absolute(path);
        let words =
            call("open", Outgoing { op: op::OPEN, words: [flags, 0, 0], path: &path, second: "", data: &[] }, None)?;
        Ok(File { handle: words[0], pos: 0, append: flags & open::APPEND != 0, path })
    }

    /// The path it was opened by.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn metadata(&self) -> io::Result<Metadata> {
        let w = call("metadata", self.request(op::FSTAT, 0, 0, &[]), None)?;
        Ok(Metadata(Stat::from_words(w)))
    }

    /// Sets the file's length (cutting it, or extending it with zeros).
    pub fn set_len(&self, size: u64) -> io::Result<()> {
        call("set_len", self.request(op::TRUNCATE, size, 0, &[]), None).map(|_| ())
    }

    /// Makes the file's data and metadata durable on disk.
    pub fn sync_all(&self) -> io::Result<()> {
        call("sync_all", self.request(op::FSYNC, 0, 0, &[]), None).map(|_| ())
    }

    /// Has the VFS server read this file from the current position to its end by
    /// itself, dropping the data: (bytes, the server's TSC cycles). A benchmark's
    /// measure of what a read costs inside the server, without the copies and calls.
    pub fn measure_read_in_server(&self) -> io::Result<(u64, u64)> {
        let step = data_capacity() as u64;
        call("measure_read_in_server", self.request(op::MEASURE_READ, self.pos, step, &[]), None).map(|w| (w[0], w[1]))
    }

    /// As [`File::sync_all`] (metadata is written with the data).
    pub fn sync_data(&self) -> io::Result<()> {
        self.sync_all()
    }

    fn request<'a>(&'a self, op: u64, offset: u64, len: u64, data: &'a [u8]) -> Outgoing<'a> {
        Outgoing { op, words: [self.handle, offset, len], path: "", second: "", data }
    }

    fn fail(&self, mut e: Error) -> Error {
        if e.path().is_empty() {
            e = Error::new(e.kind(), e.operation(), &self.path, "");
        }
        e
    }
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len().min(data_capacity());
        let (handle, pos) = (self.handle, self.pos);
        let request = Outgoing { op: op::READ, words: [handle, pos, len as u64], path: "", second: "", data: &[] };
        let got = call("read", request, Some(&mut buf[..len])).map_err(|e| self.fail(e))?[0] as usize;
        // The reply said how much is real; the rest of `buf[..len]` holds stale bytes.
        let got = got.min(len);
        self.pos += got as u64;
        Ok(got)
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let len = buf.len().min(data_capacity());
        let offset = if self.append { proto::APPEND } else { self.pos };
        let request = Outgoing {
            op: op::WRITE,
            words: [self.handle, offset, len as u64],
            path: "",
            second: "",
            data: &buf[..len],
        };
        let w = call("write", request, None).map_err(|e| self.fail(e))?;
        self.pos = w[1];
        Ok(w[0] as usize)
    }
}

impl Seek for File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let invalid = || Error::new(ErrorKind::InvalidInput, "seek", "", "a seek before the start of the file");
        let new = match pos {
            SeekFrom::Start(n) => n,
            SeekFrom::Current(d) => self.pos.checked_add_signed(d).ok_or_else(invalid)?,
            SeekFrom::End(d) => self.metadata()?.len().checked_add_signed(d).ok_or_else(invalid)?,
        };
        self.pos = new;
        Ok(new)
    }
}

impl Drop for File {
    fn drop(&mut self) {
        let _ = call("close", self.request(op::CLOSE, 0, 0, &[]), None);
    }
}

/// One entry of [`read_dir`], as `std::fs::DirEntry`.
#[derive(Debug, Clone)]
pub struct DirEntry {
    dir: String,
    name: String,
    kind: Kind,
    inode: u64,
}

impl DirEntry {
    pub fn file_name(&self) -> &str {
        &self.name
    }
    /// The directory's path joined with the name.
    pub fn path(&self) -> String {
        let mut p = self.dir.clone();
        if !p.ends_with('/') {
            p.push('/');
        }
        p.push_str(&self.name);
        p
    }
    pub fn file_type(&self) -> io::Result<FileType> {
        Ok(FileType(self.kind))
    }
    pub fn ino(&self) -> u64 {
        self.inode
    }
    pub fn metadata(&self) -> io::Result<Metadata> {
        symlink_metadata(&self.path())
    }
}

/// The entries of a directory, as `std::fs::ReadDir` (without `.` and `..`).
#[derive(Debug)]
pub struct ReadDir {
    dir: File,
    batch: Vec<DirEntry>,
    done: bool,
}

impl Iterator for ReadDir {
    type Item = io::Result<DirEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.batch.is_empty() && !self.done {
            if let Err(e) = self.fill() {
                self.done = true;
                return Some(Err(e));
            }
        }
        self.batch.pop().map(Ok)
    }
}

impl ReadDir {
    fn fill(&mut self) -> io::Result<()> {
        let len = data_capacity().min(64 * 1024);
        let mut bytes = alloc::vec![0u8; len];
        let request = self.dir.request(op::READDIR, 0, len as u64, &[]);
        let w = call("read_dir", request, Some(&mut bytes)).map_err(|e| self.dir.fail(e))?;
        let (count, used) = (w[0] as usize, (w[1] as usize).min(len));
        if count == 0 {
            self.done = true;
            return Ok(());
        }
        let mut at = 0;
        let bad = || Error::new(ErrorKind::InvalidData, "read_dir", "", "the VFS server sent a malformed entry");
        while at < used {
            let header = bytes.get(at..at + 10).ok_or_else(bad)?;
            let name_len = header[1] as usize;
            let inode = u64::from_le_bytes(header[2..10].try_into().unwrap_or_default());
            let name = bytes.get(at + 10..at + 10 + name_len).ok_or_else(bad)?;
            let name = String::from(core::str::from_utf8(name).unwrap_or("\u{fffd}"));
            self.batch.push(DirEntry { dir: self.dir.path.clone(), name, kind: Kind::from_u8(header[0]), inode });
            at += proto::entry_bytes(name_len);
        }
        self.batch.reverse();
        Ok(())
    }
}

/// The entries of directory `path`.
pub fn read_dir(path: &str) -> io::Result<ReadDir> {
    let dir = File::open_with(path, open::READ | open::DIRECTORY)?;
    Ok(ReadDir { dir, batch: Vec::new(), done: false })
}

/// Metadata of `path`, following symbolic links.
pub fn metadata(path: &str) -> io::Result<Metadata> {
    let path = absolute(path);
    simple("metadata", op::STAT, &path, "").map(|w| Metadata(Stat::from_words(w)))
}

/// Metadata of `path` itself, not following a final symbolic link.
pub fn symlink_metadata(path: &str) -> io::Result<Metadata> {
    let path = absolute(path);
    simple("symlink_metadata", op::LSTAT, &path, "").map(|w| Metadata(Stat::from_words(w)))
}

/// Whether `path` exists (errors other than NotFound count as "exists": it is there but
/// cannot be looked at).
pub fn exists(path: &str) -> io::Result<bool> {
    match metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

pub fn create_dir(path: &str) -> io::Result<()> {
    let path = absolute(path);
    simple("create_dir", op::MKDIR, &path, "").map(|_| ())
}

/// Creates `path` and every missing parent.
pub fn create_dir_all(path: &str) -> io::Result<()> {
    let path = absolute(path);
    let mut at = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        at.push('/');
        at.push_str(part);
        match create_dir(&at) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists && metadata(&at).is_ok_and(|m| m.is_dir()) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub fn remove_dir(path: &str) -> io::Result<()> {
    let path = absolute(path);
    simple("remove_dir", op::RMDIR, &path, "").map(|_| ())
}

/// Removes a directory and everything in it.
pub fn remove_dir_all(path: &str) -> io::Result<()> {
    let path = absolute(path);
    let entries: Vec<DirEntry> = read_dir(&path)?.collect::<io::Result<_>>()?;
    for entry in entries {
        if entry.kind == Kind::Directory {
            remove_dir_all(&entry.path())?;
        } else {
            remove_file(&entry.path())?;
        }
    }
    remove_dir(&path)
}

/// Removes a file or a symbolic link.
pub fn remove_file(path: &str) -> io::Result<()> {
    let path = absolute(path);
    simple("remove_file", op::UNLINK, &path, "").map(|_| ())
}

/// Renames `from` to `to`, replacing `to` if it is a file.
pub fn rename(from: &str, to: &str) -> io::Result<()> {
    let (from, to) = (absolute(from), absolute(to));
    simple("rename", op::RENAME, &from, &to).map(|_| ())
}

/// Makes `link` a new name for the file `original`.
pub fn hard_link(original: &str, link: &str) -> io::Result<()> {
    let (original, link) = (absolute(original), absolute(link));
    simple("hard_link", op::LINK, &original, &link).map(|_| ())
}

/// Makes `link` a symbolic link to `target` (as `std::os::unix::fs::symlink`). A target
/// is resolved in the reader's view when followed.
pub fn symlink(target: &str, link: &str) -> io::Result<()> {
    let link = absolute(link);
    simple("symlink", op::SYMLINK, &link, target).map(|_| ())
}

/// The target of symbolic link `path`.
pub fn read_link(path: &str) -> io::Result<String> {
    let path = absolute(path);
    let mut target = alloc::vec![0u8; proto::PATH_MAX];
    let request =
        Outgoing { op: op::READLINK, words: [0, 0, proto::PATH_MAX as u64], path: &path, second: "", data: &[] };
    let w = call("read_link", request, Some(&mut target))?;
    target.truncate((w[0] as usize).min(proto::PATH_MAX));
    String::from_utf8(target)
        .map_err(|_| Error::new(ErrorKind::InvalidData, "read_link", &path, "the target is not UTF-8"))
}

/// The whole file.
pub fn read(path: &str) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    File::open(path)?.read_to_end(&mut out)?;
    Ok(out)
}

/// The whole file, as text.
pub fn read_to_string(path: &str) -> io::Result<String> {
    let mut out = String::new();
    let mut file = File::open(path)?;
    file.read_to_string(&mut out).map_err(|e| file.fail(e))?;
    Ok(out)
}

/// Creates or replaces `path` with `data`.
pub fn write(path: &str, data: &[u8]) -> io::Result<()> {
    File::create(path)?.write_all(data)
}

/// Copies `from` to `to`; the bytes copied.
pub fn copy(from: &str, to: &str) -> io::Result<u64> {
    let mut source = File::open(from)?;
    let mut dest = File::create(to)?;
    let mut chunk = alloc::vec![0u8; 64 * 1024];
    let mut total = 0;
    loop {
        match source.read(&mut chunk)? {
            0 => return Ok(total),
            n => {
                dest.write_all(&chunk[..n])?;
                total += n as u64;
            }
        }
    }
}

/// Makes everything this component can write durable on disk.
pub fn sync() -> io::Result<()> {
    simple("sync", op::SYNC, "", "").map(|_| ())
}

/// Has the VFS server read `bytes` from the start of the disk under the file system
/// holding `path`, straight from the disk: (bytes, the server's TSC cycles). A
/// benchmark's measure of the raw block path below the file system.
pub fn measure_disk_read_in_server(path: &str, bytes: u64) -> io::Result<(u64, u64)> {
    let path = absolute(path);
    let request = Outgoing { op: op::MEASURE_DISK_READ, words: [0, 0, bytes], path: &path, second: "", data: &[] };
    call("measure_disk_read_in_server", request, None).map(|w| (w[0], w[1]))
}

/// Space on the file system holding `path`: (block size, blocks, free blocks).
pub fn statfs(path: &str) -> io::Result<(u64, u64, u64)> {
    let path = absolute(path);
    simple("statfs", op::STATFS, &path, "").map(|w| (w[0], w[1], w[2]))
}
