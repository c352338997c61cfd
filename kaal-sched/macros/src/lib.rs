//! # kaal-sched-macros: `#[rt_task]`
//!
//! Turns a function doing one job of work into a real-time task. Use it through kaal-sched,
//! which re-exports it as `kaal_sched::rt_task`.
//!
//! ```ignore
//! use kaal_sched::rt_task;
//!
//! #[rt_task(period = "100ms", deadline = "10ms", wcet = "2ms", criticality = "high")]
//! pub fn sensor() {
//!     // one job: read, filter, publish
//! }
//!
//! let task: kaal_sched::Task = sensor(); // its spec and its body
//! ```
//!
//! ## Arguments
//!
//! - `period` (required): time between releases; for a `sporadic` task, the minimum.
//! - `wcet` (required): the worst-case execution time of one job, the budget the scheduler
//!   enforces.
//! - `deadline`: within how long of its release a job must finish; defaults to the period.
//! - `criticality`: `"low"` (default), `"high"` or a level `0..=255`.
//! - `offset`: delay of the first release after start; defaults to `"0ms"`.
//! - `sporadic`: released from outside (`Engine::release`) rather than by the timer.
//!
//! Durations are strings such as `"100ms"`, `"1.5ms"`, `"250us"`, `"2s"`, `"500ns"`, read at
//! compile time by the very parser `kaal_sched::parse_duration` uses; a bad one is a compile
//! error pointing at the literal, as is a WCET above the deadline or a deadline above the
//! period.
//!
//! ## What is generated
//!
//! For `#[rt_task(...)] <vis> fn sensor() { .. }`:
//!
//! - the function itself, renamed `__kaal_rt_task_sensor` (hidden from docs);
//! - `<vis> const fn sensor() -> kaal_sched::Task`, returning the `TaskSpec` (named
//!   `"sensor"`) with the function as its `body`; doc comments and `#[cfg]`s of the original
//!   apply to it too.
//!
//! The function must be a plain free function: no arguments, no generics, returning `()`, not
//! `async`, `unsafe` or `extern`.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote};
use syn::ext::IdentExt;
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{ItemFn, ReturnType};

mod args;
// The duration parser is kaal-sched's own file, compiled here as a module (rather than
// copied), so that compile-time and run-time durations follow one set of rules.
#[path = "../../src/duration_text.rs"]
mod duration_text;

use args::{TaskArgs, Timing};

