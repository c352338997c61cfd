//! Synchronous IPC over endpoints: `call`, `send`, `recv`, `reply_recv`.
//!
//! A [`Message`] is a label, up to 120 words and up to three capabilities. The first
//! four words travel in CPU registers; the rest, and the capabilities, in the calling
//! thread's IPC buffer. Every wrapper here is `#[inline(always)]` around the one
//! `syscall` primitive with the same register contents libsel4 would use, so it
//! compiles to the raw syscall path with no allocation and no copies: `Message` is five
//! words that live in registers.
//!
//! [`channel`] creates an endpoint and hands out the two sides as different types:
//! a [`Server`] receives and replies, a [`Client`] calls and sends, each client
//! carrying its own badge so the server knows who is asking.
//!
//! ```compile_fail,E0599
//! fn confuse(client: &kaal_core::ipc::Client) {
//!     // error[E0599]: no method named `recv` found: clients do not receive requests
//!     client.recv();
//! }
//! ```

use crate::cap::{Badge, Cap, CapType, Endpoint, Rights};
use crate::cspace::{CSpace, Slot};
use crate::error::{Error, Result};
use crate::sys::{self, MessageInfo};
use crate::vspace::ObjectAllocator;

/// Registers that carry message words.
const REGS: usize = sys::FAST_MESSAGE_REGISTERS;
/// Most words in a message.
pub const MAX_WORDS: usize = sys::seL4_MsgMaxLength as usize;
/// Most capabilities in a message.
pub const MAX_CAPS: usize = sys::seL4_MsgMaxExtraCaps as usize;

/// An IPC message.
///
/// Words beyond the fourth live in the thread's IPC buffer, so a message read with
/// [`Message::word`] must be read before the thread's next IPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    info: MessageInfo,
    mr: [u64; REGS],
}

impl Message {
    /// A message with a label and no words.
    #[inline(always)]
    pub const fn new(label: u64) -> Self {
        Self { info: MessageInfo(sys::message_info(label, 0, 0, 0)), mr: [0; REGS] }
    }

    /// A message with a label and up to four words, all in registers.
    #[inline(always)]
    pub const fn with_words<const N: usize>(label: u64, words: [u64; N]) -> Self {
        const { assert!(N <= REGS, "with_words takes at most 4 words; use Message::from_slice") };
        let mut mr = [0; REGS];
        let mut i = 0;
        while i < N {
            mr[i] = words[i];
            i += 1;
        }
        Self { info: MessageInfo(sys::message_info(label, 0, 0, N as u64)), mr }
    }

    /// A message with up to [`MAX_WORDS`] words; words past the fourth are written to
    /// the IPC buffer now.
    pub fn from_slice(label: u64, words: &[u64]) -> Result<Self> {
        if words.len() > MAX_WORDS {
            return Err(Error::InvalidSize {
                what: "message length (words)",
                value: words.len() as u64,
                limit: MAX_WORDS as u64,
            });
        }
        let mut mr = [0; REGS];
        for (i, w) in words.iter().enumerate() {
            if i < REGS {
                mr[i] = *w;
            } else {
                sys::set_mr(i, *w);
            }
        }
        Ok(Self { info: MessageInfo(sys::message_info(label, 0, 0, words.len() as u64)), mr })
    }

    /// Attaches a capability (at most [`MAX_CAPS`]). The receiver gets a copy; the
    /// sender keeps its own. Sending capabilities needs an endpoint with grant rights.
    pub fn with_cap<T: CapType>(self, cap: &Cap<T>) -> Result<Self> {
        let n = self.info.extra_caps() as usize;
        if n >= MAX_CAPS {
            return Err(Error::InvalidSize {
                what: "capabilities in one message",
                value: n as u64 + 1,
                limit: MAX_CAPS as u64,
            });
        }
        sys::set_cap(n, cap.cptr());
        let info = sys::message_info(self.label(), 0, n as u64 + 1, self.len() as u64);
        Ok(Self { info: MessageInfo(info), mr: self.mr })
    }

    /// The label.
    #[inline(always)]
    pub const fn label(&self) -> u64 {
        self.info.label()
    }

    /// Number of words.
    #[inline(always)]
    pub const fn len(&self) -> usize {
        self.info.length() as usize
    }

