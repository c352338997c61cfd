//! The block cache between ext2 and the disk: read-ahead on misses, write-back of
//! dirty blocks in sorted, contiguous runs.
//!
//! rsext4 moves one file-system block per call, and under QEMU's TCG what costs is the
//! number of device requests, not their size. So a miss reads a run of the blocks
//! after it (a window that grows while reads are sequential), and writes stay in the
//! cache until [`BlockCache::flush`] (sync, fsync, unmount) or until half the cache is
//! dirty, then go out coalesced into runs, in block order.
//!
//! Eviction is the clock algorithm: each block has a referenced bit, and the hand
//! evicts the first clean block whose bit is clear. Dirty blocks are never evicted;
//! the dirty limit keeps clean ones around.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use rsext4::{BlockIo, DeviceCapabilities, DeviceGeometry, Ext4Error, Ext4Result, SectorId};

/// Bytes per block (the block ring's unit).
pub const BLOCK: usize = 4096;

/// What went wrong below the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskError {
    /// The device (or its driver) reported an error.
    Io,
    /// The driver did not answer in time: it died or hangs.
    Timeout,
    /// The disk is read-only.
    ReadOnly,
    /// Blocks outside the disk.
    OutOfRange,
}

/// A disk the cache reads and writes, in whole blocks. Implementations split large
/// transfers themselves, with several requests in flight if they can.
pub trait Disk {
    /// Size in blocks.
    fn capacity(&self) -> u64;
    fn read_only(&self) -> bool;
    /// Reads `out.len() / BLOCK` blocks from `block`.
    fn read(&mut self, block: u64, out: &mut [u8]) -> Result<(), DiskError>;
    /// Writes `data.len() / BLOCK` blocks at `block`.
    fn write(&mut self, block: u64, data: &[u8]) -> Result<(), DiskError>;
    /// Makes completed writes durable.
    fn flush(&mut self) -> Result<(), DiskError>;
}

struct Slot {
    block: u64,
    data: Box<[u8; BLOCK]>,
    dirty: bool,
    referenced: bool,
}

pub struct BlockCache<D: Disk> {
    disk: D,
    slots: Vec<Slot>,
    index: BTreeMap<u64, usize>,
    capacity: usize,
    hand: usize,
    dirty: usize,
    /// The block after the last miss's read-ahead, and the window now.
    sequential_next: u64,
    window: usize,
    max_window: usize,
}

impl<D: Disk> BlockCache<D> {
    /// A cache of `blocks` blocks over `disk`, reading ahead at most `max_window`
    /// blocks on a miss.
    pub fn new(disk: D, blocks: usize, max_window: usize) -> Self {
        BlockCache {
            disk,
            slots: Vec::new(),
            index: BTreeMap::new(),
            capacity: blocks.max(16),
            hand: 0,
            dirty: 0,
            sequential_next: u64::MAX,
            window: 4,
            max_window: max_window.max(1),
        }
    }

    pub fn disk(&self) -> &D {
        &self.disk
    }

    /// Writes every dirty block, in sorted contiguous runs, then flushes the disk.
    pub fn flush(&mut self) -> Result<(), DiskError> {
        self.write_back()?;
        self.disk.flush()
    }

    /// Writes every dirty block out (no device flush).
    fn write_back(&mut self) -> Result<(), DiskError> {
        if self.dirty == 0 {
            return Ok(());
        }
        let dirty: Vec<(u64, usize)> =
            self.index.iter().filter(|(_, &s)| self.slots[s].dirty).map(|(&b, &s)| (b, s)).collect();
        let mut run: Vec<u8> = Vec::new();
        let mut i = 0;
        while i < dirty.len() {
            let start = dirty[i].0;
            let mut j = i;
            run.clear();
            while j < dirty.len() && dirty[j].0 == start + (j - i) as u64 && j - i < 256 {
                run.extend_from_slice(&self.slots[dirty[j].1].data[..]);
                j += 1;
            }
            self.disk.write(start, &run)?;
            for &(_, s) in &dirty[i..j] {
                self.slots[s].dirty = false;
                self.dirty -= 1;
            }
            i = j;
        }
        Ok(())
    }

