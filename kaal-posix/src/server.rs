//! The server's end of a client's rings, shared by KaaL's built-in servers (the VFS
//! and the network server): the client's region holds a request ring and a response
//! ring ([`crate::proto`]'s layout); the client signals the server's wake notification,
//! the server signals the client's done notification.
//!
//! The server takes a request only when the client's response ring has room for its
//! answer, so a client that does not take its answers stalls only itself; a client
//! that corrupts its rings is reported and no longer served.

use alloc::string::{String, ToString};

use kaal_core::println;
use kaal_core::shared::SharedRegion;
use kaal_ipc::window::Window;
use kaal_ipc::{Consumer, Notify, Producer, RingError};

use crate::proto::{self, Request, Response};

type Ring = Window<&'static SharedRegion>;

/// A client never waits for room in its request ring (it has one request in flight),
/// so taking a request wakes no one.
struct NoOne;
impl Notify for NoOne {
    fn notify(&self) {}
}

/// One client's rings, as a server sees them.
pub struct ClientPort {
    pub name: String,
    requests: Consumer<Request, Ring>,
    responses: Producer<Response, Ring>,
    done: kaal_core::Notification,
    /// Set once it corrupted its rings: it is not served any more.
    broken: bool,
}

impl ClientPort {
    /// The rings in `region` (mapped for the server's whole life), answering through
    /// `done`.
    pub fn new(name: String, region: &'static SharedRegion, done: kaal_core::Notification) -> Result<Self, String> {
        let bad = |e: &dyn core::fmt::Display| alloc::format!("client {name}'s region: {e}");
        let window = |at| Window::new(region, at, proto::RING_BYTES).map_err(|e| bad(&e));
        let requests = Consumer::new(window(proto::REQUESTS)?, proto::RING_SLOTS).map_err(|e| bad(&e))?;
        let responses = Producer::new(window(proto::RESPONSES)?, proto::RING_SLOTS).map_err(|e| bad(&e))?;
        Ok(ClientPort { name, requests, responses, done, broken: false })
    }

    /// Whether it corrupted its rings (and is not served any more).
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Serves what is on the request ring, as far as the response ring has room and at
    /// most `limit` requests (so one busy client cannot shut out the others): `serve`
    /// answers each, or returns `None` to answer later with [`respond`](Self::respond)
    /// (then nothing more is taken this pass). Returns how many it took.
    pub fn serve(&mut self, server: &str, limit: usize, mut serve: impl FnMut(&Request) -> Option<Response>) -> usize {
        let mut taken = 0;
        while taken < limit && !self.broken {
            let room = match self.responses.occupied() {
                Ok(used) => used < proto::RING_SLOTS,
                Err(e) => return self.fail(server, "response", e, taken),
            };
            if !room {
                break;
            }
            let request = match self.requests.pop_notify(&NoOne) {
                Ok(Some(request)) => request,
                Ok(None) => break,
                Err(e) => return self.fail(server, "request", e, taken),
            };
            taken += 1;
            match serve(&request) {
                Some(response) => self.respond(server, response),
                None => break,
            }
        }
        taken
    }

    /// Sends `response` (for a request answered later), waking the client if it sleeps.
    /// A full response ring cannot happen for a request taken by [`serve`](Self::serve)
    /// (it checked for room), except from a client that corrupts its ring.
    pub fn respond(&mut self, server: &str, response: Response) {
        if self.broken {
            return;
        }
        if let Err(e) = self.responses.push_notify(response, &self.done) {
            self.fail(server, "response", e, 0);
        }
    }

    /// Before the server sleeps: asks the client to signal when it sends a request (or,
    /// if its response ring is full, when it takes an answer). False if it already did
    /// something, so the server should not sleep.
    pub fn request_signal(&mut self, server: &str) -> bool {
        if self.broken {
            return true;
        }
        let full = match self.responses.occupied() {
            Ok(used) => used >= proto::RING_SLOTS,
            Err(e) => {
                self.fail(server, "response", e, 0);
                return true;
            }
        };
        let asked = if full {
            self.responses.request_space_signal().map_err(|e| ("response", e))
        } else {
            self.requests.request_signal().map_err(|e| ("request", e))
        };
        match asked {
            Ok(sleep) => sleep,
            Err((ring, e)) => {
                self.fail(server, ring, e, 0);
                true
            }
        }
    }

    /// After the server woke: withdraws [`request_signal`](Self::request_signal).
    pub fn cancel_signal(&mut self) {
        self.requests.cancel_signal();
        self.responses.cancel_space_signal();
    }

    fn fail(&mut self, server: &str, ring: &str, e: RingError, taken: usize) -> usize {
        println!("[{server}] client {}: its {ring} ring is corrupt ({e}); it is no longer served", self.name);
        self.broken = true;
        taken
    }
}

/// The configuration text the tool wrote for a built-in server (its read-only region
/// `config`, NUL-padded), read once at start. `what` names it in errors ("the VFS
/// configuration").
pub fn config_text(me: &mut kaal_core::component::Component, what: &str) -> Result<String, String> {
    let region = me.region(kaal_core::component::parts::CONFIG).map_err(|e| alloc::format!("{what}: {e}"))?;
    let mut text = alloc::vec![0u8; region.size()];
    region.read_bytes(0, &mut text);
    let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
    match core::str::from_utf8(&text[..end]) {
        Ok(text) => Ok(text.to_string()),
        Err(_) => Err(alloc::format!("{what} is not UTF-8")),
    }
}
