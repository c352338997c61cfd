//! `cargo kaal bench sched`: what kaal-sched costs, measured on the real kernel.
//!
//! Under `-icount shift=0` the time-stamp counter counts instructions, so every figure
//! is instructions and repeats from run to run. Measured, in one run:
//!
//! - a **plain seL4 priority switch**: a thread signals a notification that a thread of
//!   higher priority waits on; from just before the signal to the woken thread's first
//!   instruction after its wait;
//! - a **switch through the scheduler**: one task's job ends and another's, released
//!   and waiting, begins; from the end of the first job's body to the first
//!   instruction of the second's (the completion signal, the scheduler's decision, the
//!   release signal);
//! - the **overhead per decision**: from a job's release (the instant the timer was set
//!   for) to the task's first instruction, with one task (nothing else to wait for):
//!   the timer's interrupt, the kernel, the scheduler's decision, the switch;
//! - **release jitter** of a three-task set with a best-effort hog beside it: release
//!   to first instruction, max and p99 (includes waiting for more urgent jobs, as
//!   jitter does);
//! - the scheduler's own work per wake-up.
//!
//! The target: a switch through the scheduler within 3x a plain priority switch.
#![no_std]
#![no_main]

extern crate alloc;

use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

use kaal_alloc::{HeapConfig, UntypedAllocator};
use kaal_core::thread::{ThreadConfig, Threads};
use kaal_core::time::Instant;
use kaal_core::{println, Notification, RootTask};
use kaal_dev::{Broker, DeviceId};
use kaal_sched::runtime::{Env, Percentiles, RtConfig, RtScheduler, RtTimer, Work};
use kaal_sched::{Criticality, Dispatcher, Edf, Engine, Event, Stop, TaskId, TaskSpec};

kaal_core::root_task!(main);
kaal_alloc::global_heap!(HEAP);

const PLAIN_SWITCHES: u64 = 2000;
static WORK: Work = Work::new();

fn result(name: &str, what: &str, iterations: u64, cycles: u64) {
    println!("BENCH result name={name} what=\"{what}\" iterations={iterations} cycles={cycles}");
}

/// The mean, the p99 and the worst of a distribution, as three results.
fn distribution(name: &str, what: &str, p: &Percentiles) {
    if p.count == 0 {
        println!("BENCH failed name={name} why=\"nothing was measured\"");
        return;
    }
    result(name, &alloc::format!("{what}, mean"), p.count, p.total);
    if let Some(p99) = p.p99 {
        result(&alloc::format!("{name}_p99"), &alloc::format!("{what}, p99"), 1, p99);
    }
    result(&alloc::format!("{name}_max"), &alloc::format!("{what}, max"), 1, p.worst);
}

fn spec(name: &'static str, period: Duration, deadline: Duration, wcet: Duration) -> TaskSpec {
    TaskSpec::builder().name(name).period(period).deadline(deadline).wcet(wcet).criticality(Criticality::LOW).build()
}

/// A dispatcher that does nothing, to time the engine's own work.
struct Null;

impl Dispatcher for Null {
    fn begin(&mut self, _: TaskId) {}
    fn resume(&mut self, _: TaskId) {}
    fn stop(&mut self, _: TaskId, _: Stop) {}
    fn report(&mut self, _: &Event) {}
}

/// Two tasks released together every millisecond, each job taking 50 us: the cost of
/// `on_complete` (one job ends, the other is dispatched, or the processor idles).
fn engine_alone() -> Result<(), alloc::boxed::Box<dyn core::error::Error>> {
    let (t, c) = (Duration::from_millis(1), Duration::from_micros(100));
    let tasks = [spec("first", t, Duration::from_micros(500), c), spec("second", t, t, c)];
    let mut engine = Engine::new(Edf, &tasks)?;
    let mut null = Null;
    let mut next = engine.start(0, &mut null);
    let (mut now, mut sum, mut count) = (0u64, 0u64, 0u64);
    while count < 2000 {
        match engine.running() {
            Some(task) => {
                now += 50_000;
                let start = Instant::now().as_cycles();
                next = engine.on_complete(task, now, &mut null);
                sum += Instant::now().as_cycles() - start;
                count += 1;
            }
            None => {
                now = next.unwrap_or(now + 1000).max(now);
                next = engine.on_timer(now, &mut null);
            }
        }
    }
    result("engine", "the engine's decision at a job's end (no kernel calls)", count, sum);
    Ok(())
}

