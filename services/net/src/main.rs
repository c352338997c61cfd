//! The network server, which the tool adds for `[network]`: component `net` runs
//! smoltcp over the NIC driver's shared buffers (`kaal_ipc::net`) and serves sockets
//! to the components whose system.toml tables have `network = { ... }`, over the
//! protocol of `kaal_posix::netproto`.
//!
//! One loop, one notification: `net-wake` is signalled by the NIC driver (badge bit 1),
//! by each client (its own bit) and by the time service at the stack's next deadline
//! (retransmits, DHCP, a POLL's timeout). Each pass takes what the driver returned,
//! polls smoltcp, serves at most a ring's worth of requests per client, answers parked
//! POLLs that became ready, and signals the driver once if it sleeps.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;

use kaal_core::component::Component;
use kaal_core::println;
use kaal_core::shared::SharedRegion;
use kaal_core::time::{Duration, Instant as KInstant};
use kaal_ipc::net::{self, StackQueues};
use kaal_ipc::window::Window;
use kaal_net::config;
use kaal_net::device::NicDevice;
use kaal_net::stack::Stack;
use kaal_posix::netproto;
use kaal_posix::server::ClientPort;
use smoltcp::time::Instant;

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

/// How long the driver may hold transmit buffers without returning any before the
/// server says it stopped.
const DRIVER_SILENCE: Duration = Duration::from_secs(3);
/// While every transmit buffer is out, smoltcp's deadlines (it wants to send now) are
/// put off by this much: the server waits for the driver, its clients, or this.
const TX_WAIT: smoltcp::time::Duration = smoltcp::time::Duration::from_millis(20);

fn now() -> Instant {
    Instant::from_micros(KInstant::now().since_boot().as_micros() as i64)
}

/// The time-stamp counter reading at smoltcp time `at`.
fn to_kaal(at: Instant) -> Option<KInstant> {
    let ahead = if at > now() { (at - now()).total_micros() } else { 0 };
    KInstant::now().checked_add(Duration::from_micros(ahead))
}

struct Client {
    port: ClientPort,
    data: Window<&'static SharedRegion>,
}

