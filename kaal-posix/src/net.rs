//! Sockets, as `std::net` has them, served by KaaL's network server.
//!
//! Call [`init`] once with the component; then use [`TcpListener`], [`TcpStream`] and
//! [`UdpSocket`] as you would `std::net`'s. Addresses are IPv4 ([`SocketAddrV4`]);
//! there is no DNS. A component may listen on (or bind) only the local ports its
//! `network = { listen = [...] }` in system.toml grants, and connect or send only to
//! the remote ports of `network = { connect = [...] }`; anything else fails with
//! `PermissionDenied`.
//!
//! ```ignore
//! use kaal_posix::io::{Read, Write};
//! use kaal_posix::net::{self, SocketAddrV4, TcpListener, TcpStream};
//!
//! kaal_posix::net::init_with_timeout(&mut me, me.timer()?, Duration::from_secs(5))?;
//! let info = net::wait_for_address(Duration::from_secs(10))?; // DHCP
//! let mut s = TcpStream::connect(SocketAddrV4::new([10, 0, 2, 2], 8000))?;
//! s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
//! let mut reply = Vec::new();
//! s.read_to_end(&mut reply)?;
//!
//! let listener = TcpListener::bind(80)?;
//! for stream in listener.incoming() {
//!     let mut stream = stream?;
//!     stream.write_all(b"hello\n")?;
//! }
//! ```
//!
//! The connection is the file client's ([`crate::fs`]): one region `net-<name>` with a
//! request ring, a response ring and a buffer ([`crate::netproto`]), one request in
//! flight at a time. The server answers every request at once; an operation that
//! cannot go ahead yet is answered `WouldBlock`, and a blocking call then sends a POLL
//! for the socket, which the server holds until the socket is ready (or the call's
//! timeout passes), and tries again. A socket set to non-blocking
//! (`set_nonblocking(true)`) returns the `WouldBlock` error instead
//! ([`ErrorKind::WouldBlock`]); [`poll`] waits for several sockets at once.
//!
//! After a connect's POLL reports [`Interest::ERROR`], the client learns why from a
//! RECV of 0 bytes on the stream, which the server answers with the failure's status
//! (`ConnectionRefused`, `TimedOut`, `NetworkDown` ...).
//!
//! Everything the server returns is checked: counts and lengths are clamped to what
//! was asked for and to the buffer, so a faulty server gives wrong answers or errors,
//! never a panic here.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, UnsafeCell};
use core::fmt;
use core::ops::{BitAnd, BitOr, BitOrAssign, Range};
use core::str::FromStr;
use core::sync::atomic::{AtomicBool, Ordering};

use kaal_core::component::Component;
use kaal_core::shared::SharedRegion;
use kaal_core::time::{Duration, Instant, Timer, WakeTarget};
use kaal_core::Notification;
use kaal_ipc::window::Window;
use kaal_ipc::{Consumer, Producer};

use crate::io::{self, Error, ErrorKind, Read, Write};
use crate::netproto::{self, op, ready, NetRequest as Request, NetResponse as Response, Status};

/// Connections a listener queues before [`TcpListener::accept`] takes them.
pub const BACKLOG: u64 = 64;

/// How often [`wait_for_address`] asks.
const ADDRESS_RETRY: Duration = Duration::from_millis(50);

/// The shortest POLL a connection with a timeout sends when a call waits without one:
/// such a wait is a series of POLLs, each bounded, so a server that stopped is noticed.
const MIN_POLL_SLICE: Duration = Duration::from_secs(1);

const NEEDS_TIMER: &str = "this needs a timer: give kaal_posix::net::init_with_timeout a timer";

// ---------------------------------------------------------------------------------------
// Addresses

/// An IPv4 address and a port, as `std::net::SocketAddrV4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketAddrV4 {
    ip: [u8; 4],
    port: u16,
}

impl SocketAddrV4 {
    pub const fn new(ip: [u8; 4], port: u16) -> SocketAddrV4 {
        SocketAddrV4 { ip, port }
    }

    pub const fn ip(&self) -> [u8; 4] {
        self.ip
    }

    pub const fn port(&self) -> u16 {
        self.port
    }

    /// `"10.0.2.2:8000"` as an address (dotted decimal without leading zeros, then a
    /// port); `None` for anything else. No names: there is no DNS.
    pub fn parse(text: &str) -> Option<SocketAddrV4> {
        let (ip, port) = text.rsplit_once(':')?;
        let port = decimal(port, 5, false)?;
        Some(SocketAddrV4::new(parse_ipv4(ip)?, u16::try_from(port).ok()?))
    }

    /// The address as the protocol carries it.
    const fn ip_word(&self) -> u64 {
        u32::from_be_bytes(self.ip) as u64
    }

    /// From the protocol's words (wider values are cut: the server is trusted to send
    /// 32-bit addresses and 16-bit ports).
    const fn from_words(address: u64, port: u64) -> SocketAddrV4 {
        SocketAddrV4::new(ip_from_word(address), port as u16)
    }
}

impl fmt::Display for SocketAddrV4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", Ip(self.ip), self.port)
    }
}

impl From<([u8; 4], u16)> for SocketAddrV4 {
    fn from((ip, port): ([u8; 4], u16)) -> SocketAddrV4 {
        SocketAddrV4::new(ip, port)
    }
}

/// A text that is not `a.b.c.d:port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrParseError;

impl fmt::Display for AddrParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid IPv4 socket address (expected a.b.c.d:port)")
    }
}

impl core::error::Error for AddrParseError {}

impl FromStr for SocketAddrV4 {
    type Err = AddrParseError;

    fn from_str(text: &str) -> Result<SocketAddrV4, AddrParseError> {
        SocketAddrV4::parse(text).ok_or(AddrParseError)
    }
}

/// `"10.0.2.2"` as four bytes; `None` for anything else (leading zeros, as `010`, are
/// refused, as `std` refuses them).
pub fn parse_ipv4(text: &str) -> Option<[u8; 4]> {
    let mut ip = [0u8; 4];
    let mut parts = text.split('.');
    for byte in ip.iter_mut() {
        *byte = u8::try_from(decimal(parts.next()?, 3, true)?).ok()?;
    }
    parts.next().is_none().then_some(ip)
}

/// A decimal number of at most `digits` digits, nothing else.
fn decimal(text: &str, digits: usize, strict_zeros: bool) -> Option<u32> {
    if text.is_empty() || text.len() > digits || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if strict_zeros && text.len() > 1 && text.starts_with('0') {
        return None;
    }
    Some(text.bytes().fold(0, |n, b| n * 10 + u32::from(b - b'0')))
}

const fn ip_from_word(word: u64) -> [u8; 4] {
    (word as u32).to_be_bytes()
}

/// Formats an address as dotted decimal.
struct Ip([u8; 4]);

impl fmt::Display for Ip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "{a}.{b}.{c}.{d}")
    }
}

/// What an error names: the socket's address or port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum About {
    Nothing,
    Port(u16),
    Addr(SocketAddrV4),
}

