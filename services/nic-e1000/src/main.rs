//! The e1000 network card's driver component (see the library): it serves the network
//! stack until the system ends.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;

use kaal_core::component::Component;

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(mut me: Component) -> Result<(), Box<dyn core::error::Error>> {
    kaal_nic_e1000::run(&mut me, |_| true)
}
