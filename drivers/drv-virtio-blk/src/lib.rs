//! virtio-blk driver (QEMU's `virtio-blk-pci`), on the `virtio-drivers` crate, serving
//! KaaL's block protocol ([`kaal_ipc::block`]).
//!
//! The device comes from the broker like any other: its MMIO windows, its interrupt (INTx,
//! level-triggered), a DMA pool, and, because virtio finds its register blocks through
//! PCI capabilities, a read-only copy of its configuration header ([`ConfigCopy`]). The
//! crate's `PciTransport` reads that copy through [`ConfigurationAccess`] and maps the
//! windows through [`KaalHal::mmio_phys_to_virt`].
//!
//! Requests are served from a ring ([`serve`]): each is checked against the disk and
//! the data region, copied into a DMA slot of its own (the device never sees client
//! memory), and queued on the device without waiting; up to [`SLOTS`] are in flight.
//! While any is, the driver sleeps on the device's interrupt; when none is, on the request
//! ring. A request is taken off the ring only when there is a slot and the response ring
//! has room for its answer and every other in flight, so nothing is dropped; one the
//! driver cannot carry out is answered with the status that says why. A FLUSH waits
//! until nothing is in flight (virtio-drivers' flush waits for the device, and must find
//! only its own completion).
#![no_std]

extern crate alloc;

use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::ops::Range;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

use kaal_alloc::{DmaBuffer, DmaPool};
use kaal_core::device::Irq;
use kaal_core::mmio::MmioRegion;
use kaal_dev::kit::{DeviceBundle, Driver, ResourceRequest};
use kaal_dev::pci::{ConfigCopy, ConfigSpace, PciAddress};
use kaal_dev::{DeviceMatch, DriverError};
use kaal_ipc::block::{op, status, BlockRequest, BlockResponse, BLOCK_SIZE};
use virtio_drivers::device::blk::{BlkReq, BlkResp, VirtIOBlk, SECTOR_SIZE};
use virtio_drivers::transport::pci::bus::{ConfigurationAccess, DeviceFunction, PciRoot};
use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::{BufferDirection, Hal, PhysAddr};

/// Requests in flight at once (each takes up to three of the queue's 16 descriptors).
pub const SLOTS: usize = 5;
/// Most blocks one request may move (its DMA slot's size).
pub const MAX_BLOCKS: u32 = 16;
const SLOT_BYTES: usize = MAX_BLOCKS as usize * BLOCK_SIZE;
/// DMA memory the driver needs: the slots, their request headers, and the queue.
pub const DMA_BYTES: usize = 512 * 1024;
const PAGE: usize = 4096;

/// The state `Hal`'s static functions need: the DMA pool, the device's mapped windows,
/// and buffers bounced because they lay outside the pool.
struct HalState {
    pool: DmaPool,
    allocations: Vec<DmaBuffer>,
    /// (physical address handed to the device, bounce buffer, the caller's buffer, its length)
    bounces: Vec<(u64, DmaBuffer, usize, usize)>,
    windows: Vec<(u64, u64, u64)>,
    /// A page the device may use when a small buffer could not be bounced; the request
    /// that needed it fails (only a FLUSH, which runs alone, bounces).
    sink: u64,
    sink_used: bool,
}

/// A lock for [`HalState`]: the driver runs on one thread, but `Hal` is called through
/// statics, so the state needs a `Sync` home. Contention would be a bug; it spins.
struct Global {
    locked: AtomicBool,
    state: UnsafeCell<Option<HalState>>,
}

// SAFETY: access goes through `with`, which holds `locked` for its duration.
unsafe impl Sync for Global {}

impl Global {
    fn with<R>(&self, f: impl FnOnce(&mut Option<HalState>) -> R) -> R {
        while self.locked.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            core::hint::spin_loop();
        }
        // SAFETY: `locked` is held, so this is the only reference.
        let result = f(unsafe { &mut *self.state.get() });
        self.locked.store(false, Ordering::Release);
        result
    }
}

static HAL: Global = Global { locked: AtomicBool::new(false), state: UnsafeCell::new(None) };

/// Whether the sink page stood in for a buffer since last asked (the request that
/// needed it must fail), clearing the mark.
fn take_sink_used() -> bool {
    HAL.with(|s| s.as_mut().is_some_and(|s| core::mem::take(&mut s.sink_used)))
}

