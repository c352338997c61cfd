//! std test doubles: a shared region made of atomic words, a latching notification that
//! counts its signals, and a notifier that only counts.
#![allow(dead_code)] // Each test crate uses a different part.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use kaal_ipc::{Notify, SharedMemory, Wait};

/// A region of `size` bytes backed by atomic u32 words, so that both ends can use it
/// from different threads without data races; byte copies use relaxed word accesses.
/// Out-of-bounds accesses panic, which catches offset bugs in the crate.
pub struct StdMemory {
    words: Vec<AtomicU32>,
    size: usize,
}

impl StdMemory {
    pub fn new(size: usize) -> Self {
        StdMemory { words: (0..size.div_ceil(4)).map(|_| AtomicU32::new(0)).collect(), size }
    }

    fn word(&self, offset: usize) -> &AtomicU32 {
        assert_eq!(offset % 4, 0, "unaligned atomic access at {offset}");
        assert!(offset + 4 <= self.size, "atomic access at {offset} beyond {}", self.size);
        &self.words[offset / 4]
    }

    fn check_range(&self, offset: usize, len: usize) {
        assert!(
            offset.checked_add(len).is_some_and(|end| end <= self.size),
            "{len} bytes at {offset} beyond {}",
            self.size
        );
    }
}

impl SharedMemory for StdMemory {
    fn size(&self) -> usize {
        self.size
    }

    fn load_u32(&self, offset: usize, order: Ordering) -> u32 {
        self.word(offset).load(order)
    }

    fn store_u32(&self, offset: usize, value: u32, order: Ordering) {
        self.word(offset).store(value, order)
    }

    fn fence(&self, order: Ordering) {
        std::sync::atomic::fence(order)
    }

    fn read_bytes(&self, offset: usize, out: &mut [u8]) {
        self.check_range(offset, out.len());
        let mut done = 0;
        while done < out.len() {
            let at = offset + done;
            let word = self.words[at / 4].load(Ordering::Relaxed).to_le_bytes();
            let count = (4 - at % 4).min(out.len() - done);
            out[done..done + count].copy_from_slice(&word[at % 4..at % 4 + count]);
            done += count;
        }
    }

    fn write_bytes(&self, offset: usize, data: &[u8]) {
        self.check_range(offset, data.len());
        let mut done = 0;
        while done < data.len() {
            let at = offset + done;
            let count = (4 - at % 4).min(data.len() - done);
            let chunk = &data[done..done + count];
            let _ = self.words[at / 4].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |word| {
                let mut bytes = word.to_le_bytes();
                bytes[at % 4..at % 4 + count].copy_from_slice(chunk);
                Some(u32::from_le_bytes(bytes))
            });
            done += count;
        }
    }
}

/// Counts stores to one offset, to check how often an index is published.
pub struct StoreCounter<'a> {
    pub memory: &'a StdMemory,
    pub offset: usize,
    pub stores: Cell<usize>,
}

impl SharedMemory for StoreCounter<'_> {
    fn size(&self) -> usize {
        self.memory.size()
    }
    fn load_u32(&self, offset: usize, order: Ordering) -> u32 {
        self.memory.load_u32(offset, order)
    }
    fn store_u32(&self, offset: usize, value: u32, order: Ordering) {
        if offset == self.offset {
            self.stores.set(self.stores.get() + 1);
        }
        self.memory.store_u32(offset, value, order)
    }
    fn fence(&self, order: Ordering) {
        self.memory.fence(order)
    }
    fn read_bytes(&self, offset: usize, out: &mut [u8]) {
        self.memory.read_bytes(offset, out)
    }
    fn write_bytes(&self, offset: usize, data: &[u8]) {
        self.memory.write_bytes(offset, data)
    }
}

/// A notification like seL4's: a signal sets a flag that the next `wait` consumes, so
/// signals sent while nobody waits are latched, and several of them merge into one.
#[derive(Default)]
pub struct Notification {
    signalled: Mutex<bool>,
    woken: Condvar,
    signals: AtomicUsize,
}

impl Notification {
    pub fn signals(&self) -> usize {
        self.signals.load(Ordering::Relaxed)
    }
}

impl Notify for Notification {
    fn notify(&self) {
        self.signals.fetch_add(1, Ordering::Relaxed);
        *self.signalled.lock().unwrap() = true;
        self.woken.notify_one();
    }
}

impl Wait for Notification {
    fn wait(&self) {
        let mut signalled = self.signalled.lock().unwrap();
        while !*signalled {
            signalled = self.woken.wait(signalled).unwrap();
        }
        *signalled = false;
    }
}

/// A notifier for single-threaded tests: counts calls.
#[derive(Default)]
pub struct CountingNotify {
    pub calls: Cell<usize>,
}

impl Notify for CountingNotify {
    fn notify(&self) {
        self.calls.set(self.calls.get() + 1);
    }
}

/// A `Wait` for single-threaded tests in which sleeping would be a bug.
pub struct MustNotWait;

impl Wait for MustNotWait {
    fn wait(&self) {
        panic!("a single-threaded test went to sleep");
    }
}
