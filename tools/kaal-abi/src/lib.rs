//! The contract between KaaL system images and the `kaal` tool.
//!
//! Both sides of each protocol live here, in one `no_std` crate with no dependencies,
//! so the runtime inside an image and the tool on the host can never disagree.
#![no_std]
#![forbid(unsafe_code)]

pub mod devices;
pub mod drivers;
pub mod exit;
pub mod plan;
pub mod startup;
pub mod time;