/// `virtio_drivers::Hal` over a KaaL DMA pool.
pub struct KaalHal;

impl HalState {
    fn pool_paddr(&self, vaddr: u64, len: usize) -> Option<u64> {
        let offset = vaddr.checked_sub(self.pool.vaddr())?;
        (offset.checked_add(len as u64)? <= self.pool.size() as u64).then(|| self.pool.paddr() + offset)
    }
}

// SAFETY: dma_alloc hands out zeroed, page-aligned, physically contiguous memory from
// the pool (mapped for as long as the driver lives); share returns physical addresses
// the device may use for exactly the buffer (or a bounce copy of it).
unsafe impl Hal for KaalHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        HAL.with(|state| {
            let Some(state) = state.as_mut() else { return (0, NonNull::dangling()) };
            match state.pool.alloc(pages * PAGE, PAGE) {
                Ok(buffer) => {
                    let paddr = buffer.paddr();
                    let vaddr = state.pool.vaddr_of(&buffer).unwrap_or(0);
                    state.allocations.push(buffer);
                    (paddr, NonNull::new(vaddr as *mut u8).unwrap_or(NonNull::dangling()))
                }
                // virtio-drivers reports a zero address as DmaError.
                Err(_) => (0, NonNull::dangling()),
            }
        })
    }

    unsafe fn dma_dealloc(paddr: PhysAddr, _vaddr: NonNull<u8>, _pages: usize) -> i32 {
        HAL.with(|state| {
            let Some(state) = state.as_mut() else { return -1 };
            match state.allocations.iter().position(|b| b.paddr() == paddr) {
                Some(at) => {
                    let buffer = state.allocations.swap_remove(at);
                    i32::from(state.pool.free(buffer).is_err())
                }
                None => -1,
            }
        })
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        HAL.with(|state| {
            let found = state.as_ref().and_then(|s| {
                s.windows
                    .iter()
                    .find(|(base, size, _)| (*base..base + size).contains(&paddr))
                    .map(|(base, _, vaddr)| vaddr + (paddr - base))
            });
            // A BAR the broker did not map: the transport then fails on a dangling pointer's
            // alignment check or reads nothing useful; get_bar_region has already checked
            // the BAR against the sizes we report, so this does not happen.
            NonNull::new(found.unwrap_or(0) as *mut u8).unwrap_or(NonNull::dangling())
        })
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> PhysAddr {
        let (vaddr, len) = (buffer.as_ptr() as *mut u8 as u64, buffer.len());
        HAL.with(|state| {
            let Some(state) = state.as_mut() else { return 0 };
            if let Some(paddr) = state.pool_paddr(vaddr, len) {
                return paddr;
            }
            // Outside the pool (virtio-drivers' own stack buffers, a FLUSH's header and
            // status byte): bounce.
            let Ok(bounce) = state.pool.alloc(len, 16) else {
                // The slots are allocated first and the pool has room to spare, so this
                // means the pool was exhausted; a buffer no bigger than the sink page goes
                // there (its request fails), a bigger one cannot be shared safely at all.
                assert!(len <= PAGE, "drv-virtio-blk: cannot bounce a {len}-byte buffer: the DMA pool is exhausted");
                state.sink_used = true;
                return state.sink;
            };
            if !matches!(direction, BufferDirection::DeviceToDriver) {
                // SAFETY: the caller's buffer is valid for `len` bytes while shared.
                let data = unsafe { core::slice::from_raw_parts(vaddr as *const u8, len) };
                let _ = state.pool.write(&bounce, 0, data);
            }
            let paddr = bounce.paddr();
            state.bounces.push((paddr, bounce, vaddr as usize, len));
            paddr
        })
    }

    unsafe fn unshare(paddr: PhysAddr, _buffer: NonNull<[u8]>, direction: BufferDirection) {
        HAL.with(|state| {
            let Some(state) = state.as_mut() else { return };
            let Some(at) = state.bounces.iter().position(|(p, ..)| *p == paddr) else { return };
            let (_, bounce, vaddr, len) = state.bounces.swap_remove(at);
            if !matches!(direction, BufferDirection::DriverToDevice) {
                // SAFETY: as in `share`.
                let out = unsafe { core::slice::from_raw_parts_mut(vaddr as *mut u8, len) };
                let _ = state.pool.read(&bounce, 0, out);
            }
            let _ = state.pool.free(bounce);
        })
    }
}

