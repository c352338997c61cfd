//! The engine against a small discrete-event simulator: a simulated CPU runs whichever thread
//! the engine dispatched, each job needing a given amount of CPU time, and checks that the
//! engine never begins a thread that is not waiting, resumes one that is not stopped, or runs
//! two at once.

use super::*;
use crate::policy::{Edf, FixedPriority, RoundRobin};
use crate::spec::{ms, us};
use core::time::Duration;
use std::boxed::Box;

const MS: Nanos = 1_000_000;
const FOREVER: Nanos = Nanos::MAX / 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SimThread {
    Waiting,
    Running { left: Nanos },
    Suspended { left: Nanos },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Begin(TaskId),
    Resume(TaskId),
    Stop(TaskId, Stop),
}

/// The simulated processor and recording dispatcher.
struct Machine {
    now: Nanos,
    threads: std::vec::Vec<SimThread>,
    jobs_begun: std::vec::Vec<u64>,
    /// CPU time job `n` of task `i` needs.
    work: Box<dyn FnMut(usize, u64) -> Nanos>,
    events: std::vec::Vec<(Nanos, Event)>,
    calls: std::vec::Vec<(Nanos, Call)>,
}

impl Machine {
    fn new(tasks: usize, work: impl FnMut(usize, u64) -> Nanos + 'static) -> Self {
        Machine {
            now: 0,
            threads: std::vec![SimThread::Waiting; tasks],
            jobs_begun: std::vec![0; tasks],
            work: Box::new(work),
            events: std::vec::Vec::new(),
            calls: std::vec::Vec::new(),
        }
    }

    fn running(&self) -> Option<TaskId> {
        self.threads.iter().position(|thread| matches!(thread, SimThread::Running { .. })).map(task_id)
    }

    fn events_matching(&self, wanted: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|(_, event)| wanted(event)).count()
    }

    fn calls_of(&self, call: Call) -> usize {
        self.calls.iter().filter(|(_, made)| *made == call).count()
    }

    fn started(&self) -> std::vec::Vec<(TaskId, Nanos, Nanos)> {
        self.events
            .iter()
            .filter_map(|(_, event)| match *event {
                Event::Started { task, release, at } => Some((task, release, at)),
                _ => None,
            })
            .collect()
    }
}

impl Dispatcher for Machine {
    fn begin(&mut self, task: TaskId) {
        let i = task.index();
        assert_eq!(self.threads[i], SimThread::Waiting, "begin of task {task} at {}: not waiting", self.now);
        assert_eq!(self.running(), None, "begin of task {task} at {} while another runs", self.now);
        let job = self.jobs_begun[i];
        self.jobs_begun[i] += 1;
        self.threads[i] = SimThread::Running { left: (self.work)(i, job) };
        self.calls.push((self.now, Call::Begin(task)));
    }

    fn resume(&mut self, task: TaskId) {
        let i = task.index();
        let SimThread::Suspended { left } = self.threads[i] else {
            panic!("resume of task {task} at {}: not stopped but {:?}", self.now, self.threads[i]);
        };
        assert_eq!(self.running(), None, "resume of task {task} at {} while another runs", self.now);
        self.threads[i] = SimThread::Running { left };
        self.calls.push((self.now, Call::Resume(task)));
    }

    fn stop(&mut self, task: TaskId, why: Stop) {
        let i = task.index();
        let SimThread::Running { left } = self.threads[i] else {
            panic!("stop of task {task} at {}: not running but {:?}", self.now, self.threads[i]);
        };
        self.threads[i] = SimThread::Suspended { left };
        self.calls.push((self.now, Call::Stop(task, why)));
    }

    fn report(&mut self, event: &Event) {
        self.events.push((self.now, *event));
    }
}