impl About {
    fn text(&self) -> String {
        match self {
            About::Nothing => String::new(),
            About::Port(port) => alloc::format!("port {port}"),
            About::Addr(addr) => alloc::format!("{addr}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The connection

type Ring = Window<&'static SharedRegion>;

/// The timer [`init_with_timeout`] keeps: one the component gives away, or one it keeps
/// using for its own sleeps (`&'static`, e.g. from `Box::leak`). A component can take
/// its timer only once.
#[derive(Debug)]
pub enum NetTimer {
    Owned(Timer),
    Shared(&'static Timer),
}

impl NetTimer {
    fn timer(&self) -> &Timer {
        match self {
            NetTimer::Owned(timer) => timer,
            NetTimer::Shared(timer) => timer,
        }
    }
}

impl From<Timer> for NetTimer {
    fn from(timer: Timer) -> NetTimer {
        NetTimer::Owned(timer)
    }
}

impl From<&'static Timer> for NetTimer {
    fn from(timer: &'static Timer) -> NetTimer {
        NetTimer::Shared(timer)
    }
}

struct Connection {
    requests: Producer<Request, Ring>,
    responses: Consumer<Response, Ring>,
    /// The whole region; the buffer starts at [`netproto::BUFFER`].
    region: &'static SharedRegion,
    wake: Notification,
    done: Notification,
    /// With a timer: how long to wait for an answer (beyond a POLL's own timeout).
    timeout: Option<(NetTimer, WakeTarget, Duration)>,
    next_id: u32,
    /// Set when a request timed out: it may still run later, against whatever the
    /// buffer then holds, so the connection is not used again.
    broken: bool,
    /// Handles of the sockets open, closed at exit if still open then.
    open: Vec<u64>,
}

/// The component's one connection. Components are single-threaded; `BUSY` turns a
/// re-entrant use (from a panic handler, say) into an error instead of two users of
/// one buffer.
struct Global(UnsafeCell<Option<Connection>>);
// SAFETY: access goes through `with_connection`, which lets one caller in at a time.
unsafe impl Sync for Global {}
static CONNECTION: Global = Global(UnsafeCell::new(None));
static BUSY: AtomicBool = AtomicBool::new(false);

/// Connects this component to the network server through what the tool granted it
/// because system.toml gives it `network`: its region `net-<name>` (two rings and a
/// buffer) and the notifications `net-wake` and `net-<name>-done`. Calls wait for the
/// server's answers for as long as it takes, and [`wait_for_address`] (which sleeps)
/// is unsupported; see [`init_with_timeout`].
pub fn init(me: &mut Component) -> Result<(), kaal_core::Error> {
    connect(me, None)
}

/// As [`init`], but every call gives up after `timeout` with an error (`NotConnected`)
/// if the network server has not answered (a POLL's own wait comes on top): a server
/// that faulted cannot hang this component. The component needs `time = true` for
/// `timer`, which also paces [`wait_for_address`]. Pass `me.timer()?`, or a
/// `&'static Timer` to keep using the timer for the component's own sleeps.
pub fn init_with_timeout(
    me: &mut Component,
    timer: impl Into<NetTimer>,
    timeout: Duration,
) -> Result<(), kaal_core::Error> {
    connect(me, Some((timer.into(), timeout)))
}

fn connect(me: &mut Component, timeout: Option<(NetTimer, Duration)>) -> Result<(), kaal_core::Error> {
    let mut name = String::from(netproto::REGION_PREFIX);
    name.push_str(me.name());
    let region = me.region(&name)?;
    if region.size() < netproto::MIN_REGION {
        return Err(kaal_core::Error::InvalidSize {
            what: "network region (bytes)",
            value: region.size() as u64,
            limit: netproto::MIN_REGION as u64,
        });
    }
    let wake = me.notification(netproto::WAKE)?;
    name.push_str(netproto::DONE_SUFFIX);
    let done = me.notification(&name)?;
    // The grant is mapped for the component's whole life.
    let region: &'static SharedRegion = Box::leak(Box::new(region));
    // The region was checked to hold both windows; a ring that does not fit them is a
    // KaaL bug, reported as the ring's size.
    let bad = kaal_core::Error::InvalidSize {
        what: "network ring (bytes)",
        value: netproto::RING_BYTES as u64,
        limit: region.size() as u64,
    };
    let window = |at| Window::new(region, at, netproto::RING_BYTES).map_err(|_| bad.clone());
    let requests = Producer::new(window(netproto::REQUESTS)?, netproto::RING_SLOTS).map_err(|_| bad.clone())?;
    let responses = Consumer::new(window(netproto::RESPONSES)?, netproto::RING_SLOTS).map_err(|_| bad.clone())?;
    let timeout = match timeout {
        Some((timer, after)) => {
            let target = timer.timer().register(&done)?;
            Some((timer, target, after))
        }
        None => None,
    };
    let connection =
        Connection { requests, responses, region, wake, done, timeout, next_id: 0, broken: false, open: Vec::new() };
    let twice = kaal_core::Error::InvalidSize { what: "kaal_posix::net::init calls", value: 2, limit: 1 };
    with_connection(|slot| match slot {
        Some(_) => Err(Error::new(ErrorKind::AlreadyExists, "init", "", "already connected")),
        None => {
            *slot = Some(connection);
            Ok(())
        }
    })
    .map_err(|_| twice)?;
    // When `main` returns, sockets still open (leaked, or in statics) are closed, so
    // their peers see the connection end rather than a silence.
    kaal_core::runtime::at_exit(close_at_exit);
    Ok(())
}

fn close_at_exit() {
    let _ = with_connection(|conn| {
        if let Some(conn) = conn.as_mut() {
            for handle in core::mem::take(&mut conn.open) {
                if conn.broken {
                    break;
                }
                let _ = conn.exchange(op::CLOSE, [handle, 0, 0, 0], Duration::ZERO);
            }
        }
        Ok(())
    });
}

fn with_connection<T>(f: impl FnOnce(&mut Option<Connection>) -> io::Result<T>) -> io::Result<T> {
    if BUSY.swap(true, Ordering::Acquire) {
        return Err(Error::new(ErrorKind::ResourceBusy, "socket operation", "", "the socket API was re-entered"));
    }
    // SAFETY: BUSY admits one caller at a time.
    let result = f(unsafe { &mut *CONNECTION.0.get() });
    BUSY.store(false, Ordering::Release);
    result
}

impl Connection {
    /// Bytes the buffer holds.
    fn capacity(&self) -> usize {
        self.region.size().saturating_sub(netproto::BUFFER)
    }

    /// Sends a request and waits for its answer, `extra` longer than the connection's
    /// timeout (a POLL's own timeout); a late answer to an earlier request that timed
    /// out is skipped.
    fn exchange(&mut self, op: u32, words: [u64; 4], extra: Duration) -> Result<Response, &'static str> {
        if self.broken {
            return Err("an earlier request to the network server timed out, so the connection is closed");
        }
        self.next_id = self.next_id.wrapping_add(1);
        let request = Request { op, id: self.next_id, words };
        match self.requests.push_notify(request, &self.wake) {
            Ok(()) => {}
            Err(kaal_ipc::RingError::Full) => return Err("the network server has stopped taking requests"),
            Err(_) => return Err("the request ring to the network server is corrupt"),
        }
        // A wait too long for the counter has no deadline.
        let deadline = match &self.timeout {
            Some((timer, target, after)) => {
                match after.checked_add(extra).and_then(|d| Instant::now().checked_add(d)) {
                    Some(at) => {
                        timer.timer().wake_at(at, *target).map_err(|_| "the time service refused the timeout")?;
                        Some(at)
                    }
                    None => None,
                }
            }
            None => None,
        };
        loop {
            let answer = match deadline {
                Some(at) => self
                    .responses
                    .pop_until(&self.done, &self.wake, || Instant::now() >= at)
                    .map_err(|_| "the response ring from the network server is corrupt")?,
                None => Some(
                    self.responses
                        .pop_blocking(&self.done, &self.wake)
                        .map_err(|_| "the response ring from the network server is corrupt")?,
                ),
            };
            match answer {
                Some(response) if response.id == request.id => {
                    if let (Some((timer, target, _)), Some(_)) = (&self.timeout, deadline) {
                        let _ = timer.timer().cancel(*target);
                    }
                    return Ok(response);
                }
                Some(_) => continue,
                None => {
                    self.broken = true;
                    return Err("the network server did not answer in time (it may have stopped; see its log)");
                }
            }
        }
    }
}

fn no_connection(operation: &'static str, about: &About) -> Error {
    Error::new(
        ErrorKind::NotConnected,
        operation,
        &about.text(),
        "no network connection: give the component `network` in system.toml and call kaal_posix::net::init",
    )
}

/// One request: `data` goes to the start of the buffer first; `then` sees the reply's
/// status and words (and the connection, to read the buffer).
fn transact<T>(
    operation: &'static str,
    about: &About,
    op: u32,
    words: [u64; 4],
    data: &[u8],
    extra: Duration,
    then: impl FnOnce(&mut Connection, Status, [u64; 4]) -> io::Result<T>,
) -> io::Result<T> {
    with_connection(|conn| {
        let conn = conn.as_mut().ok_or_else(|| no_connection(operation, about))?;
        if data.len() > conn.capacity() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                operation,
                &about.text(),
                "more bytes than the network buffer holds (a datagram must fit it)",
            ));
        }
        if !data.is_empty() {
            conn.region.write_bytes(netproto::BUFFER, data);
        }
        let reply = conn
            .exchange(op, words, extra)
            .map_err(|why| Error::new(ErrorKind::NotConnected, operation, &about.text(), why))?;
        then(conn, Status::from_u32(reply.status), reply.words)
    })
}

