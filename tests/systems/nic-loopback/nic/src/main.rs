//! The e1000 driver in a component: claims the card the root task granted, turns the
//! PHY's loopback on, and sends frames of every length from 60 to 1514 bytes in batches;
//! each must come back through the receive ring byte for byte.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec::Vec;

use drv_e1000::E1000;
use kaal_core::arch::cycles;
use kaal_core::component::Component;
use kaal_core::println;

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

const FRAMES: usize = 64;
const BATCH: usize = 8;
/// An EtherType for local experiments (IEEE 802).
const LOCAL_EXPERIMENTAL: [u8; 2] = [0x88, 0xb5];

/// Frame `i`: to and from `mac`, its length stepping from 60 bytes (`i` = 0) to 1514
/// (the last), filled with a pattern of `i`.
fn frame(i: usize, mac: [u8; 6]) -> Vec<u8> {
    let len = 60 + i * (drv_e1000::MAX_FRAME - 60) / (FRAMES - 1);
    let mut frame = Vec::with_capacity(len);
    frame.extend_from_slice(&mac);
    frame.extend_from_slice(&mac);
    frame.extend_from_slice(&LOCAL_EXPERIMENTAL);
    while frame.len() < len {
        frame.push((i * 31 + frame.len() * 7) as u8);
    }
    frame
}

/// Sends probes until one comes back: QEMU's e1000 drops what arrives in the first
/// second (of virtual time) after receiving is turned on (its flush-queue timer), which
/// a real card does not. Returns how many probes it took and how long, in TSC cycles.
fn wait_for_receiver(nic: &mut E1000, mac: [u8; 6]) -> Result<(usize, u64), Box<dyn core::error::Error>> {
    let start = cycles();
    let probe = frame(0, mac);
    for probes in 1..=1000 {
        nic.send(&probe)?;
        // About 5 ms at the TSC's rate under QEMU, then look.
        let sent = cycles();
        while cycles() - sent < 12_000_000 {
            core::hint::spin_loop();
        }
        nic.poll()?;
        if nic.pending() > 0 {
            while nic.receive().is_some() {}
            return Ok((probes, (cycles() - start) / 1_000_000));
        }
    }
    Err("no probe came back in 1000 tries: is the PHY in loopback?".into())
}

fn main(mut me: Component) -> Result<(), Box<dyn core::error::Error>> {
    let name = me.name();
    let mut nic: E1000 = kaal_dev::device_grant::claim(&mut me, "pci:00:03.0")?;
    let mac = nic.init()?;
    let [a, b, c, d, e, f] = mac;
    println!(
        "[{name}] e1000 at 00:03.0, MAC {a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}, link up: {}",
        nic.link_up()?
    );
    nic.set_loopback(true)?;
    let (probes, waited) = wait_for_receiver(&mut nic, mac)?;
    println!("[{name}] the receiver took frame {probes} after {waited} million TSC cycles");

    let (mut intact, mut bytes, mut shortest, mut longest) = (0, 0, usize::MAX, 0);
    for batch in 0..FRAMES / BATCH {
        let sent: Vec<Vec<u8>> = (0..BATCH).map(|k| frame(batch * BATCH + k, mac)).collect();
        for frame in &sent {
            if !nic.send(frame)? {
                return Err("the transmit ring is full".into());
            }
        }
        // Sleep on the card's interrupt until the whole batch is back.
        kaal_dev::kit::serve(&mut nic, |nic| nic.pending() < BATCH)?;
        for expected in &sent {
            let got = nic.receive().ok_or("a frame did not come back")?;
            if got == *expected {
                intact += 1;
            } else {
                println!("[{name}] frame of {} bytes came back as {} different bytes", expected.len(), got.len());
            }
            bytes += got.len();
            shortest = shortest.min(got.len());
            longest = longest.max(got.len());
        }
    }
    println!(
        "[{name}] {FRAMES} frames of {shortest} to {longest} bytes ({bytes} bytes) went out and back through DMA: \
         {intact} intact, {} dropped",
        nic.dropped()
    );
    if intact != FRAMES {
        return Err("frames were lost or changed".into());
    }
    Ok(())
}