/// Runs `engine` on `machine` from time 0 through `horizon`, with sporadic `releases`
/// (time-ordered) from outside. Completions go first at equal times, then outside releases,
/// then the timer.
fn simulate<S: Scheduler>(engine: &mut Engine<S>, machine: &mut Machine, horizon: Nanos, releases: &[(Nanos, TaskId)]) {
    let mut wake = engine.start(0, machine);
    let mut releases = releases.iter().copied().peekable();
    for _ in 0..10_000_000 {
        let running = machine.running();
        let finish = running.map(|task| match machine.threads[task.index()] {
            SimThread::Running { left } => machine.now.saturating_add(left),
            other => panic!("{other:?}"),
        });
        let outside = releases.peek().map(|&(at, _)| at);
        let Some(next) = [wake, finish, outside].into_iter().flatten().min() else {
            return;
        };
        if next > horizon {
            return;
        }
        if let Some(task) = running {
            if let SimThread::Running { left } = &mut machine.threads[task.index()] {
                *left -= next - machine.now;
            }
        }
        machine.now = next;
        wake = if finish == Some(next) {
            let task = running.unwrap();
            machine.threads[task.index()] = SimThread::Waiting;
            engine.on_complete(task, next, machine)
        } else if outside == Some(next) {
            let (_, task) = releases.next().unwrap();
            engine.release(task, next, machine)
        } else {
            engine.on_timer(next, machine)
        };
        assert_eq!(engine.running(), machine.running(), "engine and machine disagree at {next}");
        if let Some(wake) = wake {
            assert!(wake > next, "wake-up {wake} is not after now ({next})");
        }
    }
    panic!("the simulation did not reach its horizon");
}

fn task(name: &'static str, period: Duration, deadline: Duration, wcet: Duration) -> TaskSpec {
    TaskSpec::periodic(name, period, deadline, wcet)
}

fn stats<S: Scheduler>(engine: &Engine<S>, task: u8) -> TaskStats {
    *engine.stats(TaskId(task)).unwrap()
}

/// T1 = (T 5, C 2), T2 = (T 7, C 3.85) in ms: U = 0.95.
fn classic_pair() -> [TaskSpec; 2] {
    [task("t1", ms(5), ms(5), ms(2)), task("t2", ms(7), ms(7), us(3850))]
}

/// Each job uses 95 % of its WCET.
fn classic_pair_work(task: usize, _job: u64) -> Nanos {
    [2 * MS, 3_850_000][task] * 95 / 100
}

#[test]
fn rate_monotonic_refuses_the_classic_pair_and_edf_admits_it() {
    let refusal = Engine::new(FixedPriority::rate_monotonic(), &classic_pair()).unwrap_err();
    assert_eq!(refusal.task(), Some("t2"));
    assert!(
        refusal
            .to_string()
            .starts_with("task `t2` response time 7.85 ms > deadline 7 ms under rate-monotonic priorities"),
        "{refusal}"
    );
    assert!(Engine::new(Edf, &classic_pair()).is_ok());
}

#[test]
fn edf_misses_nothing_over_a_hundred_hyperperiods() {
    let mut engine = Engine::new(Edf, &classic_pair()).unwrap();
    let mut machine = Machine::new(2, classic_pair_work);
    simulate(&mut engine, &mut machine, 100 * 35 * MS - 1, &[]);
    let (t1, t2) = (stats(&engine, 0), stats(&engine, 1));
    assert_eq!((t1.releases, t2.releases), (700, 500));
    assert_eq!((t1.completions, t2.completions), (700, 500));
    assert_eq!((t1.misses, t2.misses, t1.overruns, t2.overruns, t1.skipped, t2.skipped), (0, 0, 0, 0, 0, 0));
    assert_eq!(machine.events_matching(|event| matches!(event, Event::DeadlineMiss { .. })), 0);
    assert!(t2.worst_response <= 7 * MS && t1.worst_response <= 5 * MS);
    assert_eq!(t1.total_busy, 700 * 1_900_000);
}