/// [`transact`] for a request whose only results are its words.
fn call(operation: &'static str, about: &About, op: u32, words: [u64; 4], data: &[u8]) -> io::Result<[u64; 4]> {
    transact(operation, about, op, words, data, Duration::ZERO, |_, status, words| {
        checked(status, operation, about).map(|()| words)
    })
}

fn checked(status: Status, operation: &'static str, about: &About) -> io::Result<()> {
    match status {
        Status::Ok => Ok(()),
        status => Err(Error::from_net_status(status, operation, &about.text())),
    }
}

/// Bytes one request moves at most (0 without a connection).
fn capacity() -> usize {
    with_connection(|c| Ok(c.as_ref().map_or(0, Connection::capacity))).unwrap_or(0)
}

/// The connection's own timeout, if it has one.
fn exchange_timeout() -> Option<Duration> {
    with_connection(|c| Ok(c.as_ref().and_then(|c| c.timeout.as_ref().map(|t| t.2)))).unwrap_or(None)
}

/// Sleeps on the timer given to [`init_with_timeout`].
fn sleep(operation: &'static str, d: Duration) -> io::Result<()> {
    with_connection(|conn| {
        let conn = conn.as_ref().ok_or_else(|| no_connection(operation, &About::Nothing))?;
        let (timer, _, _) =
            conn.timeout.as_ref().ok_or_else(|| Error::new(ErrorKind::Unsupported, operation, "", NEEDS_TIMER))?;
        timer
            .timer()
            .sleep(d)
            .map_err(|_| Error::new(ErrorKind::Other, operation, "", "the time service refused the sleep"))
    })
}

/// The request range `[sent, ...)` of a transfer of `total` bytes, at most `capacity`.
fn next_chunk(sent: usize, total: usize, capacity: usize) -> Range<usize> {
    let start = sent.min(total);
    start..total.min(start.saturating_add(capacity))
}

/// Sends one request exactly as given, unchecked, and returns the server's status and
/// words: for tools and tests of the protocol (a hostile client), not for programs.
/// `buffer` is written at the start of the buffer first (at most the buffer's size).
pub fn raw_request(op: u32, words: [u64; 4], buffer: &[u8]) -> io::Result<(Status, [u64; 4])> {
    transact("raw_request", &About::Nothing, op, words, buffer, Duration::ZERO, |_, status, words| Ok((status, words)))
}

/// The buffer of the connection, as a reply left it: for [`exchange`].
pub struct ReplyBuffer<'a>(&'a Connection);

impl ReplyBuffer<'_> {
    /// Bytes the buffer holds.
    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }

    /// The buffer's first `len` bytes (at most its capacity).
    pub fn read(&self, len: usize) -> Vec<u8> {
        let mut out = alloc::vec![0u8; len.min(self.capacity())];
        self.0.region.read_bytes(netproto::BUFFER, &mut out);
        out
    }
}

/// One request of the protocol as given, for a server that keeps sockets for others
/// (the Linux personality, whose processes' sockets are its handles): `data` goes to the
/// start of the buffer first; `then` gets the server's status, its reply words and the
/// buffer. Unlike the socket types' calls nothing is interpreted, so the caller checks
/// the words against what it asked (counts at most what it asked and the capacity).
pub fn exchange<T>(
    op: u32,
    words: [u64; 4],
    data: &[u8],
    then: impl FnOnce(Status, [u64; 4], ReplyBuffer<'_>) -> T,
) -> io::Result<T> {
    transact("exchange", &About::Nothing, op, words, data, Duration::ZERO, |conn, status, words| {
        Ok(then(status, words, ReplyBuffer(conn)))
    })
}

/// Bytes one request moves at most (0 without a connection): for [`exchange`].
pub fn buffer_capacity() -> usize {
    capacity()
}

// ---------------------------------------------------------------------------------------
// Readiness and poll

/// Readiness bits, for [`poll`] ([`netproto::ready`]): a small set, combined with `|`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interest(u32);

impl Interest {
    /// Data to read, a connection to accept, or the peer closed (a read returns 0).
    pub const READ: Interest = Interest(ready::READ);
    /// Room to send; for a connecting stream: connected.
    pub const WRITE: Interest = Interest(ready::WRITE);
    /// The connection failed or was reset. Reported whether asked for or not.
    pub const ERROR: Interest = Interest(ready::ERROR);
    /// The peer will send no more (comes with READ). Reported whether asked for or not.
    pub const HANGUP: Interest = Interest(ready::HANGUP);

    pub const fn empty() -> Interest {
        Interest(0)
    }

    pub const fn all() -> Interest {
        Interest(ready::ALL)
    }

    pub const fn bits(self) -> u32 {
        self.0
    }

    /// The bits that name readiness; others are dropped.
    pub const fn from_bits_truncate(bits: u32) -> Interest {
        Interest(bits & ready::ALL)
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Interest) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any bit of `other` is set.
    pub const fn intersects(self, other: Interest) -> bool {
        self.0 & other.0 != 0
    }
}

impl BitOr for Interest {
    type Output = Interest;
    fn bitor(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }
}

impl BitOrAssign for Interest {
    fn bitor_assign(&mut self, other: Interest) {
        self.0 |= other.0;
    }
}

impl BitAnd for Interest {
    type Output = Interest;
    fn bitand(self, other: Interest) -> Interest {
        Interest(self.0 & other.0)
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("Interest(empty)");
        }
        f.write_str("Interest(")?;
        let names = [
            (Interest::READ, "READ"),
            (Interest::WRITE, "WRITE"),
            (Interest::ERROR, "ERROR"),
            (Interest::HANGUP, "HANGUP"),
        ];
        let mut first = true;
        for (bit, name) in names {
            if self.contains(bit) {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        f.write_str(")")
    }
}

/// A socket as the server names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handle(u64);

impl Handle {
    /// The server's number for it.
    pub const fn raw(self) -> u64 {
        self.0
    }
}

/// What a [`PollFd`] waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pollable {
    /// A socket of this component.
    Socket(Handle),
    /// A file ([`crate::fs::File`]): regular files are always ready to read and write
    /// (as POSIX `poll` has it), so such an entry is ready at once.
    AlwaysReady,
}

/// Something [`PollFd::new`] takes: the three socket types, and files.
pub trait AsPollable {
    fn pollable(&self) -> Pollable;
}

impl AsPollable for crate::fs::File {
    fn pollable(&self) -> Pollable {
        Pollable::AlwaysReady
    }
}

/// One entry of [`poll`]: what to wait on, for what, and (after the call) what holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollFd {
    pub source: Pollable,
    pub interest: Interest,
    /// Set by [`poll`]: the bits of `interest` that hold, and [`Interest::ERROR`] and
    /// [`Interest::HANGUP`] if they do.
    pub ready: Interest,
}

