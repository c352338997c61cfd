//! ramfs: a file system in the VFS server's heap, gone when the system stops.
//!
//! Its size (`[filesystems.NAME] size`) bounds the bytes its files, links and
//! directories may use; past it, writes fail with `StorageFull` and change nothing.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use kaal_posix::proto::{Kind, Stat, Status};

use crate::fsys::{Cursor, Entry, FileSystem, FsError, FsResult, Ino, Space};

/// What one inode costs against the size, besides its data.
const NODE_COST: u64 = 256;
/// The largest file.
const MAX_FILE: u64 = 1 << 40;

#[derive(Debug)]
enum Body {
    File(Vec<u8>),
    Dir(BTreeMap<Vec<u8>, Ino>),
    Symlink(Vec<u8>),
}

#[derive(Debug)]
struct Node {
    body: Body,
    links: u32,
    mode: u16,
    mtime: u32,
    /// A directory's parent (directories have one name); the root's is itself.
    parent: Ino,
}

#[derive(Debug)]
pub struct Ramfs {
    nodes: BTreeMap<Ino, Node>,
    next: Ino,
    used: u64,
    capacity: u64,
    clock: fn() -> u32,
}

const ROOT: Ino = 1;

/// Grows a file's bytes to `len` with zeros, asking the heap for exactly that much (a
/// doubling `resize` could ask for twice the file), and failing with `OutOfMemory`
/// rather than aborting the server if the heap has no room.
fn grow(bytes: &mut Vec<u8>, len: usize) -> FsResult<()> {
    bytes
        .try_reserve_exact(len - bytes.len())
        .map_err(|_| FsError::new(Status::OutOfMemory, "the VFS server's heap is full"))?;
    bytes.resize(len, 0);
    Ok(())
}

impl Ramfs {
    /// An empty ramfs of `capacity` bytes; `clock` gives modification times.
    pub fn new(capacity: u64, clock: fn() -> u32) -> Ramfs {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            ROOT,
            Node { body: Body::Dir(BTreeMap::new()), links: 2, mode: 0o755, mtime: clock(), parent: ROOT },
        );
        Ramfs { nodes, next: ROOT + 1, used: NODE_COST, capacity, clock }
    }

    fn node(&mut self, ino: Ino) -> FsResult<&mut Node> {
        self.nodes.get_mut(&ino).ok_or(FsError::new(Status::NotFound, "no such inode"))
    }

    fn dir(&mut self, ino: Ino) -> FsResult<&mut BTreeMap<Vec<u8>, Ino>> {
        match &mut self.node(ino)?.body {
            Body::Dir(entries) => Ok(entries),
            _ => Err(Status::NotADirectory.into()),
        }
    }

    fn charge(&mut self, bytes: u64) -> FsResult<()> {
        if self.used + bytes > self.capacity {
            return Err(FsError::new(Status::StorageFull, "the ramfs is full (raise its size in system.toml)"));
        }
        self.used += bytes;
        Ok(())
    }

    fn insert(&mut self, dir: Ino, name: &[u8], body: Body, mode: u16) -> FsResult<Ino> {
        if self.dir(dir)?.contains_key(name) {
            return Err(Status::AlreadyExists.into());
        }
        let extra = match &body {
            Body::Symlink(t) => t.len() as u64,
            _ => 0,
        };
        self.charge(NODE_COST + name.len() as u64 + extra)?;
        let is_dir = matches!(body, Body::Dir(_));
        let ino = self.next;
        self.next += 1;
        let mtime = (self.clock)();
        self.nodes.insert(ino, Node { body, links: if is_dir { 2 } else { 1 }, mode, mtime, parent: dir });
        self.dir(dir)?.insert(name.to_vec(), ino);
        let parent = self.node(dir)?;
        parent.mtime = mtime;
        if is_dir {
            parent.links += 1;
        }
        Ok(ino)
    }

    fn kind_of(node: &Node) -> Kind {
        match node.body {
            Body::File(_) => Kind::File,
            Body::Dir(_) => Kind::Directory,
            Body::Symlink(_) => Kind::Symlink,
        }
    }

    /// Whether directory `ancestor` is `dir` or one of its parents (for renames of
    /// directories): a walk up the parent links, never down a subtree.
    fn is_ancestor(&self, ancestor: Ino, mut dir: Ino) -> bool {
        loop {
            if dir == ancestor {
                return true;
            }
            match self.nodes.get(&dir) {
                Some(node) if node.parent != dir => dir = node.parent,
                _ => return false,
            }
        }
    }
}