#[test]
fn the_same_set_forced_under_rate_monotonic_misses_task_two() {
    let mut engine = Engine::new(FixedPriority::rate_monotonic().without_admission(), &classic_pair()).unwrap();
    let mut machine = Machine::new(2, classic_pair_work);
    simulate(&mut engine, &mut machine, 100 * 35 * MS - 1, &[]);
    let (t1, t2) = (stats(&engine, 0), stats(&engine, 1));
    assert_eq!(t1.misses, 0);
    assert!(t2.misses > 0, "{t2:?}");
    let reported = machine.events_matching(|event| {
        matches!(event, Event::DeadlineMiss { task: TaskId(1), name: "t2", finish: None, .. })
    });
    assert_eq!(reported as u64, t2.misses);
    // The first miss: t1 preempts t2 at 5 ms, so t2's first job is unfinished at 7 ms.
    assert!(machine.events.contains(&(
        7 * MS,
        Event::DeadlineMiss { task: TaskId(1), name: "t2", release: 0, deadline: 7 * MS, finish: None }
    )));
    // Its leftover work carries into the next release (skip-over), resumed, not begun.
    assert!(machine.events.contains(&(7 * MS, Event::Skipped { task: TaskId(1), name: "t2", release: 7 * MS })));
    assert_eq!(t2.skipped, t2.misses);
    assert_eq!(engine.policy().name(), "rate-monotonic");
}

#[test]
fn utilization_above_one_is_refused() {
    let tasks = [task("a", ms(5), ms(5), ms(3)), task("b", ms(100), ms(100), ms(47))];
    for refusal in [Engine::new(Edf, &tasks).unwrap_err(), Engine::new(RoundRobin::new(ms(1)), &tasks).unwrap_err()] {
        assert_eq!(
            refusal.to_string(),
            "U = 1.07 > 1: no scheduler can meet every deadline; lengthen periods or shorten WCETs"
        );
    }
}

#[test]
fn new_refuses_bad_task_lists() {
    let ok = task("a", ms(10), ms(10), ms(1));
    let twice = Engine::new(Edf, &[ok, ok]).unwrap_err();
    assert_eq!(twice, EngineError::DuplicateName { name: "a" });
    assert!(twice.to_string().contains("two tasks are named `a`"));
    let many: std::vec::Vec<TaskSpec> = (0..17).map(|_| ok).collect();
    assert_eq!(Engine::new(Edf, &many).unwrap_err(), EngineError::TooMany { limit: MAX_TASKS });
    let bad = task("b", ms(10), ms(10), ms(11));
    let error = Engine::new(Edf, &[ok, bad]).unwrap_err();
    assert!(matches!(error, EngineError::InvalidSpec(SpecError::WcetBeyondDeadline { .. })));
    assert_eq!(error.task(), Some("b"));
    let mut nothing = Engine::new(Edf, &[]).unwrap();
    assert_eq!(nothing.start(0, &mut Machine::new(0, |_, _| 0)), None);
}

#[test]
fn an_overrunning_task_is_stopped_at_its_budget_and_harms_no_one() {
    let tasks = [
        task("runaway", ms(10), ms(10), ms(2)),
        task("steady", ms(10), ms(10), ms(3)),
        task("slow", ms(20), ms(20), ms(4)),
    ];
    let mut engine = Engine::new(Edf, &tasks).unwrap();
    let mut machine = Machine::new(3, |task, _| if task == 0 { FOREVER } else { [0, 3, 4][task] * MS * 9 / 10 });
    simulate(&mut engine, &mut machine, 1000 * MS - 1, &[]);
    let runaway = stats(&engine, 0);
    assert_eq!(runaway.overruns, 100);
    assert_eq!(runaway.total_busy, 100 * 2 * MS, "exactly its budget each period");
    assert_eq!(runaway.completions, 0);
    assert_eq!(machine.calls_of(Call::Stop(TaskId(0), Stop::Budget)), 100);
    assert_eq!(machine.calls_of(Call::Begin(TaskId(0))), 1, "after the first job it is only ever resumed");
    assert_eq!(machine.calls_of(Call::Resume(TaskId(0))), 99);
    assert_eq!(
        machine.events_matching(|event| matches!(event, Event::Overrun { task: TaskId(0), budget: 2_000_000, .. })),
        100
    );
    for other in [1, 2] {
        let other = stats(&engine, other);
        assert_eq!((other.misses, other.overruns), (0, 0));
        assert_eq!(other.completions, other.releases);
    }
    assert_eq!(engine.level(), Criticality::LOW, "all tasks are low: no mode change");
}

