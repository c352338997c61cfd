//! Lesson 08: a network server.
//!
//! One component, one loop: two listeners (HTTP on 80, echo on 7) and every open
//! connection go into one `net::poll` call, which sleeps until one of them is ready.
//! Nothing blocks on a single client, so a slow or silent client holds up no one.
//!
//! - **HTTP.** Requests are parsed with `httparse`; `GET /` answers a page with live
//!   figures (uptime, requests served, connections open), `GET /status` the same as
//!   text. HTTP/1.1 connections stay open (keep-alive) unless the client says
//!   `Connection: close`. A malformed request gets `400 Bad Request` and the
//!   connection is closed.
//! - **Echo.** Whatever arrives on port 7 is sent back.
//!
//! A connection's unsent output waits in its own buffer, and the loop asks `poll` for
//! room to write only while there is some, so a client that does not read stalls only
//! itself (and is dropped once its buffer passes 1 MiB).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;

use kaal_core::component::Component;
use kaal_core::println;
use kaal_core::time::{Duration, Instant};
use kaal_posix::io::{ErrorKind, Read, Write};
use kaal_posix::net::{self, Interest, PollFd, TcpListener, TcpStream};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

const HTTP_PORT: u16 = 80;
const ECHO_PORT: u16 = 7;
/// Output a client may leave unread before it is dropped.
const MAX_PENDING: usize = 1 << 20;
/// The longest request head taken.
const MAX_REQUEST: usize = 16 * 1024;

#[derive(PartialEq)]
enum Kind {
    Http,
    Echo,
}

struct Connection {
    stream: TcpStream,
    kind: Kind,
    /// Bytes read and not yet handled (HTTP: an incomplete request).
    input: Vec<u8>,
    /// Bytes to send.
    output: Vec<u8>,
    /// Close once the output is sent.
    closing: bool,
    /// The peer will send no more (what it sent is still answered).
    peer_closed: bool,
}

#[derive(Default)]
struct Figures {
    requests: u64,
    connections: u64,
    echoed: u64,
    bad_requests: u64,
}

