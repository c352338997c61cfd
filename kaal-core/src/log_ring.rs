//! A component's log ring: defmt frames from a component to its supervisor's console
//! thread, through one shared page.
//!
//! Logging must be cheap where it matters most, in drivers and real-time tasks, so a
//! component does not print its frames itself (one syscall per character on a debug
//! kernel, or a call to the console thread on a release one). It copies each frame into
//! this ring, and signals the console thread only if that thread said it is about to
//! sleep (the sDDF protocol `kaal-ipc`'s rings use). The supervisor's log thread, at
//! the lowest priority, prints the frames as `~defmt~` lines on the component's behalf,
//! so printing them never takes time from a component that has work to do.
//!
//! Layout (all little-endian; offsets in bytes):
//!
//! | offset | field |
//! |---|---|
//! | 0 | magic `KLOG` |
//! | 8 | head: bytes ever written (producer), 64 bits |
//! | 16 | tail: bytes ever read (consumer), 64 bits |
//! | 24 | consumer sleeping (1) or awake (0) |
//! | 28 | frames the producer dropped (ring full) |
//! | 32 | length of the package name, then 32 bytes of it |
//! | 128.. | data: records of a `u16` length and the frame's bytes, wrapping |
//!
//! The consumer trusts nothing the component wrote: a length that does not fit, or
//! indices that cannot be, end the ring's use (the console thread says so) rather than
//! read past it.

use core::sync::atomic::Ordering;

use crate::shared::SharedRegion;

const MAGIC: u32 = u32::from_le_bytes(*b"KLOG");
const HEAD: usize = 8;
const TAIL: usize = 16;
const SLEEPING: usize = 24;
const DROPPED: usize = 28;
const PACKAGE_LEN: usize = 32;
const PACKAGE: usize = 36;
const PACKAGE_MAX: usize = 32;
const DATA: usize = 128;

/// The producer's end, in the component.
#[derive(Debug)]
pub struct LogRing {
    region: SharedRegion,
    capacity: u64,
}

/// What went wrong reading a ring a component wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingCorrupt {
    /// The magic number is missing: the component never set the ring up.
    NotSetUp,
    /// The indices or a record's length cannot be right.
    Inconsistent,
}

impl LogRing {
    /// Sets up `region` as a log ring for `package`.
    pub fn init(region: SharedRegion, package: &str) -> Self {
        let capacity = (region.size() - DATA) as u64;
        let name = &package.as_bytes()[..package.len().min(PACKAGE_MAX)];
        region.write_bytes(PACKAGE, name);
        region.store_u32(PACKAGE_LEN, name.len() as u32, Ordering::Relaxed);
        region.store_u64(HEAD, 0, Ordering::Relaxed);
        region.store_u64(TAIL, 0, Ordering::Relaxed);
        region.store_u32(DROPPED, 0, Ordering::Relaxed);
        // The consumer has not seen this ring yet, so it is asleep as far as the ring is
        // concerned: the first frame wakes it.
        region.store_u32(SLEEPING, 1, Ordering::Relaxed);
        region.store_u32(0, MAGIC, Ordering::Release);
        Self { region, capacity }
    }

    /// Appends one frame; returns whether the consumer must be woken. A frame that does
    /// not fit is counted as dropped, never half written.
    pub fn push(&self, frame: &[u8]) -> bool {
        let head = self.region.load_u64(HEAD, Ordering::Relaxed);
        let tail = self.region.load_u64(TAIL, Ordering::Acquire);
        let used = head.wrapping_sub(tail);
        let need = 2 + frame.len() as u64;
        if frame.len() > u16::MAX as usize || used.saturating_add(need) > self.capacity {
            let dropped = self.region.load_u32(DROPPED, Ordering::Relaxed);
            self.region.store_u32(DROPPED, dropped.wrapping_add(1), Ordering::Relaxed);
            return false;
        }
        self.copy_in(head, &(frame.len() as u16).to_le_bytes());
        self.copy_in(head.wrapping_add(2), frame);
        self.region.store_u64(HEAD, head.wrapping_add(need), Ordering::Release);
        // Publish before looking at the flag; the consumer sets the flag before its
        // last look at the head (see `LogReader::sleep`).
        core::sync::atomic::fence(Ordering::SeqCst);
        self.region.swap_u32(SLEEPING, 0, Ordering::AcqRel) == 1
    }

    fn copy_in(&self, at: u64, bytes: &[u8]) {
        let start = (at % self.capacity) as usize;
        let first = bytes.len().min(self.capacity as usize - start);
        self.region.write_bytes(DATA + start, &bytes[..first]);
        self.region.write_bytes(DATA, &bytes[first..]);
    }
}

/// The consumer's end, in the root task's console thread.
#[derive(Debug)]
pub struct LogReader {
    region: SharedRegion,
    capacity: u64,
}

impl LogReader {
    /// Reads the ring in `region`, which a component sets up.
    pub fn new(region: SharedRegion) -> Self {
        let capacity = (region.size() - DATA) as u64;
        Self { region, capacity }
    }

    /// The package name the component wrote (for picking its defmt table).
    pub fn package(&self, out: &mut [u8; PACKAGE_MAX]) -> usize {
        let len = (self.region.load_u32(PACKAGE_LEN, Ordering::Acquire) as usize).min(PACKAGE_MAX);
        self.region.read_bytes(PACKAGE, &mut out[..len]);
        len
    }

