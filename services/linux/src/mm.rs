//! A Linux process's memory: its areas (what `mmap`, `brk` and the program's segments
//! made) and the pages present in it.
//!
//! Pages come from a [`Pool`]: each is 4 KiB of RAM mapped in this server (its window
//! above 4 GiB) and, through a second capability, in the process. Anonymous memory
//! (the heap, the stack, `mmap`) and a program's segments are made present on first
//! touch, from the page fault. Read-only pages of a program are shared by every
//! process running it (the first to touch one fills it); `fork` copies the writable
//! pages at once (no copy-on-write yet).
//!
//! Every address a process can use lies below 4 GiB: seL4 5.0 reports only the low 32
//! bits of a page fault's address, so a fault above would name the wrong page.

use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::vec::Vec;

use kaal_alloc::UntypedAllocator;
use kaal_core::cap::AsidPool;
use kaal_core::process::{Mapping, Process, UserPage};
use kaal_core::vspace::VSpace;
use kaal_posix::linux::abi::errno;

pub const PAGE: u64 = 4096;
/// One past the highest address a process may use.
pub const USER_END: u64 = 0xc000_0000;
/// The top of a process's stack, and how far it may grow.
pub const STACK_TOP: u64 = USER_END;
pub const STACK_SIZE: u64 = 8 << 20;
/// `mmap` without an address places areas downwards from here.
pub const MMAP_TOP: u64 = STACK_TOP - STACK_SIZE - PAGE;
/// Where a position-independent program is loaded.
pub const PIE_BASE: u64 = 0x1000_0000;
/// The lowest address `mmap` gives out (page 0 and the first 64 KiB stay unmapped so
/// that NULL dereferences fault).
pub const MMAP_MIN: u64 = 0x1_0000;

pub const R: u8 = 1;
pub const W: u8 = 2;

pub fn page_floor(a: u64) -> u64 {
    a & !(PAGE - 1)
}

pub fn page_ceil(a: u64) -> Option<u64> {
    a.checked_add(PAGE - 1).map(page_floor)
}

/// Where pages come from: the server's RAM budget and its address space.
pub struct Pool {
    pub alloc: UntypedAllocator,
    pub own: VSpace,
    pub asid_pool: AsidPool,
    /// The next unused address of the server's window.
    next_vaddr: u64,
    /// Pages no process holds any more, to be reused (zeroed first).
    free: Vec<UserPage>,
    /// Pages in use by processes (for the memory report).
    pub in_use: usize,
}

impl Pool {
    pub fn new(alloc: UntypedAllocator, own: VSpace, asid_pool: AsidPool) -> Self {
        Self { alloc, own, asid_pool, next_vaddr: kaal_core::process::MANAGER_WINDOW, free: Vec::new(), in_use: 0 }
    }

    /// A zeroed page.
    pub fn page(&mut self) -> Result<UserPage, u64> {
        let page = match self.free.pop() {
            Some(page) => {
                page.zero();
                page
            }
            None => {
                let page = UserPage::new(&mut self.alloc, &mut self.own, self.next_vaddr).map_err(|_| errno::ENOMEM)?;
                self.next_vaddr += PAGE;
                page
            }
        };
        self.in_use += 1;
        Ok(page)
    }

    /// Takes back a page whose last holder let go of it.
    pub fn give_back(&mut self, page: Rc<UserPage>) {
        if let Ok(page) = Rc::try_unwrap(page) {
            self.in_use -= 1;
            self.free.push(page);
        }
    }
}

/// What fills an area's pages.
#[derive(Clone)]
pub enum Backing {
    /// Zeros.
    Anon,
    /// Bytes of a file (the patched program image, or a file mapped with `mmap`):
    /// `data[offset..limit]` from the area's start, zeros past `limit`. `shared`: the
    /// pages every process running a program uses for its read-only segments, by
    /// address; a page is filled by the first process that touches it.
    File { data: Rc<Vec<u8>>, offset: u64, limit: u64, shared: Option<SharedPages> },
}

/// Read-only pages of a program, shared by the processes running it, by address.
pub type SharedPages = Rc<core::cell::RefCell<BTreeMap<u64, Rc<UserPage>>>>;

/// A run of addresses a process may use.
#[derive(Clone)]
pub struct Area {
    pub start: u64,
    pub end: u64,
    pub prot: u8,
    pub backing: Backing,
}

struct Present {
    page: Rc<UserPage>,
    mapping: Option<Mapping>,
    writable: bool,
}

/// A process's address space.
pub struct Mm {
    pub process: Process,
    areas: Vec<Area>,
    pages: BTreeMap<u64, Present>,
    pub brk_start: u64,
    pub brk: u64,
    mmap_next: u64,
}

