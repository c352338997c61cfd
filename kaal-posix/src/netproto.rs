//! The protocol between a socket client and the network server (`services/net`).
//!
//! It has the shape of the file protocol ([`crate::proto`]): each client has one
//! region shared with the server, `net-<client>`, holding a request ring, a response
//! ring and a buffer at the same offsets ([`REQUESTS`], [`RESPONSES`], [`BUFFER`]), with
//! the same 40-byte [`Request`] and [`Response`]. A client pushes a request and signals
//! `net-wake` with its own badge bit if the server asked to be woken; the server answers
//! on the response ring and signals `net-<client>-done` if the client sleeps.
//!
//! Every operation but [`op::POLL`] is answered at once and never blocks the server: an
//! operation that cannot go ahead yet (no connection to accept, no data, a full send
//! buffer) is answered [`Status::WouldBlock`], and the client then sends a POLL, which
//! the server holds until one of the sockets it names is ready or its timeout passes.
//! The blocking calls of [`crate::net`] are built from these two. A client has one
//! request in flight at a time.
//!
//! Sockets are named by handles the server gives out (at most [`MAX_SOCKETS`] per
//! client). Addresses are IPv4, one `u32` in network order's value (`10.0.2.2` is
//! `0x0a00_0202`). A client may listen on (or bind) only the local ports system.toml
//! grants it (`network = { listen = [...] }`), and connect or send only to the remote
//! ports granted (`network = { connect = [...] }`); anything else is
//! [`Status::PermissionDenied`].
//!
//! The request's words, by operation:
//!
//! | op | words in | reply words |
//! |---|---|---|
//! | `TCP_LISTEN` | port, backlog | listener handle |
//! | `TCP_ACCEPT` | listener | stream handle, peer address, peer port, local port |
//! | `TCP_CONNECT` | address, port | stream handle, local port (connecting: POLL for [`ready::WRITE`]) |
//! | `SEND` | handle, bytes in the buffer | bytes taken |
//! | `RECV` | handle, most bytes | bytes put in the buffer (0: the peer closed) |
//! | `SHUTDOWN` | handle, [`shutdown`] | - |
//! | `CLOSE` | handle | - |
//! | `UDP_BIND` | port (0: any) | socket handle, local port |
//! | `SEND_TO` | handle, address, port, bytes | bytes sent |
//! | `RECV_FROM` | handle, most bytes | bytes, peer address, peer port |
//! | `POLL` | entries, timeout in ns ([`FOREVER`]: none) | entries ready |
//! | `STATE` | handle | [`state`], peer address, peer port, local port |
//! | `INFO` | - | address, prefix length, gateway, the MAC (low 48 bits) |
//! | `SET_OPTION` | handle, [`option`], value | - |
//!
//! POLL's entries are in the buffer, 8 bytes each: the handle (`u32` LE) and the
//! [`ready`] bits wanted (`u32` LE); the server writes back the bits that hold
//! (including [`ready::ERROR`] and [`ready::HANGUP`], which need not be asked for) and
//! answers with how many entries have any: 0 when the timeout passed first (as
//! `poll(2)` does). A POLL of no entries without a timeout is `InvalidInput`.

use crate::proto::{Request, Response};

/// Where the rings and the buffer lie in a client's region (as in [`crate::proto`]).
pub const REQUESTS: usize = crate::proto::REQUESTS;
pub const RESPONSES: usize = crate::proto::RESPONSES;
pub const RING_BYTES: usize = crate::proto::RING_BYTES;
pub const RING_SLOTS: u32 = crate::proto::RING_SLOTS;
pub const BUFFER: usize = crate::proto::BUFFER;
/// The notification clients signal.
pub const WAKE: &str = "net-wake";
/// The prefix of a client's region: `net-<component name>`.
pub const REGION_PREFIX: &str = "net-";
/// The suffix of a client's done notification: `net-<component name>-done`.
pub const DONE_SUFFIX: &str = "-done";
/// The smallest region a client can have.
pub const MIN_REGION: usize = BUFFER + 4096;
/// Sockets one client may hold at once.
pub const MAX_SOCKETS: usize = 128;
/// Entries one POLL may name.
pub const MAX_POLL: usize = 256;
/// A POLL without a timeout.
pub const FOREVER: u64 = u64::MAX;
/// Connections a listener queues before accept takes them, at most.
pub const MAX_BACKLOG: u64 = 128;

/// The request and response types (the file protocol's).
pub type NetRequest = Request;
pub type NetResponse = Response;

/// Operations (the request's `op`), numbered after the file protocol's.
pub mod op {
    pub const TCP_LISTEN: u32 = 101;
    pub const TCP_ACCEPT: u32 = 102;
    pub const TCP_CONNECT: u32 = 103;
    pub const SEND: u32 = 104;
    pub const RECV: u32 = 105;
    pub const SHUTDOWN: u32 = 106;
    pub const CLOSE: u32 = 107;
    pub const UDP_BIND: u32 = 108;
    pub const SEND_TO: u32 = 109;
    pub const RECV_FROM: u32 = 110;
    pub const POLL: u32 = 111;
    pub const STATE: u32 = 112;
    pub const INFO: u32 = 113;
    pub const SET_OPTION: u32 = 114;
}

