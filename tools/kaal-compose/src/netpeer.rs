//! The host side of `cargo kaal bench net`: transfers to and from the guest's services
//! in benches/net through the QEMU forwards, timed on the host's clock. Each returns
//! `BENCH result` lines, in nanoseconds with `hz=1000000000`, for the bench table.
//!
//! Everything stays on 127.0.0.1 and every wait is bounded.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Bytes each bulk transfer moves.
pub const BULK: u64 = 64 << 20;
/// Small HTTP requests on one keep-alive connection, per connection in the concurrent
/// run, and on fresh connections.
const SEQUENTIAL: u32 = 2000;
const CONCURRENT: u32 = 8;
const PER_CONNECTION: u32 = 500;
const FRESH: u32 = 200;
const LIMIT: Duration = Duration::from_secs(120);
/// The targets (issue: >= 200 Mbit/s each way, >= 2,000 small requests a second).
const MIN_MB_S: f64 = 25.0;
const MIN_REQUESTS: f64 = 2000.0;

/// Where the guest's services are reached on the host.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub sink: u16,
    pub source: u16,
    pub http: u16,
}

/// The guest's ports of the sink, the source and the HTTP server.
pub const GUEST_SINK: u16 = 5001;
pub const GUEST_SOURCE: u16 = 5002;
pub const GUEST_HTTP: u16 = 80;

impl Ports {
    /// Free host ports.
    pub fn free() -> Self {
        Self {
            sink: crate::testing::free_port(),
            source: crate::testing::free_port(),
            http: crate::testing::free_port(),
        }
    }

    /// The forwards (TCP, 127.0.0.1) from these host ports to the guest's services.
    pub fn forwards(self) -> Vec<crate::system::Forward> {
        let tcp = |host, guest| crate::system::Forward { protocol: crate::system::Protocol::Tcp, host, guest };
        vec![tcp(self.sink, GUEST_SINK), tcp(self.source, GUEST_SOURCE), tcp(self.http, GUEST_HTTP)]
    }
}

fn connect(port: u16) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(LIMIT))?;
    stream.set_write_timeout(Some(LIMIT))?;
    Ok(stream)
}

fn line(name: &str, what: &str, iterations: u64, took: Duration, extra: &str) -> String {
    format!(
        "BENCH result name={name} what=\"{what}\" iterations={iterations} cycles={} hz=1000000000{extra}",
        took.as_nanos().max(1)
    )
}

/// Host to guest: `BULK` bytes into the sink, until it answers that it has them all.
fn bulk_in(port: u16) -> std::io::Result<Duration> {
    let mut stream = connect(port)?;
    let started = Instant::now();
    stream.write_all(&BULK.to_le_bytes())?;
    let chunk: Vec<u8> = (0..256 * 1024).map(|i| (i * 13) as u8).collect();
    let mut left = BULK;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        stream.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    let mut answer = [0u8; 1];
    stream.read_exact(&mut answer)?;
    if &answer != b"K" {
        return Err(std::io::Error::other("the sink answered something else than K"));
    }
    Ok(started.elapsed())
}

/// Guest to host: `BULK` bytes from the source, to its end of stream.
fn bulk_out(port: u16) -> std::io::Result<Duration> {
    let mut stream = connect(port)?;
    let started = Instant::now();
    stream.write_all(&BULK.to_le_bytes())?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0u64;
    loop {
        match stream.read(&mut buf)? {
            0 => break,
            n => got += n as u64,
        }
    }
    if got != BULK {
        return Err(std::io::Error::other(format!("the source sent {got} bytes of {BULK}")));
    }
    Ok(started.elapsed())
}

/// Sends one request and reads its whole response (headers and `Content-Length` body).
fn request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    stream.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")?;
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| std::io::Error::other("a response without Content-Length"))?;
            if buf.len() >= end + 4 + length {
                return Ok(());
            }
        }
        match stream.read(&mut chunk)? {
            0 => return Err(std::io::Error::other("the server closed mid-response")),
            n => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn sequential(port: u16, count: u32) -> std::io::Result<Duration> {
    let mut stream = connect(port)?;
    let mut buf = Vec::new();
    request(&mut stream, &mut buf)?; // warm
    let started = Instant::now();
    for _ in 0..count {
        request(&mut stream, &mut buf)?;
    }
    Ok(started.elapsed())
}

fn fresh(port: u16) -> std::io::Result<Duration> {
    let started = Instant::now();
    let mut buf = Vec::new();
    for _ in 0..FRESH {
        let mut stream = connect(port)?;
        request(&mut stream, &mut buf)?;
    }
    Ok(started.elapsed())
}

/// Runs every transfer; a failed one gives a `BENCH failed` line instead of a result.
pub fn net_peer(ports: Ports) -> Vec<String> {
    let mut lines = Vec::new();
    let mut report = |name: &str, result: std::io::Result<String>| match result {
        Ok(l) => lines.push(l),
        Err(e) => lines.push(format!("BENCH failed name={name} why=\"{e}\"")),
    };
    report(
        "tcp_in",
        bulk_in(ports.sink).map(|t| {
            line(
                "tcp_in",
                "TCP host to guest, 64 MiB (target 200 Mbit/s)",
                1,
                t,
                &format!(" bytes={BULK} min-mb-s={MIN_MB_S}"),
            )
        }),
    );
    report(
        "tcp_out",
        bulk_out(ports.source).map(|t| {
            line(
                "tcp_out",
                "TCP guest to host, 64 MiB (target 200 Mbit/s)",
                1,
                t,
                &format!(" bytes={BULK} min-mb-s={MIN_MB_S}"),
            )
        }),
    );
    let seq = sequential(ports.http, SEQUENTIAL);
    report(
        "http_latency",
        seq.as_ref()
            .map(|t| {
                format!(
                    "BENCH result name=http_latency what=\"small HTTP request, one keep-alive connection: latency\" \
                 iterations={SEQUENTIAL} cycles={} unit=ns",
                    t.as_nanos()
                )
            })
            .map_err(|e| std::io::Error::other(e.to_string())),
    );
    report(
        "http_keepalive",
        seq.map(|t| {
            line("http_keepalive", "small HTTP requests, one keep-alive connection", SEQUENTIAL as u64, t, " unit=/s")
        }),
    );
    let concurrent = (|| {
        let started = Instant::now();
        let workers: Vec<_> =
            (0..CONCURRENT).map(|_| std::thread::spawn(move || sequential(ports.http, PER_CONNECTION))).collect();
        for w in workers {
            w.join().map_err(|_| std::io::Error::other("a client thread panicked"))??;
        }
        Ok(started.elapsed())
    })();
    report(
        "http_concurrent",
        concurrent.map(|t| {
            line(
                "http_concurrent",
                "small HTTP requests, 8 keep-alive connections at once",
                (CONCURRENT * PER_CONNECTION) as u64,
                t,
                &format!(" unit=/s min-per-s={MIN_REQUESTS}"),
            )
        }),
    );
    report(
        "http_fresh",
        fresh(ports.http)
            .map(|t| line("http_fresh", "small HTTP requests, a new connection each", FRESH as u64, t, " unit=/s")),
    );
    lines
}
