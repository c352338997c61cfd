//! Lesson 07: a network client.
//!
//! The component waits for DHCP to give the interface an address, connects to
//! 10.0.2.2:8000 (QEMU's user network maps that address to the host's 127.0.0.1),
//! sends an HTTP/1.0 request for `/`, reads the whole answer, checks its status line
//! and headers with `httparse`, and prints the body. It never sees the NIC, its driver
//! or smoltcp: `network = { connect = [8000] }` in system.toml is all it is granted,
//! and kaal-posix turns `std::net`-style calls into requests to the network server.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec::Vec;

use kaal_core::component::Component;
use kaal_core::println;
use kaal_core::time::Duration;
use kaal_posix::io::{ErrorKind, Read, Write};
use kaal_posix::net::{self, SocketAddrV4, TcpStream};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

/// The host, as QEMU's user network shows it, and the port `python3 -m http.server`
/// listens on.
const HOST: SocketAddrV4 = SocketAddrV4::new([10, 0, 2, 2], 8000);

fn main(mut me: Component) -> Result<(), Box<dyn core::error::Error>> {
    let timer = me.timer()?;
    net::init_with_timeout(&mut me, timer, Duration::from_secs(10))?;
    let info = net::wait_for_address(Duration::from_secs(10))?;
    let [a, b, c, d] = info.address;
    println!("[app] the network server gave us {a}.{b}.{c}.{d}/{}", info.prefix);

    println!("[app] connecting to {HOST} ...");
    let mut stream = match TcpStream::connect_timeout(HOST, Duration::from_secs(10)) {
        Ok(stream) => stream,
        Err(e) if matches!(e.kind(), ErrorKind::ConnectionRefused | ErrorKind::TimedOut) => {
            println!("[app] nothing answers on {HOST}: {e}");
            println!(
                "[app] start a web server on the host first, in a directory with an index.html:\n    python3 -m \
                 http.server 8000 --bind 127.0.0.1"
            );
            return Err("no web server on the host's port 8000".into());
        }
        Err(e) => return Err(e.into()),
    };
    stream.write_all(b"GET / HTTP/1.0\r\nHost: 10.0.2.2:8000\r\nUser-Agent: kaal-lesson-07\r\n\r\n")?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    println!("[app] {} bytes back", answer.len());

    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let body_at = match response.parse(&answer) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err("the answer ended inside its headers".into()),
        Err(e) => return Err(alloc::format!("the answer is not HTTP: {e}").into()),
    };
    let code = response.code.unwrap_or(0);
    println!("[app] HTTP {code} {}", response.reason.unwrap_or(""));
    for h in response.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-type") || h.name.eq_ignore_ascii_case("content-length") {
            println!("[app] {}: {}", h.name, core::str::from_utf8(h.value).unwrap_or("?"));
        }
    }
    if code != 200 {
        return Err(alloc::format!("the server answered {code}, not 200 (is there an index.html?)").into());
    }
    println!("----- body -----");
    println!("{}", core::str::from_utf8(&answer[body_at..]).unwrap_or("(not UTF-8)"));
    println!("----- end -----");
    println!("[app] done: fetched http://{HOST}/");
    Ok(())
}
