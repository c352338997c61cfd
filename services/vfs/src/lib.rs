//! KaaL's VFS server, as a library: the parts that are pure logic, tested on the host
//! against real ext2 images; `main.rs` connects them to the component's grants.
//!
//! * [`config`]: what the tool tells the server (file systems, clients, mounts).
//! * [`vfs`]: clients' views, path resolution, open files, the requests.
//! * [`fsys`]: the file-system trait; [`ramfs`] and [`ext2`] implement it.
//! * [`cache`]: the block cache with read-ahead and write-back, under ext2.
#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod cache;
pub mod config;
pub mod ext2;
pub mod fsys;
pub mod ramfs;
pub mod vfs;

#[cfg(test)]
mod tests;