    /// Whether the message has no words.
    #[inline(always)]
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Word `i`, or 0 past the end (a short message from a peer reads as zeros rather
    /// than as stale IPC-buffer contents).
    #[inline(always)]
    pub fn word(&self, i: usize) -> u64 {
        if i >= self.len() {
            0
        } else if i < REGS {
            self.mr[i]
        } else {
            sys::get_mr(i)
        }
    }

    /// Number of capabilities transferred with the message.
    #[inline(always)]
    pub const fn caps(&self) -> usize {
        self.info.extra_caps() as usize
    }

    /// A message from a raw message-info word and register words (the raw layer's view).
    #[inline(always)]
    pub const fn from_raw(info: u64, mr: [u64; REGS]) -> Self {
        Self { info: MessageInfo(info), mr }
    }

    /// The raw message-info word and register words, for the raw layer.
    #[inline(always)]
    pub const fn raw(&self) -> (u64, [u64; REGS]) {
        (self.info.0, self.mr)
    }

    #[inline(always)]
    fn from_result(r: sys::SyscallResult) -> Self {
        Self { info: r.info, mr: r.mr }
    }
}

/// A received message and the badge of the capability it came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// The sender's badge (0 if unbadged).
    pub badge: u64,
    /// The message.
    pub msg: Message,
}

impl Endpoint {
    /// Sends `msg` and blocks until a receiver takes it (`seL4_Send`).
    #[inline(always)]
    pub fn send(&self, msg: Message) {
        // SAFETY: Send transfers registers and IPC-buffer words; our memory is untouched.
        unsafe { sys::syscall(sys::syscall::seL4_SysSend, self.cptr(), msg.info.0, msg.mr) };
    }

    /// Sends `msg` only if a receiver is waiting, else drops it (`seL4_NBSend`).
    #[inline(always)]
    pub fn try_send(&self, msg: Message) {
        // SAFETY: as for `send`.
        unsafe { sys::syscall(sys::syscall::seL4_SysNBSend, self.cptr(), msg.info.0, msg.mr) };
    }

    /// Sends `msg` and waits for the reply (`seL4_Call`).
    #[inline(always)]
    pub fn call(&self, msg: Message) -> Message {
        // SAFETY: as for `send`; the reply lands in registers and the IPC buffer.
        Message::from_result(unsafe { sys::syscall(sys::syscall::seL4_SysCall, self.cptr(), msg.info.0, msg.mr) })
    }

    /// Waits for a message (`seL4_Recv`).
    #[inline(always)]
    pub fn recv(&self) -> Received {
        // SAFETY: Recv writes registers and the IPC buffer only.
        let r = unsafe { sys::syscall(sys::syscall::seL4_SysRecv, self.cptr(), 0, [0; REGS]) };
        Received { badge: r.badge, msg: Message::from_result(r) }
    }

    /// Replies to the last caller and waits for the next message (`seL4_ReplyRecv`).
    #[inline(always)]
    pub fn reply_recv(&self, reply: Message) -> Received {
        // SAFETY: as for `recv`.
        let r = unsafe { sys::syscall(sys::syscall::seL4_SysReplyRecv, self.cptr(), reply.info.0, reply.mr) };
        Received { badge: r.badge, msg: Message::from_result(r) }
    }
}

/// Replies to the thread's last caller (`seL4_Reply`).
#[inline(always)]
pub fn reply(msg: Message) {
    // SAFETY: Reply uses the thread's implicit reply capability; memory is untouched.
    unsafe { sys::syscall(sys::syscall::seL4_SysReply, 0, msg.info.0, msg.mr) };
}

/// The receiving side of a channel.
#[derive(Debug)]
pub struct Server {
    ep: Endpoint,
}

/// A calling side of a channel, with its own badge.
#[derive(Debug)]
pub struct Client {
    ep: Endpoint,
    badge: Option<Badge>,
}

/// Creates an endpoint and returns its server side. Mint clients with [`Server::client`].
pub fn channel(alloc: &mut impl ObjectAllocator) -> Result<Server> {
    Ok(Server { ep: alloc.allocate::<Endpoint>()? })
}

impl Server {
    /// Wraps an endpoint this thread serves.
    pub fn from_endpoint(ep: Endpoint) -> Self {
        Self { ep }
    }

