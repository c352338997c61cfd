//! `[realtime]` and components' `realtime`: real-time tasks, scheduled by a thread of
//! the root task (kaal-sched's runtime) that releases each job and holds it to its WCET.
//!
//! ```toml
//! [realtime]                  # optional; these are the defaults
//! policy = "edf"              # or "rate-monotonic", "deadline-monotonic"
//! timer = "hpet"              # or "pit"; not with [time] (then the time service is used)
//! priority = 230              # every real-time component's, 1 to 253
//!
//! [components.sensor]
//! path = "sensor"
//! realtime = { period = "100ms", deadline = "10ms", wcet = "2ms", criticality = "high" }
//! ```
//!
//! Each spec is checked on its own by [`TaskSpec::check`], then the whole set by the
//! policy's admission test ([`RtPolicy::admit`]): kaal-sched's own code, which the root
//! task runs again at boot, so the tool and the scheduler cannot disagree about what fits.

use std::collections::BTreeMap;
use std::ops::{Range, RangeInclusive};
use std::time::Duration;

use kaal_sched::{Arrival, Criticality, DisplayDuration, Refusal, TaskSpec, MAX_TASKS};
use toml::Spanned;

use super::super::raw::{Name, RawComponent, RawRealtime, RawRealtimeTask, RawTime, Tables};
use super::super::{did_you_mean, key_part, Component, Realtime, Resources, RtPolicy, TimeSource};
use super::Checker;

/// The real-time scheduler's thread: above every component, so that it can always
/// preempt one to release a job or hold a task to its WCET.
pub(super) const SCHEDULER_PRIORITY: i64 = 254;
/// The time service's thread (and the root task's).
const TIME_PRIORITY: i64 = 255;
/// Real-time components run below the scheduler's thread and the time service.
const PRIORITIES: RangeInclusive<i64> = 1..=SCHEDULER_PRIORITY - 1;
const DEFAULT_PRIORITY: u8 = 230;
const DEFAULT_TIMER: TimeSource = TimeSource::Hpet;
/// The timers the scheduler can drive, as system.toml names them.
const TIMERS: [(&str, TimeSource); 2] = [("hpet", TimeSource::Hpet), ("pit", TimeSource::Pit)];
const CRITICALITIES: [(&str, Criticality); 2] = [("low", Criticality::LOW), ("high", Criticality::HIGH)];
const SPEC_RULES: &str = "a real-time task needs 0 < wcet <= deadline <= period, a period from 10 us to 1 hour \
                          and an offset under 1 hour";

/// What `[realtime]` and the components' `realtime` tables come to.
pub(super) struct RtTasks {
    /// The scheduler, if any component is real-time (with defaults for what is wrong).
    pub scheduler: Option<Realtime>,
    /// Each real-time component's checked spec, by component name.
    pub specs: BTreeMap<String, TaskSpec>,
    /// Every real-time component's spec is valid and there are few enough of them to
    /// analyse as a set.
    pub analysable: bool,
}

/// The components with `realtime`, in file order.
fn rt_components(raw: &Tables<RawComponent>) -> Vec<(&Name, &RawComponent, &Spanned<RawRealtimeTask>)> {
    let mut tasks: Vec<_> = raw
        .iter()
        .filter_map(|(name, table)| {
            let component = table.get_ref();
            component.realtime.as_ref().map(|task| (name, component, task))
        })
        .collect();
    tasks.sort_by_key(|(_, _, task)| task.span().start);
    tasks
}

/// kaal-sched names tasks with `&'static str` (it runs without a heap); the tool keeps
/// the few bytes of each real-time component's name for as long as it runs.
fn static_name(name: &str) -> &'static str {
    Box::leak(name.to_string().into_boxed_str())
}