/// An overloaded set (U = 1.28) whose low task has the highest rate-monotonic priority;
/// `important` is the criticality of the other two.
fn overloaded(important: Criticality) -> [TaskSpec; 3] {
    [
        task("chatty", ms(3), ms(3), ms(1)),
        TaskSpec::builder().name("brake").period(ms(10)).wcet(ms(4)).criticality(important).build(),
        TaskSpec::builder().name("steer").period(ms(20)).wcet(ms(11)).criticality(important).build(),
    ]
}

#[test]
fn low_criticality_work_is_shed_under_overload() {
    let run = |important| {
        let policy = FixedPriority::rate_monotonic().without_admission();
        let mut engine = Engine::new(policy, &overloaded(important)).unwrap();
        let mut machine = Machine::new(3, |task, _| [1, 4, 11][task] * MS);
        simulate(&mut engine, &mut machine, 1200 * MS - 1, &[]);
        let modes = machine.events_matching(|event| matches!(event, Event::ModeChange { .. }));
        ([0, 1, 2].map(|task| stats(&engine, task)), modes)
    };
    let ([chatty, brake, steer], modes) = run(Criticality::LOW);
    assert_eq!((chatty.shed, chatty.misses, brake.misses, modes), (0, 0, 0, 0));
    let (steer_misses, steer_completions) = (steer.misses, steer.completions);
    assert!(steer_misses > steer.releases / 2, "without criticality, steer misses most jobs: {steer:?}");

    let ([chatty, brake, steer], modes) = run(Criticality::HIGH);
    assert!(chatty.shed > 0 && modes > 0, "{chatty:?}");
    assert_eq!((chatty.misses, brake.misses), (0, 0));
    assert!(steer.misses < steer_misses, "{steer:?}");
    assert!(steer.completions > steer_completions, "{steer:?}");
}

/// A low task with the higher rate-monotonic priority crowds out a high one (U = 1.15).
fn crowded() -> [TaskSpec; 2] {
    [
        task("chatty", ms(4), ms(4), ms(3)),
        TaskSpec::builder().name("brake").period(ms(10)).wcet(ms(4)).criticality(Criticality::HIGH).build(),
    ]
}

#[test]
fn the_level_rises_at_a_miss_and_falls_at_the_next_idle_instant() {
    let policy = FixedPriority::rate_monotonic().without_admission();
    let mut engine = Engine::new(policy, &crowded()).unwrap();
    let mut machine = Machine::new(2, |task, _| [3, 4][task] * MS);
    simulate(&mut engine, &mut machine, 13 * MS, &[]);
    // brake gets 3-4 ms and 7-8 ms, so it misses at 10 ms: the level rises and chatty's running
    // job (released at 8 ms) is dropped. brake's leftover runs 10-12 ms; then nothing is
    // active, so the level falls, and chatty's thread resumes its leftover work as the 12 ms job.
    let at = |time: Nanos| -> std::vec::Vec<Event> {
        machine.events.iter().filter(|(when, _)| *when == time).map(|&(_, event)| event).collect()
    };
    assert_eq!(
        at(10 * MS),
        [
            Event::DeadlineMiss { task: TaskId(1), name: "brake", release: 0, deadline: 10 * MS, finish: None },
            Event::ModeChange { level: Criticality::HIGH },
            Event::Shed { task: TaskId(0), name: "chatty", release: 8 * MS },
            Event::Skipped { task: TaskId(1), name: "brake", release: 10 * MS },
            Event::Started { task: TaskId(1), release: 10 * MS, at: 10 * MS },
        ]
    );
    assert!(machine.calls.contains(&(10 * MS, Call::Stop(TaskId(0), Stop::Shed))));
    assert_eq!(
        at(12 * MS),
        [
            Event::Completed { task: TaskId(1), release: 10 * MS, finish: 12 * MS },
            Event::ModeChange { level: Criticality::LOW },
            Event::Started { task: TaskId(0), release: 12 * MS, at: 12 * MS },
        ]
    );
    assert!(machine.calls.contains(&(12 * MS, Call::Resume(TaskId(0)))));
    assert_eq!(engine.level(), Criticality::LOW);
}

