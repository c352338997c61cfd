//! Besides the real-time components: `hog` spins at a low priority for ever; `witness`
//! sleeps one second (through the time service) and exits, which ends the system.
#![no_std]
#![no_main]

use core::time::Duration;

use kaal_core::component::Component;
use kaal_core::{println, Error};
use kaal_sched::runtime::Work;

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

static WORK: Work = Work::new();

fn main(mut me: Component) -> Result<(), Error> {
    if me.name() == "hog" {
        WORK.calibrate();
        println!("[hog] spinning below the real-time components");
        loop {
            WORK.run(Duration::from_millis(1));
        }
    }
    let timer = me.timer()?;
    timer.sleep(Duration::from_secs(1))?;
    println!("[witness] one second passed; ending the system");
    Ok(())
}
