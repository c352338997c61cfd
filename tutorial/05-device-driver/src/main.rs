//! Lesson 05: devices.
//!
//! The capability broker finds the machine's devices and hands each out once, as typed
//! handles. The timer and UART drivers (crates `drv-pit8254` and `drv-uart16550`) are
//! written with the driver kit: a struct of resources and `#[derive(Driver)]`. This
//! program lists the devices, measures the timer against the time-stamp counter, shows
//! what a second claim on a device gets, self-tests the UART in loopback, and then
//! echoes what arrives on COM2 in upper case until it reads `quit` or hears nothing
//! for two seconds.
#![no_std]
#![no_main]

extern crate alloc;

use core::fmt;

use drv_pit8254::Pit;
use drv_uart16550::Uart;
use kaal_alloc::{HeapConfig, UntypedAllocator};
use kaal_core::arch::cycles;
use kaal_core::{println, Badge, Notification, RootTask};
use kaal_dev::broker::IrqDelivery;
use kaal_dev::{kit, Broker, BrokerError, DeviceId, DriverError};

mod nic;

kaal_core::root_task!(main);
kaal_alloc::global_heap!(HEAP);

/// Stop echoing after this long without input (long enough that a host program on a
/// loaded machine answers in time: 2 s was once too short in CI).
const IDLE_SECONDS: u64 = 5;
const TIMER_HZ: u32 = 100;
const LOOPBACK: &[u8] = b"loopback test";
/// Where this lesson maps its own DMA pool.
const DMA_VADDR: u64 = 0x0000_5a00_0000_0000;

/// Anything that can go wrong in this lesson.
enum Problem {
    Kernel(kaal_core::Error),
    Broker(BrokerError),
    Driver(DriverError),
}

impl From<kaal_core::Error> for Problem {
    fn from(e: kaal_core::Error) -> Self {
        Problem::Kernel(e)
    }
}
impl From<BrokerError> for Problem {
    fn from(e: BrokerError) -> Self {
        Problem::Broker(e)
    }
}
impl From<DriverError> for Problem {
    fn from(e: DriverError) -> Self {
        Problem::Driver(e)
    }
}
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Kernel(e) => e.fmt(f),
            Problem::Broker(e) => e.fmt(f),
            Problem::Driver(e) => e.fmt(f),
        }
    }
}