impl Checker<'_> {
    /// Checks `[realtime]` and every component's `realtime`, each spec on its own, and
    /// that the scheduler's timer is its alone.
    pub(super) fn realtime(
        &mut self,
        raw: Option<&Spanned<RawRealtime>>,
        raw_components: &Tables<RawComponent>,
        raw_time: Option<&Spanned<RawTime>>,
        resources: &Resources,
        priorities_valid: bool,
    ) -> RtTasks {
        let tasks = rt_components(raw_components);
        let mut out = RtTasks { scheduler: None, specs: BTreeMap::new(), analysable: true };
        let scheduler = self.scheduler(raw, raw_time);
        if let (Some(raw), true) = (raw, tasks.is_empty()) {
            self.report(
                &raw.span(),
                "realtime",
                "[realtime] is declared, but no component has `realtime`: nothing to schedule",
                "give a component `realtime = { period = \"100ms\", wcet = \"2ms\" }`, or remove [realtime]",
            );
        }
        let Some((first_name, _, first)) = tasks.first() else { return out };
        if priorities_valid {
            let first_key = format!("components.{}.realtime", key_part(first_name.get_ref()));
            self.rt_priority_allowed(raw, &scheduler, (&first.span(), &first_key), resources);
        }
        for (name, component, task) in &tasks {
            let key = format!("components.{}", key_part(name.get_ref()));
            if let Some(priority) = &component.priority {
                self.report(
                    &priority.span(),
                    format!("{key}.priority"),
                    format!("a real-time component runs at [realtime] priority ({})", scheduler.priority),
                    "remove `priority`; [realtime] `priority` sets it for every real-time component",
                );
            }
            if let Some(passive) = component.passive.as_ref().filter(|p| *p.get_ref()) {
                self.report(
                    &passive.span(),
                    format!("{key}.passive"),
                    "a real-time component cannot be passive: it runs its jobs on its own time, released by the \
                     scheduler, not on its callers'",
                    "remove `passive`, or `realtime` if it is a server",
                );
            }
            if let Some(budget) = component.budget.as_ref() {
                self.report(
                    &budget.span(),
                    format!("{key}.budget"),
                    "a real-time component's budget is its `realtime` wcet, which the real-time scheduler enforces",
                    "remove `budget` (and `period`, `overrun`): `realtime = { period, wcet }` replaces them",
                );
            }
            match self.task_spec(name.get_ref(), task, &format!("{key}.realtime")) {
                Some(spec) => {
                    out.specs.insert(name.get_ref().clone(), spec);
                }
                None => out.analysable = false,
            }
        }
        if let Some((_, _, over)) = tasks.get(MAX_TASKS) {
            let name = tasks[MAX_TASKS].0.get_ref();
            self.report(
                &over.span(),
                format!("components.{}.realtime", key_part(name)),
                format!(
                    "the system has {} real-time components, but the scheduler runs at most {MAX_TASKS}",
                    tasks.len()
                ),
                "make some of them ordinary components (remove `realtime`), or merge tasks with the same period \
                 into one component",
            );
            out.analysable = false;
        }
        if let Some(timer) = scheduler.timer {
            self.rt_timer_claims(raw_components, raw, timer);
        }
        out.scheduler = Some(scheduler);
        out
    }

    /// In a system with real-time components, an ordinary component's `priority` must lie
    /// below the scheduler's thread (254) and the time service (255): reports it if not,
    /// and returns whether it does.
    pub(super) fn below_rt_scheduler(&mut self, name: &str, priority: &Spanned<i64>, key: &str) -> bool {
        let level = match *priority.get_ref() {
            SCHEDULER_PRIORITY => "level with the real-time scheduler's thread".to_string(),
            TIME_PRIORITY => {
                format!("above the real-time scheduler's thread ({SCHEDULER_PRIORITY}), level with the time service")
            }
            _ => return true,
        };
        self.report(
            &priority.span(),
            key,
            format!("component `{name}` runs at priority {}, {level}", priority.get_ref()),
            format!(
                "real-time systems keep components at {} or below, so the scheduler ({SCHEDULER_PRIORITY}) can \
                 always preempt them",
                PRIORITIES.end()
            ),
        );
        false
    }

    /// `[realtime]` itself: the policy, the timer and the priority, each defaulted when
    /// absent or wrong (after reporting it).
    fn scheduler(&mut self, raw: Option<&Spanned<RawRealtime>>, raw_time: Option<&Spanned<RawTime>>) -> Realtime {
        let raw = raw.map(Spanned::get_ref);
        let policy = match raw.and_then(|r| r.policy.as_ref()) {
            None => RtPolicy::default(),
            Some(policy) => match RtPolicy::ALL.into_iter().find(|p| p.as_str() == policy.get_ref()) {
                Some(known) => known,
                None => {
                    let suggestion = did_you_mean(policy.get_ref(), RtPolicy::ALL.map(RtPolicy::as_str));
                    self.report(
                        &policy.span(),
                        "realtime.policy",
                        format!("real-time policy `{}` does not exist", policy.get_ref()),
                        format!(
                            "{suggestion}use `policy = \"edf\"` (earliest deadline first, the default), \
                             \"rate-monotonic\" or \"deadline-monotonic\" (fixed priorities by period or by deadline)"
                        ),
                    );
                    RtPolicy::default()
                }
            },
        };
        let timer = match (raw.and_then(|r| r.timer.as_ref()), raw_time) {
            (Some(timer), Some(raw_time)) => {
                let line = self.source.line(raw_time.span().start);
                self.report(
                    &timer.span(),
                    "realtime.timer",
                    format!(
                        "the system has a time service ([time] at line {line}), so the real-time scheduler claims \
                         no timer of its own: it sets its deadlines through the time service"
                    ),
                    "remove `timer`, or remove [time] to give the scheduler a timer of its own",
                );
                None
            }
            (_, Some(_)) => None,
            (None, None) => Some(DEFAULT_TIMER),
            (Some(timer), None) => match TIMERS.iter().find(|(name, _)| name == timer.get_ref()) {
                Some((_, source)) => Some(*source),
                None => {
                    let suggestion = did_you_mean(timer.get_ref(), TIMERS.map(|(name, _)| name));
                    self.report(
                        &timer.span(),
                        "realtime.timer",
                        format!("the real-time scheduler cannot drive timer `{}`", timer.get_ref()),
                        format!(
                            "{suggestion}use `timer = \"hpet\"` (the HPET's timer 0, the default) or `timer = \
                             \"pit\"` (the 8254)"
                        ),
                    );
                    Some(DEFAULT_TIMER)
                }
            },
        };
        let priority = raw.and_then(|r| r.priority.as_ref()).map_or(Some(i64::from(DEFAULT_PRIORITY)), |raw| {
            self.in_range(
                raw,
                "realtime.priority",
                PRIORITIES,
                |n| format!("real-time priority {n} is out of range"),
                &format!(
                    "real-time priorities run from {} to {}: the scheduler's thread runs at 254 and the time \
                     service at 255, above them",
                    PRIORITIES.start(),
                    PRIORITIES.end()
                ),
            )
        });
        let priority = priority.map_or(DEFAULT_PRIORITY, |p| p as u8);
        Realtime { policy, timer, priority }
    }

    /// The real-time priority must lie in `[resources] priorities`, like every other.
    fn rt_priority_allowed(
        &mut self,
        raw: Option<&Spanned<RawRealtime>>,
        scheduler: &Realtime,
        (first_task, first_key): (&Range<usize>, &str),
        resources: &Resources,
    ) {
        let (low, high) = (resources.lowest_priority, resources.highest_priority);
        let priority = scheduler.priority;
        if (low..=high).contains(&priority) {
            return;
        }
        let range = format!("[resources] priorities ({low} to {high})");
        match raw.and_then(|r| r.get_ref().priority.as_ref()) {
            // Out of range, and reported: the scheduler fell back to the default.
            Some(raw_priority) if *raw_priority.get_ref() != i64::from(priority) => {}
            Some(raw_priority) => self.report(
                &raw_priority.span(),
                "realtime.priority",
                format!("real-time priority {priority} is outside {range}"),
                format!("pick a [realtime] priority from {low} to {high}, or widen [resources] priorities"),
            ),
            None => self.report(
                first_task,
                first_key,
                format!("real-time components run at the default [realtime] priority {priority}, outside {range}"),
                format!("add [realtime] with `priority` from {low} to {high}, or widen [resources] priorities"),
            ),
        }
    }

    /// One component's `realtime`, as a checked spec named after the component.
    fn task_spec(&mut self, name: &str, raw: &Spanned<RawRealtimeTask>, key: &str) -> Option<TaskSpec> {
        let task = raw.get_ref();
        let period = self.rt_duration(Some(&task.period), &format!("{key}.period"), "period = \"100ms\"");
        let wcet = self.rt_duration(Some(&task.wcet), &format!("{key}.wcet"), "wcet = \"2ms\"");
        let deadline = self.rt_duration(task.deadline.as_ref(), &format!("{key}.deadline"), "deadline = \"10ms\"");
        let offset = self.rt_duration(task.offset.as_ref(), &format!("{key}.offset"), "offset = \"5ms\"");
        let criticality = match &task.criticality {
            None => Some(Criticality::LOW),
            Some(raw) => match CRITICALITIES.iter().find(|(name, _)| name == raw.get_ref()) {
                Some((_, level)) => Some(*level),
                None => {
                    let suggestion = did_you_mean(raw.get_ref(), CRITICALITIES.map(|(name, _)| name));
                    self.report(
                        &raw.span(),
                        format!("{key}.criticality"),
                        format!("criticality `{}` does not exist", raw.get_ref()),
                        format!(
                            "{suggestion}use `criticality = \"low\"` (its jobs are shed first under overload, the \
                             default) or `criticality = \"high\"`"
                        ),
                    );
                    None
                }
            },
        };
        let (Some(Some(period)), Some(Some(wcet)), Some(deadline), Some(offset), Some(criticality)) =
            (period, wcet, deadline, offset, criticality)
        else {
            return None;
        };
        let spec = TaskSpec {
            name: static_name(name),
            arrival: Arrival::Periodic,
            period,
            deadline: deadline.unwrap_or(period),
            wcet,
            criticality,
            offset: offset.unwrap_or(Duration::ZERO),
        };
        if let Err(error) = spec.check() {
            self.report(&raw.span(), key, error.to_string(), SPEC_RULES);
            return None;
        }
        Some(spec)
    }

    /// A duration written for kaal-sched (`"100ms"`, `"1.5ms"`, `"250us"`), read by its
    /// own parser: `None` if it is wrong (after reporting it), `Some(None)` if absent.
    fn rt_duration(&mut self, raw: Option<&Spanned<String>>, key: &str, example: &str) -> Option<Option<Duration>> {
        let Some(raw) = raw else { return Some(None) };
        match kaal_sched::parse_duration(raw.get_ref()) {
            Ok(duration) => Some(Some(duration)),
            Err(error) => {
                self.report(
                    &raw.span(),
                    key,
                    format!("`{}` is not a duration: {error}", raw.get_ref()),
                    format!(
                        "write a number and a unit, e.g. `{example}` (units: ns, us or µs, ms, s; decimals such as \
                         \"1.5ms\" are fine)"
                    ),
                );
                None
            }
        }
    }

    /// Without a time service the scheduler drives `timer` itself, so no component may
    /// claim it, nor the other of the PIT and the HPET: the HPET's timer 0 takes over the
    /// PIT's interrupt line, so whichever of the two the scheduler drives, it holds the
    /// line the broker lists both on.
    fn rt_timer_claims(
        &mut self,
        raw_components: &Tables<RawComponent>,
        raw: Option<&Spanned<RawRealtime>>,
        timer: TimeSource,
    ) {
        let at = match raw {
            Some(raw) => format!("[realtime] at line {}", self.source.line(raw.span().start)),
            None => "the default in a system without [time]".to_string(),
        };
        for (name, table) in raw_components {
            let devices = table.get_ref().devices.as_ref().map(|d| d.get_ref().as_slice()).unwrap_or_default();
            for device in devices.iter().filter(|d| timer.devices().contains(&d.get_ref().as_str())) {
                let why = if device.get_ref() == timer.device() {
                    "is the real-time scheduler's timer".to_string()
                } else {
                    timer.shared_line("the real-time scheduler")
                };
                self.report(
                    &device.span(),
                    format!("components.{}.devices", key_part(name.get_ref())),
                    format!("device `{}` {why} ({at})", device.get_ref()),
                    "remove it from the component's devices: whichever of the PIT and the HPET the scheduler \
                     drives, it holds the one interrupt line they share; a component that needs sleeps or timeouts \
                     can have `time = true` with a time service ([time]), which the scheduler then uses too",
                );
            }
        }
    }

    /// The whole task set, under the scheduler's policy: kaal-sched's admission test.
    /// `components` are in start order, which is task order.
    pub(super) fn rt_admission(
        &mut self,
        raw: Option<&Spanned<RawRealtime>>,
        raw_components: &Tables<RawComponent>,
        scheduler: &Realtime,
        components: &[Component],
    ) {
        let specs: Vec<TaskSpec> = components.iter().filter_map(|c| c.realtime).collect();
        let Err(refusal) = scheduler.policy.admit(&specs) else { return };
        let (span, key) = match (raw, rt_components(raw_components).first()) {
            (Some(raw), _) => (raw.span(), "realtime".to_string()),
            (None, Some((name, _, task))) => (task.span(), format!("components.{}.realtime", key_part(name.get_ref()))),
            (None, None) => return,
        };
        let d = DisplayDuration;
        let nanos = |duration: Duration| u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        let list: Vec<String> = specs
            .iter()
            .map(|spec| {
                let deadline = if spec.deadline == spec.period {
                    String::new()
                } else {
                    format!(" (deadline {})", d(nanos(spec.deadline)))
                };
                format!("`{}` {} every {}{deadline}", spec.name, d(nanos(spec.wcet)), d(nanos(spec.period)))
            })
            .collect();
        let advice = match (refusal, scheduler.policy) {
            (Refusal::Overload { .. }, _) => {
                "the processor is overloaded under any policy: lengthen periods or shorten WCETs, or make a \
                 component an ordinary one (remove its `realtime`)"
            }
            (_, RtPolicy::Edf) => {
                "lengthen periods or deadlines, or shorten WCETs; EDF is optimal on one processor, so no other policy \
                 fits this set"
            }
            _ => {
                "lengthen periods or shorten WCETs, or switch to `policy = \"edf\"` in [realtime], which meets every \
                 deadline that any policy can on one processor"
            }
        };
        self.report(
            &span,
            key,
            refusal.to_string(),
            format!("the tasks (WCET every period): {}\n{advice}", list.join(", ")),
        );
    }
}