    /// A new client whose messages arrive with `badge`. It may send capabilities
    /// (grant) but cannot receive requests.
    pub fn client(&self, badge: Badge, cspace: &mut CSpace) -> Result<Client> {
        let ep = cspace.mint(&self.ep, Rights { read: false, write: true, grant: true }, badge)?;
        Ok(Client { ep, badge: Some(badge) })
    }

    /// Waits for a request.
    #[inline(always)]
    pub fn recv(&self) -> Received {
        self.ep.recv()
    }

    /// Replies to the last request and waits for the next.
    #[inline(always)]
    pub fn reply_recv(&self, reply: Message) -> Received {
        self.ep.reply_recv(reply)
    }

    /// Replies to the last request.
    #[inline(always)]
    pub fn reply(&self, msg: Message) {
        reply(msg)
    }

    /// Waits for a request that may carry a capability, which lands in `slot`.
    pub fn recv_with_cap(&self, slot: Slot) -> (Received, CapReceipt) {
        sys::set_receive_path(sys::seL4_CapInitThreadCNode, slot.cptr(), sys::seL4_WordBits);
        let received = self.ep.recv();
        sys::set_receive_path(0, 0, 0);
        let receipt = if received.msg.caps() > 0 && received.msg.info.caps_unwrapped() & 1 == 0 {
            CapReceipt::Received(ReceivedCap { slot })
        } else {
            CapReceipt::Nothing(slot)
        };
        (received, receipt)
    }

    /// The endpoint, for granting it to a component.
    pub fn endpoint(&self) -> &Endpoint {
        &self.ep
    }
}

impl Client {
    /// Wraps an endpoint this thread calls through.
    pub fn from_endpoint(ep: Endpoint, badge: Option<Badge>) -> Self {
        Self { ep, badge }
    }

    /// Sends a request and waits for the reply.
    #[inline(always)]
    pub fn call(&self, msg: Message) -> Message {
        self.ep.call(msg)
    }

    /// Sends a message and waits until the server takes it.
    #[inline(always)]
    pub fn send(&self, msg: Message) {
        self.ep.send(msg)
    }

    /// Sends a message only if the server is waiting.
    #[inline(always)]
    pub fn try_send(&self, msg: Message) {
        self.ep.try_send(msg)
    }

    /// This client's badge, if known.
    pub fn badge(&self) -> Option<Badge> {
        self.badge
    }

    /// The endpoint, for granting it to a component.
    pub fn endpoint(&self) -> &Endpoint {
        &self.ep
    }
}

/// What became of the slot offered for a capability transfer.
#[derive(Debug)]
pub enum CapReceipt {
    /// A capability arrived.
    Received(ReceivedCap),
    /// No capability came; the slot is still empty.
    Nothing(Slot),
}

/// A capability received over IPC, of a kind not yet checked.
#[derive(Debug)]
pub struct ReceivedCap {
    slot: Slot,
}

impl ReceivedCap {
    /// Deletes a capability that was not asked for, and frees its slot.
    pub fn discard(self, cspace: &mut CSpace) {
        // SAFETY: the slot holds a capability that arrived in our CSpace and that no
        // handle owns; deleting it touches no memory of ours.
        let _ =
            unsafe { sys::seL4_CNode_Delete(sys::seL4_CapInitThreadCNode, self.slot.cptr(), sys::seL4_WordBits as u8) };
        cspace.free_slot(self.slot);
    }

    /// The capability as kind `T`, if the kernel says it is one; otherwise an error
    /// naming both kinds, and the capability is deleted so the slot can be reused.
    pub fn expect<T: CapType>(self, cspace: &mut CSpace) -> Result<Cap<T>> {
        let tag = sys::debug_cap_identify(self.slot.cptr());
        if T::KERNEL_TAG == Some(tag) {
            return cspace.finish(self.slot, Ok(()));
        }
        // SAFETY: the slot holds a capability that arrived in our CSpace and that no
        // handle owns yet; deleting it touches no memory of ours.
        let _ =
            unsafe { sys::seL4_CNode_Delete(sys::seL4_CapInitThreadCNode, self.slot.cptr(), sys::seL4_WordBits as u8) };
        cspace.free_slot(self.slot);
        Err(Error::WrongCapability { expected: T::NAME, found: crate::cap::kernel_tag_name(tag) })
    }
}