impl PollFd {
    /// An entry for a socket (`&stream`, `&listener`, `&udp`) or a file.
    pub fn new(source: &impl AsPollable, interest: Interest) -> PollFd {
        PollFd { source: source.pollable(), interest, ready: Interest::empty() }
    }

    /// An entry for a file, ready at once for reading and writing (see [`poll`]).
    pub fn file(_file: &crate::fs::File, interest: Interest) -> PollFd {
        PollFd { source: Pollable::AlwaysReady, interest, ready: Interest::empty() }
    }
}

/// One POLL entry's bytes: the handle and the bits wanted, `u32` LE each.
fn encode_poll_entry(handle: u32, bits: u32) -> [u8; netproto::POLL_ENTRY] {
    let mut entry = [0u8; netproto::POLL_ENTRY];
    entry[..4].copy_from_slice(&handle.to_le_bytes());
    entry[4..].copy_from_slice(&bits.to_le_bytes());
    entry
}

/// An entry's handle and bits.
fn decode_poll_entry(entry: [u8; netproto::POLL_ENTRY]) -> (u32, u32) {
    let [a, b, c, d, e, f, g, h] = entry;
    (u32::from_le_bytes([a, b, c, d]), u32::from_le_bytes([e, f, g, h]))
}

/// The bits the server wrote back for entries `wanted`, limited to what each asked for
/// and ERROR and HANGUP (a short or odd reply counts as nothing ready).
fn decode_ready(wanted: &[(u32, u32)], reply: &[u8]) -> Vec<u32> {
    wanted
        .iter()
        .enumerate()
        .map(|(i, &(_, asked))| {
            let entry = reply
                .get(i * netproto::POLL_ENTRY..(i + 1) * netproto::POLL_ENTRY)
                .and_then(|bytes| <[u8; netproto::POLL_ENTRY]>::try_from(bytes).ok());
            entry.map_or(0, |entry| decode_poll_entry(entry).1 & (asked | ready::ERROR | ready::HANGUP) & ready::ALL)
        })
        .collect()
}

/// Sends POLLs for `wanted` (handle, bits) until one is ready or `timeout` passes
/// (`None`: until one is ready); each entry's ready bits, all 0 on timeout.
fn poll_sockets(
    operation: &'static str,
    about: &About,
    wanted: &[(u32, u32)],
    timeout: Option<Duration>,
) -> io::Result<Vec<u32>> {
    let encoded: Vec<u8> = wanted.iter().flat_map(|&(handle, bits)| encode_poll_entry(handle, bits)).collect();
    // With a timeout on the connection, a wait without one is a series of POLLs.
    let slice = exchange_timeout().map(|t| t.max(MIN_POLL_SLICE));
    loop {
        let this = timeout.or(slice);
        let ns = this
            .map_or(netproto::FOREVER, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).min(netproto::FOREVER - 1));
        let words = [wanted.len() as u64, ns, 0, 0];
        let extra = this.unwrap_or(Duration::ZERO);
        let bits = transact(operation, about, op::POLL, words, &encoded, extra, |conn, status, _| match status {
            Status::Ok => {
                let mut reply = alloc::vec![0u8; encoded.len()];
                conn.region.read_bytes(netproto::BUFFER, &mut reply);
                Ok(decode_ready(wanted, &reply))
            }
            Status::TimedOut => Ok(alloc::vec![0; wanted.len()]),
            status => Err(Error::from_net_status(status, operation, &about.text())),
        })?;
        if timeout.is_some() || bits.iter().any(|b| *b != 0) {
            return Ok(bits);
        }
    }
}

/// One socket's ready bits after waiting for `bits` (0 on timeout).
fn poll_one(
    operation: &'static str,
    about: &About,
    handle: u64,
    bits: u32,
    timeout: Option<Duration>,
) -> io::Result<u32> {
    let handle = poll_handle(operation, about, handle)?;
    Ok(poll_sockets(operation, about, &[(handle, bits)], timeout)?.first().copied().unwrap_or(0))
}

fn poll_handle(operation: &'static str, about: &About, handle: u64) -> io::Result<u32> {
    u32::try_from(handle).map_err(|_| {
        Error::new(ErrorKind::InvalidInput, operation, &about.text(), "the network server gave a handle past 32 bits")
    })
}

/// Clears every entry's `ready`, marks the always-ready ones, and lists the sockets'
/// entries for a POLL: (handle, bits) each, and how many entries are ready already.
fn prepare(entries: &mut [PollFd]) -> io::Result<(Vec<(u32, u32)>, usize)> {
    if entries.len() > netproto::MAX_POLL {
        return Err(Error::new(ErrorKind::InvalidInput, "poll", "", "more than 256 entries"));
    }
    let mut wanted = Vec::new();
    let mut ready_now = 0;
    for entry in entries.iter_mut() {
        entry.ready = Interest::empty();
        match entry.source {
            Pollable::AlwaysReady => {
                entry.ready = entry.interest & (Interest::READ | Interest::WRITE);
                ready_now += usize::from(!entry.ready.is_empty());
            }
            Pollable::Socket(handle) => {
                wanted.push((poll_handle("poll", &About::Nothing, handle.0)?, entry.interest.bits() & ready::ALL))
            }
        }
    }
    Ok((wanted, ready_now))
}

/// Puts the POLL's `bits` (one per socket entry, in order) into the entries; how many
/// entries are ready.
fn finish(entries: &mut [PollFd], bits: &[u32]) -> usize {
    let mut bits = bits.iter();
    for entry in entries.iter_mut() {
        if let Pollable::Socket(_) = entry.source {
            entry.ready = Interest::from_bits_truncate(bits.next().copied().unwrap_or(0));
        }
    }
    entries.iter().filter(|e| !e.ready.is_empty()).count()
}

