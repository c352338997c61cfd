//! Boot test of kaal-sched on the real kernel (run under `-icount`, so time is counted
//! in instructions and every run repeats).
//!
//! One root task runs the scheduler several times with one timer, a best-effort hog
//! spinning below the tasks throughout:
//!
//! 1. `edf`: a set at U = 0.95 that rate-monotonic cannot schedule (task `t2`'s
//!    response time 3.9 units > its deadline 3.5) runs 100 hyperperiods under EDF;
//! 2. `rm`: the same set under rate-monotonic priorities, admission bypassed: `t2`
//!    misses, and every miss is reported;
//! 3. admission: rate-monotonic refuses that set, EDF refuses one at U > 1;
//! 4. `overrun`: a task that never finishes is stopped at its budget every period, and
//!    the others miss nothing;
//! 5. `shed`: the same runaway, more critical than a second task, whose releases are
//!    then shed;
//! 6. `llf`: a policy written here against the `Scheduler` trait (least laxity first);
//! 7. `rr`: the round-robin example policy;
//! 8. `sporadic`: a periodic task asks for a sporadic one every 10 ms, but the
//!    sporadic task's minimum inter-arrival time is 25 ms: releases are deferred to it,
//!    requests meanwhile fold into them, and nothing is missed.
//!
//! After each run it prints one `rt-sets: <run> <task> key=value...` line per task for
//! the test to check.
#![no_std]
#![no_main]

extern crate alloc;

use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

use kaal_alloc::{HeapConfig, UntypedAllocator};
use kaal_core::thread::{ThreadConfig, Threads};
use kaal_core::{println, RootTask};
use kaal_dev::{Broker, DeviceId};
use kaal_sched::runtime::{Env, RtConfig, RtError, RtScheduler, RtTimer, Summary, Work};
use kaal_sched::{Criticality, Decision, Edf, FixedPriority, ReadyJob, RoundRobin, Scheduler, TaskId, TaskSpec};

kaal_core::root_task!(main);
kaal_alloc::global_heap!(HEAP);

const LOG_VADDR: u64 = 0x0000_5b00_0000_0000;
static WORK: Work = Work::new();
static HOG_ROUNDS: AtomicU64 = AtomicU64::new(0);

/// The time unit of the U = 0.95 set.
const UNIT_US: u64 = 500;

fn units(n: f64) -> Duration {
    Duration::from_nanos((n * UNIT_US as f64 * 1000.0) as u64)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A periodic task whose jobs compute for `work`.
fn task(name: &'static str, period: Duration, wcet: Duration, criticality: Criticality) -> TaskSpec {
    TaskSpec::builder().name(name).period(period).wcet(wcet).criticality(criticality).build()
}

/// Adds `spec` with jobs of `fraction` of its WCET.
fn add<S: Scheduler + Send + 'static>(rt: &mut RtScheduler<S>, spec: TaskSpec, fraction: f64) -> Result<(), RtError> {
    let work = Duration::from_nanos((spec.wcet.as_nanos() as f64 * fraction) as u64);
    rt.add(spec, move || {
        WORK.run(work);
    })
    .map(drop)
}

/// A task that never finishes a job.
fn add_runaway<S: Scheduler + Send + 'static>(rt: &mut RtScheduler<S>, spec: TaskSpec) -> Result<(), RtError> {
    rt.add(spec, || loop {
        WORK.run(Duration::from_micros(50));
    })
    .map(drop)
}

/// The U = 0.95 set: (T 5, C 2) and (T 7, C 3.85) units.
fn set_095<S: Scheduler + Send + 'static>(rt: &mut RtScheduler<S>) -> Result<(), RtError> {
    add(rt, task("t1", units(5.0), units(2.0), Criticality::LOW), 0.95)?;
    add(rt, task("t2", units(7.0), units(3.85), Criticality::LOW), 0.95)
}

/// Least laxity first: the ready job with the least slack (deadline - now - budget
/// left) runs. Like EDF it is optimal on one processor; it admits what EDF admits.
struct LeastLaxity;

impl Scheduler for LeastLaxity {
    fn name(&self) -> &'static str {
        "least-laxity-first"
    }

    fn admit(&self, tasks: &[TaskSpec]) -> Result<(), kaal_sched::Refusal> {
        kaal_sched::admission::edf(tasks).map(drop)
    }

    fn schedule(&mut self, now: u64, ready: &[ReadyJob], running: Option<TaskId>) -> Decision {
        let laxity = |job: &ReadyJob| job.deadline.saturating_sub(now).saturating_sub(job.remaining);
        let least = ready.iter().min_by_key(|job| (laxity(job), Some(job.task) != running, job.task));
        Decision { run: least.map(|job| job.task), until: None }
    }
}

fn print(run: &str, summary: &Summary) {
    println!("{summary}");
    for r in &summary.rows {
        let (name, s) = (r.spec.name, &r.stats);
        println!(
            "rt-sets: {run} {} releases={} completions={} misses={} overruns={} shed={} skipped={} deferred={} \
             coalesced={} worst_response_ns={}",
            name,
            s.releases,
            s.completions,
            s.misses,
            s.overruns,
            s.shed,
            s.skipped,
            s.deferred,
            s.coalesced,
            s.worst_response
        );
    }
}

