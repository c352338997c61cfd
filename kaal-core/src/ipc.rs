//! Synchronous IPC over endpoints: `call`, `send`, `recv`, `reply_recv`.
//!
//! A [`Message`] is a label, up to 120 words and up to three capabilities, and it
//! **owns** them: building a message touches nothing but the message. The first four
//! words travel in CPU registers; the rest, and the capabilities, are written into the
//! calling thread's IPC buffer by the syscall wrapper itself, right before the
//! `syscall` instruction, so nothing that runs between building and sending (a kernel
//! invocation such as minting a client, which also uses the IPC buffer) can change
//! what is sent. A received message copies its words out of the IPC buffer at once, for
//! the same reason. Every wrapper is `#[inline(always)]` around the one `syscall`
//! primitive with the registers libsel4 would use; the storage past the fourth word is
//! left uninitialised until used, so a short message costs what the raw syscall costs.
//!
//! [`channel`] creates an endpoint and hands out the two sides as different types:
//! a [`Server`] receives and replies, a [`Client`] calls and sends, each client
//! carrying its own badge so the server knows who is asking. Neither side lends out its
//! endpoint, so a client cannot receive a server's requests.
//!
//! ```compile_fail
//! fn confuse(client: &kaal_core::ipc::Client) {
//!     // error[E0599]: no method named `recv` found: clients do not receive requests
//!     client.recv();
//! }
//! ```

use core::mem::MaybeUninit;

use crate::cap::{cap_type, Badge, CPtr, Cap, CapType, Endpoint, Rights};
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

/// An IPC message: label, words and capabilities, all owned until the message is sent.
///
/// Words past the fourth are stored in the message (initialised only up to its length)
/// and written to the IPC buffer by the call that sends it.
#[derive(Clone)]
pub struct Message {
    info: MessageInfo,
    regs: [u64; REGS],
    extra: [MaybeUninit<u64>; MAX_WORDS - REGS],
    caps: [CPtr; MAX_CAPS],
}

impl core::fmt::Debug for Message {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Message")
            .field("label", &self.label())
            .field("words", &Words(self))
            .field("caps", &self.caps())
            .finish()
    }
}

struct Words<'a>(&'a Message);

impl core::fmt::Debug for Words<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries((0..self.0.len()).map(|i| self.0.word(i))).finish()
    }
}

impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        self.label() == other.label()
            && self.len() == other.len()
            && self.caps() == other.caps()
            && (0..self.len()).all(|i| self.word(i) == other.word(i))
    }
}

impl Eq for Message {}

impl Message {
    /// A message with a label and no words.
    #[inline(always)]
    pub const fn new(label: u64) -> Self {
        Self::with_words(label, [])
    }

    /// A message with a label and up to four words, all in registers.
    #[inline(always)]
    pub const fn with_words<const N: usize>(label: u64, words: [u64; N]) -> Self {
        const { assert!(N <= REGS, "with_words takes at most 4 words; use Message::from_slice") };
        let mut regs = [0; REGS];
        let mut i = 0;
        while i < N {
            regs[i] = words[i];
            i += 1;
        }
        Self {
            info: MessageInfo(sys::message_info(label, 0, 0, N as u64)),
            regs,
            extra: [MaybeUninit::uninit(); MAX_WORDS - REGS],
            caps: [0; MAX_CAPS],
        }
    }

    /// A message with up to [`MAX_WORDS`] words.
    pub fn from_slice(label: u64, words: &[u64]) -> Result<Self> {
        if words.len() > MAX_WORDS {
            return Err(Error::InvalidSize {
                what: "message length (words)",
                value: words.len() as u64,
                limit: MAX_WORDS as u64,
            });
        }
        let mut msg = Self::new(label);
        for (i, w) in words.iter().enumerate() {
            msg.set_word(i, *w);
        }
        msg.info = MessageInfo(sys::message_info(label, 0, 0, words.len() as u64));
        Ok(msg)
    }

    #[inline(always)]
    fn set_word(&mut self, i: usize, value: u64) {
        if i < REGS {
            self.regs[i] = value;
        } else {
            self.extra[i - REGS] = MaybeUninit::new(value);
        }
    }

    /// Attaches a capability (at most [`MAX_CAPS`]). The receiver gets a copy; the
    /// sender keeps its own. Sending capabilities needs an endpoint with grant rights.
    pub fn with_cap<T: CapType>(self, cap: &Cap<T>) -> Result<Self> {
        self.with_cptr(cap.cptr())
    }

    /// Attaches a client's endpoint capability, e.g. to hand a client on.
    pub fn with_client(self, client: &Client) -> Result<Self> {
        self.with_cptr(client.ep.cptr())
    }

