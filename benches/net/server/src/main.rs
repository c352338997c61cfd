//! The guest side of `cargo kaal bench net`: a sink (port 5001), a source (5002) and a
//! small HTTP server (80), all in one `net::poll` loop, for the tool's host peer to
//! time. Each transfer begins with an 8-byte little-endian length from the host: the
//! sink reads that many bytes and answers one byte (`K`), so the host's clock stops
//! only once the guest has every byte; the source sends that many bytes and closes.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec::Vec;

use kaal_core::component::Component;
use kaal_core::println;
use kaal_core::time::Duration;
use kaal_posix::io::{ErrorKind, Read, Write};
use kaal_posix::net::{self, Interest, PollFd, TcpListener, TcpStream};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

const PAGE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, seL4!\n";

enum Kind {
    /// Bytes still to come (after the header), then the answer byte to send.
    Sink {
        header: Vec<u8>,
        left: Option<u64>,
        answered: bool,
    },
    /// Bytes still to send.
    Source {
        header: Vec<u8>,
        left: Option<u64>,
    },
    Http {
        input: Vec<u8>,
        output: Vec<u8>,
    },
}

struct Conn {
    stream: TcpStream,
    kind: Kind,
    done: bool,
}

fn main(mut me: Component) -> Result<(), Box<dyn core::error::Error>> {
    let timer = me.timer()?;
    net::init_with_timeout(&mut me, timer, Duration::from_secs(30))?;
    net::wait_for_address(Duration::from_secs(10))?;
    let listeners = [TcpListener::bind(5001)?, TcpListener::bind(5002)?, TcpListener::bind(80)?];
    for l in &listeners {
        l.set_nonblocking(true)?;
    }
    println!("BENCH ready");
    let mut conns: Vec<Conn> = Vec::new();
    let mut chunk = alloc::vec![0u8; 64 * 1024];
    for (i, b) in chunk.iter_mut().enumerate() {
        *b = (i * 7) as u8;
    }
    loop {
        let mut fds: Vec<PollFd> = listeners.iter().map(|l| PollFd::new(l, Interest::READ)).collect();
        for c in &conns {
            let write = match &c.kind {
                Kind::Source { left: Some(n), .. } => *n > 0,
                Kind::Sink { left: Some(0), answered: false, .. } => true,
                Kind::Http { output, .. } => !output.is_empty(),
                _ => false,
            };
            fds.push(PollFd::new(&c.stream, if write { Interest::READ | Interest::WRITE } else { Interest::READ }));
        }
        net::poll(&mut fds, None)?;
        let ready: Vec<Interest> = fds.iter().map(|f| f.ready).collect();
        drop(fds);
        for (i, l) in listeners.iter().enumerate() {
            if !ready[i].contains(Interest::READ) {
                continue;
            }
            while let Ok((stream, _)) = l.accept() {
                stream.set_nonblocking(true)?;
                let kind = match i {
                    0 => Kind::Sink { header: Vec::new(), left: None, answered: false },
                    1 => Kind::Source { header: Vec::new(), left: None },
                    _ => Kind::Http { input: Vec::new(), output: Vec::new() },
                };
                conns.push(Conn { stream, kind, done: false });
            }
        }
        for i in (0..conns.len()).rev() {
            let r = ready.get(listeners.len() + i).copied().unwrap_or(Interest::empty());
            serve(&mut conns[i], r, &mut chunk);
            if conns[i].done {
                conns.swap_remove(i);
            }
        }
    }
}

/// Reads the 8-byte length header as far as it has come.
fn header(stream: &mut TcpStream, header: &mut Vec<u8>, left: &mut Option<u64>) -> bool {
    while left.is_none() {
        let mut b = [0u8; 8];
        let want = 8 - header.len();
        match stream.read(&mut b[..want]) {
            Ok(0) => return false,
            Ok(n) => header.extend_from_slice(&b[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
        if header.len() == 8 {
            *left = Some(u64::from_le_bytes(header[..8].try_into().unwrap_or([0; 8])));
        }
    }
    true
}

fn serve(c: &mut Conn, ready: Interest, chunk: &mut [u8]) {
    if ready.contains(Interest::ERROR) {
        c.done = true;
        return;
    }
    match &mut c.kind {
        Kind::Sink { header: h, left, answered } => {
            if !header(&mut c.stream, h, left) {
                c.done = true;
                return;
            }
            while let Some(n) = left.filter(|n| *n > 0) {
                match c.stream.read(chunk) {
                    Ok(0) => {
                        c.done = true;
                        return;
                    }
                    Ok(got) => *left = Some(n.saturating_sub(got as u64)),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        c.done = true;
                        return;
                    }
                }
            }
            if *left == Some(0) && !*answered {
                match c.stream.write(b"K") {
                    Ok(1) => *answered = true,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    _ => c.done = true,
                }
            }
            if *answered {
                // The host closes after the answer; a read of 0 ends it.
                let mut b = [0u8; 16];
                if !matches!(c.stream.read(&mut b), Err(ref e) if e.kind() == ErrorKind::WouldBlock) {
                    c.done = true;
                }
            }
        }
        Kind::Source { header: h, left } => {
            if !header(&mut c.stream, h, left) {
                c.done = true;
                return;
            }
            while let Some(n) = left.filter(|n| *n > 0) {
                let take = (n as usize).min(chunk.len());
                match c.stream.write(&chunk[..take]) {
                    Ok(0) => {
                        c.done = true;
                        return;
                    }
                    Ok(sent) => *left = Some(n - sent as u64),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        c.done = true;
                        return;
                    }
                }
            }
            if *left == Some(0) {
                // Everything is queued: closing sends it, then the FIN.
                c.done = true;
            }
        }
        Kind::Http { input, output } => {
            loop {
                match c.stream.read(chunk) {
                    Ok(0) => {
                        c.done = output.is_empty();
                        break;
                    }
                    Ok(n) => input.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        c.done = true;
                        return;
                    }
                }
            }
            while let Some(end) = input.windows(4).position(|w| w == b"\r\n\r\n") {
                input.drain(..end + 4);
                output.extend_from_slice(PAGE);
            }
            if input.len() > 64 * 1024 {
                c.done = true;
                return;
            }
            while !output.is_empty() {
                match c.stream.write(output) {
                    Ok(0) => {
                        c.done = true;
                        return;
                    }
                    Ok(n) => {
                        output.drain(..n);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        c.done = true;
                        return;
                    }
                }
            }
        }
    }
}
