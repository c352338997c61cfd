//! The VFS: each client's view (its mounts), path resolution inside that view, open
//! files, and the requests of `kaal_posix::proto`.
//!
//! **A client cannot reach outside its grants.** Paths are resolved in the client's
//! own view: `.` and `..` are taken lexically, and `..` stops at `/`; the mount with
//! the longest matching mount point then takes over, starting at its subtree's
//! directory. A symbolic link met on the way is read and its target resolved again
//! from the start, in the same view (an absolute target from the client's `/`, a
//! relative one from the link's directory). So every path, however it is spelled or
//! linked, ends in one of the client's mounts, inside its subtree; a path no mount
//! covers is `NotFound`, and a change through a read-only mount is
//! `PermissionDenied`.
//!
//! Every request word is checked: an unknown handle is `BadHandle`, a length past the
//! client's buffer `InvalidInput`, a path that is not UTF-8 or longer than
//! `PATH_MAX` `InvalidInput`. Nothing a client sends changes another client's files
//! beyond what both are granted, or the server's state for another client.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;

use kaal_posix::proto::{self, op, open, Kind, Stat, Status};

use crate::config::Config;
use crate::fsys::{Cursor, Entry, FileSystem, FsError, FsResult, Ino};

/// Open files per client.
pub const MAX_OPEN: usize = 64;
/// Symbolic links followed in one resolution.
pub const MAX_SYMLINKS: usize = 40;

/// A client's shared buffer, as the server reaches it.
pub trait Buffer {
    fn size(&self) -> usize;
    fn read(&self, at: usize, out: &mut [u8]);
    fn write(&self, at: usize, data: &[u8]);
}

#[derive(Debug, Clone)]
struct Mount {
    point: Vec<String>,
    fs: usize,
    subtree: Vec<String>,
    writable: bool,
}

#[derive(Debug)]
struct Open {
    fs: usize,
    ino: Ino,
    read: bool,
    write: bool,
    /// Every write goes to the end.
    append: bool,
    dir: Option<DirState>,
}

#[derive(Debug)]
struct DirState {
    cursor: Cursor,
    /// Entries fetched but not yet sent (they did not fit in the client's data area).
    pending: Vec<Entry>,
    done: bool,
}

struct Client {
    /// Longest mount point first.
    mounts: Vec<Mount>,
    handles: Vec<Option<Open>>,
}

/// A file system, or why it could not be mounted.
pub enum Slot {
    Mounted(Box<dyn FileSystem>),
    Failed { status: Status, problem: String },
}

pub struct Vfs {
    filesystems: Vec<Slot>,
    clients: BTreeMap<u64, Client>,
    /// How many handles refer to each inode.
    open: BTreeMap<(usize, Ino), u32>,
    /// Inodes with no links left, freed when their last handle closes.
    orphans: BTreeSet<(usize, Ino)>,
    /// The cycle counter MEASURE_READ reports in (the TSC in the component).
    pub cycles: fn() -> u64,
    /// The server's own copy of data on its way between a client and a file system
    /// (kept, so a read does not allocate and zero it each time).
    scratch: Vec<u8>,
}

/// What a path names in a client's view.
struct Resolved {
    fs: usize,
    writable: bool,
    /// The directory holding it, and its name there (`None` for a mount's own root).
    parent: Option<(Ino, Vec<u8>)>,
    /// The inode, if it exists.
    ino: Option<Ino>,
    /// The path in the client's view, after `.`, `..` and links.
    view: Vec<String>,
}

type Reply = Result<[u64; 4], FsError>;

fn err<T>(status: Status) -> Result<T, FsError> {
    Err(FsError::from(status))
}

/// Splits `path` into components onto `base`, taking `.` and `..` lexically (`..`
/// stops at the root). Components must be valid names.
fn normalize_onto(mut base: Vec<String>, path: &str) -> FsResult<Vec<String>> {
    if path.contains('\0') {
        return err(Status::InvalidInput);
    }
    if path.starts_with('/') {
        base.clear();
    }
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                base.pop();
            }
            name if name.len() > proto::NAME_MAX => return err(Status::InvalidFilename),
            name => base.push(String::from(name)),
        }
    }
    Ok(base)
}

fn components(path: &str) -> Vec<String> {
    path.split('/').filter(|p| !p.is_empty()).map(String::from).collect()
}

