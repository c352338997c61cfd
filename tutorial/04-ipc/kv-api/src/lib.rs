//! The key-value server's protocol, and a typed client for it.
//!
//! Requests are endpoint calls: the label says what is asked, the words carry the
//! arguments, and the reply's label is 0 or a [`KvError`] code. Clients never build
//! messages by hand; they call [`KvClient`]'s methods. The server validates every
//! request (a client may send anything), so a malformed request gets an error reply
//! rather than confusing the server.
#![no_std]
#![forbid(unsafe_code)]

use kaal_core::ipc::{Client, Message};
use kaal_core::Notification;

/// `PUT key value`.
pub const PUT: u64 = 1;
/// `GET key` -> value.
pub const GET: u64 = 2;
/// `SUBSCRIBE` with a notification capability: signalled on every later PUT.
pub const SUBSCRIBE: u64 = 3;
/// `STATS` -> (keys stored, requests served).
pub const STATS: u64 = 4;
/// `SHUTDOWN`: only honoured from [`ADMIN_BADGE`].
pub const SHUTDOWN: u64 = 5;
/// The badge of the administrator's capability. The server trusts the badge, which the
/// kernel attaches, never anything the sender writes.
pub const ADMIN_BADGE: u64 = 0xad;

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvError {
    /// No value for the key.
    NotFound = 1,
    /// The request's label or length is wrong.
    BadRequest = 2,
    /// The store is full.
    Full = 3,
    /// SUBSCRIBE came without a notification capability (or with another kind).
    NeedsNotification = 4,
    /// Only the administrator may do that.
    NotAllowed = 5,
}

impl KvError {
    /// The error for a reply label, if it is one.
    pub fn from_label(label: u64) -> Option<Self> {
        Some(match label {
            1 => Self::NotFound,
            2 => Self::BadRequest,
            3 => Self::Full,
            4 => Self::NeedsNotification,
            5 => Self::NotAllowed,
            _ => return None,
        })
    }
}

impl core::fmt::Display for KvError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::NotFound => "no such key",
            Self::BadRequest => "malformed request",
            Self::Full => "the store is full",
            Self::NeedsNotification => "SUBSCRIBE needs a notification capability",
            Self::NotAllowed => "only the administrator may do that",
        })
    }
}

fn check(reply: Message) -> Result<Message, KvError> {
    match reply.label() {
        0 => Ok(reply),
        label => Err(KvError::from_label(label).unwrap_or(KvError::BadRequest)),
    }
}

/// A typed client of the key-value server.
#[derive(Debug)]
pub struct KvClient {
    client: Client,
}

impl KvClient {
    /// Wraps the endpoint granted to talk to the server.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Stores `value` under `key`.
    pub fn put(&self, key: u64, value: u64) -> Result<(), KvError> {
        check(self.client.call(Message::with_words(PUT, [key, value]))).map(|_| ())
    }

    /// The value under `key`.
    pub fn get(&self, key: u64) -> Result<u64, KvError> {
        check(self.client.call(Message::with_words(GET, [key]))).map(|r| r.word(0))
    }

    /// Asks to be signalled on `notification` whenever anyone stores a value.
    pub fn subscribe(&self, notification: &Notification) -> Result<(), KvError> {
        let msg = Message::new(SUBSCRIBE).with_cap(notification).map_err(|_| KvError::BadRequest)?;
        check(self.client.call(msg)).map(|_| ())
    }

    /// (keys stored, requests served).
    pub fn stats(&self) -> Result<(u64, u64), KvError> {
        check(self.client.call(Message::new(STATS))).map(|r| (r.word(0), r.word(1)))
    }

    /// Asks the server to stop (refused unless this client holds the admin badge).
    pub fn shutdown(&self) -> Result<(), KvError> {
        check(self.client.call(Message::new(SHUTDOWN))).map(|_| ())
    }

    /// The underlying client, e.g. to attach the wrong capability on purpose.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends a raw message, for showing what the server does with nonsense.
    pub fn call_raw(&self, msg: Message) -> Result<Message, KvError> {
        check(self.client.call(msg))
    }
}
