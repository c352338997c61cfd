//! The VFS server component, which the tool adds to a system that declares
//! `[filesystems.NAME]`: it mounts each file system, then serves its clients' rings
//! (`kaal_posix::proto`), sleeping on `vfs-wake` when none has work.
//!
//! Its configuration is the read-only region `config` (see `kaal_vfs::config`). For
//! each ext2 file system it reaches the disk's driver component `disk-<disk>` over
//! the block ring (`<disk component>-req`, `-resp`, `-data`); for each client it maps
//! the client's region `vfs-<client>` and may signal `vfs-<client>-done`.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;

use kaal_core::component::Component;
use kaal_core::println;
use kaal_core::shared::SharedRegion;
use kaal_core::time::{Duration, Instant, Timer};
use kaal_ipc::block::{op, status, BlockClient, BlockRequest, BLOCK_SIZE};
use kaal_ipc::window::Window;
use kaal_ipc::{Consumer, Notify, Producer};
use kaal_posix::proto::{self, Request, Response, Status};
use kaal_vfs::cache::{BlockCache, Disk, DiskError, BLOCK};
use kaal_vfs::config::{self, FsKind};
use kaal_vfs::ext2::Ext2;
use kaal_vfs::ramfs::Ramfs;
use kaal_vfs::vfs::{Buffer, Slot, Vfs};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

/// Blocks cached per ext2 file system (16 MiB).
const CACHE_BLOCKS: usize = 4096;
/// The most blocks one miss reads ahead (256 KiB).
const MAX_READ_AHEAD: usize = 64;
/// Blocks the driver moves in one request (drv-virtio-blk's slot size).
const REQUEST_BLOCKS: usize = 16;
/// How long the server waits for the disk before it calls the disk dead.
const DISK_TIMEOUT: Duration = Duration::from_secs(10);

/// Inode times: seconds since boot on top of 2026-01-01. KaaL has no wall-clock service
/// yet, so files made in one run are dated from that day.
fn clock() -> u32 {
    const EPOCH: u32 = 1_767_225_600;
    EPOCH + Instant::now().since_boot().as_secs() as u32
}