    fn with_cptr(mut self, cptr: CPtr) -> Result<Self> {
        let n = self.info.extra_caps() as usize;
        if n >= MAX_CAPS {
            return Err(Error::InvalidSize {
                what: "capabilities in one message",
                value: n as u64 + 1,
                limit: MAX_CAPS as u64,
            });
        }
        self.caps[n] = cptr;
        self.info = MessageInfo(sys::message_info(self.label(), 0, n as u64 + 1, self.len() as u64));
        Ok(self)
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

    /// Word `i`, or 0 past the end (a short message from a peer reads as zeros).
    #[inline(always)]
    pub fn word(&self, i: usize) -> u64 {
        if i >= self.len() {
            0
        } else if i < REGS {
            self.regs[i]
        } else {
            // SAFETY: words below `len` are initialised: by `set_word` when built, by
            // `received` when copied out of the IPC buffer.
            unsafe { self.extra[i - REGS].assume_init() }
        }
    }

    /// Copies the words into `out` (as many as fit); returns how many were copied.
    pub fn copy_words(&self, out: &mut [u64]) -> usize {
        let n = self.len().min(out.len());
        for (i, slot) in out[..n].iter_mut().enumerate() {
            *slot = self.word(i);
        }
        n
    }

    /// Number of capabilities transferred with the message.
    #[inline(always)]
    pub const fn caps(&self) -> usize {
        self.info.extra_caps() as usize
    }

    /// A message from a raw message-info word and register words (the raw layer's view;
    /// the length is cut to the four register words).
    #[inline(always)]
    pub const fn from_raw(info: u64, mr: [u64; REGS]) -> Self {
        let info = MessageInfo(info);
        let len = if info.length() as usize > REGS { REGS as u64 } else { info.length() };
        let mut msg = Self::with_words(0, mr);
        msg.info = MessageInfo(sys::message_info(info.label(), 0, 0, len));
        msg
    }

    /// The raw message-info word and register words, for the raw layer.
    #[inline(always)]
    pub const fn raw(&self) -> (u64, [u64; REGS]) {
        (self.info.0, self.regs)
    }

    /// Writes the words past the fourth and the capabilities into the IPC buffer, right
    /// before the syscall that sends them.
    #[inline(always)]
    fn stage(&self) {
        for i in REGS..self.len() {
            sys::set_mr(i, self.word(i));
        }
        for (i, cptr) in self.caps[..self.caps()].iter().enumerate() {
            sys::set_cap(i, *cptr);
        }
    }

    /// The message the kernel delivered: registers from the syscall, the other words
    /// copied out of the IPC buffer before anything can overwrite them.
    #[inline(always)]
    fn received(r: sys::SyscallResult) -> Self {
        // The kernel never delivers more than MAX_WORDS; clamp anyway, so a corrupted
        // length cannot index past the message.
        let len = (r.info.length() as usize).min(MAX_WORDS);
        let mut msg = Self::with_words(0, r.mr);
        msg.info = r.info;
        for i in REGS..len {
            msg.extra[i - REGS] = MaybeUninit::new(sys::get_mr(i));
        }
        if len != r.info.length() as usize {
            msg.info = MessageInfo(sys::message_info(r.info.label(), 0, r.info.extra_caps(), len as u64));
        }
        msg
    }
}

/// A received message and the badge of the capability it came through.
#[derive(Debug, Clone, PartialEq, Eq)]
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
        msg.stage();
        // SAFETY: Send transfers registers and IPC-buffer words; our memory is untouched.
        unsafe { sys::syscall(sys::syscall::seL4_SysSend, self.cptr(), msg.info.0, msg.regs) };
    }

    /// Sends `msg` only if a receiver is waiting, else drops it (`seL4_NBSend`).
    #[inline(always)]
    pub fn try_send(&self, msg: Message) {
        msg.stage();
        // SAFETY: as for `send`.
        unsafe { sys::syscall(sys::syscall::seL4_SysNBSend, self.cptr(), msg.info.0, msg.regs) };
    }

    /// Sends `msg` and waits for the reply (`seL4_Call`).
    #[inline(always)]
    pub fn call(&self, msg: Message) -> Message {
        msg.stage();
        // SAFETY: as for `send`; the reply lands in registers and the IPC buffer.
        Message::received(unsafe { sys::syscall(sys::syscall::seL4_SysCall, self.cptr(), msg.info.0, msg.regs) })
    }

    /// Waits for a message (`seL4_Recv`).
    #[inline(always)]
    pub fn recv(&self) -> Received {
        // SAFETY: Recv writes registers and the IPC buffer only.
        let r = unsafe { sys::syscall(sys::syscall::seL4_SysRecv, self.cptr(), 0, [0; REGS]) };
        Received { badge: r.badge, msg: Message::received(r) }
    }

    /// Replies to the last caller and waits for the next message (`seL4_ReplyRecv`).
    #[inline(always)]
    pub fn reply_recv(&self, reply: Message) -> Received {
        reply.stage();
        // SAFETY: as for `recv`.
        let r = unsafe { sys::syscall(sys::syscall::seL4_SysReplyRecv, self.cptr(), reply.info.0, reply.regs) };
        Received { badge: r.badge, msg: Message::received(r) }
    }
}