/// Waits until one of `entries` is ready or `timeout` passes (`None`: no limit), as
/// POSIX `poll`; sets each entry's `ready` and returns how many entries are ready (0
/// on timeout). At most [`netproto::MAX_POLL`] entries.
///
/// A file's entry ([`PollFd::file`]) is ready at once for reading and writing, and the
/// call then does not block: the sockets' states are still reported, as they are now.
/// Without sockets the call waits out `timeout` in the server; without sockets or a
/// timeout it fails with `InvalidInput`. The server holds the POLL; the errors are
/// the connection's (`NotConnected`), and `InvalidInput` for a handle the server does
/// not know.
pub fn poll(entries: &mut [PollFd], timeout: Option<Duration>) -> io::Result<usize> {
    let (wanted, ready_now) = prepare(entries)?;
    if wanted.is_empty() {
        if ready_now > 0 {
            return Ok(ready_now);
        }
        match timeout {
            None => {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    "poll",
                    "",
                    "nothing to wait for (no sockets, no timeout)",
                ))
            }
            Some(d) if d.is_zero() => return Ok(0),
            // A POLL of no entries: the server holds it for the timeout.
            Some(_) => {}
        }
    }
    let timeout = if ready_now > 0 { Some(Duration::ZERO) } else { timeout };
    let bits = poll_sockets("poll", &About::Nothing, &wanted, timeout)?;
    Ok(finish(entries, &bits))
}

// ---------------------------------------------------------------------------------------
// Sockets

/// What the three socket types share: the handle, the blocking mode and timeouts.
#[derive(Debug)]
struct Socket {
    handle: u64,
    about: About,
    nonblocking: Cell<bool>,
    read_timeout: Cell<Option<Duration>>,
    write_timeout: Cell<Option<Duration>>,
}

impl Socket {
    /// A socket the server just opened (closed when dropped).
    fn opened(handle: u64, about: About) -> Socket {
        let _ = with_connection(|c| {
            if let Some(c) = c.as_mut() {
                c.open.push(handle);
            }
            Ok(())
        });
        Socket {
            handle,
            about,
            nonblocking: Cell::new(false),
            read_timeout: Cell::new(None),
            write_timeout: Cell::new(None),
        }
    }

    fn timed_out(&self, operation: &'static str, about: &About) -> Error {
        Error::from_net_status(Status::TimedOut, operation, &about.text())
    }

    /// Runs `attempt` until it does not fail with `WouldBlock`, POLLing for `bits`
    /// between tries; a non-blocking socket returns the `WouldBlock`. `TimedOut` once
    /// `timeout` passes.
    fn wait<T>(
        &self,
        operation: &'static str,
        about: &About,
        bits: u32,
        timeout: Option<Duration>,
        mut attempt: impl FnMut() -> io::Result<T>,
    ) -> io::Result<T> {
        let start = timeout.map(|_| Instant::now());
        loop {
            match attempt() {
                Err(e) if e.kind() == ErrorKind::WouldBlock && !self.nonblocking.get() => {}
                done => return done,
            }
            let left = match (timeout, start) {
                (Some(limit), Some(start)) => {
                    let left = limit.saturating_sub(start.elapsed());
                    if left.is_zero() {
                        return Err(self.timed_out(operation, about));
                    }
                    Some(left)
                }
                _ => None,
            };
            let got = poll_one(operation, about, self.handle, bits, left)?;
            if got == 0 && left.is_some() {
                // The POLL's timeout passed: a last try, then give up.
                return match attempt() {
                    Err(e) if e.kind() == ErrorKind::WouldBlock => Err(self.timed_out(operation, about)),
                    done => done,
                };
            }
        }
    }

    fn set_option(&self, operation: &'static str, option: u64, value: u64) -> io::Result<()> {
        call(operation, &self.about, op::SET_OPTION, [self.handle, option, value, 0], &[]).map(|_| ())
    }

    /// RECV (TCP): bytes into `buf`, at most one buffer's worth.
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let most = buf.len().min(capacity().max(1));
        let about = self.about;
        self.wait("read", &about, ready::READ, self.read_timeout.get(), || {
            transact(
                "read",
                &about,
                op::RECV,
                [self.handle, most as u64, 0, 0],
                &[],
                Duration::ZERO,
                |conn, status, w| {
                    checked(status, "read", &about)?;
                    let got = usize::try_from(w[0]).unwrap_or(usize::MAX).min(most).min(conn.capacity());
                    conn.region.read_bytes(netproto::BUFFER, &mut buf[..got]);
                    Ok(got)
                },
            )
        })
    }

    /// SENDs (TCP) `buf`, one buffer's worth a request, until the server takes less
    /// than a whole one; the bytes taken. Only the first request blocks.
    fn send(&self, buf: &[u8]) -> io::Result<usize> {
        let capacity = capacity().max(1);
        let about = self.about;
        let mut sent = 0;
        while sent < buf.len() {
            let data = &buf[next_chunk(sent, buf.len(), capacity)];
            let attempt = || {
                call("write", &about, op::SEND, [self.handle, data.len() as u64, 0, 0], data)
                    .map(|w| usize::try_from(w[0]).unwrap_or(usize::MAX).min(data.len()))
            };
            let taken = if sent == 0 {
                self.wait("write", &about, ready::WRITE, self.write_timeout.get(), attempt)
            } else {
                attempt()
            };
            match taken {
                Ok(n) => {
                    sent += n;
                    if n < data.len() {
                        break;
                    }
                }
                // What went is reported; the error comes again with the next write.
                Err(_) if sent > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        let handle = self.handle;
        let _ = transact("close", &self.about, op::CLOSE, [handle, 0, 0, 0], &[], Duration::ZERO, |conn, _, _| {
            if let Some(at) = conn.open.iter().position(|h| *h == handle) {
                conn.open.swap_remove(at);
            }
            Ok(())
        });
    }
}

fn check_timeout(operation: &'static str, about: &About, timeout: Option<Duration>) -> io::Result<()> {
    match timeout {
        Some(d) if d.is_zero() => {
            Err(Error::new(ErrorKind::InvalidInput, operation, &about.text(), "a zero timeout (use set_nonblocking)"))
        }
        _ => Ok(()),
    }
}

/// Which sides [`TcpStream::shutdown`] closes, as `std::net::Shutdown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    Read,
    Write,
    Both,
}

/// A TCP connection, as `std::net::TcpStream`. Read and write it with
/// [`io::Read`] and [`io::Write`] (on `&TcpStream` too). Closed when dropped.
#[derive(Debug)]
pub struct TcpStream {
    socket: Socket,
    peer: SocketAddrV4,
    local_port: u16,
}

impl TcpStream {
    /// Connects to `addr`, waiting until the connection stands or fails:
    /// `ConnectionRefused` if nothing listens there, `TimedOut` if the peer does not
    /// answer (the network server gives up after 20 s), `PermissionDenied` for a port system.toml does
    /// not grant, `NetworkDown` before the network has an address.
    pub fn connect(addr: SocketAddrV4) -> io::Result<TcpStream> {
        TcpStream::connect_within(addr, None)
    }

    /// As [`TcpStream::connect`], giving up with `TimedOut` after `timeout`.
    pub fn connect_timeout(addr: SocketAddrV4, timeout: Duration) -> io::Result<TcpStream> {
        check_timeout("connect", &About::Addr(addr), Some(timeout))?;
        TcpStream::connect_within(addr, Some(timeout))
    }