fn main(rt: RootTask) -> Result<(), alloc::boxed::Box<dyn core::error::Error>> {
    let RootTask { cspace, mut vspace, untypeds, io_port, irq_control, .. } = rt;
    let mut memory = UntypedAllocator::new(untypeds, cspace);
    let heap = memory.sub_allocator(24, 32)?;
    kaal_alloc::heap::init(vspace.try_clone(memory.cspace())?, heap, HeapConfig::default())?;
    let mut threads = Threads::new(vspace.try_clone(memory.cspace())?, Threads::DEFAULT_REGION)?;
    let _log = kaal_core::log::print_in_background(&mut memory, &mut vspace, &mut threads, LOG_VADDR)?;
    let mut broker = Broker::new(io_port, irq_control, &mut memory, &mut vspace)?;
    let mut timer = RtTimer::claim(&mut broker, DeviceId::Hpet, &mut memory, &mut vspace)?;
    WORK.calibrate();

    let hog = ThreadConfig::new("hog").priority(10).stack_size(16 * 1024);
    let _hog = threads.spawn(&mut memory, hog, || loop {
        WORK.run(Duration::from_micros(100));
        HOG_ROUNDS.fetch_add(1, Ordering::Relaxed);
    })?;
    let config = RtConfig::default();

    // 1. EDF at U = 0.95 for 100 hyperperiods (35 units each).
    let mut edf = RtScheduler::new(Edf).config(config);
    set_095(&mut edf)?;
    let summary = edf.run(Env { timer: &mut timer, memory: &mut memory, threads: &mut threads }, units(3500.0))?;
    print("edf", &summary);

    // 2. The same set under rate-monotonic priorities, admission bypassed.
    let mut rm = RtScheduler::new(FixedPriority::rate_monotonic().without_admission()).config(config);
    set_095(&mut rm)?;
    let summary = rm.run(Env { timer: &mut timer, memory: &mut memory, threads: &mut threads }, units(350.0))?;
    print("rm", &summary);

    // 3. Admission.
    let mut refused = RtScheduler::new(FixedPriority::rate_monotonic());
    set_095(&mut refused)?;
    match refused.check() {
        Ok(()) => println!("rt-sets: rate-monotonic admitted the U = 0.95 set (wrong)"),
        Err(e) => println!("rt-sets: rate-monotonic refuses: {e}"),
    }
    let mut overloaded = RtScheduler::new(Edf);
    add(&mut overloaded, task("heavy", ms(5), ms(3), Criticality::LOW), 1.0)?;
    add(&mut overloaded, task("heavier", ms(7), ms(4), Criticality::LOW), 1.0)?;
    match overloaded.check() {
        Ok(()) => println!("rt-sets: edf admitted U > 1 (wrong)"),
        Err(e) => println!("rt-sets: edf refuses: {e}"),
    }
    match overloaded.run(Env { timer: &mut timer, memory: &mut memory, threads: &mut threads }, ms(100)) {
        Ok(_) => println!("rt-sets: edf ran U > 1 (wrong)"),
        Err(e) => println!("rt-sets: run refused: {e}"),
    }

    // 4. A task that never finishes: stopped at its budget each period.
    let mut overrun = RtScheduler::new(Edf).config(config);
    add(&mut overrun, task("a", ms(10), ms(2), Criticality::HIGH), 0.75)?;
    add(&mut overrun, task("b", ms(20), ms(5), Criticality::HIGH), 0.8)?;
    add_runaway(&mut overrun, task("runaway", ms(40), ms(4), Criticality::LOW))?;
    let summary = overrun.run(Env { timer: &mut timer, memory: &mut memory, threads: &mut threads }, ms(400))?;
    print("overrun", &summary);

    // 5. The runaway is the most critical task: less critical releases are shed.
    let mut shed = RtScheduler::new(Edf).config(config);
    add_runaway(&mut shed, task("runaway", ms(40), ms(4), Criticality::HIGH))?;
    add(&mut shed, task("minor", ms(10), ms(2), Criticality::LOW), 0.75)?;
    let summary = shed.run(Env { timer: &mut timer, memory: &mut memory, threads: &mut threads }, ms(200))?;
    print("shed", &summary);

    // 6. A custom policy.
    let mut llf = RtScheduler::new(LeastLaxity).config(config);
    add(&mut llf, task("x", ms(4), ms(1), Criticality::LOW), 0.9)?;
    add(&mut llf, task("y", ms(6), ms(2), Criticality::LOW), 0.9)?;
    add(&mut llf, task("z", ms(12), ms(3), Criticality::LOW), 0.9)?;
    let summary = llf.run(Env { timer: &mut timer, memory: &mut memory, threads: &mut threads }, ms(240))?;
    print("llf", &summary);

    // 7. The round-robin example policy.
    let mut rr = RtScheduler::new(RoundRobin::new(Duration::from_micros(500))).config(config);
    add(&mut rr, task("p", ms(10), ms(2), Criticality::LOW), 0.9)?;
    add(&mut rr, task("q", ms(20), ms(4), Criticality::LOW), 0.9)?;
    let summary = rr.run(Env { timer: &mut timer, memory: &mut memory, threads: &mut threads }, ms(100))?;
    print("rr", &summary);

    // 8. A sporadic task, released by a periodic one.
    let mut sporadic = RtScheduler::new(Edf).config(config);
    let handler = TaskSpec::builder()
        .name("handler")
        .arrival(kaal_sched::Arrival::Sporadic)
        .period(ms(25))
        .deadline(ms(10))
        .wcet(ms(2))
        .build();
    let handler = sporadic.add(handler, || {
        WORK.run(Duration::from_millis(1));
    })?;
    let releaser = timer.releaser(handler, &mut memory)?;
    sporadic.add(task("tick", ms(10), ms(1), Criticality::LOW), move || {
        WORK.run(Duration::from_micros(500));
        releaser.release();
    })?;
    let summary = sporadic.run(Env { timer: &mut timer, memory: &mut memory, threads: &mut threads }, ms(200))?;
    print("sporadic", &summary);

    println!("rt-sets: done; the hog ran {} rounds in the gaps", HOG_ROUNDS.load(Ordering::Relaxed));
    Ok(())
}
