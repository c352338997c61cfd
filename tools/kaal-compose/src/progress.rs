//! Progress reporting: spinners on a terminal, plain status lines elsewhere.
//!
//! Every long step (fetching the kernel source, building the kernel, building the image,
//! booting) is a [`Step`]. On a terminal it shows an indicatif spinner with the elapsed
//! time; in CI logs and tests it prints one line when it starts and one when it ends.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How much the tool says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Verbosity {
    /// Errors only.
    Quiet,
    /// Step summaries.
    #[default]
    Normal,
    /// Step summaries and the commands run.
    Verbose,
}

impl Verbosity {
    /// From `KAAL_LOG`, else `RUST_LOG` (`off`/`error` quiet, `warn`/`info` normal,
    /// `debug`/`trace` verbose; `RUST_LOG=kaal=debug,other=info` style filters use the
    /// `kaal` entry, else the bare level).
    pub fn from_env() -> Option<Self> {
        Self::from_filters(std::env::var("KAAL_LOG").ok().as_deref(), std::env::var("RUST_LOG").ok().as_deref())
    }

    fn from_filters(kaal_log: Option<&str>, rust_log: Option<&str>) -> Option<Self> {
        if let Some(level) = kaal_log.and_then(Self::from_level) {
            return Some(level);
        }
        let rust_log = rust_log?;
        let entries: Vec<&str> = rust_log.split(',').map(str::trim).collect();
        let ours = entries.iter().find_map(|e| e.strip_prefix("kaal=").or_else(|| e.strip_prefix("kaal_compose=")));
        let bare = entries.iter().find(|e| !e.contains('='));
        ours.or(bare.copied()).and_then(Self::from_level)
    }

    fn from_level(level: &str) -> Option<Self> {
        match level.trim().to_ascii_lowercase().as_str() {
            "quiet" | "error" | "off" => Some(Verbosity::Quiet),
            "info" | "normal" | "warn" => Some(Verbosity::Normal),
            "debug" | "trace" | "verbose" => Some(Verbosity::Verbose),
            _ => None,
        }
    }
}

/// Where progress goes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reporter {
    pub verbosity: Verbosity,
}

impl Reporter {
    /// A reporter that prints nothing but errors.
    pub const QUIET: Reporter = Reporter { verbosity: Verbosity::Quiet };

    /// Starts a step.
    pub fn step(&self, what: impl Into<String>) -> Step {
        let what = what.into();
        let bar = (self.verbosity > Verbosity::Quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner:.cyan} {msg} [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message(what.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        if bar.is_none() && self.verbosity > Verbosity::Quiet {
            eprintln!("[kaal] {what} ...");
        }
        Step { what, bar, started: Instant::now(), reporter: *self }
    }

    /// Prints an informational line.
    pub fn info(&self, line: impl AsRef<str>) {
        if self.verbosity > Verbosity::Quiet {
            eprintln!("[kaal] {}", line.as_ref());
        }
    }

    /// Prints a line in verbose mode only.
    pub fn debug(&self, line: impl AsRef<str>) {
        if self.verbosity >= Verbosity::Verbose {
            eprintln!("[kaal] {}", line.as_ref());
        }
    }

    /// In verbose mode, prints a command about to run, as a shell would take it (the
    /// environment variables it sets first, then the program and its arguments).
    pub fn command(&self, cmd: &std::process::Command) {
        if self.verbosity >= Verbosity::Verbose {
            eprintln!("[kaal] running: {}", shell_line(cmd));
        }
    }
}

/// Runs `cmd` for `step` (shown in verbose mode); a failure is an error with its
/// standard error and `fix`.
pub fn run(cmd: &mut std::process::Command, step: &str, reporter: &Reporter, fix: &str) -> crate::Result<()> {
    use crate::ToolError;
    reporter.command(cmd);
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd.output().map_err(|e| ToolError::new(step, format!("cannot run {program}: {e}"), fix))?;
    if !out.status.success() {
        return Err(ToolError::new(
            step,
            format!("{program} failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
            fix,
        ));
    }
    Ok(())
}

/// `cmd` as one shell line: `VAR=value program 'arg with space'`.
pub fn shell_line(cmd: &std::process::Command) -> String {
    fn quote(word: &str) -> String {
        let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
        if plain {
            word.to_string()
        } else {
            format!("'{}'", word.replace('\'', r"'\''"))
        }
    }
    let mut words: Vec<String> = Vec::new();
    if let Some(dir) = cmd.get_current_dir() {
        words.push(format!("cd {} &&", quote(&dir.to_string_lossy())));
    }
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            words.push(format!("{}={}", key.to_string_lossy(), quote(&value.to_string_lossy())));
        }
    }
    words.push(quote(&cmd.get_program().to_string_lossy()));
    words.extend(cmd.get_args().map(|a| quote(&a.to_string_lossy())));
    words.join(" ")
}

/// A running step.
#[derive(Debug)]
pub struct Step {
    what: String,
    bar: Option<ProgressBar>,
    started: Instant,
    reporter: Reporter,
}

impl Step {
    /// Updates the message shown next to the spinner.
    pub fn set_detail(&self, detail: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{} ({detail})", self.what));
        }
    }

    /// Ends the step with a result summary; returns the time it took.
    pub fn done(self, summary: impl AsRef<str>) -> Duration {
        let took = self.started.elapsed();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if self.reporter.verbosity > Verbosity::Quiet {
            eprintln!("[kaal] {}: {} ({:.1}s)", self.what, summary.as_ref(), took.as_secs_f64());
        }
        took
    }

    /// Ends the step without a summary (the caller reports the failure).
    pub fn fail(self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Verbosity;

    #[test]
    fn log_filters_pick_the_kaal_level() {
        assert_eq!(Verbosity::from_filters(Some("debug"), Some("off")), Some(Verbosity::Verbose));
        assert_eq!(Verbosity::from_filters(None, Some("warn")), Some(Verbosity::Normal));
        assert_eq!(Verbosity::from_filters(None, Some("cargo=info,kaal=trace")), Some(Verbosity::Verbose));
        assert_eq!(Verbosity::from_filters(None, Some("error,hyper=debug")), Some(Verbosity::Quiet));
        assert_eq!(Verbosity::from_filters(Some("nonsense"), None), None);
        assert_eq!(Verbosity::from_filters(None, None), None);
    }

    #[test]
    fn commands_print_as_a_shell_would_take_them() {
        let mut cmd = std::process::Command::new("qemu-system-x86_64");
        cmd.args(["-cpu", "Nehalem,+xsave", "-append", "it's here"]).env("KAAL_X", "a b").current_dir("/tmp");
        assert_eq!(
            super::shell_line(&cmd),
            r"cd /tmp && KAAL_X='a b' qemu-system-x86_64 -cpu Nehalem,+xsave -append 'it'\''s here'"
        );
    }
}
