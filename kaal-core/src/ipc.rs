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
/// `Message` (the default, `EXTRA = 0`) holds what fits in registers, four words, and
/// is cheap to move: it is what every fast path uses. [`LongMessage`] holds all
/// [`MAX_WORDS`]; words past the fourth are written to the IPC buffer by the call that
/// sends the message, and a received one copies them out at once. A message received
/// into a `Message` that was longer than four words keeps its first four, and
/// [`Message::truncated`] says how many did not fit: receive with the `_long` calls
/// where a peer may send more.
#[derive(Clone)]
pub struct Message<const EXTRA: usize = 0> {
    /// Label, length (at most the capacity) and capabilities, as built or as received.
    info: MessageInfo,
    regs: [u64; REGS],
    extra: [MaybeUninit<u64>; EXTRA],
    /// Capabilities attached with `with_cap`, initialised up to `attached`.
    caps: [MaybeUninit<CPtr>; MAX_CAPS],
    attached: u8,
    /// Words the sender sent that did not fit (received messages only).
    truncated: u16,
}

/// A message of up to [`MAX_WORDS`] words.
pub type LongMessage = Message<{ MAX_WORDS - REGS }>;

impl<const EXTRA: usize> core::fmt::Debug for Message<EXTRA> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Message")
            .field("label", &self.label())
            .field("words", &Words(self))
            .field("caps", &self.caps())
            .field("truncated", &self.truncated)
            .finish()
    }
}

struct Words<'a, const EXTRA: usize>(&'a Message<EXTRA>);

impl<const EXTRA: usize> core::fmt::Debug for Words<'_, EXTRA> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries((0..self.0.len()).map(|i| self.0.word(i))).finish()
    }
}

impl<const EXTRA: usize> PartialEq for Message<EXTRA> {
    fn eq(&self, other: &Self) -> bool {
        self.label() == other.label()
            && self.len() == other.len()
            && self.caps() == other.caps()
            && self.truncated == other.truncated
            && (0..self.len()).all(|i| self.word(i) == other.word(i))
    }
}

impl<const EXTRA: usize> Eq for Message<EXTRA> {}

impl Message {
    /// A message with a label and no words.
    #[inline(always)]
    pub const fn new(label: u64) -> Self {
        Self::with_words(label, [])
    }

    /// A message with a label and up to four words, all in registers.
    #[inline(always)]
    pub const fn with_words<const N: usize>(label: u64, words: [u64; N]) -> Self {
        const { assert!(N <= REGS, "with_words takes at most 4 words; use LongMessage::from_slice") };
        let mut regs = [0; REGS];
        let mut i = 0;
        while i < N {
            regs[i] = words[i];
            i += 1;
        }
        Self {
            info: MessageInfo(sys::message_info(label, 0, 0, N as u64)),
            regs,
            extra: [],
            caps: [MaybeUninit::uninit(); MAX_CAPS],
            attached: 0,
            truncated: 0,
        }
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
}

impl<const EXTRA: usize> Message<EXTRA> {
    /// Most words this message can hold.
    pub const CAPACITY: usize = REGS + EXTRA;

    #[inline(always)]
    const fn empty(label: u64) -> Self {
        Self {
            info: MessageInfo(sys::message_info(label, 0, 0, 0)),
            regs: [0; REGS],
            extra: [MaybeUninit::uninit(); EXTRA],
            caps: [MaybeUninit::uninit(); MAX_CAPS],
            attached: 0,
            truncated: 0,
        }
    }