impl Mm {
    pub fn new(pool: &mut Pool) -> Result<Self, u64> {
        let process = Process::new(&mut pool.alloc, &pool.asid_pool).map_err(|_| errno::ENOMEM)?;
        Ok(Self { process, areas: Vec::new(), pages: BTreeMap::new(), brk_start: 0, brk: 0, mmap_next: MMAP_TOP })
    }

    pub fn area(&self, addr: u64) -> Option<&Area> {
        self.areas.iter().find(|a| a.start <= addr && addr < a.end)
    }

    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.areas.iter().any(|a| a.start < end && start < a.end)
    }

    /// Adds an area (the caller checked that it overlaps nothing).
    pub fn add_area(&mut self, area: Area) {
        let at = self.areas.partition_point(|a| a.start < area.start);
        self.areas.insert(at, area);
    }

    /// Removes `[start, end)` from every area (splitting those it cuts) and unmaps the
    /// pages there.
    pub fn remove_range(&mut self, pool: &mut Pool, start: u64, end: u64) {
        let mut kept = Vec::new();
        for area in self.areas.drain(..) {
            if area.end <= start || end <= area.start {
                kept.push(area);
                continue;
            }
            if area.start < start {
                kept.push(Area { end: start, ..area.clone() });
            }
            if end < area.end {
                let skip = end - area.start;
                let backing = match &area.backing {
                    Backing::Anon => Backing::Anon,
                    Backing::File { data, offset, limit, shared } => Backing::File {
                        data: data.clone(),
                        offset: offset + skip,
                        limit: *limit,
                        shared: shared.clone(),
                    },
                };
                kept.push(Area { start: end, end: area.end, prot: area.prot, backing });
            }
        }
        self.areas = kept;
        let gone: Vec<u64> = self.pages.range(start..end).map(|(a, _)| *a).collect();
        for addr in gone {
            if let Some(present) = self.pages.remove(&addr) {
                self.release(pool, present);
            }
        }
    }

    fn release(&mut self, pool: &mut Pool, present: Present) {
        if let Some(mapping) = present.mapping {
            mapping.unmap(pool.alloc.cspace());
        }
        pool.give_back(present.page);
    }

    /// Tears the address space down (the process exits or execs, or a fork or an exec
    /// failed): every page is unmapped and given back, and the address space and its
    /// CNode are deleted, which frees its ASID.
    pub fn clear(&mut self, pool: &mut Pool) {
        self.remove_range(pool, 0, u64::MAX);
        self.process.destroy(pool.alloc.cspace());
    }

    /// A free range of `len` bytes for `mmap`, below the stack and above the heap.
    pub fn find_free(&mut self, len: u64) -> Option<u64> {
        // From below the last area given out; once that reaches the heap, from the top
        // again (freed ranges are reused).
        self.find_free_below(self.mmap_next, len).or_else(|| self.find_free_below(MMAP_TOP, len))
    }

    fn find_free_below(&mut self, from: u64, len: u64) -> Option<u64> {
        let mut top = from;
        loop {
            let start = top.checked_sub(len)?;
            if start < self.brk.max(MMAP_MIN) {
                return None;
            }
            match self.areas.iter().filter(|a| a.start < top && start < a.end).map(|a| a.start).min() {
                None => {
                    self.mmap_next = start;
                    return Some(start);
                }
                Some(below) => top = page_floor(below),
            }
        }
    }

    /// Makes the page at `addr` present; `write`: the access writes. Fails with
    /// EFAULT where no area allows the access.
    pub fn fault_in(&mut self, pool: &mut Pool, addr: u64, write: bool) -> Result<(), u64> {
        let page_addr = page_floor(addr);
        let Some(area) = self.area(addr).cloned() else { return Err(errno::EFAULT) };
        if area.prot & R == 0 || (write && area.prot & W == 0) {
            return Err(errno::EFAULT);
        }
        if self.pages.contains_key(&page_addr) {
            // Present already: a write to a page mapped read-only in a writable area
            // (after mprotect); give it a private writable copy.
            if write {
                self.make_writable(pool, page_addr)?;
            }
            return Ok(());
        }
        let writable = area.prot & W != 0;
        // A program's read-only page: the one the processes running it share, if one
        // of them filled it already. (Not for an area made writable by mprotect: its
        // pages are private.)
        let shared = match &area.backing {
            Backing::File { shared: Some(shared), .. } if !writable => Some(shared),
            _ => None,
        };
        if let Some(page) = shared.and_then(|s| s.borrow().get(&page_addr).cloned()) {
            return self.insert(pool, page_addr, page, false);
        }
        let page = pool.page()?;
        if let Backing::File { data, offset, limit, .. } = &area.backing {
            let from = offset + (page_addr - area.start);
            if from < *limit {
                let to = (from + PAGE).min(*limit).min(data.len() as u64);
                if let Some(bytes) = data.get(from as usize..to as usize) {
                    let _ = page.write(0, bytes);
                }
            }
        }
        let page = Rc::new(page);
        self.insert(pool, page_addr, page.clone(), writable)?;
        if let Some(shared) = shared {
            shared.borrow_mut().insert(page_addr, page);
        }
        Ok(())
    }

    /// Maps `page` at `addr` in the process and records it.
    pub fn insert(&mut self, pool: &mut Pool, addr: u64, page: Rc<UserPage>, writable: bool) -> Result<(), u64> {
        let mapping = match self.process.map(&page, addr, writable, &mut pool.alloc) {
            Ok(mapping) => mapping,
            Err(_) => {
                // Out of memory for paging structures or slots: the page goes back.
                pool.give_back(page);
                return Err(errno::ENOMEM);
            }
        };
        if let Some(old) = self.pages.insert(addr, Present { page, mapping: Some(mapping), writable }) {
            self.release(pool, old);
        }
        Ok(())
    }

    fn make_writable(&mut self, pool: &mut Pool, addr: u64) -> Result<(), u64> {
        let Some(present) = self.pages.get(&addr) else { return Ok(()) };
        if present.writable {
            return Ok(());
        }
        let copy = if Rc::strong_count(&present.page) > 1 {
            let copy = pool.page()?;
            copy.copy_from(&present.page);
            Rc::new(copy)
        } else {
            present.page.clone()
        };
        if let Some(old) = self.pages.remove(&addr) {
            if let Some(mapping) = old.mapping {
                mapping.unmap(pool.alloc.cspace());
            }
            if !Rc::ptr_eq(&old.page, &copy) {
                pool.give_back(old.page);
            }
        }
        self.insert(pool, addr, copy, true)
    }

    /// `mprotect`: new protection for `[start, end)`; present pages are mapped again
    /// with the new rights.
    pub fn protect(&mut self, pool: &mut Pool, start: u64, end: u64, prot: u8) -> Result<(), u64> {
        // Every page of the range must belong to an area.
        let mut at = start;
        while at < end {
            let Some(area) = self.area(at) else { return Err(errno::ENOMEM) };
            at = area.end;
        }
        let mut split = Vec::new();
        for area in self.areas.drain(..) {
            if area.end <= start || end <= area.start {
                split.push(area);
                continue;
            }
            let lo = area.start.max(start);
            let hi = area.end.min(end);
            let shifted = |from: u64, a: &Area| match &a.backing {
                Backing::Anon => Backing::Anon,
                Backing::File { data, offset, limit, shared } => Backing::File {
                    data: data.clone(),
                    offset: offset + (from - a.start),
                    limit: *limit,
                    shared: shared.clone(),
                },
            };
            if area.start < lo {
                split.push(Area { end: lo, ..area.clone() });
            }
            split.push(Area { start: lo, end: hi, prot, backing: shifted(lo, &area) });
            if hi < area.end {
                split.push(Area { start: hi, end: area.end, prot: area.prot, backing: shifted(hi, &area) });
            }
        }
        self.areas = split;
        let addrs: Vec<u64> = self.pages.range(start..end).map(|(a, _)| *a).collect();
        if prot & R == 0 {
            // PROT_NONE: nothing present stays mapped (a guard page); the contents stay
            // in the area's pages until mprotect makes them accessible again.
            for addr in addrs {
                if let Some(present) = self.pages.get_mut(&addr) {
                    if let Some(mapping) = present.mapping.take() {
                        mapping.unmap(pool.alloc.cspace());
                    }
                }
            }
            return Ok(());
        }
        for addr in addrs {
            let writable = prot & W != 0;
            let Some(present) = self.pages.get(&addr) else { continue };
            if present.mapping.is_none() {
                // Was PROT_NONE: mapped again (a private copy if it is shared and now
                // writable).
                let Some(old) = self.pages.remove(&addr) else { continue };
                let page = if writable && Rc::strong_count(&old.page) > 1 {
                    let copy = pool.page()?;
                    copy.copy_from(&old.page);
                    pool.give_back(old.page);
                    Rc::new(copy)
                } else {
                    old.page
                };
                self.insert(pool, addr, page, writable)?;
                continue;
            }
            if present.writable == writable {
                continue;
            }
            if writable {
                self.make_writable(pool, addr)?;
            } else if let Some(old) = self.pages.remove(&addr) {
                if let Some(mapping) = old.mapping {
                    mapping.unmap(pool.alloc.cspace());
                }
                self.insert(pool, addr, old.page, false)?;
            }
        }
        Ok(())
    }

    /// Copies `out.len()` bytes from the process at `addr`; EFAULT if any is not
    /// readable.
    pub fn read(&mut self, pool: &mut Pool, addr: u64, out: &mut [u8]) -> Result<(), u64> {
        let mut done = 0usize;
        while done < out.len() {
            let at = addr.checked_add(done as u64).ok_or(errno::EFAULT)?;
            if at >= USER_END {
                return Err(errno::EFAULT);
            }
            let page_addr = page_floor(at);
            if !self.pages.contains_key(&page_addr) {
                self.fault_in(pool, at, false)?;
            }
            let present = self.pages.get(&page_addr).ok_or(errno::EFAULT)?;
            let offset = (at - page_addr) as usize;
            let n = (PAGE as usize - offset).min(out.len() - done);
            present.page.read(offset, &mut out[done..done + n]).map_err(|_| errno::EFAULT)?;
            done += n;
        }
        Ok(())
    }

    /// Copies `data` into the process at `addr`; EFAULT if any byte is not writable.
    pub fn write(&mut self, pool: &mut Pool, addr: u64, data: &[u8]) -> Result<(), u64> {
        let mut done = 0usize;
        while done < data.len() {
            let at = addr.checked_add(done as u64).ok_or(errno::EFAULT)?;
            if at >= USER_END {
                return Err(errno::EFAULT);
            }
            let page_addr = page_floor(at);
            if !self.pages.get(&page_addr).is_some_and(|p| p.writable) {
                self.fault_in(pool, at, true)?;
            }
            let present = self.pages.get(&page_addr).ok_or(errno::EFAULT)?;
            let offset = (at - page_addr) as usize;
            let n = (PAGE as usize - offset).min(data.len() - done);
            present.page.write(offset, &data[done..done + n]).map_err(|_| errno::EFAULT)?;
            done += n;
        }
        Ok(())
    }

    /// Makes `len` bytes at `addr` present and writable (EFAULT if any cannot be), so
    /// that a [`Self::write`] there cannot fail: for data that cannot be put back if it
    /// could not be delivered (a socket's).
    pub fn writable(&mut self, pool: &mut Pool, addr: u64, len: usize) -> Result<(), u64> {
        if len == 0 {
            return Ok(());
        }
        let end = addr.checked_add(len as u64).filter(|&e| e <= USER_END).ok_or(errno::EFAULT)?;
        let mut at = page_floor(addr);
        while at < end {
            if !self.pages.get(&at).is_some_and(|p| p.writable) {
                self.fault_in(pool, at.max(addr), true)?;
            }
            at += PAGE;
        }
        Ok(())
    }

    /// A NUL-terminated string at `addr`, at most `max` bytes.
    pub fn read_cstr(&mut self, pool: &mut Pool, addr: u64, max: usize) -> Result<Vec<u8>, u64> {
        let mut out = Vec::new();
        let mut at = addr;
        loop {
            let chunk = (PAGE - (at % PAGE)) as usize;
            let mut buf = alloc::vec![0u8; chunk];
            self.read(pool, at, &mut buf)?;
            if let Some(nul) = buf.iter().position(|&b| b == 0) {
                out.extend_from_slice(&buf[..nul]);
                return Ok(out);
            }
            out.extend_from_slice(&buf);
            if out.len() > max {
                return Err(errno::ENAMETOOLONG);
            }
            at += chunk as u64;
        }
    }

    pub fn read_u64(&mut self, pool: &mut Pool, addr: u64) -> Result<u64, u64> {
        let mut b = [0u8; 8];
        self.read(pool, addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// A copy for `fork`: the same areas; read-only pages shared, writable ones copied.
    pub fn fork(&mut self, pool: &mut Pool) -> Result<Mm, u64> {
        let mut child = Mm::new(pool)?;
        child.areas = self.areas.clone();
        child.brk_start = self.brk_start;
        child.brk = self.brk;
        child.mmap_next = self.mmap_next;
        let addrs: Vec<(u64, bool)> = self.pages.iter().map(|(a, p)| (*a, p.writable)).collect();
        for (addr, writable) in addrs {
            let Some(present) = self.pages.get(&addr) else { continue };
            let page = if writable {
                let copy = match pool.page() {
                    Ok(copy) => copy,
                    Err(e) => {
                        child.clear(pool);
                        return Err(e);
                    }
                };
                copy.copy_from(&present.page);
                Rc::new(copy)
            } else {
                present.page.clone()
            };
            if let Err(e) = child.insert(pool, addr, page, writable) {
                child.clear(pool);
                return Err(e);
            }
        }
        Ok(child)
    }

    /// Whether `[start, end)` is free of areas.
    pub fn is_free(&self, start: u64, end: u64) -> bool {
        !self.overlaps(start, end)
    }
}