/// Turns `fn name()` into a real-time task: `const fn name() -> kaal_sched::Task`. See the
/// crate docs for the arguments.
#[proc_macro_attribute]
pub fn rt_task(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(attr.into(), item.into()).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// The whole expansion, on `proc_macro2` streams so that unit tests can run it.
fn expand(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let mut args = TaskArgs::default();
    syn::meta::parser(|meta| args.parse(meta)).parse2(attr)?;
    let timing = args.finish()?;
    let mut body: ItemFn = syn::parse2(item)?;
    check_signature(&body)?;

    let name = body.sig.ident.clone();
    let name_text = name.unraw().to_string();
    body.sig.ident = format_ident!("__kaal_rt_task_{}", name_text, span = name.span());
    let body_name = &body.sig.ident;
    let vis = &body.vis;
    let carried = body.attrs.iter().filter(|attr| attr.path().is_ident("doc") || attr.path().is_ident("cfg"));
    let spec = spec_tokens(&name_text, &timing);
    Ok(quote! {
        #[doc(hidden)]
        #body

        #(#carried)*
        #[must_use]
        #vis const fn #name() -> ::kaal_sched::Task {
            ::kaal_sched::Task { spec: #spec, body: #body_name }
        }
    })
}

/// Refuses what cannot become a `fn()` run once per release.
fn check_signature(item: &ItemFn) -> syn::Result<()> {
    let sig = &item.sig;
    let refuse = |span: proc_macro2::Span, what: &str| {
        Err(syn::Error::new(span, format!("a real-time task {what}; #[rt_task] needs a plain `fn name() {{ .. }}`")))
    };
    if let Some(asyncness) = &sig.asyncness {
        return refuse(asyncness.span(), "cannot be `async`: a job runs to completion on its own thread");
    }
    if let Some(unsafety) = &sig.unsafety {
        return refuse(unsafety.span(), "cannot be `unsafe`: the scheduler calls it with no safety contract");
    }
    if let Some(abi) = &sig.abi {
        return refuse(abi.span(), "cannot have an `extern` ABI");
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return refuse(sig.generics.span(), "cannot be generic");
    }
    if !sig.inputs.is_empty() {
        return refuse(sig.inputs.span(), "takes no arguments: keep its state in statics or its own module");
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        let unit = matches!(&**ty, syn::Type::Tuple(tuple) if tuple.elems.is_empty());
        if !unit {
            return refuse(ty.span(), "returns nothing: report results through IPC or shared state");
        }
    }
    Ok(())
}

/// `kaal_sched::TaskSpec { .. }` as a constant expression.
fn spec_tokens(name: &str, timing: &Timing) -> TokenStream2 {
    let Timing { period, deadline, wcet, criticality, offset, sporadic } = *timing;
    let arrival = if sporadic { quote!(Sporadic) } else { quote!(Periodic) };
    quote! {
        ::kaal_sched::TaskSpec {
            name: #name,
            arrival: ::kaal_sched::Arrival::#arrival,
            period: ::core::time::Duration::from_nanos(#period),
            deadline: ::core::time::Duration::from_nanos(#deadline),
            wcet: ::core::time::Duration::from_nanos(#wcet),
            criticality: ::kaal_sched::Criticality(#criticality),
            offset: ::core::time::Duration::from_nanos(#offset),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn timing(attr: TokenStream2) -> syn::Result<Timing> {
        let mut args = TaskArgs::default();
        syn::meta::parser(|meta| args.parse(meta)).parse2(attr)?;
        args.finish()
    }

    fn error(attr: TokenStream2) -> String {
        timing(attr).unwrap_err().to_string()
    }

    #[test]
    fn reads_every_argument() {
        let timing = timing(quote!(
            period = "100ms",
            deadline = "10 ms",
            wcet = "1.5ms",
            criticality = "high",
            offset = "250us",
            sporadic
        ))
        .unwrap();
        assert_eq!(
            timing,
            Timing {
                period: 100_000_000,
                deadline: 10_000_000,
                wcet: 1_500_000,
                criticality: 1,
                offset: 250_000,
                sporadic: true
            }
        );
    }

    #[test]
    fn applies_the_defaults() {
        let defaults = timing(quote!(period = "5ms", wcet = "2ms")).unwrap();
        assert_eq!(
            defaults,
            Timing {
                period: 5_000_000,
                deadline: 5_000_000,
                wcet: 2_000_000,
                criticality: 0,
                offset: 0,
                sporadic: false
            }
        );
        assert_eq!(timing(quote!(period = "5ms", wcet = "2ms", criticality = 7)).unwrap().criticality, 7);
    }

    #[test]
    fn says_what_is_missing_or_wrong() {
        assert_eq!(
            error(quote!(period = "100ms")),
            "`wcet` is required: the budget the scheduler enforces, e.g. wcet = \"2ms\""
        );
        assert!(error(quote!(wcet = "2ms")).starts_with("`period` is required"));
        assert!(error(quote!(period = "100", wcet = "2ms")).starts_with("`period`: the duration has no unit"));
        assert!(error(quote!(period = "1.5ns", wcet = "1ns")).contains("whole number of nanoseconds"));
        assert!(error(quote!(period = 100, wcet = "2ms")).contains("a duration in quotes"));
        assert!(error(quote!(period = "10ms", wcet = "12ms"))
            .contains("wcet \"12ms\" is longer than the deadline \"10ms\""));
        assert!(error(quote!(period = "10ms", deadline = "20ms", wcet = "2ms")).contains("deadlines beyond the period"));
        assert!(error(quote!(period = "10ms", wcet = "0ms")).contains("`wcet` is zero"));
        assert!(error(quote!(period = "10ms", period = "20ms", wcet = "2ms")).contains("`period` is given twice"));
        assert!(error(quote!(period = "10ms", wcet = "2ms", budget = "2ms")).contains("unknown argument `budget`"));
        assert!(error(quote!(period = "10ms", wcet = "2ms", criticality = "medium")).contains("\"low\", \"high\""));
        assert!(error(quote!(period = "10ms", wcet = "2ms", criticality = 300)).contains("0 to 255"));
        assert!(error(quote!(period = "10ms", wcet = "2ms", sporadic = true)).contains("`sporadic` takes no value"));
    }

    #[test]
    fn expands_to_a_body_and_a_constructor() {
        let out = expand(
            quote!(period = "100ms", wcet = "2ms"),
            quote!(
                /// Reads the sensor.
                pub(crate) fn sensor() {}
            ),
        )
        .unwrap()
        .to_string();
        assert!(out.contains("pub (crate) fn __kaal_rt_task_sensor ()"), "{out}");
        assert!(out.contains("pub (crate) const fn sensor () -> :: kaal_sched :: Task"), "{out}");
        assert!(out.contains("name : \"sensor\""), "{out}");
        assert!(out.contains("from_nanos (100000000u64)"), "{out}");
        assert!(out.contains("body : __kaal_rt_task_sensor"), "{out}");
        assert_eq!(out.matches("Reads the sensor.").count(), 2, "docs on both: {out}");
    }

    #[test]
    fn refuses_functions_that_cannot_be_jobs() {
        let attr = || quote!(period = "100ms", wcet = "2ms");
        let refused = |item: TokenStream2| expand(attr(), item).unwrap_err().to_string();
        assert!(refused(quote!(
            fn f(x: u32) {}
        ))
        .contains("takes no arguments"));
        assert!(refused(quote!(
            fn f<T>() {}
        ))
        .contains("cannot be generic"));
        assert!(refused(quote!(
            async fn f() {}
        ))
        .contains("cannot be `async`"));
        assert!(refused(quote!(
            unsafe fn f() {}
        ))
        .contains("cannot be `unsafe`"));
        assert!(refused(quote!(
            extern "C" fn f() {}
        ))
        .contains("`extern`"));
        assert!(refused(quote!(
            fn f() -> u32 {
                0
            }
        ))
        .contains("returns nothing"));
        assert!(expand(
            attr(),
            quote!(
                fn f() -> () {}
            )
        )
        .is_ok());
        assert!(expand(
            attr(),
            quote!(
                struct NotAFunction;
            )
        )
        .is_err());
    }
}