/// virtio-drivers' configuration access over the broker's copy of the header.
pub struct ConfigAccess(ConfigCopy);

impl ConfigurationAccess for ConfigAccess {
    fn read_word(&self, f: DeviceFunction, offset: u8) -> u32 {
        let address = PciAddress { bus: f.bus, device: f.device, function: f.function };
        // `read32` needs `&mut` only for real buses; reading a copy changes nothing.
        let mut copy = self.0.clone();
        copy.read32(address, offset)
    }

    fn write_word(&mut self, f: DeviceFunction, offset: u8, data: u32) {
        self.0.write32(PciAddress { bus: f.bus, device: f.device, function: f.function }, offset, data);
    }

    unsafe fn unsafe_clone(&self) -> Self {
        ConfigAccess(self.0.clone())
    }
}

/// One request in flight: its token, the request, and the bytes of the data region it
/// moves.
struct InFlight {
    token: u16,
    request: BlockRequest,
    range: Range<usize>,
}

/// A DMA slot: a request header, a status byte and a data buffer, all in the pool.
struct Slot {
    req: NonNull<BlkReq>,
    resp: NonNull<BlkResp>,
    data: NonNull<u8>,
    busy: Option<InFlight>,
}

/// The driver.
pub struct VirtioBlk {
    blk: VirtIOBlk<KaalHal, PciTransport>,
    irq: Irq,
    slots: Vec<Slot>,
    /// The disk's size in blocks of [`BLOCK_SIZE`].
    capacity: u64,
    read_only: bool,
    _windows: Vec<(u8, MmioRegion)>,
}

impl core::fmt::Debug for VirtioBlk {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "VirtioBlk({} blocks)", self.capacity)
    }
}

const DRIVER: &str = "virtio-blk";

impl Driver for VirtioBlk {
    const NAME: &'static str = DRIVER;
    /// The transitional (0x1001) and modern (0x1042) virtio-blk PCI functions.
    const MATCHES: &'static [DeviceMatch] =
        &[DeviceMatch::Pci { vendor: 0x1af4, device: 0x1001 }, DeviceMatch::Pci { vendor: 0x1af4, device: 0x1042 }];
    const RESOURCES: ResourceRequest = ResourceRequest { dma_bytes: DMA_BYTES, ports: None };

    fn probe(device: &mut DeviceBundle) -> Result<Self, DriverError> {
        let id = device.id();
        let wrong = |what| DriverError::Device { driver: DRIVER, device: id, what };
        let config = device.take_config()?;
        let windows = device.take_all_mmio();
        let irq = device.take_irq()?;
        let mut pool = device.take_dma()?;
        let sink = pool.alloc(PAGE, PAGE)?;
        let sink_paddr = sink.paddr();
        // The slots first, so that they are never bounced.
        let mut slot_buffers = Vec::new();
        for _ in 0..SLOTS {
            let data = pool.alloc(SLOT_BYTES, PAGE)?;
            let header = pool.alloc(64, 64)?;
            slot_buffers.push((data, header));
        }
        let mut slots = Vec::new();
        for (data, header) in &slot_buffers {
            let data_vaddr = pool.vaddr_of(data).ok_or(wrong("its DMA pool went missing"))?;
            let header_vaddr = pool.vaddr_of(header).ok_or(wrong("its DMA pool went missing"))?;
            let pointer = |vaddr: u64| NonNull::new(vaddr as *mut u8).ok_or(wrong("a DMA buffer at address 0"));
            slots.push(Slot {
                req: pointer(header_vaddr)?.cast(),
                resp: pointer(header_vaddr + 32)?.cast(),
                data: pointer(data_vaddr)?,
                busy: None,
            });
        }
        let windows_info = windows.iter().map(|(_, r)| (r.paddr(), r.size() as u64, r.vaddr())).collect();
        let mut allocations = Vec::new();
        allocations.push(sink);
        for (data, header) in slot_buffers {
            allocations.push(data);
            allocations.push(header);
        }
        HAL.with(|state| {
            *state = Some(HalState {
                pool,
                allocations,
                bounces: Vec::new(),
                windows: windows_info,
                sink: sink_paddr,
                sink_used: false,
            })
        });
        let PciAddress { bus, device: dev, function } = config.address;
        let mut root = PciRoot::new(ConfigAccess(config));
        let transport = PciTransport::new::<KaalHal, _>(&mut root, DeviceFunction { bus, device: dev, function })
            .map_err(|_| wrong("its virtio capabilities are missing or malformed"))?;
        let blk = VirtIOBlk::<KaalHal, _>::new(transport).map_err(|_| wrong("it refused virtio initialisation"))?;
        let capacity = blk.capacity() / (BLOCK_SIZE / SECTOR_SIZE) as u64;
        let read_only = blk.readonly();
        Ok(VirtioBlk { blk, irq, slots, capacity, read_only, _windows: windows })
    }