impl Vfs {
    /// The server for `config`, with `filesystems[i]` mounted for its file system `i`.
    pub fn new(config: &Config, filesystems: Vec<Slot>) -> Vfs {
        let mut clients = BTreeMap::new();
        for c in &config.clients {
            let mut mounts: Vec<Mount> = c
                .mounts
                .iter()
                .map(|m| Mount {
                    point: components(&m.point),
                    fs: m.filesystem,
                    subtree: components(&m.subtree),
                    writable: m.writable,
                })
                .collect();
            mounts.sort_by_key(|m| core::cmp::Reverse(m.point.len()));
            clients.insert(c.index, Client { mounts, handles: Vec::new() });
        }
        Vfs { filesystems, clients, open: BTreeMap::new(), orphans: BTreeSet::new(), cycles: || 0, scratch: Vec::new() }
    }

    fn fs(&mut self, index: usize) -> FsResult<&mut dyn FileSystem> {
        match self.filesystems.get_mut(index) {
            Some(Slot::Mounted(fs)) => Ok(fs.as_mut()),
            Some(Slot::Failed { status, .. }) => {
                Err(FsError::new(*status, "this file system could not be mounted (the VFS server's log says why)"))
            }
            None => err(Status::NotFound),
        }
    }

    /// Resolves `path` in client `badge`'s view.
    fn resolve(&mut self, badge: u64, path: &str, follow_last: bool) -> FsResult<Resolved> {
        let mut view = normalize_onto(Vec::new(), path)?;
        let mut links = 0;
        'again: loop {
            let client = self.clients.get(&badge).ok_or(FsError::from(Status::PermissionDenied))?;
            let mount = client
                .mounts
                .iter()
                .find(|m| view.len() >= m.point.len() && view[..m.point.len()] == m.point[..])
                .cloned()
                .ok_or(FsError::from(Status::NotFound))?;
            let skip = mount.point.len();
            let fs = self.fs(mount.fs)?;
            let mut at = fs.root();
            for part in &mount.subtree {
                at = fs
                    .lookup(at, part.as_bytes())?
                    .ok_or(FsError::new(Status::NotFound, "the mount's subtree does not exist on the file system"))?;
            }
            if view.len() == skip {
                return Ok(Resolved { fs: mount.fs, writable: mount.writable, parent: None, ino: Some(at), view });
            }
            for i in skip..view.len() {
                if fs.stat(at)?.kind != Kind::Directory {
                    return err(Status::NotADirectory);
                }
                let last = i + 1 == view.len();
                let child = fs.lookup(at, view[i].as_bytes())?;
                if let Some(found) = child {
                    if (!last || follow_last) && fs.stat(found)?.kind == Kind::Symlink {
                        links += 1;
                        if links > MAX_SYMLINKS {
                            return err(Status::FilesystemLoop);
                        }
                        let target = fs.read_link(found)?;
                        let target = core::str::from_utf8(&target)
                            .map_err(|_| FsError::new(Status::InvalidInput, "a symbolic link's target is not UTF-8"))?;
                        let rest: Vec<String> = view[i + 1..].to_vec();
                        let mut next = normalize_onto(view[..i].to_vec(), target)?;
                        next.extend(rest);
                        // Links may lengthen a path; it may not grow past what a
                        // client could have written.
                        if next.iter().map(|c| c.len() + 1).sum::<usize>() > proto::PATH_MAX {
                            return Err(FsError::new(Status::InvalidInput, "the path with its links is too long"));
                        }
                        view = next;
                        continue 'again;
                    }
                }
                if last {
                    let parent = Some((at, view[i].as_bytes().to_vec()));
                    return Ok(Resolved { fs: mount.fs, writable: mount.writable, parent, ino: child, view });
                }
                at = child.ok_or(FsError::from(Status::NotFound))?;
            }
            unreachable!("the loop returns at the last component");
        }
    }

    fn client(&mut self, badge: u64) -> FsResult<&mut Client> {
        self.clients.get_mut(&badge).ok_or(FsError::from(Status::PermissionDenied))
    }

    fn handle(&mut self, badge: u64, handle: u64) -> FsResult<&mut Open> {
        let client = self.client(badge)?;
        usize::try_from(handle)
            .ok()
            .and_then(|h| client.handles.get_mut(h))
            .and_then(Option::as_mut)
            .ok_or(FsError::from(Status::BadHandle))
    }

    /// Frees `ino` if nobody has it open, else when its last handle closes.
    fn orphaned(&mut self, fs: usize, ino: Ino) -> FsResult<()> {
        if self.open.contains_key(&(fs, ino)) {
            self.orphans.insert((fs, ino));
            Ok(())
        } else {
            self.fs(fs)?.release(ino)
        }
    }

    fn path(buffer: &dyn Buffer, at: usize, len: usize) -> FsResult<String> {
        if len > proto::PATH_MAX || at + len > buffer.size() {
            return Err(FsError::new(Status::InvalidInput, "the path is longer than PATH_MAX"));
        }
        let mut bytes = alloc::vec![0u8; len];
        buffer.read(at, &mut bytes);
        String::from_utf8(bytes).map_err(|_| FsError::new(Status::InvalidInput, "the path is not UTF-8"))
    }

    fn data_len(buffer: &dyn Buffer, len: u64) -> FsResult<usize> {
        let room = buffer.size().saturating_sub(proto::DATA) as u64;
        if len > room {
            return Err(FsError::new(Status::InvalidInput, "the length is larger than the client's data area"));
        }
        Ok(len as usize)
    }

    /// Carries out one request from client `badge`: the reply's status and words.
    pub fn request(&mut self, badge: u64, op: u64, words: [u64; 4], buffer: &dyn Buffer) -> (Status, [u64; 4]) {
        if !self.clients.contains_key(&badge) {
            return (Status::PermissionDenied, [0; 4]);
        }
        match self.dispatch(badge, op, words, buffer) {
            Ok(reply) => (Status::Ok, reply),
            Err(e) => (e.status, [0; 4]),
        }
    }

    fn dispatch(&mut self, badge: u64, op: u64, w: [u64; 4], buffer: &dyn Buffer) -> Reply {
        let (first, second) = proto::unpack_path_lengths(w[3]);
        let path = |buffer: &dyn Buffer| Vfs::path(buffer, 0, first);
        let second_path = |buffer: &dyn Buffer| Vfs::path(buffer, proto::PATH_MAX, second);
        match op {
            op::OPEN => self.open(badge, w[0], &path(buffer)?),
            op::CLOSE => self.close(badge, w[0]),
            op::READ => self.read(badge, w[0], w[1], Vfs::data_len(buffer, w[2])?, buffer),
            op::WRITE => self.write(badge, w[0], w[1], Vfs::data_len(buffer, w[2])?, buffer),
            op::STAT | op::LSTAT => {
                let r = self.resolve(badge, &path(buffer)?, op == op::STAT)?;
                let ino = r.ino.ok_or(FsError::from(Status::NotFound))?;
                Ok(self.fs(r.fs)?.stat(ino)?.to_words())
            }
            op::FSTAT => {
                let (fs, ino) = self.handle(badge, w[0]).map(|h| (h.fs, h.ino))?;
                Ok(self.fs(fs)?.stat(ino)?.to_words())
            }
            op::TRUNCATE => {
                let h = self.handle(badge, w[0])?;
                if !h.write {
                    return err(Status::BadHandle);
                }
                let (fs, ino) = (h.fs, h.ino);
                self.fs(fs)?.set_len(ino, w[1])?;
                Ok([0; 4])
            }
            op::MKDIR => {
                let r = self.changing(badge, &path(buffer)?)?;
                let (dir, name) = r.parent.ok_or(FsError::from(Status::AlreadyExists))?;
                if r.ino.is_some() {
                    return err(Status::AlreadyExists);
                }
                self.fs(r.fs)?.create_dir(dir, &name)?;
                Ok([0; 4])
            }
            op::RMDIR | op::UNLINK => {
                let r = self.changing(badge, &path(buffer)?)?;
                let (dir, name) = r.parent.ok_or(FsError::new(Status::Busy, "it is a mount point"))?;
                let ino = r.ino.ok_or(FsError::from(Status::NotFound))?;
                let kind = self.fs(r.fs)?.stat(ino)?.kind;
                if op == op::RMDIR {
                    if kind != Kind::Directory {
                        return err(Status::NotADirectory);
                    }
                    let gone = self.fs(r.fs)?.remove_dir(dir, &name)?;
                    self.orphaned(r.fs, gone)?;
                } else {
                    if kind == Kind::Directory {
                        return err(Status::IsADirectory);
                    }
                    let (gone, links) = self.fs(r.fs)?.unlink(dir, &name)?;
                    if links == 0 {
                        self.orphaned(r.fs, gone)?;
                    }
                }
                Ok([0; 4])
            }
            op::RENAME => {
                let from = self.changing(badge, &path(buffer)?)?;
                let to = self.changing(badge, &second_path(buffer)?)?;
                if from.fs != to.fs {
                    return err(Status::CrossesDevices);
                }
                from.ino.ok_or(FsError::from(Status::NotFound))?;
                let busy = FsError::new(Status::Busy, "it is a mount point");
                let (from_dir, from_name) = from.parent.ok_or(busy)?;
                let (to_dir, to_name) = to.parent.ok_or(busy)?;
                if to.view.len() > from.view.len() && to.view[..from.view.len()] == from.view[..] {
                    return Err(FsError::new(Status::InvalidInput, "a directory cannot move into itself"));
                }
                if let Some(replaced) = self.fs(from.fs)?.rename(from_dir, &from_name, to_dir, &to_name)? {
                    self.orphaned(from.fs, replaced)?;
                }
                Ok([0; 4])
            }
            op::LINK => {
                // The original must be writable for this client too: a new name on a
                // writable mount would otherwise open a read-only file for writing.
                let original = self.changing(badge, &path(buffer)?)?;
                let link = self.changing(badge, &second_path(buffer)?)?;
                if original.fs != link.fs {
                    return err(Status::CrossesDevices);
                }
                let ino = original.ino.ok_or(FsError::from(Status::NotFound))?;
                if link.ino.is_some() {
                    return err(Status::AlreadyExists);
                }
                let (dir, name) = link.parent.ok_or(FsError::from(Status::AlreadyExists))?;
                if self.fs(original.fs)?.stat(ino)?.kind == Kind::Directory {
                    return Err(FsError::new(Status::PermissionDenied, "a directory cannot have a second hard link"));
                }
                self.fs(link.fs)?.link(ino, dir, &name)?;
                Ok([0; 4])
            }
            op::SYMLINK => {
                let target = second_path(buffer)?;
                if target.is_empty() {
                    return Err(FsError::new(Status::InvalidInput, "a symbolic link needs a target"));
                }
                let link = self.changing(badge, &path(buffer)?)?;
                if link.ino.is_some() {
                    return err(Status::AlreadyExists);
                }
                let (dir, name) = link.parent.ok_or(FsError::from(Status::AlreadyExists))?;
                self.fs(link.fs)?.create_symlink(dir, &name, target.as_bytes())?;
                Ok([0; 4])
            }
            op::READLINK => {
                let len = Vfs::data_len(buffer, w[2])?;
                let r = self.resolve(badge, &path(buffer)?, false)?;
                let ino = r.ino.ok_or(FsError::from(Status::NotFound))?;
                let fs = self.fs(r.fs)?;
                if fs.stat(ino)?.kind != Kind::Symlink {
                    return Err(FsError::new(Status::InvalidInput, "not a symbolic link"));
                }
                let target = fs.read_link(ino)?;
                let n = target.len().min(len);
                buffer.write(proto::DATA, &target[..n]);
                Ok([n as u64, 0, 0, 0])
            }
            op::MEASURE_READ => {
                // At least 64 KiB a step: small steps would only make the measurement
                // hold the server longer.
                let step = Vfs::data_len(buffer, w[2])?.max(64 * 1024);
                let h = self.handle(badge, w[0])?;
                if !h.read || h.dir.is_some() {
                    return err(Status::BadHandle);
                }
                let (fs, ino) = (h.fs, h.ino);
                let mut bytes = alloc::vec![0u8; step];
                let (start, mut at) = ((self.cycles)(), w[1]);
                loop {
                    let n = self.fs(fs)?.read(ino, at, &mut bytes)?;
                    if n == 0 {
                        break;
                    }
                    at += n as u64;
                }
                Ok([at - w[1], (self.cycles)() - start, 0, 0])
            }
            op::MEASURE_DISK_READ => {
                // Bounded like a file: at most 256 MiB.
                let bytes = w[2].min(256 << 20);
                let r = self.resolve(badge, &path(buffer)?, true)?;
                let start = (self.cycles)();
                let read = self.fs(r.fs)?.measure_disk_read(bytes)?;
                Ok([read, (self.cycles)() - start, 0, 0])
            }
            op::READDIR => self.read_dir(badge, w[0], Vfs::data_len(buffer, w[2])?, buffer),
            op::FSYNC => {
                let fs = self.handle(badge, w[0])?.fs;
                self.fs(fs)?.sync()?;
                Ok([0; 4])
            }
            op::SYNC => {
                let writable: BTreeSet<usize> =
                    self.client(badge)?.mounts.iter().filter(|m| m.writable).map(|m| m.fs).collect();
                for fs in writable {
                    self.fs(fs)?.sync()?;
                }
                Ok([0; 4])
            }
            op::STATFS => {
                let r = self.resolve(badge, &path(buffer)?, true)?;
                let space = self.fs(r.fs)?.space();
                Ok([space.block_size, space.blocks, space.free_blocks, 0])
            }
            _ => err(Status::BadRequest),
        }
    }

    /// Resolves a path the request will change (not following a final link), through a
    /// writable mount.
    fn changing(&mut self, badge: u64, path: &str) -> FsResult<Resolved> {
        let r = self.resolve(badge, path, false)?;
        if !r.writable {
            return Err(FsError::new(Status::PermissionDenied, "the mount is read-only for this component"));
        }
        Ok(r)
    }

    fn open(&mut self, badge: u64, flags: u64, path: &str) -> Reply {
        if flags & !open::ALL != 0 || flags & (open::READ | open::WRITE | open::APPEND) == 0 {
            return Err(FsError::new(
                Status::InvalidInput,
                "open flags must include READ or WRITE, and no unknown bits",
            ));
        }
        // APPEND writes, and CREATE_NEW creates.
        let flags = flags
            | if flags & open::APPEND != 0 { open::WRITE } else { 0 }
            | if flags & open::CREATE_NEW != 0 { open::CREATE } else { 0 };
        let write = flags & open::WRITE != 0;
        if flags & open::TRUNCATE != 0 && !write {
            return Err(FsError::new(Status::InvalidInput, "truncating needs WRITE"));
        }
        // A free handle first, so that a refused open creates nothing.
        let client = self.client(badge)?;
        if client.handles.len() >= MAX_OPEN && client.handles.iter().all(Option::is_some) {
            return err(Status::TooManyOpenFiles);
        }
        let r = self.resolve(badge, path, true)?;
        if (write || flags & open::CREATE != 0) && !r.writable {
            return Err(FsError::new(Status::PermissionDenied, "the mount is read-only for this component"));
        }
        let ino = match r.ino {
            Some(_) if flags & open::CREATE_NEW != 0 => return err(Status::AlreadyExists),
            Some(ino) => ino,
            None if flags & open::CREATE != 0 => {
                let (dir, name) = r.parent.as_ref().ok_or(FsError::from(Status::NotFound))?;
                self.fs(r.fs)?.create_file(*dir, name)?
            }
            None => return err(Status::NotFound),
        };
        let stat: Stat = self.fs(r.fs)?.stat(ino)?;
        let directory = flags & open::DIRECTORY != 0;
        match stat.kind {
            Kind::Directory if write => return err(Status::IsADirectory),
            Kind::Directory => {}
            _ if directory => return err(Status::NotADirectory),
            Kind::File => {}
            _ => return Err(FsError::new(Status::Unsupported, "KaaL opens files and directories only")),
        }
        let client = self.client(badge)?;
        let slot = match client.handles.iter().position(Option::is_none) {
            Some(free) => free,
            None if client.handles.len() < MAX_OPEN => {
                client.handles.push(None);
                client.handles.len() - 1
            }
            None => return err(Status::TooManyOpenFiles),
        };
        if flags & open::TRUNCATE != 0 && stat.size != 0 {
            self.fs(r.fs)?.set_len(ino, 0)?;
        }
        let dir = (stat.kind == Kind::Directory).then(|| DirState {
            cursor: Cursor::START,
            pending: Vec::new(),
            done: false,
        });
        let append = flags & open::APPEND != 0;
        let handle = Open { fs: r.fs, ino, read: flags & open::READ != 0, write, append, dir };
        self.client(badge)?.handles[slot] = Some(handle);
        *self.open.entry((r.fs, ino)).or_insert(0) += 1;
        let size = if flags & open::TRUNCATE != 0 { 0 } else { stat.size };
        Ok([slot as u64, size, stat.kind as u64, 0])
    }

    fn close(&mut self, badge: u64, handle: u64) -> Reply {
        self.handle(badge, handle)?;
        let open = self.client(badge)?.handles[handle as usize].take().ok_or(FsError::from(Status::BadHandle))?;
        let key = (open.fs, open.ino);
        let last = match self.open.get_mut(&key) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            _ => {
                self.open.remove(&key);
                true
            }
        };
        if last && self.orphans.contains(&key) {
            self.fs(open.fs)?.release(open.ino)?;
            self.orphans.remove(&key);
        }
        Ok([0; 4])
    }

    fn read(&mut self, badge: u64, handle: u64, offset: u64, len: usize, buffer: &dyn Buffer) -> Reply {
        let h = self.handle(badge, handle)?;
        if !h.read {
            return err(Status::BadHandle);
        }
        if h.dir.is_some() {
            return err(Status::IsADirectory);
        }
        let (fs, ino) = (h.fs, h.ino);
        // The file system reads into the server's own memory, and the bytes are then
        // copied to the client's buffer: a client changing its buffer meanwhile can
        // only spoil its own copy.
        let mut bytes = core::mem::take(&mut self.scratch);
        if bytes.len() < len {
            bytes.resize(len, 0);
        }
        let result = self.fs(fs).and_then(|f| f.read(ino, offset, &mut bytes[..len]));
        if let Ok(n) = result {
            buffer.write(proto::DATA, &bytes[..n]);
        }
        self.scratch = bytes;
        Ok([result? as u64, 0, 0, 0])
    }

    fn write(&mut self, badge: u64, handle: u64, offset: u64, len: usize, buffer: &dyn Buffer) -> Reply {
        let h = self.handle(badge, handle)?;
        if !h.write {
            return err(Status::BadHandle);
        }
        let (fs, ino, append) = (h.fs, h.ino, h.append);
        let offset = if append || offset == proto::APPEND { self.fs(fs)?.stat(ino)?.size } else { offset };
        let end = offset.checked_add(len as u64).ok_or(FsError::from(Status::FileTooLarge))?;
        let mut bytes = core::mem::take(&mut self.scratch);
        if bytes.len() < len {
            bytes.resize(len, 0);
        }
        buffer.read(proto::DATA, &mut bytes[..len]);
        let result = self.fs(fs).and_then(|f| f.write(ino, offset, &bytes[..len]));
        self.scratch = bytes;
        result?;
        Ok([len as u64, end, 0, 0])
    }

    fn read_dir(&mut self, badge: u64, handle: u64, len: usize, buffer: &dyn Buffer) -> Reply {
        let h = self.handle(badge, handle)?;
        let (fs, ino) = (h.fs, h.ino);
        let mut state = h.dir.take().ok_or(FsError::from(Status::NotADirectory))?;
        let result = self.fill_dir(fs, ino, &mut state, len, buffer);
        if let Ok(h) = self.handle(badge, handle) {
            h.dir = Some(state);
        }
        result
    }

    fn fill_dir(&mut self, fs: usize, ino: Ino, state: &mut DirState, len: usize, buffer: &dyn Buffer) -> Reply {
        let mut out: Vec<u8> = Vec::new();
        let mut count = 0u64;
        loop {
            if state.pending.is_empty() {
                if state.done {
                    break;
                }
                let batch = self.fs(fs).and_then(|f| f.read_dir(ino, state.cursor, 64));
                let (mut entries, next) = match batch {
                    Ok(batch) => batch,
                    // Send what was gathered; the error comes again with the next request.
                    Err(_) if count > 0 => break,
                    Err(e) => return Err(e),
                };
                // An empty batch is the end (a cursor that does not move is too).
                state.done = entries.is_empty() || next == state.cursor;
                state.cursor = next;
                entries.reverse();
                state.pending = entries;
                continue;
            }
            let entry = state.pending.last().expect("checked non-empty");
            let need = proto::entry_bytes(entry.name.len());
            if out.len() + need > len {
                if count == 0 {
                    return Err(FsError::new(Status::InvalidInput, "the data area cannot hold one entry"));
                }
                break;
            }
            out.push(entry.kind as u8);
            out.push(entry.name.len() as u8);
            out.extend_from_slice(&entry.ino.to_le_bytes());
            out.extend_from_slice(&entry.name);
            count += 1;
            state.pending.pop();
        }
        buffer.write(proto::DATA, &out);
        Ok([count, out.len() as u64, 0, 0])
    }

    /// Releases every orphan, closes every handle and unmounts every file system.
    pub fn unmount_all(&mut self) -> Result<(), (usize, FsError)> {
        for client in self.clients.values_mut() {
            client.handles.clear();
        }
        self.open.clear();
        for (fs, ino) in core::mem::take(&mut self.orphans) {
            self.fs(fs).and_then(|f| f.release(ino)).map_err(|e| (fs, e))?;
        }
        for i in 0..self.filesystems.len() {
            if let Slot::Mounted(fs) = &mut self.filesystems[i] {
                fs.unmount().map_err(|e| (i, e))?;
            }
        }
        Ok(())
    }
}
