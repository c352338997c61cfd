//! Notifications: a word of signal bits that threads can signal, wait on and poll.
//!
//! Signalling through a badged copy ORs the badge into the word; a waiter receives the
//! accumulated word and clears it. Notifications never carry data or capabilities;
//! endpoints do.

use crate::cap::Notification;
use crate::sys;

impl Notification {
    /// Signals the notification (`seL4_Signal`). Never blocks.
    #[inline]
    pub fn signal(&self) {
        // SAFETY: Send with an empty message on a notification touches no memory.
        unsafe {
            sys::syscall(sys::syscall::seL4_SysSend, self.cptr(), sys::message_info(0, 0, 0, 0), [0; 4]);
        }
    }

    /// Blocks until the notification is signalled; returns the accumulated badge bits
    /// (`seL4_Wait`).
    #[inline]
    pub fn wait(&self) -> u64 {
        // SAFETY: Recv on a notification returns the badge word in a register only.
        unsafe { sys::syscall(sys::syscall::seL4_SysRecv, self.cptr(), 0, [0; 4]).badge }
    }

    /// Returns the accumulated badge bits if the notification was signalled, without
    /// blocking (`seL4_Poll`).
    #[inline]
    pub fn poll(&self) -> Option<u64> {
        // SAFETY: NBRecv on a notification returns the badge word in a register only.
        let badge = unsafe { sys::syscall(sys::syscall::seL4_SysNBRecv, self.cptr(), 0, [0; 4]).badge };
        (badge != 0).then_some(badge)
    }
}
