//! `[linux]`: the Linux personality (services/linux), a built-in component that runs
//! static x86_64 Linux binaries, unmodified, from the file systems it mounts.
//!
//! ```toml
//! [linux]
//! init = ["/bin/busybox", "sh"]      # the first process (the default: ["/bin/sh"])
//! env = ["PATH=/bin", "HOME=/"]      # its environment
//! memory = "64 MiB"                  # RAM for the Linux processes (a power of two)
//! mounts = { "/" = "root" }          # what the Linux processes see
//! ```
//!
//! The tool adds component `linux` as if system.toml had it, with `mounts` as written
//! (checked like any component's, under `components.linux`), and grants it the memory as
//! one untyped block, its own address space and the ASID pool: it builds its processes
//! itself. The system ends when init exits, with init's exit status.

use toml::Spanned;

use super::super::raw::{Name, RawComponent, RawLinux, Tables};
use super::super::size::show_size;
use super::super::{Component, Linux};
use super::{Checker, SizeLimit, GIB, MIB};

/// The component's name.
pub(super) const NAME: &str = super::super::LINUX;
/// RAM for the Linux processes.
const MEMORY: SizeLimit = SizeLimit { what: "Linux memory", default: 64 * MIB, min: 16 * MIB, max: GIB };
/// The server's heap: its tables, the patched images of the programs it runs (24 MiB
/// kept), private file mappings (8 MiB each at most) and pipes (8 MiB in all).
const HEAP: u64 = 64 * MIB;
const STACK: u64 = 256 * 1024;
const DEFAULT_INIT: &str = "/bin/sh";

impl Checker<'_> {
    /// Checks `[linux]` and adds component `linux` to `raw_components` (with a
    /// placeholder path, set to the built-in service's by [`Self::linux_component`]).
    pub(super) fn linux(
        &mut self,
        raw: Option<Spanned<RawLinux>>,
        raw_components: &mut Tables<RawComponent>,
        time: bool,
    ) -> Option<Linux> {
        let raw = raw?;
        let span = raw.span();
        let raw = raw.into_inner();
        let line = self.source.line(span.start);
        if !time {
            self.report(
                &span,
                "linux",
                "the Linux personality needs the time service, for sleep, poll timeouts and the clock",
                "add it:\n[time]\nsource = \"pit\"",
            );
        }
        if let Some((existing, _)) = raw_components.get_key_value(NAME) {
            let existing = existing.span();
            self.report(
                &existing,
                "components.linux",
                "a component is named `linux`, the name of the Linux personality that [linux] adds",
                "rename the component",
            );
            return None;
        }
        let mut strings = |list: &Option<Spanned<Vec<Spanned<String>>>>, key: &str| -> Vec<String> {
            let Some(list) = list else { return Vec::new() };
            let mut out = Vec::new();
            for item in list.get_ref() {
                let text = item.get_ref();
                if text.contains(['\n', '\0']) {
                    self.report(
                        &item.span(),
                        format!("linux.{key}"),
                        format!("`{}` has a line break or a NUL byte", text.escape_debug()),
                        "write each argument and variable on one line, without NUL bytes",
                    );
                } else {
                    out.push(text.clone());
                }
            }
            out
        };
        let mut init = strings(&raw.init, "init");
        let env = strings(&raw.env, "env");
        if raw.init.is_none() {
            init.push(DEFAULT_INIT.to_string());
        }
        match init.first() {
            None => self.report(
                &raw.init.as_ref().map_or(span.clone(), Spanned::span),
                "linux.init",
                "init is empty",
                "name the first program and its arguments, e.g. init = [\"/bin/sh\"]",
            ),
            Some(program) if !program.starts_with('/') => self.report(
                &raw.init.as_ref().map_or(span.clone(), Spanned::span),
                "linux.init",
                format!("init program `{program}` is not an absolute path"),
                format!("write where the Linux processes see it, e.g. \"/bin/{program}\""),
            ),
            Some(_) => {}
        }
        for (i, var) in env.iter().enumerate() {
            if var.split_once('=').is_none_or(|(name, _)| name.is_empty()) {
                let at = raw.env.as_ref().and_then(|e| e.get_ref().get(i)).map_or(span.clone(), Spanned::span);
                self.report(&at, "linux.env", format!("`{var}` is not NAME=value"), "write e.g. \"PATH=/bin\"");
            }
        }
        let requested = self.size(raw.memory.as_ref(), "linux.memory", &MEMORY);
        // One untyped block, so a power of two.
        let memory = requested.next_power_of_two();
        if memory != requested {
            let at = raw.memory.as_ref().map_or(span.clone(), Spanned::span);
            self.report(
                &at,
                "linux.memory",
                format!("Linux memory of {} is not a power of two", show_size(requested)),
                format!("the processes' memory is one block; write \"{}\"", show_size(memory)),
            );
        }
        if raw.mounts.is_none() {
            self.report(
                &span,
                "linux.mounts",
                "[linux] has no mounts, so the Linux processes would see no files (not even init)",
                "mount a file system holding the programs, e.g. mounts = { \"/\" = \"root\" }",
            );
        }
        let name = Name::new(span.clone(), NAME.to_string());
        let component = RawComponent {
            // Relative, so the component checks pass; the real path is set after them.
            path: Spanned::new(span.clone(), NAME.to_string()),
            priority: raw.priority,
            heap: None,
            stack: None,
            devices: None,
            disks: None,
            dma: None,
            daemon: Some(false),
            log: raw.log,
            budget: None,
            period: None,
            overrun: None,
            time: Some(Spanned::new(span.clone(), time)),
            passive: None,
            mounts: raw.mounts,
            network: None,
            realtime: None,
        };
        raw_components.insert(name, Spanned::new(span, component));
        Some(Linux { init, env, memory, line })
    }

    /// Makes the component [`Self::linux`] added the built-in service: its crate, heap,
    /// stack, process memory and configuration.
    pub(super) fn linux_component(linux: &Linux, components: &mut [Component]) {
        let Some(component) = components.iter_mut().find(|c| c.name == NAME) else { return };
        component.path = super::filesystems::service_path(NAME);
        component.heap = HEAP;
        component.stack = STACK;
        component.processes = linux.memory;
        // The terminal's input: COM1's receiving side (kaal-dev's claim_console_input).
        component.devices.push(kaal_abi::devices::CONSOLE.to_string());
        // The Linux processes run just below the server, so it always preempts them.
        component.config = Some(linux.config_text(component.priority.saturating_sub(1).max(1)));
    }
}

impl Linux {
    /// The configuration the service reads (its region `config`): one `arg` line per
    /// argument of init, one `env` line per variable, and the Linux processes'
    /// `priority`.
    pub fn config_text(&self, priority: u8) -> String {
        let mut text = format!("priority {priority}\n");
        for arg in &self.init {
            text.push_str("arg ");
            text.push_str(arg);
            text.push('\n');
        }
        for var in &self.env {
            text.push_str("env ");
            text.push_str(var);
            text.push('\n');
        }
        text
    }
}