#[test]
fn releases_are_shed_while_the_level_is_high() {
    // Only the first brake job is crowded out; from then on the level is high until idle.
    let policy = FixedPriority::rate_monotonic().without_admission();
    let mut engine = Engine::new(policy, &crowded()).unwrap();
    let mut machine = Machine::new(2, |task, job| if task == 1 && job == 0 { 30 * MS } else { [3, 4][task] * MS });
    simulate(&mut engine, &mut machine, 30 * MS, &[]);
    // The brake's first job misses at 10 ms (raising the level and dropping chatty's job),
    // carries on and exhausts its budget at 14 ms. Unfinished, it keeps the level high, so
    // chatty's releases at 12, 16, ... 28 ms are shed.
    let shed = machine.events_matching(|event| matches!(event, Event::Shed { task: TaskId(0), .. }));
    assert_eq!(shed, 6, "{:?}", machine.events);
    assert!(machine.events.contains(&(16 * MS, Event::Shed { task: TaskId(0), name: "chatty", release: 16 * MS })));
    assert_eq!(engine.level(), Criticality::HIGH);
    assert_eq!(stats(&engine, 0).releases, 3, "only those at 0, 4 and 8 ms");
    assert_eq!(stats(&engine, 0).shed as usize, shed);
}

#[test]
fn round_robin_time_slices_a_set() {
    let tasks = [task("a", ms(30), ms(30), ms(5)), task("b", ms(30), ms(30), ms(5)), task("c", ms(30), ms(30), ms(5))];
    let mut engine = Engine::new(RoundRobin::new(ms(1)), &tasks).unwrap();
    let mut machine = Machine::new(3, |_, _| 4_500_000);
    simulate(&mut engine, &mut machine, 300 * MS - 1, &[]);
    let started = machine.started();
    assert_eq!(&started[..3], &[(TaskId(0), 0, 0), (TaskId(1), 0, MS), (TaskId(2), 0, 2 * MS)]);
    assert!(machine.calls_of(Call::Stop(TaskId(0), Stop::Preempted)) >= 4 * 10);
    for (_, _, stats) in engine.tasks() {
        assert_eq!((stats.releases, stats.completions, stats.misses), (10, 10, 0));
    }
    assert_eq!(stats(&engine, 0).worst_jitter, 0);
    assert_eq!(stats(&engine, 2).worst_jitter, 2 * MS);
}

/// A custom policy: the highest task index runs first.
#[derive(Default)]
struct HighestIndexFirst {
    blocks: usize,
}

impl Scheduler for HighestIndexFirst {
    fn name(&self) -> &'static str {
        "highest-index-first"
    }

    fn on_block(&mut self, _task: TaskId, why: Block) {
        assert_eq!(why, Block::Completed);
        self.blocks += 1;
    }

    fn schedule(&mut self, _now: Nanos, ready: &[ReadyJob], _running: Option<TaskId>) -> Decision {
        assert!(!ready.is_empty());
        Decision::run(ready.iter().map(|job| job.task).max().unwrap())
    }
}

#[test]
fn a_custom_policy_runs_a_set() {
    let tasks = [task("a", ms(10), ms(10), ms(2)), task("b", ms(10), ms(10), ms(2)), task("c", ms(10), ms(10), ms(2))];
    let mut engine = Engine::new(HighestIndexFirst::default(), &tasks).unwrap();
    let mut machine = Machine::new(3, |_, _| MS);
    simulate(&mut engine, &mut machine, 100 * MS - 1, &[]);
    let first: std::vec::Vec<TaskId> = machine.started().iter().take(3).map(|&(task, _, _)| task).collect();
    assert_eq!(first, [TaskId(2), TaskId(1), TaskId(0)]);
    assert_eq!(engine.policy().blocks, 30);
    assert!(engine.tasks().all(|(_, _, stats)| stats.misses == 0 && stats.completions == 10));
}

