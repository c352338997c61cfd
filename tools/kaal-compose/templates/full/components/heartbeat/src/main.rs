//! Lesson 10's real-time task: a heartbeat. kaal-sched releases one job every 100 ms
//! (deadline 50 ms, half a millisecond of work, a budget of 10 ms); the job counts, and says so every 100 beats. It runs
//! beside the shell and the servers, and the scheduler's table shows its jobs and
//! misses when the system ends.
#![no_std]
#![no_main]

use core::time::Duration;

use kaal_core::component::Component;
use kaal_core::{println, Error};
use kaal_sched::component::Jobs;
use kaal_sched::runtime::Work;

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

static WORK: Work = Work::new();

fn main(mut me: Component) -> Result<(), Error> {
    let name = me.name();
    let mut jobs = Jobs::take(&mut me)?;
    WORK.calibrate();
    let mut beats = 0u64;
    loop {
        jobs.next();
        WORK.run(Duration::from_micros(500));
        beats += 1;
        if beats.is_multiple_of(100) {
            println!("[{name}] {beats} beats, every one on time");
        }
    }
}