fn main(mut me: Component) -> Result<(), Box<dyn core::error::Error>> {
    let name = me.name();
    let text = kaal_posix::server::config_text(&mut me, "the network configuration")?;
    let config = config::parse(&text).map_err(|e| format!("the network configuration: {e}"))?;

    let timer = me.timer()?;
    let wake = me.notification(netproto::WAKE)?;
    let kick = me.notification(net::DRIVER_KICK)?;
    let target = timer.register(&wake)?;
    let queues: &'static SharedRegion = Box::leak(Box::new(me.region(net::QUEUES)?));
    let buffers = me.region(net::BUFFERS)?;
    if buffers.size() < net::BUFFERS_BYTES {
        return Err(format!("region {} is {} bytes, not {}", net::BUFFERS, buffers.size(), net::BUFFERS_BYTES).into());
    }

    let mut clients = Vec::new();
    for client in &config.clients {
        let region_name = format!("{}{}", netproto::REGION_PREFIX, client.name);
        let region: &'static SharedRegion = Box::leak(Box::new(me.region(&region_name)?));
        if region.size() < netproto::MIN_REGION {
            return Err(
                format!("region {region_name} is {} bytes, less than {}", region.size(), netproto::MIN_REGION).into()
            );
        }
        let done = me.notification(&format!("{region_name}{}", netproto::DONE_SUFFIX))?;
        let port = ClientPort::new(client.name.clone(), region, done)?;
        let data = Window::new(region, netproto::BUFFER, region.size() - netproto::BUFFER)
            .map_err(|e| format!("region {region_name}: {e}"))?;
        clients.push(Client { port, data });
    }

    // The driver (started first, at a higher priority) publishes the card's MAC.
    let started = KInstant::now();
    let mac = loop {
        if let Some(mac) = net::published_mac(queues) {
            break mac;
        }
        if started.elapsed() > Duration::from_secs(5) {
            return Err("the NIC driver `nic` did not publish its MAC address in 5 s: it did not start (see its \
                        messages above)"
                .into());
        }
        timer.sleep(Duration::from_millis(10))?;
    };
    let mut device = NicDevice::new(StackQueues::attach(queues)?, buffers)?;
    let seed = kaal_core::arch::cycles();
    let mut stack = Stack::new(&config, mac, &mut device, now(), seed);
    let [a, b, c, d, e, f] = mac;
    println!(
        "[{name}] smoltcp on {} (MAC {a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}), {}, serving {} client(s)",
        config.nic,
        match config.address {
            config::Address::Dhcp => "address by DHCP".into(),
            config::Address::Static { address: [a, b, c, d], prefix, .. } =>
                format!("address {a}.{b}.{c}.{d}/{prefix}"),
        },
        clients.len()
    );

    let mut armed: Option<Instant> = None;
    // Clients whose sockets were dropped after they corrupted their rings.
    let mut dropped = alloc::vec![false; clients.len()];
    let mut reported_broken = false;
    let mut last_progress = KInstant::now();
    let mut driver_silent = false;
    loop {
        let t = now();
        let mut worked = device.harvest();
        if worked || device.tx_outstanding() == 0 {
            last_progress = KInstant::now();
            if driver_silent {
                println!("[{name}] the NIC driver returns buffers again");
                driver_silent = false;
            }
        } else if !driver_silent && last_progress.elapsed() > DRIVER_SILENCE {
            println!(
                "[{name}] the NIC driver `nic` has not returned a transmit buffer in {} s: it stopped, and frames \
                 are not sent; the rest of the system runs on",
                DRIVER_SILENCE.as_secs()
            );
            driver_silent = true;
        }
        if let (Some(e), false) = (device.broken(), reported_broken) {
            println!(
                "[{name}] the NIC driver corrupted its rings ({e}): the network is down; clients are still answered"
            );
            reported_broken = true;
        }
        stack.network_down = driver_silent || device.broken().is_some();
        let changed = stack.poll(t, &mut device);
        // (With no transmit buffer, a change is smoltcp failing to send: not work.)
        worked |= changed && !device.tx_exhausted();
        if stack.address_changed {
            stack.address_changed = false;
            match stack.address() {
                Some((cidr, gateway)) => {
                    let gw = gateway.map_or("no gateway".into(), |g| format!("gateway {g}"));
                    println!("[{name}] address {cidr}, {gw}");
                    println!("[Network] Up: {cidr}, {gw}, on {} (smoltcp in `{name}`)", config.nic);
                }
                None => println!("[{name}] the address was withdrawn (DHCP lease lost)"),
            }
        }
        stack.note_established();
        for (i, client) in clients.iter_mut().enumerate() {
            if client.port.is_broken() {
                // Found broken anywhere (serving, answering, asking it to signal):
                // its sockets go, once.
                if !dropped[i] {
                    stack.drop_client(i, t);
                    dropped[i] = true;
                }
                continue;
            }
            if let Some(response) = stack.poll_parked(i, &client.data, t) {
                client.port.respond(name, response);
                worked = true;
            }
            if stack.has_parked(i) {
                continue;
            }
            let data = &client.data;
            let taken =
                client.port.serve(name, netproto::RING_SLOTS as usize, |request| stack.request(i, request, data, t));
            if taken > 0 {
                worked = true;
            }
        }
        if worked {
            // Requests may have queued data or changed sockets: poll again first.
            let _ = stack.poll(now(), &mut device);
        }
        if device.take_kick() {
            kick.signal();
        }
        if worked {
            continue;
        }

        // Sleep until the driver, a client or the next deadline wakes us.
        let mut sleep = device.request_signal()?;
        for client in &mut clients {
            sleep &= client.port.request_signal(name);
        }
        if sleep {
            let at = stack.poll_at(now());
            let at = if device.tx_exhausted() { at.map(|a| a.max(now() + TX_WAIT)) } else { at };
            if at != armed {
                match at.and_then(to_kaal) {
                    Some(deadline) => timer.wake_at(deadline, target)?,
                    None => timer.cancel(target)?,
                }
                armed = at;
            }
            if at.is_none_or(|at| at > now()) {
                let _ = wake.wait();
            }
            armed = armed.filter(|a| *a > now());
        }
        device.cancel_signal();
        for client in &mut clients {
            client.port.cancel_signal();
        }
    }
}
