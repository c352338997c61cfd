//! The arguments of `#[rt_task(...)]`: durations read at compile time, checked against each
//! other, every error pointing at the literal at fault.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::{Lit, LitStr};

use crate::duration_text::parse_nanos;

/// A duration argument: its value in nanoseconds and the literal it came from.
#[derive(Debug, Clone)]
pub(crate) struct DurationArg {
    pub nanos: u64,
    pub literal: LitStr,
}

/// The timing of one task, as written in the attribute (before defaults).
#[derive(Debug, Default)]
pub(crate) struct TaskArgs {
    pub period: Option<DurationArg>,
    pub deadline: Option<DurationArg>,
    pub wcet: Option<DurationArg>,
    pub criticality: Option<u8>,
    pub offset: Option<DurationArg>,
    pub sporadic: bool,
}

/// The timing of one task with defaults applied, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    pub period: u64,
    pub deadline: u64,
    pub wcet: u64,
    pub criticality: u8,
    pub offset: u64,
    pub sporadic: bool,
}

const KEYS: &str = "period, deadline, wcet, criticality, offset or sporadic";

impl TaskArgs {
    /// Takes one `key = value` (or `sporadic`) from the attribute.
    pub fn parse(&mut self, meta: ParseNestedMeta<'_>) -> syn::Result<()> {
        let Some(key) = meta.path.get_ident().map(ToString::to_string) else {
            return Err(meta.error(format!("expected one of {KEYS}")));
        };
        match key.as_str() {
            "period" => set_once(&mut self.period, duration(&meta, &key)?, &meta, &key),
            "deadline" => set_once(&mut self.deadline, duration(&meta, &key)?, &meta, &key),
            "wcet" => set_once(&mut self.wcet, duration(&meta, &key)?, &meta, &key),
            "offset" => set_once(&mut self.offset, duration(&meta, &key)?, &meta, &key),
            "criticality" => {
                let level = criticality(&meta)?;
                set_once(&mut self.criticality, level, &meta, &key)
            }
            "sporadic" => {
                if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
                    return Err(meta.error("`sporadic` takes no value: write just `sporadic`"));
                }
                if self.sporadic {
                    return Err(meta.error("`sporadic` is given twice; write it once"));
                }
                self.sporadic = true;
                Ok(())
            }
            _ => Err(meta.error(format!("unknown argument `{key}`; expected one of {KEYS}"))),
        }
    }

    /// Applies the defaults (deadline = period, criticality low, offset zero) and checks what
    /// can be checked here: required arguments, WCET ≤ deadline ≤ period, WCET above zero.
    /// `kaal_sched::Engine::new` checks every spec again at run time, bounds included.
    pub fn finish(self) -> syn::Result<Timing> {
        let Some(period) = self.period else {
            return Err(syn::Error::new(
                Span::call_site(),
                "`period` is required: the time between releases (the minimum for a sporadic task), \
                 e.g. period = \"100ms\"",
            ));
        };
        let Some(wcet) = self.wcet else {
            return Err(syn::Error::new(
                Span::call_site(),
                "`wcet` is required: the budget the scheduler enforces, e.g. wcet = \"2ms\"",
            ));
        };
        let deadline = self.deadline.unwrap_or_else(|| period.clone());
        if wcet.nanos == 0 {
            return Err(syn::Error::new(
                wcet.literal.span(),
                "`wcet` is zero; give the budget one job needs, e.g. wcet = \"2ms\"",
            ));
        }
        if deadline.nanos > period.nanos {
            return Err(syn::Error::new(
                deadline.literal.span(),
                format!(
                    "deadline {:?} is longer than the period {:?}; deadlines beyond the period are not supported",
                    deadline.literal.value(),
                    period.literal.value()
                ),
            ));
        }
        if wcet.nanos > deadline.nanos {
            return Err(syn::Error::new(
                wcet.literal.span(),
                format!(
                    "wcet {:?} is longer than the deadline {:?}; shorten the work or lengthen the deadline",
                    wcet.literal.value(),
                    deadline.literal.value()
                ),
            ));
        }
        Ok(Timing {
            period: period.nanos,
            deadline: deadline.nanos,
            wcet: wcet.nanos,
            criticality: self.criticality.unwrap_or(0),
            offset: self.offset.map_or(0, |offset| offset.nanos),
            sporadic: self.sporadic,
        })
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T, meta: &ParseNestedMeta<'_>, key: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(meta.error(format!("`{key}` is given twice; keep one")));
    }
    *slot = Some(value);
    Ok(())
}

/// `key = "10ms"`, read with the same rules as `kaal_sched::parse_duration`.
fn duration(meta: &ParseNestedMeta<'_>, key: &str) -> syn::Result<DurationArg> {
    let literal: LitStr = meta.value()?.parse().map_err(|error| {
        syn::Error::new(error.span(), format!("`{key}` is a duration in quotes, e.g. {key} = \"10ms\""))
    })?;
    let nanos =
        parse_nanos(&literal.value()).map_err(|error| syn::Error::new(literal.span(), format!("`{key}`: {error}")))?;
    Ok(DurationArg { nanos, literal })
}

/// `criticality = "low" | "high" | <level 0..=255>`.
fn criticality(meta: &ParseNestedMeta<'_>) -> syn::Result<u8> {
    const EXPECTED: &str = "criticality is \"low\", \"high\" or a level from 0 to 255, e.g. criticality = \"high\"";
    let literal: Lit = meta.value()?.parse()?;
    match &literal {
        Lit::Str(text) => match text.value().as_str() {
            "low" => Ok(0),
            "high" => Ok(1),
            _ => Err(syn::Error::new(text.span(), EXPECTED)),
        },
        Lit::Int(level) => level.base10_parse::<u8>().map_err(|_| syn::Error::new(level.span(), EXPECTED)),
        other => Err(syn::Error::new(other.span(), EXPECTED)),
    }
}
