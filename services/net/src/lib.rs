//! The network server's logic, apart from the component's glue (main.rs), so that it
//! can be tested on the host: its configuration, smoltcp's device over the NIC queues,
//! and the sockets it serves to clients.
#![no_std]

extern crate alloc;

pub mod config;
pub mod device;
pub mod stack;

#[cfg(test)]
mod tests;