    fn interrupt(&self) -> Option<&Irq> {
        Some(&self.irq)
    }

    fn handle_interrupt(&mut self) -> Result<(), DriverError> {
        self.blk.ack_interrupt();
        Ok(())
    }
}

impl VirtioBlk {
    /// The disk's size in blocks of [`BLOCK_SIZE`].
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.slots.iter().filter(|s| s.busy.is_some()).count()
    }

    /// Whether a slot is free for another request.
    pub fn has_room(&self) -> bool {
        self.in_flight() < self.slots.len()
    }

    /// Starts `request` on the data region `data` (the client's, `data.len()` bytes):
    /// `Err(response)` if it must be answered at once.
    pub fn start(&mut self, request: BlockRequest, data: &kaal_core::shared::SharedRegion) -> Start {
        let range = match request.check(self.capacity, self.read_only, data.size()) {
            Ok(range) => range,
            Err(status) => return Start::Answer(request.answer(status)),
        };
        if request.op == op::INFO {
            return Start::Answer(request.info(self.capacity, self.read_only));
        }
        if request.op == op::FLUSH {
            if self.in_flight() > 0 {
                return Start::AfterInFlight(request);
            }
            // virtio-drivers' flush waits for the device (spinning); flushes are rare.
            let done = self.blk.flush().is_ok();
            let sink_used = take_sink_used();
            return Start::Answer(request.answer(if done && !sink_used { status::OK } else { status::IO_ERROR }));
        }
        if request.count > MAX_BLOCKS {
            return Start::Answer(request.answer(status::TOO_LARGE));
        }
        let Some(index) = self.slots.iter().position(|s| s.busy.is_none()) else {
            return Start::AfterInFlight(request);
        };
        let slot = &mut self.slots[index];
        let len = range.len();
        // SAFETY: the slot's memory is in the DMA pool, mapped and owned by this driver,
        // and the slot is free: nothing else refers to it.
        let (req, resp, buf) = unsafe {
            (
                &mut *slot.req.as_ptr(),
                &mut *slot.resp.as_ptr(),
                core::slice::from_raw_parts_mut(slot.data.as_ptr(), len),
            )
        };
        let sector = (request.block * (BLOCK_SIZE / SECTOR_SIZE) as u64) as usize;
        // SAFETY: req, buf and resp stay untouched until the request completes (`finish`).
        let token = unsafe {
            if request.op == op::WRITE {
                data.read_bytes(range.start, buf);
                self.blk.write_blocks_nb(sector, req, buf, resp)
            } else {
                self.blk.read_blocks_nb(sector, req, buf, resp)
            }
        };
        match token {
            Ok(token) => {
                slot.busy = Some(InFlight { token, request, range });
                Start::Started
            }
            Err(_) => Start::Answer(request.answer(status::IO_ERROR)),
        }
    }

    /// Completes every request the device has finished, copying reads into `data`; the
    /// responses go to `answer`. An error if the device completed something the driver
    /// never started (it cannot be taken off the queue, so nothing after it could be).
    pub fn finish(
        &mut self,
        data: &kaal_core::shared::SharedRegion,
        mut answer: impl FnMut(BlockResponse),
    ) -> Result<(), DriverError> {
        let stray =
            || DriverError::Failed { driver: DRIVER, what: "the device completed a request the driver never started" };
        while let Some(token) = self.blk.peek_used() {
            let Some(slot) = self.slots.iter_mut().find(|s| s.busy.as_ref().is_some_and(|b| b.token == token)) else {
                return Err(stray());
            };
            let Some(flight) = slot.busy.take() else { return Err(stray()) };
            let len = flight.range.len();
            // SAFETY: as in `start`; the device is done with the buffers once the token is used.
            let (req, resp, buf) = unsafe {
                (
                    &*slot.req.as_ptr(),
                    &mut *slot.resp.as_ptr(),
                    core::slice::from_raw_parts_mut(slot.data.as_ptr(), len),
                )
            };
            let done = unsafe {
                if flight.request.op == op::WRITE {
                    self.blk.complete_write_blocks(token, req, buf, resp)
                } else {
                    self.blk.complete_read_blocks(token, req, buf, resp)
                }
            };
            let sink_used = take_sink_used();
            let status = match done {
                Ok(()) if !sink_used => {
                    if flight.request.op == op::READ {
                        data.write_bytes(flight.range.start, buf);
                    }
                    status::OK
                }
                _ => status::IO_ERROR,
            };
            answer(flight.request.answer(status));
        }
        Ok(())
    }
}