/// A broken policy: names a task that does not exist.
struct Confused;

impl Scheduler for Confused {
    fn name(&self) -> &'static str {
        "confused"
    }

    fn schedule(&mut self, now: Nanos, _ready: &[ReadyJob], _running: Option<TaskId>) -> Decision {
        Decision { run: Some(TaskId(9)), until: Some(now) }
    }
}

#[test]
fn a_broken_policy_idles_the_processor_and_is_counted() {
    let mut engine = Engine::new(Confused, &[task("a", ms(10), ms(10), ms(2))]).unwrap();
    let mut machine = Machine::new(1, |_, _| MS);
    simulate(&mut engine, &mut machine, 25 * MS, &[]);
    assert!(machine.calls.is_empty());
    assert_eq!(stats(&engine, 0).misses, 2);
    assert!(engine.policy_errors() >= 3);
}

#[test]
fn sporadic_releases_wait_for_the_minimum_inter_arrival_time() {
    let button =
        TaskSpec::builder().name("button").arrival(Arrival::Sporadic).period(ms(10)).wcet(ms(1)).offset(ms(2)).build();
    let tasks = [button, task("tick", ms(5), ms(5), ms(1))];
    let mut engine = Engine::new(Edf, &tasks).unwrap();
    let mut machine = Machine::new(2, |_, _| MS / 2);
    let outside = [
        (MS, TaskId(0)),      // before start + offset: deferred to 2 ms
        (3 * MS, TaskId(0)),  // 1 ms after the last release: deferred to 12 ms
        (5 * MS, TaskId(0)),  // folded into the deferred one
        (30 * MS, TaskId(0)), // long after: at once
        (31 * MS, TaskId(1)), // a periodic task: ignored
        (32 * MS, TaskId(9)), // no such task: ignored
    ];
    simulate(&mut engine, &mut machine, 50 * MS, &outside);
    let releases: std::vec::Vec<Nanos> =
        machine.started().iter().filter(|&&(task, _, _)| task == TaskId(0)).map(|&(_, release, _)| release).collect();
    assert_eq!(releases, [2 * MS, 12 * MS, 30 * MS]);
    let button = stats(&engine, 0);
    assert_eq!((button.releases, button.deferred, button.coalesced, button.completions), (3, 2, 1, 3));
    assert_eq!(stats(&engine, 1).spurious, 1);
    assert_eq!(stats(&engine, 1).releases, 11);
    assert_eq!(engine.spurious(), 1);
}

#[test]
fn spurious_completions_are_ignored_and_counted() {
    let tasks = [task("a", ms(10), ms(10), ms(2)), task("b", ms(10), ms(10), ms(2))];
    let mut early = Engine::new(Edf, &tasks).unwrap();
    let mut machine = Machine::new(2, |_, _| MS);
    assert_eq!(early.on_complete(TaskId(0), 0, &mut machine), None, "before start");
    assert_eq!(early.spurious(), 1);

    let mut engine = Engine::new(Edf, &tasks).unwrap();
    let wake = engine.start(0, &mut machine);
    assert_eq!(wake, Some(2 * MS), "a's budget end");
    assert_eq!(engine.running(), Some(TaskId(0)));
    let calls = machine.calls.len();
    // b has a job but is not running; 200 is no task.
    assert_eq!(engine.on_complete(TaskId(1), MS / 2, &mut machine), Some(2 * MS));
    assert_eq!(engine.on_complete(TaskId(200), MS / 2, &mut machine), Some(2 * MS));
    assert_eq!(machine.calls.len(), calls, "nothing dispatched");
    assert_eq!((stats(&engine, 1).spurious, engine.spurious()), (1, 1));
    assert_eq!(engine.running(), Some(TaskId(0)));
    // The real completion, then a repeated one.
    machine.threads[0] = SimThread::Waiting;
    engine.on_complete(TaskId(0), MS, &mut machine);
    assert_eq!(engine.running(), Some(TaskId(1)));
    engine.on_complete(TaskId(0), MS, &mut machine);
    assert_eq!(stats(&engine, 0).spurious, 1);
    assert_eq!(stats(&engine, 0).completions, 1);
    assert_eq!(engine.stats(TaskId(5)), None);
}