fn main(mut me: Component) -> Result<(), Box<dyn core::error::Error>> {
    let timer = me.timer()?;
    net::init_with_timeout(&mut me, timer, Duration::from_secs(10))?;
    let info = net::wait_for_address(Duration::from_secs(10))?;
    let [a, b, c, d] = info.address;
    let http = TcpListener::bind(HTTP_PORT)?;
    let echo = TcpListener::bind(ECHO_PORT)?;
    http.set_nonblocking(true)?;
    echo.set_nonblocking(true)?;
    println!("[server] listening on {a}.{b}.{c}.{d}: HTTP on port {HTTP_PORT}, echo on port {ECHO_PORT}");

    let started = Instant::now();
    let mut figures = Figures::default();
    let mut connections: Vec<Connection> = Vec::new();
    // Set when accept ran out of sockets: the listeners are left alone (their
    // connections wait in the server's queue) until a connection closes.
    let mut full = false;
    loop {
        let mut fds = Vec::with_capacity(2 + connections.len());
        let listening = if full { Interest::empty() } else { Interest::READ };
        fds.push(PollFd::new(&http, listening));
        fds.push(PollFd::new(&echo, listening));
        for c in &connections {
            let interest = if c.output.is_empty() { Interest::READ } else { Interest::READ | Interest::WRITE };
            fds.push(PollFd::new(&c.stream, interest));
        }
        net::poll(&mut fds, None)?;
        let readiness: Vec<Interest> = fds.iter().map(|fd| fd.ready).collect();
        drop(fds);

        for (listener, kind, ready) in [(&http, Kind::Http, readiness[0]), (&echo, Kind::Echo, readiness[1])] {
            if !ready.contains(Interest::READ) {
                continue;
            }
            // Take every connection that is waiting.
            loop {
                match listener.accept() {
                    Ok((stream, _peer)) => {
                        stream.set_nonblocking(true)?;
                        figures.connections += 1;
                        let kind = if kind == Kind::Http { Kind::Http } else { Kind::Echo };
                        connections.push(Connection {
                            stream,
                            kind,
                            input: Vec::new(),
                            output: Vec::new(),
                            closing: false,
                            peer_closed: false,
                        });
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    // Out of sockets (or memory): the waiting connections stay queued
                    // until one closes.
                    Err(e) => {
                        if !full {
                            println!("[server] {} connections open, no more for now: {e}", connections.len());
                        }
                        full = true;
                        break;
                    }
                }
            }
        }

        // Backwards, so that removing one (the last takes its place) disturbs none
        // still to be served.
        for i in (0..connections.len()).rev() {
            let ready = readiness.get(2 + i).copied().unwrap_or(Interest::empty());
            if !serve(&mut connections[i], ready, &mut figures, started) {
                connections.swap_remove(i);
                full = false;
            }
        }
    }
}

/// Serves one connection as far as it is ready: whether to keep it.
fn serve(c: &mut Connection, ready: Interest, figures: &mut Figures, started: Instant) -> bool {
    if ready.contains(Interest::READ) || ready.contains(Interest::HANGUP) {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match c.stream.read(&mut chunk) {
                Ok(0) => {
                    c.peer_closed = true;
                    break;
                }
                Ok(n) => {
                    if c.kind == Kind::Echo {
                        c.output.extend_from_slice(&chunk[..n]);
                        figures.echoed += n as u64;
                    } else {
                        c.input.extend_from_slice(&chunk[..n]);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => return false,
            }
        }
        if c.kind == Kind::Http {
            // A request that came with the peer's FIN (HTTP/1.0, `nc -N`) is answered
            // before the connection closes.
            http_requests(c, figures, started);
        }
        c.closing |= c.peer_closed;
    }
    if ready.contains(Interest::ERROR) {
        return false;
    }
    while !c.output.is_empty() {
        match c.stream.write(&c.output) {
            Ok(0) => return false,
            Ok(n) => {
                c.output.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(_) => return false,
        }
    }
    if c.output.len() > MAX_PENDING {
        return false;
    }
    !(c.closing && c.output.is_empty())
}

/// Answers every complete request in the connection's input.
fn http_requests(c: &mut Connection, figures: &mut Figures, started: Instant) {
    while !c.closing {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        let used = match request.parse(&c.input) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if c.input.len() <= MAX_REQUEST => return,
            _ => {
                figures.bad_requests += 1;
                respond(&mut c.output, "400 Bad Request", "text/plain", "bad request\n", false);
                c.closing = true;
                return;
            }
        };
        figures.requests += 1;
        let close = request.version == Some(0)
            || request
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case("connection") && h.value.eq_ignore_ascii_case(b"close"));
        let uptime = started.elapsed();
        let text = format!(
            "uptime {}.{:03} s\nrequests served {}\nconnections accepted {}\nbytes echoed {}\n",
            uptime.as_secs(),
            uptime.subsec_millis(),
            figures.requests,
            figures.connections,
            figures.echoed
        );
        match (request.method, request.path) {
            (Some("GET"), Some("/")) => {
                let page = format!(
                    "<!doctype html>\n<html><head><title>KaaL on seL4</title></head><body>\n<h1>Hello from \
                     seL4!</h1>\n<p>This page comes from a KaaL component: smoltcp in the network server, an e1000 \
                     driver in a component of its own, the real seL4 kernel under them.</p>\n<pre>\n{text}</pre>\n\
                     </body></html>\n"
                );
                respond(&mut c.output, "200 OK", "text/html; charset=utf-8", &page, close);
            }
            (Some("GET"), Some("/status")) => respond(&mut c.output, "200 OK", "text/plain", &text, close),
            (Some("GET"), _) => respond(&mut c.output, "404 Not Found", "text/plain", "not found\n", close),
            _ => respond(&mut c.output, "405 Method Not Allowed", "text/plain", "only GET\n", close),
        }
        c.input.drain(..used);
        c.closing = close;
    }
}

fn respond(out: &mut Vec<u8>, status: &str, kind: &str, body: &str, close: bool) {
    let connection = if close { "close" } else { "keep-alive" };
    let head = format!(
        "HTTP/1.1 {status}\r\nServer: kaal\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: \
         {connection}\r\n\r\n",
        body.len()
    );
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body.as_bytes());
}