    fn connect_within(addr: SocketAddrV4, timeout: Option<Duration>) -> io::Result<TcpStream> {
        let about = About::Addr(addr);
        let start = Instant::now();
        let words = [addr.ip_word(), u64::from(addr.port), 0, 0];
        let (status, w) =
            transact("connect", &about, op::TCP_CONNECT, words, &[], Duration::ZERO, |_, s, w| Ok((s, w)))?;
        checked(status, "connect", &about)?;
        let stream = TcpStream { socket: Socket::opened(w[0], about), peer: addr, local_port: w[1] as u16 };
        loop {
            let left = match timeout {
                Some(limit) => match limit.saturating_sub(start.elapsed()) {
                    left if left.is_zero() => return Err(stream.socket.timed_out("connect", &about)),
                    left => Some(left),
                },
                None => None,
            };
            let bits = poll_one("connect", &about, stream.socket.handle, ready::WRITE | ready::ERROR, left)?;
            if bits & ready::ERROR != 0 || bits & (ready::WRITE | ready::HANGUP) == ready::HANGUP {
                return Err(stream.failure());
            }
            if bits & ready::WRITE != 0 {
                return Ok(stream);
            }
            if left.is_some() {
                return Err(stream.socket.timed_out("connect", &about));
            }
        }
    }

    /// Why a connect failed: a RECV of 0 bytes answers the stream's error.
    fn failure(&self) -> Error {
        let about = self.socket.about;
        let words = [self.socket.handle, 0, 0, 0];
        match transact("connect", &about, op::RECV, words, &[], Duration::ZERO, |_, s, _| Ok(s)) {
            Ok(
                status @ (Status::ConnectionRefused
                | Status::ConnectionReset
                | Status::TimedOut
                | Status::NetworkDown
                | Status::Unreachable
                | Status::PermissionDenied),
            ) => Error::from_net_status(status, "connect", &about.text()),
            Ok(_) => Error::new(
                ErrorKind::ConnectionRefused,
                "connect",
                &about.text(),
                "the connection failed (the network server did not say why)",
            ),
            Err(e) => e,
        }
    }

    /// The address connected to (or accepted from).
    pub fn peer_addr(&self) -> io::Result<SocketAddrV4> {
        Ok(self.peer)
    }

    /// This end's port.
    pub fn local_port(&self) -> u16 {
        self.local_port
    }

    /// Closes the reading side (later reads return 0), the writing side (the peer
    /// reads the end; later writes fail with `BrokenPipe`), or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let how = match how {
            Shutdown::Read => netproto::shutdown::READ,
            Shutdown::Write => netproto::shutdown::WRITE,
            Shutdown::Both => netproto::shutdown::BOTH,
        };
        call("shutdown", &self.socket.about, op::SHUTDOWN, [self.socket.handle, how, 0, 0], &[]).map(|_| ())
    }

    /// Nagle's algorithm off (`true`, the default here) or on.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.socket.set_option("set_nodelay", netproto::option::NODELAY, u64::from(nodelay))
    }

    /// TCP keep-alive probes every `interval` (`None`: off).
    pub fn set_keepalive(&self, interval: Option<Duration>) -> io::Result<()> {
        let ms = interval.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1));
        self.socket.set_option("set_keepalive", netproto::option::KEEPALIVE_MS, ms)
    }

    /// Has the server close the connection if nothing arrives for `idle` (`None`:
    /// never).
    pub fn set_idle_timeout(&self, idle: Option<Duration>) -> io::Result<()> {
        let ms = idle.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1));
        self.socket.set_option("set_idle_timeout", netproto::option::TIMEOUT_MS, ms)
    }

    /// Reads and writes return `WouldBlock` instead of waiting (`true`), or wait
    /// (`false`, the default).
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.socket.nonblocking.set(nonblocking);
        Ok(())
    }

    /// A read waits at most `timeout` for data, then fails with `TimedOut` (`None`: no
    /// limit, the default; a zero duration is `InvalidInput`, as in `std`).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_timeout("set_read_timeout", &self.socket.about, timeout)?;
        self.socket.read_timeout.set(timeout);
        Ok(())
    }

    /// A write waits at most `timeout` for room, then fails with `TimedOut`.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_timeout("set_write_timeout", &self.socket.about, timeout)?;
        self.socket.write_timeout.set(timeout);
        Ok(())
    }

    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.socket.read_timeout.get())
    }

    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.socket.write_timeout.get())
    }

    /// The server's handle, for [`raw_request`].
    pub fn handle(&self) -> Handle {
        Handle(self.socket.handle)
    }
}

/// A read returns what one RECV gave: at most the region's buffer (its size less
/// [`netproto::BUFFER`]), 0 once the peer closed. Blocks until data arrives (see
/// [`TcpStream::set_read_timeout`], [`TcpStream::set_nonblocking`]).
impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.recv(buf)
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.recv(buf)
    }
}

/// A write sends `buf` a buffer's worth a request until the server takes less (its
/// send buffer is full); it returns how much went, perhaps less than `buf`, as `std`
/// does; `write_all` sends everything. It blocks only while nothing can go.
impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.socket.send(buf)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.socket.send(buf)
    }
}

impl AsPollable for TcpStream {
    fn pollable(&self) -> Pollable {
        Pollable::Socket(Handle(self.socket.handle))
    }
}

/// A TCP listener, as `std::net::TcpListener`, on all of this component's addresses.
/// Closed when dropped.
#[derive(Debug)]
pub struct TcpListener {
    socket: Socket,
    port: u16,
}

impl TcpListener {
    /// Listens on `port` (which system.toml must grant: `network = { listen = [...] }`)
    /// with a backlog of [`BACKLOG`]. `AddrInUse` if another socket has the port.
    pub fn bind(port: u16) -> io::Result<TcpListener> {
        let about = About::Port(port);
        let w = call("bind", &about, op::TCP_LISTEN, [u64::from(port), BACKLOG, 0, 0], &[])?;
        Ok(TcpListener { socket: Socket::opened(w[0], about), port })
    }

    /// The next connection and its peer's address; waits for one unless the listener
    /// is non-blocking (then `WouldBlock`). The stream is blocking.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddrV4)> {
        let s = &self.socket;
        let w = s.wait("accept", &s.about, ready::READ, None, || {
            call("accept", &s.about, op::TCP_ACCEPT, [s.handle, 0, 0, 0], &[])
        })?;
        let peer = SocketAddrV4::from_words(w[1], w[2]);
        let stream = TcpStream { socket: Socket::opened(w[0], About::Addr(peer)), peer, local_port: w[3] as u16 };
        Ok((stream, peer))
    }

    /// The connections as they come, as `std::net::TcpListener::incoming` (never
    /// ends).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    pub fn local_port(&self) -> u16 {
        self.port
    }

    /// `accept` returns `WouldBlock` instead of waiting (`true`), or waits.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.socket.nonblocking.set(nonblocking);
        Ok(())
    }

    /// The server's handle, for [`raw_request`].
    pub fn handle(&self) -> Handle {
        Handle(self.socket.handle)
    }
}

impl AsPollable for TcpListener {
    fn pollable(&self) -> Pollable {
        Pollable::Socket(Handle(self.socket.handle))
    }
}

/// [`TcpListener::incoming`]'s iterator.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

/// A UDP socket, as `std::net::UdpSocket`. Closed when dropped.
#[derive(Debug)]
pub struct UdpSocket {
    socket: Socket,
    port: u16,
}