/// Readiness bits (POLL).
pub mod ready {
    /// Data to read, a connection to accept, or the peer closed (a read returns 0).
    pub const READ: u32 = 1;
    /// Room to send; for a connecting stream: connected.
    pub const WRITE: u32 = 2;
    /// The connection could not be made (a connect refused or timed out); a RECV then
    /// says which. (A connection that ends later, by FIN or reset, shows READ and
    /// HANGUP, and reads return 0.)
    pub const ERROR: u32 = 4;
    /// The peer will send no more (set with READ).
    pub const HANGUP: u32 = 8;
    /// Every bit.
    pub const ALL: u32 = 15;
}

/// SHUTDOWN's second word.
pub mod shutdown {
    pub const READ: u64 = 1;
    pub const WRITE: u64 = 2;
    pub const BOTH: u64 = 3;
}

/// SET_OPTION's options.
pub mod option {
    /// Nagle's algorithm off (value 1) or on (0). Off by default.
    pub const NODELAY: u64 = 1;
    /// TCP keep-alive every `value` milliseconds (0: off).
    pub const KEEPALIVE_MS: u64 = 2;
    /// Close the connection if nothing arrives for `value` milliseconds (0: never).
    pub const TIMEOUT_MS: u64 = 3;
}

/// A stream's state (STATE's first reply word).
pub mod state {
    pub const LISTENING: u64 = 1;
    pub const CONNECTING: u64 = 2;
    pub const CONNECTED: u64 = 3;
    /// The peer closed its side; data may remain to read.
    pub const PEER_CLOSED: u64 = 4;
    /// Closed, reset or refused.
    pub const CLOSED: u64 = 5;
    /// A UDP socket.
    pub const DATAGRAM: u64 = 6;
}

/// A reply's status: what went wrong, as a kind the client maps to
/// [`crate::io::ErrorKind`]. Codes follow the file protocol's and continue them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Status {
    Ok = 0,
    /// A port or address system.toml does not grant this component.
    PermissionDenied = 2,
    /// A bad argument (a length past the buffer, port 0 for a listener ...).
    InvalidInput = 7,
    /// A handle the client does not have, or of the wrong kind.
    BadHandle = 14,
    /// The client holds [`MAX_SOCKETS`] sockets already, or the server's socket table
    /// is full.
    TooManySockets = 15,
    /// The server ran out of memory for the socket's buffers.
    OutOfMemory = 17,
    /// A request the server does not know.
    BadRequest = 21,
    /// Not yet: POLL, then try again.
    WouldBlock = 30,
    /// Another socket listens on (or is bound to) that port.
    AddrInUse = 31,
    /// The peer refused the connection (a reset in answer to SYN).
    ConnectionRefused = 32,
    /// The connection is gone (the peer reset it, or it ended) when a send was tried.
    ConnectionReset = 33,
    /// The stream is not connected (yet, or any more).
    NotConnected = 34,
    /// Sending after SHUTDOWN of the write side.
    BrokenPipe = 35,
    /// A connect got no answer within the server's handshake timeout (20 s; a POLL
    /// that times out is answered `Ok` with no entry ready).
    TimedOut = 36,
    /// The network is down: no address yet (DHCP), or the NIC driver stopped (a
    /// connect or a datagram is refused with it).
    NetworkDown = 37,
    /// No route to the address (not on the network and no gateway).
    Unreachable = 38,
}

impl Status {
    pub const fn from_u32(v: u32) -> Status {
        match v {
            0 => Status::Ok,
            2 => Status::PermissionDenied,
            7 => Status::InvalidInput,
            14 => Status::BadHandle,
            15 => Status::TooManySockets,
            17 => Status::OutOfMemory,
            30 => Status::WouldBlock,
            31 => Status::AddrInUse,
            32 => Status::ConnectionRefused,
            33 => Status::ConnectionReset,
            34 => Status::NotConnected,
            35 => Status::BrokenPipe,
            36 => Status::TimedOut,
            37 => Status::NetworkDown,
            38 => Status::Unreachable,
            _ => Status::BadRequest,
        }
    }

    /// What it means, for messages.
    pub const fn describe(self) -> &'static str {
        match self {
            Status::Ok => "done",
            Status::PermissionDenied => {
                "permission denied: system.toml does not grant this component that port (`network = { listen = [...], \
                 connect = [...] }`)"
            }
            Status::InvalidInput => "invalid argument",
            Status::BadHandle => "not a socket of this component (or not one of this kind)",
            Status::TooManySockets => "too many sockets open (128 per component)",
            Status::OutOfMemory => "the network server is out of memory for socket buffers",
            Status::BadRequest => "the network server does not know this request",
            Status::WouldBlock => "the operation would block",
            Status::AddrInUse => "the port is in use by another socket",
            Status::ConnectionRefused => "the connection was refused (nothing listens there)",
            Status::ConnectionReset => "the connection was reset by the peer",
            Status::NotConnected => "the socket is not connected",
            Status::BrokenPipe => "the socket's sending side was shut down",
            Status::TimedOut => "timed out",
            Status::NetworkDown => "the network is down (no address yet, or the NIC driver stopped)",
            Status::Unreachable => "no route to that address",
        }
    }
}

/// An IPv4 address as the protocol carries it.
pub const fn ipv4(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from_be_bytes([a, b, c, d])
}

/// One POLL entry's bytes.
pub const POLL_ENTRY: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_do_not_clash_with_the_file_protocol() {
        for v in 0..64 {
            let s = Status::from_u32(v);
            assert!(s as u32 == v || s == Status::BadRequest, "{v}");
        }
        assert_eq!(ipv4(10, 0, 2, 2), 0x0a00_0202);
        assert!(op::TCP_LISTEN as u64 > crate::proto::op::LAST);
    }
}
