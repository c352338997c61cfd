//! Linux processes' sockets: each is a socket of the network server (`services/net`),
//! held by this personality as one client of it (`[linux] network = { ... }` in
//! system.toml grants the ports), over the protocol of `kaal_posix::netproto`.
//!
//! Every request is answered by the server at once (`WouldBlock` when it cannot go
//! ahead yet), so these calls never stall the personality for longer than a round trip:
//! a process whose call would block is parked by the kernel module and its call is
//! tried again at the next tick ([`crate::console::POLL`]), or answered EAGAIN when the
//! socket is non-blocking.
//!
//! The handles belong to the personality, not to a process: a socket shared by fork or
//! dup is one [`Socket`], closed at the server when the last descriptor goes.

use alloc::vec::Vec;

use kaal_posix::linux::abi::errno;
use kaal_posix::net;
use kaal_posix::netproto::{self, op, ready, Status};

/// Why a socket call did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetError {
    /// Not yet: park the caller (or EAGAIN).
    WouldBlock,
    /// A Linux errno.
    Errno(u64),
}

impl From<u64> for NetError {
    fn from(e: u64) -> NetError {
        NetError::Errno(e)
    }
}

pub type NetResult<T> = Result<T, NetError>;

/// A socket's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Stream,
    Datagram,
}

/// Where a socket is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Made by socket(2); `port` is what bind(2) gave it (0: none yet).
    Fresh {
        port: u16,
    },
    Listening {
        handle: u64,
        port: u16,
    },
    /// connect(2) was sent; the handshake goes on.
    Connecting {
        handle: u64,
    },
    Connected {
        handle: u64,
    },
    /// A UDP socket bound at the server, with connect(2)'s peer if any.
    Bound {
        handle: u64,
        port: u16,
        peer: Option<(u32, u16)>,
    },
    /// The connection failed (the error went to SO_ERROR or to the caller).
    Failed,
}

/// One socket, shared by the descriptors that refer to it.
pub struct Socket {
    pub kind: Kind,
    pub state: State,
    /// A connection's failure not yet reported (SO_ERROR), as an errno.
    pub error: u64,
    /// TCP_NODELAY asked before there was a connection.
    pub nodelay: bool,
}

impl Socket {
    pub fn new(kind: Kind) -> Socket {
        Socket { kind, state: State::Fresh { port: 0 }, error: 0, nodelay: false }
    }