fn main(rt: RootTask) -> Result<(), Problem> {
    let RootTask { cspace, mut vspace, untypeds, io_port, irq_control, bootinfo, .. } = rt;
    let mut memory = UntypedAllocator::new(untypeds, cspace);
    let heap = memory.sub_allocator(24, 32)?;
    kaal_alloc::heap::init(vspace.try_clone(memory.cspace())?, heap, HeapConfig::default())?;

    let mut broker = Broker::new(io_port, irq_control, &mut memory, &mut vspace)?;
    println!("== the device table");
    println!("{broker}");

    // Both drivers' interrupts arrive on one notification, each with its own badge bit,
    // so one wait serves both.
    let events: Notification = memory.allocate()?;
    let timer_bit = Badge::new(1).expect("valid badge");
    let uart_bit = Badge::new(2).expect("valid badge");

    println!("== the timer");
    let mut pit: Pit = broker.request_with(
        IrqDelivery::Shared { notification: &events, badge: timer_bit },
        &mut memory,
        &mut vspace,
    )?;
    pit.start(TIMER_HZ)?;
    let (ticks_before, tsc_before) = (pit.ticks(), cycles());
    pit.sleep(500)?;
    let elapsed_us = (cycles() - tsc_before) / bootinfo.tsc_mhz().max(1);
    println!(
        "pit: {} ticks at {} Hz; the time-stamp counter measured {}.{:03} ms (expected 500)",
        pit.ticks() - ticks_before,
        pit.hz(),
        elapsed_us / 1000,
        elapsed_us % 1000
    );

    println!("== claiming twice");
    match broker.request::<Pit>(&mut memory, &mut vspace) {
        Ok(_) => println!("unexpected: the PIT was handed out twice"),
        Err(e) => println!("a second claim on the PIT is refused:\n{e}"),
    }
    match broker.request_device(DeviceId::fixed("com1"), "lesson-05", 0, IrqDelivery::Own, &mut memory, &mut vspace) {
        Ok(_) => println!("unexpected: COM1 was handed out"),
        Err(e) => println!("a claim on COM1 is refused:\n{e}"),
    }

    println!("== the UART on COM2");
    let mut uart: Uart = broker.request_with(
        IrqDelivery::Shared { notification: &events, badge: uart_bit },
        &mut memory,
        &mut vspace,
    )?;
    uart.init(115_200)?;
    println!(
        "{}",
        broker.holder(DeviceId::fixed("com2")).map(|h| alloc::format!("com2 is held by {h}")).unwrap_or_default()
    );
    // COM4 shares interrupt line 3 with COM2 on a PC, so it cannot go to anyone else now.
    match broker.request_device(DeviceId::fixed("com4"), "lesson-05", 0, IrqDelivery::Own, &mut memory, &mut vspace) {
        Ok(_) => println!("unexpected: COM4 was handed out while its interrupt line is held"),
        Err(e) => println!("a claim on COM4 is refused:\n{e}"),
    }

    // Loopback: the chip wires its transmitter to its receiver; interrupts do the rest.
    uart.set_loopback(true)?;
    uart.write(LOOPBACK)?;
    let mut echoed: heapless::Vec<u8, 32> = heapless::Vec::new();
    let deadline = pit.ticks() + TIMER_HZ as u64;
    while echoed.len() < LOOPBACK.len() && pit.ticks() < deadline {
        let bits = events.wait();
        kit::dispatch(&mut pit, bits)?;
        kit::dispatch(&mut uart, bits)?;
        while let Some(byte) = uart.read() {
            let _ = echoed.push(byte);
        }
    }
    uart.set_loopback(false)?;
    // Tell whoever is on the other end of COM2 that we are listening.
    uart.write(b"ready\n")?;
    let verdict = if echoed == LOOPBACK { "ok" } else { "FAILED" };
    println!("uart loopback: sent {} bytes, received {:?}: {verdict}", LOOPBACK.len(), core::str::from_utf8(&echoed));

    println!("uart: echoing COM2 in upper case; send \"quit\" or stay silent for {IDLE_SECONDS} s to stop");
    let idle_ticks = IDLE_SECONDS * pit.hz() as u64;
    let mut last_input = pit.ticks();
    let mut line: heapless::Vec<u8, 128> = heapless::Vec::new();
    let (mut received, mut quitting) = (0u64, false);
    loop {
        let bits = events.wait();
        kit::dispatch(&mut pit, bits)?;
        kit::dispatch(&mut uart, bits)?;
        while let Some(byte) = uart.read() {
            received += 1;
            last_input = pit.ticks();
            if byte != b'\n' {
                let _ = line.push(byte);
                continue;
            }
            let upper: heapless::Vec<u8, 128> = line.iter().map(u8::to_ascii_uppercase).collect();
            uart.write(&upper)?;
            uart.write(b"\n")?;
            println!("uart: echoed {:?}", core::str::from_utf8(&upper).unwrap_or("<not UTF-8>"));
            quitting |= line.as_slice() == b"quit";
            line.clear();
        }
        if quitting && uart.flushed() {
            println!("uart: quit received");
            break;
        }
        if pit.ticks() - last_input > idle_ticks {
            println!("uart: no input for {IDLE_SECONDS} s, stopping");
            break;
        }
    }
    println!("uart: {received} bytes received in all");

    println!("== a PCI device and DMA memory");
    let nic: nic::E1000 = broker.request(&mut memory, &mut vspace)?;
    let mac = nic.mac()?;
    println!(
        "e1000: registers at {:#x}, MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, link {}",
        nic.registers_at(),
        mac[0],
        mac[1],
        mac[2],
        mac[3],
        mac[4],
        mac[5],
        if nic.link_up()? { "up" } else { "down" }
    );
    let ring = nic.rx_ring();
    let (pool_start, pool_end) = (ring.pool().paddr(), ring.pool().paddr() + ring.pool().size() as u64);
    let inside = ring.buffers().iter().all(|b| (pool_start..pool_end).contains(&b.paddr()) && b.paddr() % 2048 == 0);
    println!(
        "e1000: {} receive buffers of 2 KiB in DMA pool {:?} (physical {pool_start:#x}..{pool_end:#x}); all inside and aligned: {inside}",
        ring.buffers().len(),
        ring.pool().name(),
    );

    // A DMA pool of our own: hand out all of it, run out, give one back, take it again.
    let mut pool = kaal_alloc::DmaPool::new("lesson-buffers", &mut memory, &mut vspace, DMA_VADDR, 16)?;
    let mut buffers = alloc::vec::Vec::new();
    let exhausted = loop {
        match pool.alloc(16 * 1024, 4096) {
            Ok(buffer) => buffers.push(buffer),
            Err(e) => break e,
        }
    };
    println!(
        "dma: {} buffers of 16 KiB from a 64 KiB pool at physical {:#x}, then: {exhausted}",
        buffers.len(),
        pool.paddr()
    );
    if let Some(last) = buffers.pop() {
        let freed_at = last.paddr();
        pool.free(last).map_err(kaal_core::Error::from)?;
        let again = pool.alloc(16 * 1024, 4096)?;
        println!("dma: freed the buffer at {freed_at:#x}; the next one is at {:#x}", again.paddr());
        pool.write(&again, 0, b"written by the CPU")?;
        let mut back = [0u8; 18];
        pool.read(&again, 0, &mut back)?;
        println!("dma: read back {:?}", core::str::from_utf8(&back));
    }
    Ok(())
}