/// Replies to the thread's last caller (`seL4_Reply`).
#[inline(always)]
pub fn reply(msg: Message) {
    msg.stage();
    // SAFETY: Reply uses the thread's implicit reply capability; memory is untouched.
    unsafe { sys::syscall(sys::syscall::seL4_SysReply, 0, msg.info.0, msg.regs) };
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

    /// A second server handle on the same endpoint, e.g. for another thread that
    /// serves it too (each request goes to one of the waiting servers).
    pub fn try_clone(&self, cspace: &mut CSpace) -> Result<Server> {
        Ok(Server { ep: cspace.copy(&self.ep, Rights::ALL)? })
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

    /// The endpoint, for granting it to a component (private: whoever holds the
    /// endpoint can receive requests and reply to them).
    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.ep
    }

    /// The endpoint's slot, for code that measures or drives the raw layer itself.
    ///
    /// # Safety
    /// The caller uses the slot only as this side of the channel would (a client's only
    /// to call and send, a server's only to receive and reply), and not after the
    /// handle is gone.
    pub unsafe fn raw_cptr(&self) -> CPtr {
        self.ep.cptr()
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

    /// The endpoint, for granting it to a component (private: with the bare endpoint,
    /// a client could `recv` the requests of other clients).
    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.ep
    }

    /// The endpoint's slot, for code that measures or drives the raw layer itself.
    ///
    /// # Safety
    /// The caller uses the slot only as this side of the channel would (a client's only
    /// to call and send, a server's only to receive and reply), and not after the
    /// handle is gone.
    pub unsafe fn raw_cptr(&self) -> CPtr {
        self.ep.cptr()
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

mod sealed {
    pub trait Sealed {}
}

/// A kind of capability a component may accept from a peer over IPC.
///
/// Only endpoints and notifications: for them, [`ReceivedCap::expect`] can tell the
/// kind apart on every kernel (see there). Frames are not receivable: the kernel's type
/// tag is the same for a 4 KiB and a 2 MiB frame, so a "page" could be a 2 MiB frame;
/// shared memory is set up by the root task instead, by construction.
pub trait Transferable: CapType + sealed::Sealed {}
impl sealed::Sealed for cap_type::Endpoint {}
impl sealed::Sealed for cap_type::Notification {}
impl Transferable for cap_type::Endpoint {}
impl Transferable for cap_type::Notification {}

impl ReceivedCap {
    fn delete(self, cspace: &mut CSpace) {
        // SAFETY: the slot holds a capability that arrived in our CSpace and that no
        // handle owns; deleting it touches no memory of ours.
        let _ =
            unsafe { sys::seL4_CNode_Delete(sys::seL4_CapInitThreadCNode, self.slot.cptr(), sys::seL4_WordBits as u8) };
        cspace.free_slot(self.slot);
    }

    /// Deletes a capability that was not asked for, and frees its slot.
    pub fn discard(self, cspace: &mut CSpace) {
        self.delete(cspace)
    }

    /// The capability as kind `T`, if it is one; otherwise an error naming both kinds,
    /// and the capability is deleted so the slot can be reused.
    ///
    /// On a debug kernel the kind is the kernel's own type tag (`seL4_DebugCapIdentify`).
    /// A release kernel has no call that reports a capability's kind, so there KaaL
    /// relies on what every use of these two kinds does with the wrong one: nothing that
    /// harms the holder. Signalling ([`crate::Notification::signal`]) is a non-blocking send,
    /// which on an endpoint nobody waits on does nothing (it cannot block the server, as
    /// a plain send would); a call through a "client" that is really a notification
    /// returns at once with an empty reply; waiting on either blocks, as waiting does.
    /// A peer that lies about a kind gets a protocol error, not authority.
    pub fn expect<T: Transferable>(self, cspace: &mut CSpace) -> Result<Cap<T>> {
        match self.kernel_kind() {
            Some(tag) if T::KERNEL_TAG != Some(tag) => {
                self.delete(cspace);
                Err(Error::WrongCapability { expected: T::NAME, found: crate::cap::kernel_tag_name(tag) })
            }
            _ => cspace.finish(self.slot, Ok(())),
        }
    }

    /// The kernel's type tag for the capability, where the kernel can say.
    #[cfg(kaal_debug_kernel)]
    fn kernel_kind(&self) -> Option<u64> {
        Some(sys::debug_cap_identify(self.slot.cptr()))
    }

    #[cfg(not(kaal_debug_kernel))]
    fn kernel_kind(&self) -> Option<u64> {
        None
    }
}
