//! After the NIC driver died: a connection cannot be made (its frames go nowhere), and
//! the network server still answers everything that needs no wire.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;

use kaal_core::component::Component;
use kaal_core::println;
use kaal_core::time::Duration;
use kaal_posix::net::{self, SocketAddrV4, TcpStream};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(mut me: Component) -> Result<(), Box<dyn core::error::Error>> {
    // One timer for the network's timeouts and this component's own sleep.
    let timer: &'static kaal_core::time::Timer = Box::leak(Box::new(me.timer()?));
    net::init_with_timeout(&mut me, timer, Duration::from_secs(10))?;
    let info = net::wait_for_address(Duration::from_secs(10))?;
    println!("[witness] address {info}");
    // Only what system.toml grants: connecting to port 8000. Port 9 and listening are
    // refused by the network server, whatever the wire.
    match TcpStream::connect(SocketAddrV4::new([10, 0, 2, 2], 9)) {
        Ok(_) => return Err("a connection to a port system.toml does not grant was allowed".into()),
        Err(e) => println!("[witness] connect to port 9: {e}"),
    }
    match net::TcpListener::bind(80) {
        Ok(_) => return Err("listening on a port system.toml does not grant was allowed".into()),
        Err(e) => println!("[witness] listen on port 80: {e}"),
    }
    // The driver faults when this connection attempt wakes it.
    timer.sleep(Duration::from_secs(3))?;
    match TcpStream::connect_timeout(SocketAddrV4::new([10, 0, 2, 2], 8000), Duration::from_secs(6)) {
        Ok(_) => return Err("a connection was made with no NIC driver".into()),
        Err(e) => println!("[witness] connect without a driver: {e}"),
    }
    let info = net::info()?;
    println!("[witness] the network server still answers: {info}");
    Ok(())
}
