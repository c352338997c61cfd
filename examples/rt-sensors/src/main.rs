//! An IoT gateway's real-time work, scheduled by kaal-sched on seL4.
//!
//! Three tasks, declared with `#[rt_task]`:
//!
//! - `sensor`: every 100 ms, reads a sensor within 10 ms (1 ms of work, 2 ms budget);
//! - `control`: every 20 ms, runs a control step (3 ms of work, 5 ms budget);
//! - `logger`: every 50 ms, packs a log record (2 ms of work, 4 ms budget), less
//!   critical than the other two.
//!
//! Beside them a best-effort thread spins at a lower priority for the whole run and
//! never delays them. The scheduler (EDF) runs for one second, then prints a table per
//! task: releases, completions, misses, worst response time and worst release jitter.
#![no_std]
#![no_main]

extern crate alloc;

use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

use kaal_alloc::{HeapConfig, UntypedAllocator};
use kaal_core::thread::{ThreadConfig, Threads};
use kaal_core::{println, RootTask};
use kaal_dev::{Broker, DeviceId};
use kaal_sched::runtime::{Env, RtScheduler, RtTimer, Work};
use kaal_sched::{rt_task, Edf};

kaal_core::root_task!(main);
kaal_alloc::global_heap!(HEAP);

/// Where the root task's log ring lives.
const LOG_VADDR: u64 = 0x0000_5b00_0000_0000;
/// How long the gateway runs.
const RUN: Duration = Duration::from_secs(1);

static WORK: Work = Work::new();
static SAMPLES: AtomicU64 = AtomicU64::new(0);
static STEPS: AtomicU64 = AtomicU64::new(0);
static RECORDS: AtomicU64 = AtomicU64::new(0);
static HOG_ROUNDS: AtomicU64 = AtomicU64::new(0);

#[rt_task(period = "100ms", deadline = "10ms", wcet = "2ms", criticality = "high")]
fn sensor() {
    let reading = WORK.run(Duration::from_millis(1));
    let n = SAMPLES.fetch_add(1, Ordering::Relaxed) as u32;
    defmt::info!("sensor sample {=u32}: {=u64:#x}", n, reading & 0xffff);
}

#[rt_task(period = "20ms", wcet = "5ms", criticality = "high")]
fn control() {
    WORK.run(Duration::from_millis(3));
    STEPS.fetch_add(1, Ordering::Relaxed);
}

#[rt_task(period = "50ms", wcet = "4ms")]
fn logger() {
    WORK.run(Duration::from_millis(2));
    let n = RECORDS.fetch_add(1, Ordering::Relaxed) as u32;
    if n.is_multiple_of(5) {
        defmt::info!("logger: {=u32} records packed", n + 1);
    }
}

fn main(rt: RootTask) -> Result<(), alloc::boxed::Box<dyn core::error::Error>> {
    let RootTask { cspace, mut vspace, untypeds, io_port, irq_control, .. } = rt;
    let mut memory = UntypedAllocator::new(untypeds, cspace);
    let heap = memory.sub_allocator(24, 32)?;
    kaal_alloc::heap::init(vspace.try_clone(memory.cspace())?, heap, HeapConfig::default())?;
    let mut threads = Threads::new(vspace.try_clone(memory.cspace())?, Threads::DEFAULT_REGION)?;
    // The tasks log with defmt; a thread at priority 0 prints, outside their budgets.
    let _log = kaal_core::log::print_in_background(&mut memory, &mut vspace, &mut threads, LOG_VADDR)?;

    let mut broker = Broker::new(io_port, irq_control, &mut memory, &mut vspace)?;
    let mut timer = RtTimer::claim(&mut broker, DeviceId::Hpet, &mut memory, &mut vspace)?;
    WORK.calibrate();

    let mut gateway = RtScheduler::new(Edf::new());
    gateway.add_task(sensor())?;
    gateway.add_task(control())?;
    gateway.add_task(logger())?;

    // The best-effort hog: below the tasks, it gets whatever they leave.
    let hog = ThreadConfig::new("hog").priority(10).stack_size(16 * 1024);
    let _hog = threads.spawn(&mut memory, hog, || loop {
        WORK.run(Duration::from_micros(100));
        HOG_ROUNDS.fetch_add(1, Ordering::Relaxed);
    })?;

    println!("rt-sensors: 3 tasks under EDF for {} ms, a best-effort hog beside them", RUN.as_millis());
    let summary = gateway.run(Env { timer: &mut timer, memory: &mut memory, threads: &mut threads }, RUN)?;
    println!("{summary}");
    println!(
        "rt-sensors: {} samples, {} control steps, {} log records; the hog ran {} rounds of 100 us in the gaps",
        SAMPLES.load(Ordering::Relaxed),
        STEPS.load(Ordering::Relaxed),
        RECORDS.load(Ordering::Relaxed),
        HOG_ROUNDS.load(Ordering::Relaxed)
    );
    Ok(())
}
