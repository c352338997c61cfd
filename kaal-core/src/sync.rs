//! A lock that cannot livelock across priorities.
//!
//! seL4 schedules strictly by priority: a thread that spins on a lock held by a
//! preempted lower-priority thread never lets that thread run, so it spins forever. A
//! [`Lock`] never spins. Its fast path is one atomic operation; a thread that finds the
//! lock taken sleeps on a notification, which lets the holder run, and the holder
//! signals the notification when it lets go (the shape of a futex mutex, with the
//! notification as the futex). A notification remembers a signal that comes before the
//! wait, so no wake-up is lost; a stale one only makes a waiter look again.
//!
//! The notification is attached at run time ([`Lock::attach`]), because kernel objects
//! do not exist when statics are initialised. Until then the lock cannot make anyone
//! wait, so [`Lock::try_lock_attached`] refuses rather than spin.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::cap::Notification;
use crate::sys;

const FREE: u32 = 0;
const LOCKED: u32 = 1;
/// Locked, and someone may be asleep waiting for it.
const CONTENDED: u32 = 2;

/// A sleeping lock over a notification. See the module docs.
#[derive(Debug)]
pub struct Lock {
    state: AtomicU32,
    /// The notification's slot; 0 until attached.
    notification: AtomicU64,
    /// How often a thread had to sleep to get the lock.
    waits: AtomicU64,
}

impl Default for Lock {
    fn default() -> Self {
        Self::new()
    }
}

impl Lock {
    /// A free lock with no notification yet.
    pub const fn new() -> Self {
        Self { state: AtomicU32::new(FREE), notification: AtomicU64::new(0), waits: AtomicU64::new(0) }
    }

    /// Gives the lock the notification it sleeps on; the lock keeps it for good.
    /// Returns the notification if the lock already has one.
    pub fn attach(&self, notification: Notification) -> Result<(), Notification> {
        let cptr = notification.cptr();
        match self.notification.compare_exchange(0, cptr, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                let _ = notification.into_cptr();
                Ok(())
            }
            Err(_) => Err(notification),
        }
    }

    /// Whether a notification is attached.
    pub fn is_attached(&self) -> bool {
        self.notification.load(Ordering::Acquire) != 0
    }

    /// Takes the lock, sleeping while another thread holds it. `None` if no notification
    /// is attached yet (the lock could only spin).
    pub fn try_lock_attached(&self) -> Option<LockGuard<'_>> {
        let notification = self.notification.load(Ordering::Acquire);
        if notification == 0 {
            return None;
        }
        let mut state = match self.state.compare_exchange(FREE, LOCKED, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return Some(LockGuard { lock: self }),
            Err(state) => state,
        };
        if state != CONTENDED {
            state = self.state.swap(CONTENDED, Ordering::Acquire);
        }
        while state != FREE {
            self.waits.fetch_add(1, Ordering::Relaxed);
            // SAFETY: a wait on the lock's own notification returns a badge in a register
            // and touches no memory.
            unsafe { sys::syscall(sys::SYS_WAIT, notification, 0, [0; 4]) };
            state = self.state.swap(CONTENDED, Ordering::Acquire);
        }
        Some(LockGuard { lock: self })
    }

    /// How many times a thread has slept waiting for this lock.
    pub fn waits(&self) -> u64 {
        self.waits.load(Ordering::Relaxed)
    }

    fn unlock(&self) {
        if self.state.swap(FREE, Ordering::Release) == CONTENDED {
            let notification = self.notification.load(Ordering::Acquire);
            // SAFETY: signalling the lock's own notification touches no memory.
            unsafe { sys::syscall(sys::syscall::seL4_SysNBSend, notification, sys::message_info(0, 0, 0, 0), [0; 4]) };
        }
    }
}

/// Holds a [`Lock`] until dropped.
#[derive(Debug)]
#[must_use = "the lock is released when the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.lock.unlock();
    }
}