impl UdpSocket {
    /// Binds `port` (0: any free one; otherwise system.toml must grant it).
    pub fn bind(port: u16) -> io::Result<UdpSocket> {
        let w = call("bind", &About::Port(port), op::UDP_BIND, [u64::from(port), 0, 0, 0], &[])?;
        let local = if port == 0 { w[1] as u16 } else { port };
        Ok(UdpSocket { socket: Socket::opened(w[0], About::Port(local)), port: local })
    }

    /// Sends one datagram to `addr` (system.toml must grant its port); waits while the
    /// server has no room. A datagram larger than the region's buffer is `InvalidInput`.
    pub fn send_to(&self, buf: &[u8], addr: SocketAddrV4) -> io::Result<usize> {
        let s = &self.socket;
        let about = About::Addr(addr);
        let words = [s.handle, addr.ip_word(), u64::from(addr.port), buf.len() as u64];
        s.wait("send_to", &about, ready::WRITE, s.write_timeout.get(), || {
            call("send_to", &about, op::SEND_TO, words, buf)
                .map(|w| usize::try_from(w[0]).unwrap_or(usize::MAX).min(buf.len()))
        })
    }

    /// The next datagram into `buf` (cut to its length, and to the region's buffer) and
    /// its sender; waits for one (see [`UdpSocket::set_read_timeout`]).
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddrV4)> {
        let s = &self.socket;
        let most = buf.len().min(capacity().max(1));
        s.wait("recv_from", &s.about, ready::READ, s.read_timeout.get(), || {
            let words = [s.handle, most as u64, 0, 0];
            transact("recv_from", &s.about, op::RECV_FROM, words, &[], Duration::ZERO, |conn, status, w| {
                checked(status, "recv_from", &s.about)?;
                let got = usize::try_from(w[0]).unwrap_or(usize::MAX).min(most).min(conn.capacity());
                conn.region.read_bytes(netproto::BUFFER, &mut buf[..got]);
                Ok((got, SocketAddrV4::from_words(w[1], w[2])))
            })
        })
    }

    pub fn local_port(&self) -> u16 {
        self.port
    }

    /// `send_to` and `recv_from` return `WouldBlock` instead of waiting (`true`).
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.socket.nonblocking.set(nonblocking);
        Ok(())
    }

    /// `recv_from` waits at most `timeout`, then fails with `TimedOut`.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_timeout("set_read_timeout", &self.socket.about, timeout)?;
        self.socket.read_timeout.set(timeout);
        Ok(())
    }

    /// `send_to` waits at most `timeout` for room, then fails with `TimedOut`.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_timeout("set_write_timeout", &self.socket.about, timeout)?;
        self.socket.write_timeout.set(timeout);
        Ok(())
    }

    /// The server's handle, for [`raw_request`].
    pub fn handle(&self) -> Handle {
        Handle(self.socket.handle)
    }
}

impl AsPollable for UdpSocket {
    fn pollable(&self) -> Pollable {
        Pollable::Socket(Handle(self.socket.handle))
    }
}

// ---------------------------------------------------------------------------------------
// The interface

/// The network's configuration, as the server has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetInfo {
    /// This machine's address; `0.0.0.0` until DHCP (or the static setting) gives one.
    pub address: [u8; 4],
    /// The subnet's prefix length (24 for a /24).
    pub prefix: u8,
    pub gateway: [u8; 4],
    pub mac: [u8; 6],
}

impl NetInfo {
    /// Whether the network has an address yet.
    pub fn is_configured(&self) -> bool {
        self.address != [0; 4]
    }

    fn from_words(w: [u64; 4]) -> NetInfo {
        let mac = w[3].to_be_bytes();
        NetInfo {
            address: ip_from_word(w[0]),
            prefix: w[1].min(32) as u8,
            gateway: ip_from_word(w[2]),
            mac: [mac[2], mac[3], mac[4], mac[5], mac[6], mac[7]],
        }
    }
}

impl fmt::Display for NetInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.mac;
        write!(
            f,
            "{}/{} gateway {} mac {a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}",
            Ip(self.address),
            self.prefix,
            Ip(self.gateway)
        )
    }
}

/// The network's address, prefix, gateway and MAC, now (the server answers at once;
/// the address is `0.0.0.0` while DHCP has given none: see [`wait_for_address`]).
pub fn info() -> io::Result<NetInfo> {
    call("info", &About::Nothing, op::INFO, [0; 4], &[]).map(NetInfo::from_words)
}