#[test]
fn a_late_timer_catches_up_and_time_never_runs_backwards() {
    let mut engine = Engine::new(Edf, &[task("p", ms(10), ms(10), ms(2))]).unwrap();
    let mut machine = Machine::new(1, |_, _| FOREVER);
    assert_eq!(engine.start(0, &mut machine), Some(2 * MS));
    machine.now = 35 * MS;
    let wake = engine.on_timer(35 * MS, &mut machine);
    let p = stats(&engine, 0);
    // Budget, deadline 10 ms and releases 10, 20, 30 ms all passed: one overrun, the first
    // job's miss and one each for the 10 and 20 ms releases, which never ran; the job
    // carried into the 30 ms release and resumed with a fresh budget.
    assert_eq!((p.overruns, p.misses, p.releases, p.skipped), (1, 3, 4, 3));
    assert_eq!(p.total_busy, 35 * MS, "the late timer let it run");
    assert_eq!(
        machine.calls,
        [
            (0, Call::Begin(TaskId(0))),
            (35 * MS, Call::Stop(TaskId(0), Stop::Budget)),
            (35 * MS, Call::Resume(TaskId(0)))
        ]
    );
    assert_eq!(wake, Some(37 * MS));
    // An earlier time than already seen counts as the latest.
    assert_eq!(engine.on_timer(20 * MS, &mut machine), Some(37 * MS));
    assert_eq!(stats(&engine, 0), p);
}

#[test]
fn offsets_delay_first_releases_and_stats_measure_jitter_and_response() {
    let tasks = [
        task("a", ms(10), ms(10), ms(3)),
        task("b", ms(10), ms(8), ms(2)),
        TaskSpec::builder().name("c").period(ms(10)).wcet(ms(1)).offset(ms(5)).build(),
    ];
    let mut engine = Engine::new(Edf, &tasks).unwrap();
    let mut machine = Machine::new(3, |task, _| [2 * MS, MS, MS / 2][task]);
    simulate(&mut engine, &mut machine, 100 * MS - 1, &[]);
    assert_eq!(&machine.started()[..3], &[(TaskId(1), 0, 0), (TaskId(0), 0, MS), (TaskId(2), 5 * MS, 5 * MS)]);
    let (a, b, c) = (stats(&engine, 0), stats(&engine, 1), stats(&engine, 2));
    assert_eq!((a.worst_jitter, a.worst_response), (MS, 3 * MS));
    assert_eq!((b.worst_jitter, b.worst_response), (0, MS));
    assert_eq!((c.worst_jitter, c.worst_response), (0, MS / 2));
    assert_eq!(machine.events.first(), Some(&(0, Event::Started { task: TaskId(1), release: 0, at: 0 })));
}

#[test]
fn events_read_as_log_lines() {
    let miss = Event::DeadlineMiss { task: TaskId(1), name: "t2", release: 0, deadline: 7 * MS, finish: None };
    assert_eq!(miss.to_string(), "deadline miss: task `t2` released at 0 ns, due at 7 ms, not finished");
    let overrun = Event::Overrun { task: TaskId(0), name: "runaway", release: 10 * MS, budget: 2 * MS };
    assert_eq!(
        overrun.to_string(),
        "overrun: task `runaway` used its 2 ms budget (job released at 10 ms) and was stopped"
    );
    assert_eq!(Event::ModeChange { level: Criticality::HIGH }.to_string(), "criticality level now high");
}
