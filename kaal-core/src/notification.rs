//! Notifications: a word of signal bits that threads can signal, wait on and poll.
//!
//! Signalling through a badged copy ORs the badge into the word; a waiter receives the
//! accumulated word and clears it. Notifications never carry data or capabilities;
//! endpoints do.

use crate::cap::Notification;
use crate::sys;

impl Notification {
    /// Signals the notification (`seL4_Signal`). Never blocks.
    ///
    /// It is a non-blocking send, which on a notification is exactly `seL4_Signal` (the
    /// kernel ignores the blocking flag for notifications). The difference matters for
    /// a capability a peer sent as a "notification" that is really an endpoint: a plain
    /// send would block until someone received on it; this one does nothing.
    #[inline]
    pub fn signal(&self) {
        crate::profile::count(crate::profile::Counter::Notify);
        // SAFETY: a send with an empty message on a notification touches no memory.
        unsafe {
            sys::syscall(sys::syscall::seL4_SysNBSend, self.cptr(), sys::message_info(0, 0, 0, 0), [0; 4]);
        }
    }

    /// Blocks until the notification is signalled; returns the accumulated badge bits
    /// (`seL4_Wait`).
    #[inline]
    pub fn wait(&self) -> u64 {
        crate::profile::count(crate::profile::Counter::Notify);
        // SAFETY: Recv (Wait on MCS) on a notification returns the badge word in a register only.
        unsafe { sys::syscall(sys::SYS_WAIT, self.cptr(), 0, [0; 4]).badge }
    }

    /// Returns the accumulated badge bits if the notification was signalled, without
    /// blocking (`seL4_Poll`).
    #[inline]
    pub fn poll(&self) -> Option<u64> {
        crate::profile::count(crate::profile::Counter::Notify);
        // SAFETY: NBRecv (NBWait on MCS) on a notification returns the badge word in a register only.
        let badge = unsafe { sys::syscall(sys::SYS_POLL, self.cptr(), 0, [0; 4]).badge };
        (badge != 0).then_some(badge)
    }
}