impl FileSystem for Ramfs {
    fn kind(&self) -> &'static str {
        "ramfs"
    }

    fn read_only(&self) -> bool {
        false
    }

    fn root(&self) -> Ino {
        ROOT
    }

    fn stat(&mut self, ino: Ino) -> FsResult<Stat> {
        let node = self.node(ino)?;
        let size = match &node.body {
            Body::File(d) | Body::Symlink(d) => d.len() as u64,
            Body::Dir(e) => (e.len() as u64 + 2) * 32,
        };
        Ok(Stat { size, kind: Ramfs::kind_of(node), mode: node.mode, links: node.links, inode: ino, mtime: node.mtime })
    }

    fn lookup(&mut self, dir: Ino, name: &[u8]) -> FsResult<Option<Ino>> {
        Ok(self.dir(dir)?.get(name).copied())
    }

    fn read(&mut self, ino: Ino, offset: u64, out: &mut [u8]) -> FsResult<usize> {
        match &self.node(ino)?.body {
            Body::File(data) => {
                let start = (offset.min(data.len() as u64)) as usize;
                let n = out.len().min(data.len() - start);
                out[..n].copy_from_slice(&data[start..start + n]);
                Ok(n)
            }
            Body::Dir(_) => Err(Status::IsADirectory.into()),
            Body::Symlink(_) => Err(Status::InvalidInput.into()),
        }
    }

    fn write(&mut self, ino: Ino, offset: u64, data: &[u8]) -> FsResult<()> {
        let end = offset.checked_add(data.len() as u64).filter(|e| *e <= MAX_FILE).ok_or(Status::FileTooLarge)?;
        let len = match &self.node(ino)?.body {
            Body::File(bytes) => bytes.len() as u64,
            Body::Dir(_) => return Err(Status::IsADirectory.into()),
            Body::Symlink(_) => return Err(Status::InvalidInput.into()),
        };
        if end > len {
            self.charge(end - len)?;
            let grown = match &mut self.node(ino)?.body {
                Body::File(bytes) => grow(bytes, end as usize),
                _ => Ok(()),
            };
            if let Err(e) = grown {
                self.used -= end - len;
                return Err(e);
            }
        }
        let mtime = (self.clock)();
        let node = self.node(ino)?;
        node.mtime = mtime;
        if let Body::File(bytes) = &mut node.body {
            bytes[offset as usize..end as usize].copy_from_slice(data);
        }
        Ok(())
    }

    fn set_len(&mut self, ino: Ino, size: u64) -> FsResult<()> {
        if size > MAX_FILE {
            return Err(Status::FileTooLarge.into());
        }
        let len = match &self.node(ino)?.body {
            Body::File(bytes) => bytes.len() as u64,
            Body::Dir(_) => return Err(Status::IsADirectory.into()),
            Body::Symlink(_) => return Err(Status::InvalidInput.into()),
        };
        if size > len {
            self.charge(size - len)?;
            let grown = match &mut self.node(ino)?.body {
                Body::File(bytes) => grow(bytes, size as usize),
                _ => Ok(()),
            };
            if let Err(e) = grown {
                self.used -= size - len;
                return Err(e);
            }
        } else {
            self.used -= len - size;
            if let Body::File(bytes) = &mut self.node(ino)?.body {
                bytes.truncate(size as usize);
                bytes.shrink_to_fit();
            }
        }
        let mtime = (self.clock)();
        self.node(ino)?.mtime = mtime;
        Ok(())
    }

    fn create_file(&mut self, dir: Ino, name: &[u8]) -> FsResult<Ino> {
        self.insert(dir, name, Body::File(Vec::new()), 0o644)
    }

    fn create_dir(&mut self, dir: Ino, name: &[u8]) -> FsResult<Ino> {
        self.insert(dir, name, Body::Dir(BTreeMap::new()), 0o755)
    }

    fn create_symlink(&mut self, dir: Ino, name: &[u8], target: &[u8]) -> FsResult<Ino> {
        self.insert(dir, name, Body::Symlink(target.to_vec()), 0o777)
    }

    fn read_link(&mut self, ino: Ino) -> FsResult<Vec<u8>> {
        match &self.node(ino)?.body {
            Body::Symlink(t) => Ok(t.clone()),
            _ => Err(Status::InvalidInput.into()),
        }
    }

    fn link(&mut self, ino: Ino, dir: Ino, name: &[u8]) -> FsResult<()> {
        if matches!(self.node(ino)?.body, Body::Dir(_)) {
            return Err(FsError::new(Status::PermissionDenied, "a directory cannot have a second hard link"));
        }
        if self.dir(dir)?.contains_key(name) {
            return Err(Status::AlreadyExists.into());
        }
        self.charge(name.len() as u64)?;
        self.dir(dir)?.insert(name.to_vec(), ino);
        self.node(ino)?.links += 1;
        Ok(())
    }

    fn unlink(&mut self, dir: Ino, name: &[u8]) -> FsResult<(Ino, u32)> {
        let ino = self.dir(dir)?.get(name).copied().ok_or(Status::NotFound)?;
        if matches!(self.node(ino)?.body, Body::Dir(_)) {
            return Err(Status::IsADirectory.into());
        }
        self.dir(dir)?.remove(name);
        self.used -= name.len() as u64;
        let node = self.node(ino)?;
        node.links -= 1;
        Ok((ino, node.links))
    }

    fn remove_dir(&mut self, dir: Ino, name: &[u8]) -> FsResult<Ino> {
        let ino = self.dir(dir)?.get(name).copied().ok_or(Status::NotFound)?;
        match &self.node(ino)?.body {
            Body::Dir(entries) if !entries.is_empty() => return Err(Status::DirectoryNotEmpty.into()),
            Body::Dir(_) => {}
            _ => return Err(Status::NotADirectory.into()),
        }
        self.dir(dir)?.remove(name);
        self.used -= name.len() as u64;
        self.node(dir)?.links -= 1;
        self.node(ino)?.links = 0;
        Ok(ino)
    }

    fn rename(&mut self, from_dir: Ino, from: &[u8], to_dir: Ino, to: &[u8]) -> FsResult<Option<Ino>> {
        let ino = self.dir(from_dir)?.get(from).copied().ok_or(Status::NotFound)?;
        let moving_dir = matches!(self.node(ino)?.body, Body::Dir(_));
        if moving_dir && self.is_ancestor(ino, to_dir) {
            return Err(FsError::new(Status::InvalidInput, "a directory cannot move into itself"));
        }
        // Every check before any change, so a refusal changes nothing.
        let existing = self.dir(to_dir)?.get(to).copied();
        if let Some(old) = existing {
            if old == ino {
                return Ok(None);
            }
            match (&self.node(old)?.body, moving_dir) {
                (Body::Dir(e), true) if e.is_empty() => {}
                (Body::Dir(_), true) => return Err(Status::DirectoryNotEmpty.into()),
                (Body::Dir(_), false) => return Err(Status::IsADirectory.into()),
                (_, true) => return Err(Status::NotADirectory.into()),
                _ => {}
            }
        }
        // The name's bytes: the old one goes, the new one comes (or replaces one as long).
        if to.len() > from.len() {
            self.charge((to.len() - from.len()) as u64)?;
        } else {
            self.used -= (from.len() - to.len()) as u64;
        }
        let mut replaced = None;
        if let Some(old) = existing {
            self.dir(to_dir)?.remove(to);
            let node = self.node(old)?;
            if moving_dir {
                node.links = 0;
                self.node(to_dir)?.links -= 1;
            } else {
                node.links -= 1;
            }
            if self.node(old)?.links == 0 {
                replaced = Some(old);
            }
            // The replaced entry's name bytes were charged when it was made, and the
            // new entry's are charged above: one of them goes.
            self.used -= to.len() as u64;
        }
        self.dir(from_dir)?.remove(from);
        self.dir(to_dir)?.insert(to.to_vec(), ino);
        if moving_dir {
            self.node(ino)?.parent = to_dir;
            if from_dir != to_dir {
                self.node(from_dir)?.links -= 1;
                self.node(to_dir)?.links += 1;
            }
        }
        Ok(replaced)
    }

    fn read_dir(&mut self, dir: Ino, cursor: Cursor, max: usize) -> FsResult<(Vec<Entry>, Cursor)> {
        // The cursor is the count of entries already listed; names are kept sorted.
        let skip = cursor.0 as usize;
        let names: Vec<(Vec<u8>, Ino)> =
            self.dir(dir)?.iter().skip(skip).take(max).map(|(n, i)| (n.clone(), *i)).collect();
        let mut out = Vec::with_capacity(names.len());
        for (name, ino) in names {
            let kind = self.nodes.get(&ino).map_or(Kind::Other, Ramfs::kind_of);
            out.push(Entry { ino, kind, name });
        }
        let next = Cursor((skip + out.len()) as u64, 0);
        Ok((out, next))
    }

    fn release(&mut self, ino: Ino) -> FsResult<()> {
        if let Some(node) = self.nodes.get(&ino) {
            if node.links == 0 {
                let bytes = match &node.body {
                    Body::File(d) | Body::Symlink(d) => d.len() as u64,
                    Body::Dir(_) => 0,
                };
                self.used -= NODE_COST + bytes;
                self.nodes.remove(&ino);
            }
        }
        Ok(())
    }

    fn sync(&mut self) -> FsResult<()> {
        Ok(())
    }

    fn space(&mut self) -> Space {
        Space {
            block_size: 4096,
            blocks: self.capacity / 4096,
            free_blocks: self.capacity.saturating_sub(self.used) / 4096,
        }
    }

    fn unmount(&mut self) -> FsResult<()> {
        Ok(())
    }
}