    /// Frames the component could not write because the ring was full.
    pub fn dropped(&self) -> u32 {
        self.region.load_u32(DROPPED, Ordering::Relaxed)
    }

    /// Hands every complete frame to `f`, in order, and frees its space.
    pub fn drain(&self, mut f: impl FnMut(&[u8])) -> Result<(), RingCorrupt> {
        if self.region.load_u32(0, Ordering::Acquire) != MAGIC {
            return Err(RingCorrupt::NotSetUp);
        }
        let head = self.region.load_u64(HEAD, Ordering::Acquire);
        let mut tail = self.region.load_u64(TAIL, Ordering::Relaxed);
        if head.wrapping_sub(tail) > self.capacity {
            return Err(RingCorrupt::Inconsistent);
        }
        let mut frame = [0u8; 512];
        while tail != head {
            let mut len = [0u8; 2];
            self.copy_out(tail, &mut len);
            let len = u16::from_le_bytes(len) as u64;
            if len as usize > frame.len() || 2 + len > head.wrapping_sub(tail) {
                return Err(RingCorrupt::Inconsistent);
            }
            self.copy_out(tail.wrapping_add(2), &mut frame[..len as usize]);
            f(&frame[..len as usize]);
            tail = tail.wrapping_add(2 + len);
            self.region.store_u64(TAIL, tail, Ordering::Release);
        }
        Ok(())
    }

    /// Says the consumer is about to sleep; true if frames arrived meanwhile (then it
    /// must drain again instead of sleeping).
    pub fn sleep(&self) -> bool {
        self.region.store_u32(SLEEPING, 1, Ordering::Relaxed);
        core::sync::atomic::fence(Ordering::SeqCst);
        let pending = self.region.load_u64(HEAD, Ordering::Acquire) != self.region.load_u64(TAIL, Ordering::Relaxed);
        if pending {
            self.region.store_u32(SLEEPING, 0, Ordering::Relaxed);
        }
        pending
    }

    fn copy_out(&self, at: u64, out: &mut [u8]) {
        let start = (at % self.capacity) as usize;
        let first = out.len().min(self.capacity as usize - start);
        let (a, b) = out.split_at_mut(first);
        self.region.read_bytes(DATA + start, a);
        self.region.read_bytes(DATA, b);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn page() -> Vec<u64> {
        std::vec![0u64; 4096 / 8]
    }

    fn region(memory: &mut [u64]) -> SharedRegion {
        // SAFETY: host memory, used only through this handle for the test.
        unsafe { SharedRegion::from_mapping(memory.as_mut_ptr() as u64, memory.len() * 8, true) }
    }

    #[test]
    fn frames_come_out_in_order_across_the_wrap() {
        let mut memory = page();
        let ring = LogRing::init(region(&mut memory), "drv-e1000");
        let reader = LogReader::new(region(&mut memory));
        let mut name = [0u8; 32];
        let len = reader.package(&mut name);
        assert_eq!(&name[..len], b"drv-e1000");
        let mut seen = Vec::new();
        for round in 0..200u32 {
            let frame: Vec<u8> = (0..(round % 37 + 1) as u8).map(|b| b ^ round as u8).collect();
            ring.push(&frame);
            reader.drain(|f| seen.push(f.to_vec())).unwrap();
            assert_eq!(seen.pop().unwrap(), frame, "round {round}");
        }
        assert_eq!(reader.dropped(), 0);
    }

    #[test]
    fn a_full_ring_drops_whole_frames_and_counts_them() {
        let mut memory = page();
        let ring = LogRing::init(region(&mut memory), "p");
        let reader = LogReader::new(region(&mut memory));
        let frame = [7u8; 100];
        let written = (0..100)
            .filter(|_| {
                ring.push(&frame);
                true
            })
            .count();
        let mut frames = 0;
        reader
            .drain(|f| {
                assert_eq!(f, &frame[..]);
                frames += 1;
            })
            .unwrap();
        assert_eq!(frames + reader.dropped() as usize, written);
        assert!(reader.dropped() > 0);
    }

    #[test]
    fn wake_ups_only_when_the_consumer_sleeps() {
        let mut memory = page();
        let ring = LogRing::init(region(&mut memory), "p");
        let reader = LogReader::new(region(&mut memory));
        assert!(ring.push(b"a"), "a new ring's consumer has not looked yet: wake it");
        assert!(!ring.push(b"a"), "awake consumer: no wake-up");
        assert!(reader.sleep(), "a frame is pending, so do not sleep");
        reader.drain(|_| {}).unwrap();
        assert!(!reader.sleep());
        assert!(ring.push(b"b"), "the consumer sleeps: wake it");
        assert!(!ring.push(b"c"), "already woken");
    }

    #[test]
    fn a_hostile_ring_is_refused_not_trusted() {
        let mut memory = page();
        let reader = LogReader::new(region(&mut memory));
        assert_eq!(reader.drain(|_| {}), Err(RingCorrupt::NotSetUp));
        let ring = LogRing::init(region(&mut memory), "p");
        ring.push(b"hello");
        // The component claims a record far longer than what it wrote.
        memory[DATA / 8] = 0xffff;
        assert_eq!(reader.drain(|_| panic!("nothing valid to hand out")), Err(RingCorrupt::Inconsistent));
        memory[HEAD / 8] = 100_000;
        assert_eq!(reader.drain(|_| {}), Err(RingCorrupt::Inconsistent));
    }
}
