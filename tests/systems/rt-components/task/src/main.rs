//! A real-time component: one job per release, of a length set by its name.
//!
//! `sensor` computes for 1 ms per job, `control` for 2 ms; `runaway` does three 1 ms
//! jobs and then never finishes one; `faulty` writes through a null pointer in its
//! second job.
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
    let work = match name {
        "control" => Duration::from_millis(2),
        _ => Duration::from_millis(1),
    };
    let mut jobs = Jobs::take(&mut me)?;
    WORK.calibrate();
    println!("[{name}] waiting for its first release");
    let mut done = 0u64;
    loop {
        jobs.next();
        if name == "runaway" && done == 3 {
            println!("[{name}] job 4 runs away");
            loop {
                WORK.run(Duration::from_micros(100));
            }
        }
        if name == "faulty" && done == 1 {
            println!("[{name}] job 2 writes through a null pointer");
            // SAFETY: none; faulting is the point (the supervisor stops this component).
            unsafe { core::ptr::write_volatile(core::ptr::null_mut::<u64>().wrapping_add(2), 1) };
        }
        WORK.run(work);
        done += 1;
        if done == 10 {
            println!("[{name}] 10 jobs done");
        }
    }
}