/// The buffer part of a client's region.
struct ClientBuffer(&'static SharedRegion);

impl Buffer for ClientBuffer {
    fn size(&self) -> usize {
        self.0.size() - proto::BUFFER
    }
    fn read(&self, at: usize, out: &mut [u8]) {
        self.0.read_bytes(proto::BUFFER + at, out)
    }
    fn write(&self, at: usize, data: &[u8]) {
        self.0.write_bytes(proto::BUFFER + at, data)
    }
}

type Ring = Window<&'static SharedRegion>;

/// A client never waits for room in its request ring (it has one request in flight),
/// so taking a request wakes no one.
struct NoOne;
impl Notify for NoOne {
    fn notify(&self) {}
}

struct Client {
    index: u64,
    name: String,
    requests: Consumer<Request, Ring>,
    responses: Producer<Response, Ring>,
    buffer: ClientBuffer,
    done: kaal_core::Notification,
    /// Set once it corrupted its rings: it is not served any more.
    broken: bool,
}

impl Client {
    /// Serves what is on its request ring, as far as its response ring has room:
    /// whether it did anything.
    fn serve(&mut self, vfs: &mut Vfs, server: &str) -> bool {
        let mut worked = false;
        // At most a ring's worth a pass, so one busy client cannot shut out the others.
        for _ in 0..proto::RING_SLOTS {
            if self.broken {
                break;
            }
            // A request is taken only when its answer has a slot: a client that does
            // not take answers stalls only itself.
            let room = match self.responses.occupied() {
                Ok(used) => used < proto::RING_SLOTS,
                Err(e) => return self.fail(server, "response", e),
            };
            if !room {
                break;
            }
            let request = match self.requests.pop_notify(&NoOne) {
                Ok(Some(request)) => request,
                Ok(None) => break,
                Err(e) => return self.fail(server, "request", e),
            };
            let (status, words) = vfs.request(self.index, u64::from(request.op), request.words, &self.buffer);
            let response = Response { status: status as u32, id: request.id, words };
            if let Err(e) = self.responses.push_notify(response, &self.done) {
                return self.fail(server, "response", e);
            }
            worked = true;
        }
        worked
    }

    fn fail(&mut self, server: &str, ring: &str, e: kaal_ipc::RingError) -> bool {
        println!("[{server}] client {}: its {ring} ring is corrupt ({e}); it is no longer served", self.name);
        self.broken = true;
        false
    }
}

/// A disk reached over the block ring, with as many requests in flight as its data
/// region holds (each up to `REQUEST_BLOCKS`).
struct RingDisk {
    client: BlockClient,
    capacity: u64,
    read_only: bool,
    /// The component's one timer, shared by its disks.
    timer: Option<Rc<Timer>>,
    next_id: u32,
    /// Set when the driver did not answer in time: requests may still be in flight,
    /// so the data region cannot be trusted any more, and every later request fails.
    dead: bool,
}

impl RingDisk {
    fn slots(&self) -> usize {
        (self.client.data().size() / (REQUEST_BLOCKS * BLOCK_SIZE)).max(1)
    }

    fn answer(&mut self) -> Result<kaal_ipc::block::BlockResponse, DiskError> {
        if self.dead {
            return Err(DiskError::Io);
        }
        let answer = match &self.timer {
            Some(timer) => match self.client.wait_timeout(timer, DISK_TIMEOUT) {
                Ok(Some(r)) => Ok(r),
                Ok(None) => Err(DiskError::Timeout),
                Err(_) => Err(DiskError::Io),
            },
            None => self.client.wait().map_err(|_| DiskError::Io),
        };
        if answer.is_err() {
            self.dead = true;
            println!("[vfs] ERROR: the disk driver stopped answering; its file system now fails every request");
        }
        answer
    }

    /// Moves `blocks` blocks at `block` between the disk and `bytes` (read if `read`),
    /// in requests of up to `REQUEST_BLOCKS`, several in flight.
    fn transfer(&mut self, read: bool, block: u64, bytes: &mut [u8], data: Option<&[u8]>) -> Result<(), DiskError> {
        if self.dead {
            return Err(DiskError::Io);
        }
        let total = bytes.len().max(data.map_or(0, <[u8]>::len)) / BLOCK;
        let slots = self.slots();
        let mut done = 0usize;
        while done < total {
            // One round: up to `slots` requests, then all their answers.
            let mut round = Vec::new();
            for slot in 0..slots {
                let first = done + slot * REQUEST_BLOCKS;
                if first >= total {
                    break;
                }
                let count = REQUEST_BLOCKS.min(total - first);
                let offset = slot * REQUEST_BLOCKS * BLOCK_SIZE;
                if let Some(data) = data {
                    self.client.data().write_bytes(offset, &data[first * BLOCK..(first + count) * BLOCK]);
                }
                self.next_id = self.next_id.wrapping_add(1);
                let request = BlockRequest {
                    op: if read { op::READ } else { op::WRITE },
                    id: self.next_id,
                    block: block + first as u64,
                    count: count as u32,
                    offset: offset as u32,
                };
                // A round is at most `slots` requests and every answer is taken before
                // the next, so the ring (16 slots) has room; full means a broken driver.
                if !self.client.submit(request).map_err(|_| DiskError::Io)? {
                    return Err(DiskError::Io);
                }
                round.push((request.id, first, count, offset));
            }
            let mut failed = None;
            let mut owed = round.len();
            while owed > 0 {
                let response = self.answer()?;
                // Answers carry their request's id; anything else is not ours.
                if !round.iter().any(|r| r.0 == response.id) {
                    continue;
                }
                owed -= 1;
                if response.status != status::OK {
                    failed = Some(match response.status {
                        status::READ_ONLY => DiskError::ReadOnly,
                        status::OUT_OF_RANGE => DiskError::OutOfRange,
                        _ => DiskError::Io,
                    });
                }
            }
            if let Some(e) = failed {
                return Err(e);
            }
            if read {
                for &(_, first, count, offset) in &round {
                    self.client.data().read_bytes(offset, &mut bytes[first * BLOCK..(first + count) * BLOCK]);
                }
            }
            done += round.iter().map(|r| r.2).sum::<usize>();
        }
        Ok(())
    }
}

impl Disk for RingDisk {
    fn capacity(&self) -> u64 {
        self.capacity
    }
    fn read_only(&self) -> bool {
        self.read_only
    }
    fn read(&mut self, block: u64, out: &mut [u8]) -> Result<(), DiskError> {
        self.transfer(true, block, out, None)
    }
    fn write(&mut self, block: u64, data: &[u8]) -> Result<(), DiskError> {
        self.transfer(false, block, &mut [], Some(data))
    }
    fn flush(&mut self) -> Result<(), DiskError> {
        if self.dead {
            return Err(DiskError::Io);
        }
        self.next_id = self.next_id.wrapping_add(1);
        let request = BlockRequest { op: op::FLUSH, id: self.next_id, block: 0, count: 0, offset: 0 };
        if !self.client.submit(request).map_err(|_| DiskError::Io)? {
            return Err(DiskError::Io);
        }
        loop {
            let response = self.answer()?;
            if response.id == request.id {
                return if response.status == status::OK { Ok(()) } else { Err(DiskError::Io) };
            }
        }
    }
}

fn mount_ext2(me: &mut Component, timer: Option<Rc<Timer>>, disk: &str, read_only: bool) -> Result<Slot, String> {
    let names = [format!("{disk}-req"), format!("{disk}-resp"), format!("{disk}-data")];
    let mut client = BlockClient::granted(me, &names[0], &names[1], &names[2])
        .map_err(|e| format!("its block ring is not granted: {e}"))?;
    let (capacity, disk_read_only) = client.info().map_err(|e| format!("the disk driver did not answer: {e}"))?;
    let disk = RingDisk { client, capacity, read_only: disk_read_only, timer, next_id: 0, dead: false };
    let cache = BlockCache::new(disk, CACHE_BLOCKS, MAX_READ_AHEAD);
    match Ext2::mount(cache, read_only, clock) {
        Ok(fs) => Ok(Slot::Mounted(Box::new(fs))),
        Err(e) => Err(format!("cannot mount it: {}{}{}", e.problem, if e.at.is_empty() { "" } else { " at " }, e.at)),
    }
}

fn main(mut me: Component) -> Result<(), Box<dyn core::error::Error>> {
    let name = me.name();
    let text = kaal_posix::server::config_text(&mut me, "the VFS configuration")?;
    let config = config::parse(&text)?;
    // With a time service, a disk that stops answering is an error, not a hang. The
    // time grant can be taken once, so every disk shares this timer.
    let timer = me.timer().ok().map(Rc::new);

    let mut slots = Vec::new();
    // The banner line (`[VFS] Mounted ...`): what is mounted, once every file system
    // has been tried.
    let mut mounted = Vec::new();
    for fs in &config.filesystems {
        let slot = match &fs.kind {
            FsKind::Ramfs { size } => {
                println!("[{name}] {}: ramfs, {} KiB", fs.name, size / 1024);
                mounted.push(format!("{} (ramfs, {} KiB)", fs.name, size / 1024));
                Slot::Mounted(Box::new(Ramfs::new(*size, clock)))
            }
            FsKind::Ext2 { disk, read_only } => match mount_ext2(&mut me, timer.clone(), disk, *read_only) {
                Ok(slot) => {
                    let access = if *read_only { ", read-only" } else { "" };
                    println!("[{name}] {}: ext2 on {disk}{access}", fs.name);
                    mounted.push(format!("{} (ext2 on {disk}{access})", fs.name));
                    slot
                }
                Err(problem) => {
                    println!(
                        "[{name}] ERROR: file system `{}` (ext2 on {disk}): {problem}; its clients get errors. \
                             Check the image with `e2fsck -fn IMAGE`, or make it again with `mke2fs -t ext2`",
                        fs.name
                    );
                    Slot::Failed { status: Status::Corrupt, problem }
                }
            },
        };
        slots.push(slot);
    }
    match (mounted.len(), config.filesystems.len()) {
        (0, _) => println!("[VFS] Mounted nothing: every file system failed (above)"),
        (n, all) if n == all => println!("[VFS] Mounted {}", mounted.join(", ")),
        (n, all) => println!("[VFS] Mounted {} ({} of {all}; the others failed, above)", mounted.join(", "), n),
    }
    let mut clients = Vec::new();
    for client in &config.clients {
        // Client regions stay mapped for the server's whole life.
        let region: &'static SharedRegion = Box::leak(Box::new(me.region(&client.buffer)?));
        let window = |at| Window::new(region, at, proto::RING_BYTES);
        let requests = Consumer::new(window(proto::REQUESTS)?, proto::RING_SLOTS)?;
        let responses = Producer::new(window(proto::RESPONSES)?, proto::RING_SLOTS)?;
        let done = me.notification(&client.done)?;
        let buffer = ClientBuffer(region);
        let name = client.name.clone();
        clients.push(Client { index: client.index, name, requests, responses, buffer, done, broken: false });
    }
    let wake = me.notification(proto::WAKE)?;
    let mut vfs = Vfs::new(&config, slots);
    vfs.cycles = kaal_core::arch::cycles;
    println!("[{name}] serving {} file system(s) to {} client(s)", config.filesystems.len(), config.clients.len());
    loop {
        let mut worked = false;
        for client in &mut clients {
            worked |= client.serve(&mut vfs, name);
        }
        if worked {
            continue;
        }
        // Ask every client to signal, then look once more before sleeping (a request
        // pushed meanwhile either shows here or signals).
        // A client whose response ring is full is asked to signal when it takes an
        // answer instead (it waits with `vfs-wake` as its space notification).
        let mut sleep = true;
        for client in clients.iter_mut().filter(|c| !c.broken) {
            let full = match client.responses.occupied() {
                Ok(used) => used >= proto::RING_SLOTS,
                Err(e) => {
                    client.fail(name, "response", e);
                    continue;
                }
            };
            let asked = if full {
                client.responses.request_space_signal().map_err(|e| ("response", e))
            } else {
                client.requests.request_signal().map_err(|e| ("request", e))
            };
            match asked {
                Ok(true) => {}
                Ok(false) => sleep = false,
                Err((ring, e)) => {
                    client.fail(name, ring, e);
                }
            }
        }
        if sleep {
            let _ = wake.wait();
        }
        for client in &mut clients {
            client.requests.cancel_signal();
            client.responses.cancel_space_signal();
        }
    }
}
