//! `#[rt_task]` as a user writes it: the generated spec, the body, defaults, visibility.

use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;

use kaal_sched::{ms, rt_task, us, Arrival, Criticality, Edf, Engine, Task, TaskSpec};

static SENSOR_JOBS: AtomicU32 = AtomicU32::new(0);

/// Reads the sensor once.
#[rt_task(period = "100ms", deadline = "10ms", wcet = "2ms", criticality = "high", offset = "1.5ms")]
fn sensor() {
    SENSOR_JOBS.fetch_add(1, Ordering::Relaxed);
}

#[rt_task(period = "250us", wcet = "100 us")]
fn fast() {}

#[rt_task(period = "1s", wcet = "20ms", sporadic)]
fn button() {}

mod drivers {
    use kaal_sched::rt_task;

    #[rt_task(period = "5ms", wcet = "1ms", criticality = 3)]
    pub fn uart() {}
}

/// Tasks can be listed in a `static`: the constructors are `const fn`s.
static TASKS: [Task; 3] = [sensor(), fast(), drivers::uart()];

#[test]
fn the_spec_is_what_the_attribute_says() {
    let expected = TaskSpec::builder()
        .name("sensor")
        .period(ms(100))
        .deadline(ms(10))
        .wcet(ms(2))
        .criticality(Criticality::HIGH)
        .offset(us(1500))
        .build();
    assert_eq!(sensor().spec, expected);
}

#[test]
fn the_body_is_the_function() {
    let before = SENSOR_JOBS.load(Ordering::Relaxed);
    (sensor().body)();
    (TASKS[0].body)();
    assert_eq!(SENSOR_JOBS.load(Ordering::Relaxed), before + 2);
}

#[test]
fn defaults_apply() {
    let spec = fast().spec;
    assert_eq!(spec, TaskSpec::periodic("fast", us(250), us(250), us(100)));
    assert_eq!(spec.offset, Duration::ZERO);
    assert_eq!(button().spec.arrival, Arrival::Sporadic);
    assert_eq!(button().spec.deadline, Duration::from_secs(1));
}

#[test]
fn visibility_is_kept() {
    let uart = drivers::uart().spec;
    assert_eq!((uart.name, uart.criticality), ("uart", Criticality(3)));
}

#[test]
fn generated_specs_pass_the_engine() {
    let specs: Vec<TaskSpec> = TASKS.iter().map(|task| task.spec).chain([button().spec]).collect();
    let engine = Engine::new(Edf, &specs).expect("U = 0.02 + 0.4 + 0.2 + 0.02");
    assert_eq!(engine.tasks().count(), 4);
}