    /// A message with as many words as `words` holds, up to [`Self::CAPACITY`].
    pub fn from_slice(label: u64, words: &[u64]) -> Result<Self> {
        if words.len() > Self::CAPACITY {
            return Err(Error::InvalidSize {
                what: "message length (words)",
                value: words.len() as u64,
                limit: Self::CAPACITY as u64,
            });
        }
        let mut msg = Self::empty(label);
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
        let n = self.attached as usize;
        if n >= MAX_CAPS {
            return Err(Error::InvalidSize {
                what: "capabilities in one message",
                value: n as u64 + 1,
                limit: MAX_CAPS as u64,
            });
        }
        self.caps[n] = MaybeUninit::new(cptr);
        self.attached += 1;
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

    /// Words the sender sent that did not fit into this message (receive with a
    /// [`LongMessage`] where a peer may send more than four).
    #[inline(always)]
    pub const fn truncated(&self) -> usize {
        self.truncated as usize
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
            // `received` when copied out of the IPC buffer (`len` is cut to capacity).
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

    /// The raw message-info word and register words, for the raw layer.
    #[inline(always)]
    pub const fn raw(&self) -> (u64, [u64; REGS]) {
        (self.info.0, self.regs)
    }

    /// Writes the words past the fourth and the capabilities into the IPC buffer, right
    /// before the syscall that sends them; returns the message info to send with.
    #[inline(always)]
    fn stage(&self) -> u64 {
        for i in REGS..self.len() {
            sys::set_mr(i, self.word(i));
        }
        for (i, cptr) in self.caps[..self.attached as usize].iter().enumerate() {
            // SAFETY: `with_cptr` initialised every capability below `attached`.
            sys::set_cap(i, unsafe { cptr.assume_init() });
        }
        // A received message sent on carries the capabilities attached here, not the
        // ones it arrived with (those are not in the IPC buffer any more).
        if self.attached as u64 == self.info.extra_caps() {
            self.info.0
        } else {
            sys::message_info(self.label(), 0, self.attached as u64, self.len() as u64)
        }
    }

    /// The message the kernel delivered: registers from the syscall, the other words
    /// (as many as fit) copied out of the IPC buffer before anything can overwrite them.
    #[inline(always)]
    fn received(r: sys::SyscallResult) -> Self {
        let mut msg = Self {
            info: r.info,
            regs: r.mr,
            extra: [MaybeUninit::uninit(); EXTRA],
            caps: [MaybeUninit::uninit(); MAX_CAPS],
            attached: 0,
            truncated: 0,
        };
        if r.info.length() as usize > Self::CAPACITY {
            (msg.info, msg.truncated) = Self::cut(r.info);
        }
        for i in REGS..msg.len() {
            msg.extra[i - REGS] = MaybeUninit::new(sys::get_mr(i));
        }
        msg
    }

    /// What `stage` would send as the message info, without touching an IPC buffer
    /// (the message has no words past the fourth and no attached capabilities).
    #[cfg(test)]
    fn stage_info_for_tests(&self) -> u64 {
        assert!(self.len() <= REGS && self.attached == 0);
        self.stage()
    }

    /// The info of a received message cut to the capacity, and how many words did not
    /// fit. Out of line: the fast paths never get here.
    #[cold]
    #[inline(never)]
    fn cut(info: MessageInfo) -> (MessageInfo, u16) {
        // The kernel never delivers more than MAX_WORDS; a corrupt length is cut too.
        let sent = (info.length() as usize).min(MAX_WORDS);
        let len = sent.min(Self::CAPACITY);
        (MessageInfo(sys::message_info(info.label(), 0, info.extra_caps(), len as u64)), (sent - len) as u16)
    }
}

/// A received message and the badge of the capability it came through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received<const EXTRA: usize = 0> {
    /// The sender's badge (0 if unbadged).
    pub badge: u64,
    /// The message.
    pub msg: Message<EXTRA>,
}

/// A long received message's type (see [`Message`]).
pub type LongReceived = Received<{ MAX_WORDS - REGS }>;

/// One syscall that sends `msg` (if `sends`) and returns what arrives, as `Message<R>`.
#[inline(always)]
fn transfer<const E: usize, const R: usize>(number: isize, dest: CPtr, msg: Option<&Message<E>>) -> Received<R> {
    let (info, regs) = match msg {
        Some(msg) => (msg.stage(), msg.regs),
        None => (0, [0; REGS]),
    };
    crate::profile::count(crate::profile::Counter::Ipc);
    // SAFETY: an IPC syscall on a capability of ours; it moves registers and our own
    // IPC buffer's words, and touches no other memory. Receiving syscalls name this
    // thread's reply object on MCS (ignored elsewhere).
    let r = unsafe {
        if receives_reply(number) {
            #[cfg(kaal_mcs)]
            if passive::pending() && number != sys::syscall::seL4_SysNBRecv {
                return passive::first_receive(number, dest, info, regs);
            }
            sys::syscall_with_reply(number, dest, info, regs, sys::current_reply())
        } else {
            sys::syscall(number, dest, info, regs)
        }
    };
    Received { badge: r.badge, msg: Message::received(r) }
}

/// seL4 MCS passive servers (see [`kaal_abi::startup::flags::PASSIVE`]).
#[cfg(kaal_mcs)]
pub(crate) mod passive {
    use core::sync::atomic::{AtomicBool, Ordering};

    use super::{Message, Received, REGS};
    use crate::sys;

    /// The component is to become passive at its first blocking receive.
    static PENDING: AtomicBool = AtomicBool::new(false);

