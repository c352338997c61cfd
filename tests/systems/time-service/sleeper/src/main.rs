//! Sleeps, then waits on a ring with a timeout: first one that expires, then one that
//! a value ends. Prints what it measured with the time-stamp counter.
#![no_std]
#![no_main]

use kaal_core::component::Component;
use kaal_core::time::{Duration, Instant};
use kaal_core::{println, Error};
use kaal_ipc::ring_grant::TimedRecvError;

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(mut me: Component) -> Result<(), Error> {
    let timer = me.timer()?;
    let mut rx = kaal_ipc::ring_grant::receiver::<u64>(&mut me, "late")?;
    let fail = |e: TimedRecvError| {
        println!("[sleeper] timed receive failed: {e}");
        Error::InvalidSize { what: "timed receive", value: 0, limit: 0 }
    };

    let start = Instant::now();
    timer.sleep(Duration::from_millis(100))?;
    println!("[sleeper] sleep(100 ms) took {} us", start.elapsed().as_micros());

    let waited = Instant::now();
    match rx.recv_timeout(&timer, Duration::from_millis(30)).map_err(fail)? {
        None => println!("[sleeper] nothing within 30 ms: timed out after {} us", waited.elapsed().as_micros()),
        Some(v) => println!("[sleeper] UNEXPECTED: {v} arrived within 30 ms"),
    }

    let waited = Instant::now();
    match rx.recv_timeout(&timer, Duration::from_secs(2)).map_err(fail)? {
        Some(v) => println!("[sleeper] got {v} after {} us of a 2 s timeout", waited.elapsed().as_micros()),
        None => println!("[sleeper] UNEXPECTED: nothing within 2 s"),
    }

    // A deadline already passed returns at once.
    let now = Instant::now();
    timer.sleep_until(now)?;
    println!("[sleeper] sleep_until(now) returned after {} us", now.elapsed().as_micros());
    Ok(())
}
