//! # kaal-posix: files and sockets for components
//!
//! Layer 3. A component whose `[components.NAME]` table in system.toml has `mounts`
//! reaches KaaL's VFS server (a built-in component the tool adds) through this crate,
//! and one with `network` the network server. The file API reads like `std::fs` and
//! `std::io`:
//!
//! ```ignore
//! use kaal_posix::fs::{self, File};
//! use kaal_posix::io::{Read, Write};
//!
//! kaal_posix::fs::init(&mut me)?;            // once, in main
//! let mut f = File::create("/data/hello.txt")?;
//! f.write_all(b"Hello from seL4!")?;
//! f.sync_all()?;
//! let text = fs::read_to_string("/data/hello.txt")?;
//! for entry in fs::read_dir("/data")? {
//!     println!("{}", entry?.file_name());
//! }
//! ```
//!
//! * [`io`]: `Read`, `Write`, `Seek`, and [`io::Error`] with an [`io::ErrorKind`] and the
//!   path it concerns.
//! * [`fs`]: `File`, `OpenOptions`, `read_dir`, `create_dir_all`, `remove_file`, `rename`,
//!   `metadata`, links and symlinks.
//! * [`proto`]: the wire protocol between a client and the VFS server (shared with the
//!   server).
//! * [`net`]: `TcpListener`, `TcpStream`, `UdpSocket`, `SocketAddrV4` and `poll`, as
//!   `std::net` has them, over the network server.
//! * [`netproto`]: the wire protocol between a socket client and the network server.
//! * [`linux`]: the host-testable parts of a Linux personality for static x86_64 Linux
//!   binaries: ELF planning, `syscall` patching, the initial stack, the syscall ABI's
//!   numbers and structs, and signal frames.
//!
//! A component sees only what its `mounts` grant: paths are resolved by the server in
//! the component's own view, where `..` stops at `/` and symbolic links are followed in
//! that view too, so no path reaches outside a grant.
//!
//! Sockets work the same way: [`net::init`] once, then `std::net`'s shapes:
//!
//! ```ignore
//! use kaal_posix::net::{self, SocketAddrV4, TcpListener, TcpStream};
//!
//! kaal_posix::net::init_with_timeout(&mut me, me.timer()?, Duration::from_secs(5))?;
//! net::wait_for_address(Duration::from_secs(10))?;   // DHCP
//! let mut s = TcpStream::connect(SocketAddrV4::new([10, 0, 2, 2], 8000))?;
//! s.write_all(b"ping")?;
//! let listener = TcpListener::bind(80)?;
//! let (mut client, peer) = listener.accept()?;
//! ```
//!
//! A component listens on and connects to only the ports its `network` in system.toml
//! grants (`network = { listen = [80], connect = [8000] }`).
#![no_std]

extern crate alloc;

pub mod fs;
pub mod io;
pub mod linux;
pub mod net;
pub mod netproto;
pub mod proto;
pub mod server;