fn main(rt: RootTask) -> Result<(), alloc::boxed::Box<dyn core::error::Error>> {
    let RootTask { cspace, mut vspace, untypeds, io_port, irq_control, .. } = rt;
    let mut memory = UntypedAllocator::new(untypeds, cspace);
    let heap = memory.sub_allocator(24, 32)?;
    kaal_alloc::heap::init(vspace.try_clone(memory.cspace())?, heap, HeapConfig::default())?;
    let mut threads = Threads::new(vspace.try_clone(memory.cspace())?, Threads::DEFAULT_REGION)?;
    let mut broker = Broker::new(io_port, irq_control, &mut memory, &mut vspace)?;
    let mut timer = RtTimer::claim(&mut broker, DeviceId::Hpet, &mut memory, &mut vspace)?;
    WORK.calibrate();
    let config = RtConfig { samples: 4096, ..RtConfig::default() };
    // BENCH lines must start a line (the firmware leaves the cursor mid-line).
    println!();

    // A plain priority switch: `low` signals, `high` (waiting) runs at once.
    static SENT: AtomicU64 = AtomicU64::new(0);
    static SUM: AtomicU64 = AtomicU64::new(0);
    let go: Notification = memory.allocate()?;
    let wait = memory.cspace().copy(&go, kaal_core::Rights::ALL)?;
    let done: Notification = memory.allocate()?;
    let finished = memory.cspace().copy(&done, kaal_core::Rights::ALL)?;
    let high = threads.spawn(&mut memory, ThreadConfig::new("high").priority(150), move || {
        for _ in 0..PLAIN_SWITCHES {
            wait.wait();
            let now = Instant::now().as_cycles();
            SUM.fetch_add(now - SENT.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    })?;
    let low = threads.spawn(&mut memory, ThreadConfig::new("low").priority(100), move || {
        for _ in 0..PLAIN_SWITCHES {
            SENT.store(Instant::now().as_cycles(), Ordering::Relaxed);
            go.signal();
        }
        finished.signal();
    })?;
    done.wait();
    let _ = threads.join(high);
    let _ = threads.join(low);
    result(
        "plain_switch",
        "plain seL4 priority switch (Signal wakes a higher-priority waiter)",
        PLAIN_SWITCHES,
        SUM.load(Ordering::Relaxed),
    );

    // The engine alone, with a dispatcher that does nothing: its share of a decision.
    engine_alone()?;

    // One task alone: release to its first instruction is the scheduler's whole path.
    let mut alone = RtScheduler::new(Edf).config(config);
    alone.add(spec("alone", Duration::from_millis(1), Duration::from_millis(1), Duration::from_micros(100)), || {
        WORK.run(Duration::from_micros(50));
    })?;
    let summary =
        alone.run(Env { timer: &mut timer, memory: &mut memory, threads: &mut threads }, Duration::from_secs(1))?;
    distribution("release_latency", "timer IRQ to the task running (one task)", &summary.latency);
    distribution("decision", "scheduler's own work per wake-up", &summary.decision);

    // Two tasks released together: the second starts when the first ends.
    let mut pair = RtScheduler::new(Edf).config(config);
    let (t, c) = (Duration::from_millis(1), Duration::from_micros(100));
    pair.add(spec("first", t, Duration::from_micros(500), c), || {
        WORK.run(Duration::from_micros(50));
    })?;
    pair.add(spec("second", t, t, c), || {
        WORK.run(Duration::from_micros(50));
    })?;
    let summary =
        pair.run(Env { timer: &mut timer, memory: &mut memory, threads: &mut threads }, Duration::from_secs(1))?;
    distribution(
        "sched_switch",
        "task to task through kaal-sched (job end to the next job's first instruction)",
        &summary.switch,
    );
    if summary.switch.count > 0 {
        println!("BENCH ratio what=\"switch through kaal-sched / plain seL4 priority switch\" over=sched_switch under=plain_switch max=3");
    }

    // Release jitter of a loaded set, with a hog.
    static HOG: AtomicU64 = AtomicU64::new(0);
    let _hog = threads.spawn(&mut memory, ThreadConfig::new("hog").priority(10), || loop {
        WORK.run(Duration::from_micros(100));
        HOG.fetch_add(1, Ordering::Relaxed);
    })?;
    let mut loaded = RtScheduler::new(Edf).config(config);
    for (name, period_us, work_us) in [("fast", 2000, 300), ("mid", 5000, 1000), ("slow", 10_000, 2000)] {
        let period = Duration::from_micros(period_us);
        let work = Duration::from_micros(work_us);
        loaded.add(spec(name, period, period, work + work / 5), move || {
            WORK.run(work);
        })?;
    }
    let summary =
        loaded.run(Env { timer: &mut timer, memory: &mut memory, threads: &mut threads }, Duration::from_secs(1))?;
    distribution("jitter", "release jitter, 3 tasks at U = 0.55 and a hog", &summary.latency);
    println!("{summary}");
    println!(
        "sched bench: {} deadline misses in the loaded set; the hog ran {} rounds",
        summary.misses(),
        HOG.load(Ordering::Relaxed)
    );
    Ok(())
}