    /// A slot for `block` (not cached yet), evicting a clean block if the cache is full.
    fn free_slot(&mut self) -> Result<usize, DiskError> {
        if self.slots.len() < self.capacity {
            self.slots.push(Slot { block: u64::MAX, data: Box::new([0; BLOCK]), dirty: false, referenced: false });
            return Ok(self.slots.len() - 1);
        }
        if self.dirty * 2 >= self.capacity {
            self.write_back()?;
        }
        // At most two sweeps: the first clears referenced bits.
        for _ in 0..2 * self.slots.len() {
            let at = self.hand;
            self.hand = (self.hand + 1) % self.slots.len();
            let slot = &mut self.slots[at];
            if slot.dirty {
                continue;
            }
            if slot.referenced {
                slot.referenced = false;
                continue;
            }
            self.index.remove(&slot.block);
            slot.block = u64::MAX;
            return Ok(at);
        }
        // Every block is dirty: write them out and take the hand's.
        self.write_back()?;
        let at = self.hand;
        self.index.remove(&self.slots[at].block);
        Ok(at)
    }

    fn insert(&mut self, block: u64, bytes: &[u8], dirty: bool) -> Result<usize, DiskError> {
        let at = self.free_slot()?;
        let slot = &mut self.slots[at];
        slot.block = block;
        slot.data.copy_from_slice(bytes);
        slot.dirty = dirty;
        slot.referenced = true;
        if dirty {
            self.dirty += 1;
        }
        self.index.insert(block, at);
        Ok(at)
    }

    /// The cached copy of `block`, reading it (and the blocks after it) on a miss.
    fn get(&mut self, block: u64) -> Result<usize, DiskError> {
        if block >= self.disk.capacity() {
            return Err(DiskError::OutOfRange);
        }
        if let Some(&at) = self.index.get(&block) {
            self.slots[at].referenced = true;
            return Ok(at);
        }
        self.window = if block == self.sequential_next { (self.window * 2).min(self.max_window) } else { 4 };
        // Read ahead over blocks not cached yet (a cached one may be newer than the disk).
        let limit = self.window.min((self.capacity / 4).max(1)) as u64;
        let mut count = 1u64;
        while count < limit && block + count < self.disk.capacity() && !self.index.contains_key(&(block + count)) {
            count += 1;
        }
        let mut run = alloc::vec![0u8; count as usize * BLOCK];
        self.disk.read(block, &mut run)?;
        self.sequential_next = block + count;
        let mut first = 0;
        for i in 0..count {
            let at = self.insert(block + i, &run[i as usize * BLOCK..(i as usize + 1) * BLOCK], false)?;
            if i == 0 {
                first = at;
            }
            // Read-ahead blocks start unreferenced, so unused ones go first.
            self.slots[at].referenced = i == 0;
        }
        // Inserting may have evicted the first block again only if the cache is tiny.
        match self.index.get(&block) {
            Some(&at) if at == first => Ok(at),
            _ => Err(DiskError::Io),
        }
    }

    pub fn read_block(&mut self, block: u64, out: &mut [u8]) -> Result<(), DiskError> {
        let at = self.get(block)?;
        out.copy_from_slice(&self.slots[at].data[..]);
        Ok(())
    }

    /// Reads `out.len()` bytes from byte `at` of the disk. Cached blocks come from the
    /// cache (they may be newer than the disk); runs of uncached whole blocks are read
    /// from the disk straight into `out`, without filling the cache, so one large
    /// sequential read neither costs a copy through the cache nor evicts everything.
    pub fn read_at(&mut self, at: u64, out: &mut [u8]) -> Result<(), DiskError> {
        let end = at.checked_add(out.len() as u64).ok_or(DiskError::OutOfRange)?;
        if end > self.disk.capacity() * BLOCK as u64 {
            return Err(DiskError::OutOfRange);
        }
        let mut pos = at;
        while pos < end {
            let block = pos / BLOCK as u64;
            let within = (pos % BLOCK as u64) as usize;
            let dest = (pos - at) as usize;
            let whole = within == 0 && end - pos >= BLOCK as u64;
            if whole && !self.index.contains_key(&block) {
                // A run of whole, uncached blocks.
                let mut count = 1u64;
                while pos + (count + 1) * BLOCK as u64 <= end && !self.index.contains_key(&(block + count)) {
                    count += 1;
                }
                let bytes = count as usize * BLOCK;
                self.disk.read(block, &mut out[dest..dest + bytes])?;
                pos += bytes as u64;
                continue;
            }
            let slot = self.get(block)?;
            let n = (BLOCK - within).min((end - pos) as usize);
            out[dest..dest + n].copy_from_slice(&self.slots[slot].data[within..within + n]);
            pos += n as u64;
        }
        Ok(())
    }