/// Waits until the network has an address (asking every 50 ms), at most `timeout`:
/// then `TimedOut`. Sleeping needs the timer given to [`init_with_timeout`]
/// (`Unsupported` otherwise, unless the address is there at once).
pub fn wait_for_address(timeout: Duration) -> io::Result<NetInfo> {
    let start = Instant::now();
    // Counted too, should the counter's rate be unknown (time would then stand still).
    let most_tries = timeout.as_millis() / ADDRESS_RETRY.as_millis() + 1;
    let mut tries = 0;
    loop {
        let now = info()?;
        if now.is_configured() {
            return Ok(now);
        }
        let left = timeout.saturating_sub(start.elapsed());
        tries += 1;
        if left.is_zero() || tries > most_tries {
            return Err(Error::with_detail(
                ErrorKind::TimedOut,
                "wait_for_address",
                "",
                alloc::format!("no address from DHCP after {} ms", timeout.as_millis()),
            ));
        }
        sleep("wait_for_address", left.min(ADDRESS_RETRY))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::vec;

    #[test]
    fn addresses_parse_and_display() {
        let a = SocketAddrV4::parse("10.0.2.2:8000").unwrap();
        assert_eq!((a.ip(), a.port()), ([10, 0, 2, 2], 8000));
        assert_eq!(format!("{a}"), "10.0.2.2:8000");
        assert_eq!("0.0.0.0:0".parse::<SocketAddrV4>(), Ok(SocketAddrV4::new([0; 4], 0)));
        assert_eq!(SocketAddrV4::parse("255.255.255.255:65535"), Some(SocketAddrV4::new([255; 4], 65535)));
        assert_eq!(SocketAddrV4::parse("1.2.3.4:08000"), Some(SocketAddrV4::new([1, 2, 3, 4], 8000)));
        for bad in [
            "",
            "10.0.2.2",
            "10.0.2.2:",
            ":80",
            "10.0.2:80",
            "10.0.2.2.1:80",
            "256.0.0.1:80",
            "1.2.3.4:65536",
            "1.2.3.4:123456",
            "01.2.3.4:80",
            " 1.2.3.4:80",
            "1.2.3.4:+80",
            "1.2.3.-4:80",
            "1..3.4:80",
            "a.b.c.d:80",
            "1.2.3.4:80:80",
            "localhost:80",
        ] {
            assert_eq!(SocketAddrV4::parse(bad), None, "{bad}");
        }
        assert_eq!(parse_ipv4("192.168.0.1"), Some([192, 168, 0, 1]));
        assert_eq!(a.ip_word(), netproto::ipv4(10, 0, 2, 2) as u64);
        assert_eq!(SocketAddrV4::from_words(0x0a00_0202, 8000), a);
        assert_eq!(SocketAddrV4::from_words(u64::MAX, u64::MAX), SocketAddrV4::new([255; 4], 65535));
        assert_eq!(About::Port(80).text(), "port 80");
        assert_eq!(About::Addr(a).text(), "10.0.2.2:8000");
    }

    #[test]
    fn statuses_map_to_kinds_and_messages() {
        use netproto::Status as S;
        let cases = [
            (S::PermissionDenied, ErrorKind::PermissionDenied),
            (S::InvalidInput, ErrorKind::InvalidInput),
            (S::BadHandle, ErrorKind::InvalidInput),
            (S::TooManySockets, ErrorKind::ResourceBusy),
            (S::OutOfMemory, ErrorKind::OutOfMemory),
            (S::BadRequest, ErrorKind::InvalidInput),
            (S::WouldBlock, ErrorKind::WouldBlock),
            (S::AddrInUse, ErrorKind::AddrInUse),
            (S::ConnectionRefused, ErrorKind::ConnectionRefused),
            (S::ConnectionReset, ErrorKind::ConnectionReset),
            (S::NotConnected, ErrorKind::NotConnected),
            (S::BrokenPipe, ErrorKind::BrokenPipe),
            (S::TimedOut, ErrorKind::TimedOut),
            (S::NetworkDown, ErrorKind::NetworkDown),
            (S::Unreachable, ErrorKind::HostUnreachable),
        ];
        for (status, kind) in cases {
            assert_eq!(ErrorKind::from_net_status(status), kind, "{status:?}");
            assert_eq!(ErrorKind::from_net_status(S::from_u32(status as u32)), kind);
        }
        let e = Error::from_net_status(S::ConnectionRefused, "connect", "10.0.2.2:8000");
        assert_eq!(
            format!("{e}"),
            "connect 10.0.2.2:8000: the connection was refused (nothing listens there) (ConnectionRefused)"
        );
        let e = Error::with_detail(ErrorKind::TimedOut, "wait_for_address", "", format!("no address after {} ms", 5));
        assert_eq!(format!("{e}"), "wait_for_address: no address after 5 ms (TimedOut)");
        assert_eq!(e.detail(), "no address after 5 ms");
    }

    #[test]
    fn poll_entries_encode_and_decode() {
        let entry = encode_poll_entry(0x0102_0304, ready::READ | ready::WRITE);
        assert_eq!(entry, [4, 3, 2, 1, 3, 0, 0, 0]);
        assert_eq!(decode_poll_entry(entry), (0x0102_0304, 3));
        // The server's bits are limited to what was asked, plus ERROR and HANGUP.
        let wanted = [(1, ready::READ), (2, ready::WRITE), (3, ready::READ)];
        let mut reply = Vec::new();
        reply.extend_from_slice(&encode_poll_entry(1, ready::READ | ready::WRITE | ready::HANGUP | 0xf0));
        reply.extend_from_slice(&encode_poll_entry(2, ready::ERROR));
        reply.extend_from_slice(&[0, 0, 0]); // short
        assert_eq!(decode_ready(&wanted, &reply), vec![ready::READ | ready::HANGUP, ready::ERROR, 0]);
        assert_eq!(decode_ready(&wanted, &[]), vec![0, 0, 0]);
    }

    #[test]
    fn poll_marks_files_ready_and_sockets_from_the_reply() {
        let socket =
            |h| PollFd { source: Pollable::Socket(Handle(h)), interest: Interest::READ, ready: Interest::ERROR };
        let file = PollFd {
            source: Pollable::AlwaysReady,
            interest: Interest::READ | Interest::ERROR,
            ready: Interest::empty(),
        };
        let mut entries = [socket(7), file, socket(9)];
        let (wanted, now) = prepare(&mut entries).unwrap();
        assert_eq!(wanted, vec![(7, ready::READ), (9, ready::READ)]);
        assert_eq!(now, 1);
        assert_eq!(entries[1].ready, Interest::READ);
        assert!(entries[0].ready.is_empty());
        assert_eq!(finish(&mut entries, &[0, ready::READ | ready::HANGUP]), 2);
        assert_eq!(entries[2].ready, Interest::READ | Interest::HANGUP);
        assert!(entries[0].ready.is_empty());
        // A short answer counts as nothing ready.
        assert_eq!(finish(&mut entries, &[]), 1);
        let mut big = vec![socket(1); netproto::MAX_POLL + 1];
        assert_eq!(prepare(&mut big).unwrap_err().kind(), ErrorKind::InvalidInput);
        let mut wide = [socket(1 << 40)];
        assert_eq!(prepare(&mut wide).unwrap_err().kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn interest_is_a_set() {
        let rw = Interest::READ | Interest::WRITE;
        assert!(rw.contains(Interest::READ) && rw.contains(Interest::WRITE) && !rw.contains(Interest::ERROR));
        assert!(rw.intersects(Interest::WRITE | Interest::HANGUP));
        assert!(!rw.contains(Interest::READ | Interest::ERROR));
        assert_eq!((rw & Interest::WRITE).bits(), ready::WRITE);
        let mut i = Interest::empty();
        i |= Interest::HANGUP;
        assert_eq!(i, Interest::HANGUP);
        assert_eq!(Interest::from_bits_truncate(0xff), Interest::all());
        assert_eq!(format!("{:?}", rw | Interest::HANGUP), "Interest(READ | WRITE | HANGUP)");
        assert_eq!(format!("{:?}", Interest::empty()), "Interest(empty)");
    }

    #[test]
    fn large_transfers_are_split_by_the_buffer() {
        let cap = 4096;
        let total = 10_000;
        let mut sent = 0;
        let mut chunks = Vec::new();
        while sent < total {
            let c = next_chunk(sent, total, cap);
            sent = c.end;
            chunks.push(c);
        }
        assert_eq!(chunks, vec![0..4096, 4096..8192, 8192..10_000]);
        assert_eq!(next_chunk(0, 10, cap), 0..10);
        assert_eq!(next_chunk(10, 10, cap), 10..10);
        assert_eq!(next_chunk(20, 10, cap), 10..10);
        assert_eq!(next_chunk(usize::MAX - 1, usize::MAX, cap), usize::MAX - 1..usize::MAX);
    }

    #[test]
    fn info_words_decode() {
        let w = [0x0a00_020f, 24, 0x0a00_0202, 0x5254_0012_3456];
        let info = NetInfo::from_words(w);
        assert_eq!(
            info,
            NetInfo {
                address: [10, 0, 2, 15],
                prefix: 24,
                gateway: [10, 0, 2, 2],
                mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56]
            }
        );
        assert!(info.is_configured());
        assert_eq!(format!("{info}"), "10.0.2.15/24 gateway 10.0.2.2 mac 52:54:00:12:34:56");
        assert_eq!(NetInfo::from_words([0, 99, 0, u64::MAX]).prefix, 32);
        assert!(!NetInfo::from_words([0; 4]).is_configured());
    }

    #[test]
    fn calls_without_a_connection_fail_cleanly() {
        let e = TcpListener::bind(80).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotConnected);
        assert!(format!("{e}").starts_with("bind port 80: no network connection"), "{e}");
        assert_eq!(info().unwrap_err().kind(), ErrorKind::NotConnected);
        assert_eq!(poll(&mut [], None).unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(poll(&mut [], Some(Duration::ZERO)).unwrap(), 0);
        assert_eq!(sleep("poll", Duration::from_millis(1)).unwrap_err().kind(), ErrorKind::NotConnected);
    }
}
