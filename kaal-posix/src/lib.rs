//! # kaal-posix: files for components
//!
//! Layer 3. A component whose `[components.NAME]` table in system.toml has `mounts`
//! reaches KaaL's VFS server (a built-in component the tool adds) through this crate.
//! The API reads like `std::fs` and `std::io`:
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
//!
//! A component sees only what its `mounts` grant: paths are resolved by the server in
//! the component's own view, where `..` stops at `/` and symbolic links are followed in
//! that view too, so no path reaches outside a grant.
#![no_std]

extern crate alloc;

pub mod fs;
pub mod io;
pub mod netproto;
pub mod proto;