    /// Reads up to `bytes` from the disk's start in 256 KiB requests, straight from the
    /// disk into a scratch buffer (the cache is neither used nor changed): bytes read.
    pub fn measure_raw_read(&mut self, bytes: u64) -> Result<u64, DiskError> {
        const STEP: usize = 64 * BLOCK;
        let blocks = bytes.div_ceil(BLOCK as u64).min(self.disk.capacity());
        let mut buffer = alloc::vec![0u8; STEP];
        let mut block = 0;
        while block < blocks {
            let count = (blocks - block).min(64) as usize;
            self.disk.read(block, &mut buffer[..count * BLOCK])?;
            block += count as u64;
        }
        Ok(blocks * BLOCK as u64)
    }

    pub fn write_block(&mut self, block: u64, data: &[u8]) -> Result<(), DiskError> {
        if self.disk.read_only() {
            return Err(DiskError::ReadOnly);
        }
        if block >= self.disk.capacity() {
            return Err(DiskError::OutOfRange);
        }
        match self.index.get(&block) {
            Some(&at) => {
                let slot = &mut self.slots[at];
                slot.data.copy_from_slice(data);
                slot.referenced = true;
                if !slot.dirty {
                    slot.dirty = true;
                    self.dirty += 1;
                }
            }
            None => {
                self.insert(block, data, true)?;
            }
        }
        if self.dirty * 2 >= self.capacity {
            self.write_back()?;
        }
        Ok(())
    }
}

/// The cache as rsext4's device and, through a second handle, ext2's own fast read
/// path (the server is single-threaded; every borrow ends within one call).
pub struct SharedCache<D: Disk>(pub alloc::rc::Rc<core::cell::RefCell<BlockCache<D>>>);

impl<D: Disk> BlockIo for SharedCache<D> {
    fn write(&mut self, buffer: &[u8], sector: SectorId, count: u32) -> Ext4Result<()> {
        BlockIo::write(&mut *self.0.borrow_mut(), buffer, sector, count)
    }
    fn read(&mut self, buffer: &mut [u8], sector: SectorId, count: u32) -> Ext4Result<()> {
        BlockIo::read(&mut *self.0.borrow_mut(), buffer, sector, count)
    }
    fn geometry(&self) -> DeviceGeometry {
        self.0.borrow().geometry()
    }
    fn capabilities(&self) -> DeviceCapabilities {
        self.0.borrow().capabilities()
    }
    fn flush(&mut self) -> Ext4Result<()> {
        BlockIo::flush(&mut *self.0.borrow_mut())
    }
}

fn ext4_error(e: DiskError) -> Ext4Error {
    match e {
        DiskError::ReadOnly => Ext4Error::read_only(),
        DiskError::OutOfRange => Ext4Error::invalid_input(),
        DiskError::Io | DiskError::Timeout => Ext4Error::io(),
    }
}

/// rsext4 asks for sectors of the geometry's logical block size: here, 4 KiB blocks.
impl<D: Disk> BlockIo for BlockCache<D> {
    fn write(&mut self, buffer: &[u8], sector: SectorId, count: u32) -> Ext4Result<()> {
        let count = count as usize;
        if buffer.len() != count * BLOCK {
            return Err(Ext4Error::invalid_input());
        }
        for i in 0..count {
            self.write_block(sector.raw() + i as u64, &buffer[i * BLOCK..(i + 1) * BLOCK]).map_err(ext4_error)?;
        }
        Ok(())
    }

    fn read(&mut self, buffer: &mut [u8], sector: SectorId, count: u32) -> Ext4Result<()> {
        let count = count as usize;
        if buffer.len() != count * BLOCK {
            return Err(Ext4Error::invalid_input());
        }
        for i in 0..count {
            self.read_block(sector.raw() + i as u64, &mut buffer[i * BLOCK..(i + 1) * BLOCK]).map_err(ext4_error)?;
        }
        Ok(())
    }

    fn geometry(&self) -> DeviceGeometry {
        DeviceGeometry::new(BLOCK as u32, self.disk.capacity())
    }

    fn capabilities(&self) -> DeviceCapabilities {
        DeviceCapabilities { read_only: self.disk.read_only(), flush: true, ..DeviceCapabilities::default() }
    }

    fn flush(&mut self) -> Ext4Result<()> {
        BlockCache::flush(self).map_err(ext4_error)
    }
}