    /// Marks the component to become passive (the runtime, from the start-up block).
    pub(crate) fn request() {
        PENDING.store(true, Ordering::Release);
    }

    #[inline(always)]
    pub(crate) fn pending() -> bool {
        PENDING.load(Ordering::Relaxed)
    }

    /// The first blocking receive: answers the caller if it is a `ReplyRecv`, then tells
    /// the supervisor and waits on `src` in one syscall, so that by the time the
    /// supervisor takes the scheduling context away, the component already waits.
    #[cold]
    pub(crate) fn first_receive<const R: usize>(
        number: isize,
        src: sys::seL4_CPtr,
        info: sys::seL4_Word,
        regs: [sys::seL4_Word; REGS],
    ) -> Received<R> {
        PENDING.store(false, Ordering::Release);
        let reply = sys::current_reply();
        // SAFETY: IPC syscalls on capabilities of ours; they move registers and our own
        // IPC buffer's words.
        let r = unsafe {
            if number == sys::syscall::seL4_SysReplyRecv {
                sys::syscall(sys::syscall::seL4_SysSend, reply, info, regs);
            }
            let ready = sys::message_info(kaal_abi::startup::labels::PASSIVE_READY, 0, 0, 0);
            sys::nbsend_recv(kaal_abi::startup::slots::SUPERVISOR, ready, src, reply)
        };
        Received { badge: r.badge, msg: Message::received(r) }
    }
}

/// Whether syscall `number` receives on an endpoint (and so, on MCS, takes the reply
/// object that the sender's `Call` is answered through). Folded at compile time.
#[inline(always)]
const fn receives_reply(number: isize) -> bool {
    number == sys::syscall::seL4_SysRecv
        || number == sys::syscall::seL4_SysNBRecv
        || number == sys::syscall::seL4_SysReplyRecv
}

impl Endpoint {
    /// Sends `msg` and blocks until a receiver takes it (`seL4_Send`).
    #[inline(always)]
    pub fn send<const E: usize>(&self, msg: Message<E>) {
        let _: Received = transfer(sys::syscall::seL4_SysSend, self.cptr(), Some(&msg));
    }

    /// Sends `msg` only if a receiver is waiting, else drops it (`seL4_NBSend`).
    #[inline(always)]
    pub fn try_send<const E: usize>(&self, msg: Message<E>) {
        let _: Received = transfer(sys::syscall::seL4_SysNBSend, self.cptr(), Some(&msg));
    }

    /// Sends `msg` and waits for the reply, of up to four words (`seL4_Call`).
    #[inline(always)]
    pub fn call<const E: usize>(&self, msg: Message<E>) -> Message {
        transfer(sys::syscall::seL4_SysCall, self.cptr(), Some(&msg)).msg
    }

    /// [`Endpoint::call`] for a reply of up to [`MAX_WORDS`] words.
    #[inline(always)]
    pub fn call_long<const E: usize>(&self, msg: Message<E>) -> LongMessage {
        transfer(sys::syscall::seL4_SysCall, self.cptr(), Some(&msg)).msg
    }

    /// Waits for a message of up to four words (`seL4_Recv`).
    #[inline(always)]
    pub fn recv(&self) -> Received {
        transfer::<0, 0>(sys::syscall::seL4_SysRecv, self.cptr(), None)
    }

    /// [`Endpoint::recv`] for messages of up to [`MAX_WORDS`] words.
    #[inline(always)]
    pub fn recv_long(&self) -> LongReceived {
        self.recv_sized()
    }

    /// [`Endpoint::recv`] for messages of up to four plus `EXTRA` words; longer ones are
    /// cut to that (`Message::truncated` says by how much). For a server whose messages
    /// have a known size (faults: at most 19 words): a [`LongReceived`] is a kilobyte,
    /// built and moved on every receive.
    #[inline(always)]
    pub fn recv_sized<const EXTRA: usize>(&self) -> Received<EXTRA> {
        transfer::<0, EXTRA>(sys::syscall::seL4_SysRecv, self.cptr(), None)
    }

    /// Replies to the last caller and waits for the next message, of up to four words
    /// (`seL4_ReplyRecv`).
    #[inline(always)]
    pub fn reply_recv<const E: usize>(&self, reply: Message<E>) -> Received {
        transfer(sys::syscall::seL4_SysReplyRecv, self.cptr(), Some(&reply))
    }