/// What [`VirtioBlk::start`] did with a request.
#[derive(Debug)]
pub enum Start {
    /// It is on the device; its answer comes from [`VirtioBlk::finish`].
    Started,
    /// Send this answer now.
    Answer(BlockResponse),
    /// Start it again once nothing is in flight (a FLUSH, or no free slot).
    AfterInFlight(BlockRequest),
}

/// Why [`serve`] stopped.
#[derive(Debug)]
pub enum ServeError {
    Ring(kaal_ipc::ring::RingError),
    Driver(DriverError),
}

impl core::fmt::Display for ServeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ServeError::Ring(e) => write!(f, "the block ring failed: {e}"),
            ServeError::Driver(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for ServeError {}

impl From<kaal_ipc::ring::RingError> for ServeError {
    fn from(e: kaal_ipc::ring::RingError) -> Self {
        ServeError::Ring(e)
    }
}

/// Serves block requests from `requests` on `data`, answering on `responses`, until a
/// ring fails or the device misbehaves.
pub fn serve(
    disk: &mut VirtioBlk,
    requests: &mut kaal_ipc::ring_grant::RingReceiver<BlockRequest>,
    responses: &mut kaal_ipc::ring_grant::RingSender<BlockResponse>,
    data: &kaal_core::shared::SharedRegion,
) -> Result<(), ServeError> {
    // A request that waits for the device to drain (a FLUSH).
    let mut held: Option<BlockRequest> = None;
    loop {
        if disk.in_flight() == 0 {
            if let Some(request) = held.take() {
                start(disk, request, data, responses, &mut held)?;
            }
        }
        // Start what fits: a free slot, and room in the response ring for every answer
        // owed, so that answering never blocks on a client slow to take them.
        while held.is_none() && disk.has_room() && responses.free()? as usize > disk.in_flight() {
            let Some(request) = requests.try_recv()? else { break };
            start(disk, request, data, responses, &mut held)?;
        }
        if disk.in_flight() > 0 {
            // Busy: sleep until the device finishes something.
            disk.irq.wait();
            let _ = disk.handle_interrupt();
            let mut answers: Vec<BlockResponse> = Vec::new();
            let finished = disk.finish(data, |r| answers.push(r));
            let _ = disk.irq.ack();
            for answer in answers {
                responses.send(answer)?;
            }
            finished.map_err(ServeError::Driver)?;
        } else if held.is_none() {
            // Idle: sleep until a request comes. (`send` sleeps while the client has
            // not taken earlier answers, so this one waits its turn.)
            let request = requests.recv()?;
            start(disk, request, data, responses, &mut held)?;
        }
    }
}

/// Starts `request`, answering it at once or holding it as [`VirtioBlk::start`] says.
fn start(
    disk: &mut VirtioBlk,
    request: BlockRequest,
    data: &kaal_core::shared::SharedRegion,
    responses: &mut kaal_ipc::ring_grant::RingSender<BlockResponse>,
    held: &mut Option<BlockRequest>,
) -> Result<(), ServeError> {
    match disk.start(request, data) {
        Start::Started => {}
        Start::Answer(response) => responses.send(response)?,
        Start::AfterInFlight(request) => *held = Some(request),
    }
    Ok(())
}