    /// The server's handle, once there is one.
    pub fn handle(&self) -> Option<u64> {
        match self.state {
            State::Listening { handle, .. }
            | State::Connecting { handle }
            | State::Connected { handle }
            | State::Bound { handle, .. } => Some(handle),
            State::Fresh { .. } | State::Failed => None,
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        if let Some(handle) = self.handle() {
            // A server that does not answer any more cannot be helped here.
            close(handle);
        }
    }
}

/// The errno for a status of the network server.
pub fn errno_of(status: Status) -> u64 {
    match status {
        Status::Ok => 0,
        Status::PermissionDenied => errno::EACCES,
        Status::InvalidInput => errno::EINVAL,
        Status::BadHandle => errno::EBADF,
        Status::TooManySockets => errno::EMFILE,
        Status::OutOfMemory => errno::ENOMEM,
        Status::BadRequest => errno::EOPNOTSUPP,
        Status::WouldBlock => errno::EAGAIN,
        Status::AddrInUse => errno::EADDRINUSE,
        Status::ConnectionRefused => errno::ECONNREFUSED,
        Status::ConnectionReset => errno::ECONNRESET,
        Status::NotConnected => errno::ENOTCONN,
        Status::BrokenPipe => errno::EPIPE,
        Status::TimedOut => errno::ETIMEDOUT,
        Status::NetworkDown => errno::ENETDOWN,
        Status::Unreachable => errno::ENETUNREACH,
    }
}

/// One request whose reply is its words. Without a connection to the network server
/// (or one that stopped answering) every call fails with ENETDOWN; socket(2) checks
/// [`available`] first.
fn request(op: u32, words: [u64; 4], data: &[u8]) -> NetResult<[u64; 4]> {
    exchange(op, words, data, 0).map(|(words, _)| words)
}

/// A request whose reply carries up to `read` bytes in the buffer (as the reply's first
/// word says).
fn exchange(op: u32, words: [u64; 4], data: &[u8], read: usize) -> NetResult<([u64; 4], Vec<u8>)> {
    let answer = net::exchange(op, words, data, |status, words, buffer| {
        let bytes = if status == Status::Ok && read > 0 {
            let n = (words[0] as usize).min(read).min(buffer.capacity());
            buffer.read(n)
        } else {
            Vec::new()
        };
        (status, words, bytes)
    });
    match answer {
        Ok((Status::Ok, words, bytes)) => Ok((words, bytes)),
        Ok((Status::WouldBlock, ..)) => Err(NetError::WouldBlock),
        Ok((status, ..)) => Err(NetError::Errno(errno_of(status))),
        // No connection, or the server stopped answering.
        Err(_) => Err(NetError::Errno(errno::ENETDOWN)),
    }
}

/// Whether the personality has a network connection (system.toml gave `[linux]`
/// `network`).
pub fn available() -> bool {
    net::buffer_capacity() > 0
}

/// Bytes one send or receive moves at most.
pub fn capacity() -> usize {
    net::buffer_capacity()
}

pub fn listen(port: u16, backlog: u64) -> NetResult<u64> {
    let backlog = backlog.clamp(1, netproto::MAX_BACKLOG);
    Ok(request(op::TCP_LISTEN, [port as u64, backlog, 0, 0], &[])?[0])
}

/// A connection the listener queued: its handle, the peer's address and port.
pub fn accept(listener: u64) -> NetResult<(u64, u32, u16)> {
    let w = request(op::TCP_ACCEPT, [listener, 0, 0, 0], &[])?;
    Ok((w[0], w[1] as u32, w[2] as u16))
}

pub fn connect(address: u32, port: u16) -> NetResult<u64> {
    Ok(request(op::TCP_CONNECT, [address as u64, port as u64, 0, 0], &[])?[0])
}

/// Sends what fits: the bytes taken.
pub fn send(handle: u64, data: &[u8]) -> NetResult<usize> {
    let data = &data[..data.len().min(capacity())];
    let taken = request(op::SEND, [handle, data.len() as u64, 0, 0], data)?[0];
    Ok((taken as usize).min(data.len()))
}

/// Up to `max` bytes received (none: the peer closed).
pub fn recv(handle: u64, max: usize) -> NetResult<Vec<u8>> {
    let max = max.min(capacity());
    Ok(exchange(op::RECV, [handle, max as u64, 0, 0], &[], max)?.1)
}

/// Why a connection failed: a RECV of no bytes answers with the stream's error.
pub fn failure(handle: u64) -> u64 {
    match request(op::RECV, [handle, 0, 0, 0], &[]) {
        Err(NetError::Errno(e)) => e,
        _ => errno::ECONNREFUSED,
    }
}

/// Closes a handle (one the caller no longer keeps in a [`Socket`]).
pub fn close(handle: u64) {
    let _ = request(op::CLOSE, [handle, 0, 0, 0], &[]);
}

pub fn shutdown(handle: u64, how: u64) -> NetResult<()> {
    request(op::SHUTDOWN, [handle, how, 0, 0], &[]).map(drop)
}

pub fn set_option(handle: u64, option: u64, value: u64) -> NetResult<()> {
    request(op::SET_OPTION, [handle, option, value, 0], &[]).map(drop)
}

/// A UDP socket on `port` (0: any): its handle and port.
pub fn udp_bind(port: u16) -> NetResult<(u64, u16)> {
    let w = request(op::UDP_BIND, [port as u64, 0, 0, 0], &[])?;
    Ok((w[0], w[1] as u16))
}

pub fn send_to(handle: u64, address: u32, port: u16, data: &[u8]) -> NetResult<usize> {
    if data.len() > capacity() {
        return Err(NetError::Errno(errno::EMSGSIZE));
    }
    let sent = request(op::SEND_TO, [handle, address as u64, port as u64, data.len() as u64], data)?[0];
    Ok((sent as usize).min(data.len()))
}

/// One datagram (cut to `max` bytes) and who sent it.
pub fn recv_from(handle: u64, max: usize) -> NetResult<(Vec<u8>, u32, u16)> {
    let max = max.min(capacity());
    let (w, bytes) = exchange(op::RECV_FROM, [handle, max as u64, 0, 0], &[], max)?;
    Ok((bytes, w[1] as u32, w[2] as u16))
}

/// The ready bits ([`ready`]) of a handle now (a POLL that does not wait).
pub fn readiness(handle: u64, wanted: u32) -> u32 {
    let mut entry = [0u8; netproto::POLL_ENTRY];
    entry[..4].copy_from_slice(&(handle as u32).to_le_bytes());
    entry[4..].copy_from_slice(&(wanted | ready::ERROR | ready::HANGUP).to_le_bytes());
    let answer = net::exchange(op::POLL, [1, 0, 0, 0], &entry, |status, words, buffer| {
        if status != Status::Ok || words[0] == 0 {
            return 0;
        }
        let back = buffer.read(netproto::POLL_ENTRY);
        back.get(4..8).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    });
    // A server that stopped: the socket is in error, so the caller does not wait on it.
    answer.unwrap_or(ready::ERROR)
}

/// A stream's (or listener's) state: the [`netproto::state`], peer address, peer port
/// and local port.
pub fn state(handle: u64) -> NetResult<(u64, u32, u16, u16)> {
    let w = request(op::STATE, [handle, 0, 0, 0], &[])?;
    Ok((w[0], w[1] as u32, w[2] as u16, w[3] as u16))
}

/// The personality's address on the network (0 before DHCP gave one).
pub fn local_address() -> u32 {
    request(op::INFO, [0; 4], &[]).map_or(0, |w| w[0] as u32)
}