    /// [`Endpoint::reply_recv`] for messages of up to [`MAX_WORDS`] words.
    #[inline(always)]
    pub fn reply_recv_long<const E: usize>(&self, reply: Message<E>) -> LongReceived {
        transfer(sys::syscall::seL4_SysReplyRecv, self.cptr(), Some(&reply))
    }
}

/// Replies to the thread's last caller (`seL4_Reply`).
#[cfg(not(kaal_mcs))]
#[inline(always)]
pub fn reply<const E: usize>(msg: Message<E>) {
    let _: Received = transfer(sys::syscall::seL4_SysReply, 0, Some(&msg));
}

/// Replies to the thread's last caller: on MCS, a `Send` on the thread's reply object
/// (nothing happens if no caller waits on it, as with `seL4_Reply`).
#[cfg(kaal_mcs)]
#[inline(always)]
pub fn reply<const E: usize>(msg: Message<E>) {
    let _: Received = transfer(sys::syscall::seL4_SysSend, sys::current_reply(), Some(&msg));
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

    /// Waits for a request of up to four words.
    #[inline(always)]
    pub fn recv(&self) -> Received {
        self.ep.recv()
    }

    /// Waits for a request of up to [`MAX_WORDS`] words.
    #[inline(always)]
    pub fn recv_long(&self) -> LongReceived {
        self.ep.recv_long()
    }

    /// Waits for a request of up to four plus `EXTRA` words ([`Endpoint::recv_sized`]).
    #[inline(always)]
    pub fn recv_sized<const EXTRA: usize>(&self) -> Received<EXTRA> {
        self.ep.recv_sized()
    }

    /// Replies to the last request and waits for the next, of up to four words.
    #[inline(always)]
    pub fn reply_recv<const E: usize>(&self, reply: Message<E>) -> Received {
        self.ep.reply_recv(reply)
    }

    /// Replies to the last request and waits for the next, of up to [`MAX_WORDS`] words.
    #[inline(always)]
    pub fn reply_recv_long<const E: usize>(&self, reply: Message<E>) -> LongReceived {
        self.ep.reply_recv_long(reply)
    }

    /// Replies to the last request.
    #[inline(always)]
    pub fn reply<const E: usize>(&self, msg: Message<E>) {
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

    /// Sends a request and waits for the reply, of up to four words.
    #[inline(always)]
    pub fn call<const E: usize>(&self, msg: Message<E>) -> Message {
        self.ep.call(msg)
    }

    /// Sends a request and waits for a reply of up to [`MAX_WORDS`] words.
    #[inline(always)]
    pub fn call_long<const E: usize>(&self, msg: Message<E>) -> LongMessage {
        self.ep.call_long(msg)
    }

    /// Sends a message and waits until the server takes it.
    #[inline(always)]
    pub fn send<const E: usize>(&self, msg: Message<E>) {
        self.ep.send(msg)
    }

    /// Sends a message only if the server is waiting.
    #[inline(always)]
    pub fn try_send<const E: usize>(&self, msg: Message<E>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn arrived(label: u64, len: u64, caps: u64) -> sys::SyscallResult {
        sys::SyscallResult { badge: 7, info: MessageInfo(sys::message_info(label, 0, caps, len)), mr: [1, 2, 3, 4] }
    }

    #[test]
    fn a_long_message_received_short_keeps_four_words_and_says_how_many_are_missing() {
        let msg: Message = Message::received(arrived(9, 10, 0));
        assert_eq!((msg.label(), msg.len(), msg.truncated()), (9, 4, 6));
        assert_eq!([msg.word(0), msg.word(3), msg.word(4)], [1, 4, 0]);
        let hostile: Message = Message::received(arrived(9, 127, 0));
        assert_eq!((hostile.len(), hostile.truncated()), (4, MAX_WORDS - 4), "a corrupt length is cut");
    }

    #[test]
    fn a_received_message_sent_on_carries_only_its_own_capabilities() {
        let msg: Message = Message::received(arrived(5, 2, 2));
        assert_eq!(msg.caps(), 2, "two arrived");
        let info = MessageInfo(msg.stage_info_for_tests());
        assert_eq!((info.label(), info.length(), info.extra_caps()), (5, 2, 0));
    }

    #[test]
    fn building_checks_the_capacity() {
        assert!(<Message>::from_slice(1, &[0; 5]).is_err());
        let long = LongMessage::from_slice(1, &[0; MAX_WORDS]).unwrap();
        assert_eq!(long.len(), MAX_WORDS);
        assert!(LongMessage::from_slice(1, &[0; MAX_WORDS + 1]).is_err());
        let short = Message::with_words(3, [10, 20]);
        assert_eq!((short.label(), short.len(), short.word(1), short.word(2)), (3, 2, 20, 0));
    }
}
