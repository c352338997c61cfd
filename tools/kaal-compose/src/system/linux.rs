//! `[linux]`: the Linux personality (services/linux), a built-in component that runs
//! static x86_64 Linux binaries, unmodified, from the file systems it mounts.
//!
//! ```toml
//! [linux]
//! init = ["/bin/busybox", "sh"]      # the first process (the default: ["/bin/sh"])
//! env = ["PATH=/bin", "HOME=/"]      # its environment
//! demo = ["uname -a", "exit 0"]      # typed at init when `kaal run` has no input
//! memory = "64 MiB"                  # RAM for the Linux processes (a power of two)
//! mounts = { "/" = "root" }          # what the Linux processes see
//! network = { listen = [80], connect = [8000] }  # their sockets' ports (with [network])
//!
//! [linux.confine."/bin/httpd"]       # this program, and every process it starts,
//! files = { "/www" = "read-only", "/tmp" = "read-write" }  # sees only these subtrees
//! network = { listen = [80] }        # and may use only these of [linux]'s ports
//! ```
//!
//! A confined process gets ENOENT for a path outside its subtrees (it cannot tell
//! whether the file exists) and EACCES for writing into a read-only one, or for a
//! port not granted. A program is confined by the path execve names (so busybox
//! applets, all one binary, are confined separately); a confinement inside another
//! narrows it further (both apply).
//!
//! The tool adds component `linux` as if system.toml had it, with `mounts` as written
//! (checked like any component's, under `components.linux`), and grants it the memory as
//! one untyped block, its own address space and the ASID pool: it builds its processes
//! itself. The system ends when init exits, with init's exit status.

use toml::Spanned;

use super::super::raw::{Name, RawComponent, RawConfine, RawLinux, RawNetworkGrant, Tables};
use super::super::size::show_size;
use super::super::{Component, Confinement, Linux};
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
        let demo = strings(&raw.demo, "demo");
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
        let confine = self.confinements(raw.confine.as_ref(), raw.network.as_ref().map(|n| n.get_ref()));
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
            network: raw.network,
            realtime: None,
        };
        raw_components.insert(name, Spanned::new(span, component));
        Some(Linux { init, env, demo, memory, confine, line })
    }

    /// `[linux.confine]`, checked.
    fn confinements(
        &mut self,
        raw: Option<&Spanned<Tables<RawConfine>>>,
        linux_network: Option<&RawNetworkGrant>,
    ) -> Vec<Confinement> {
        let Some(raw) = raw else { return Vec::new() };
        let mut out = Vec::new();
        for (program, table) in raw.get_ref() {
            let key = format!("linux.confine.{:?}", program.get_ref());
            let Some(path) = self.linux_path(program.get_ref(), &program.span(), &key, "program") else { continue };
            let table = table.get_ref();
            let mut files = Vec::new();
            for (subtree, access) in table.files.as_ref().map(|f| f.get_ref().iter()).into_iter().flatten() {
                let key = format!("{key}.files");
                let Some(at) = self.linux_path(subtree.get_ref(), &subtree.span(), &key, "subtree") else { continue };
                match access.get_ref().as_str() {
                    "read-only" => files.push((at, false)),
                    "read-write" => files.push((at, true)),
                    other => self.report(
                        &access.span(),
                        &key,
                        format!("`{other}` is not an access for subtree {at}"),
                        "write \"read-only\" or \"read-write\"",
                    ),
                }
            }
            let (mut listen, mut connect) = (Vec::new(), Vec::new());
            if let Some(grant) = &table.network {
                let key = format!("{key}.network");
                let grant = grant.get_ref();
                listen = self.ports(grant.listen.as_ref(), &format!("{key}.listen"), NAME, "listen on");
                connect = self.ports(grant.connect.as_ref(), &format!("{key}.connect"), NAME, "connect to");
                // A confinement narrows [linux]'s grant: every port must be one of its.
                for (list, raw_list, outer, what) in [
                    (&listen, &grant.listen, linux_network.and_then(|n| n.listen.as_ref()), "listen"),
                    (&connect, &grant.connect, linux_network.and_then(|n| n.connect.as_ref()), "connect"),
                ] {
                    let granted: Vec<i64> =
                        outer.map(|l| l.get_ref().iter().map(|p| *p.get_ref()).collect()).unwrap_or_default();
                    for (port, raw_port) in list.iter().zip(raw_list.iter().flat_map(|l| l.get_ref())) {
                        if !granted.contains(&(*port as i64)) {
                            self.report(
                                &raw_port.span(),
                                format!("{key}.{what}"),
                                format!("port {port} is not in [linux]'s `network = {{ {what} = [...] }}`"),
                                format!("a confinement only narrows what [linux] has: add {port} to [linux]'s `network` {what} list, or remove it here"),
                            );
                        }
                    }
                }
            }
            out.push(Confinement { program: path, files, listen, connect });
        }
        out
    }

    /// An absolute path as the Linux processes see it, normalised; `None` (reported)
    /// when it is relative, has `.` or `..`, or a line break.
    fn linux_path(&mut self, text: &str, span: &std::ops::Range<usize>, key: &str, what: &str) -> Option<String> {
        let bad = !text.starts_with('/')
            || text.contains(['\n', '\0'])
            || text.split('/').any(|part| part == "." || part == "..");
        if bad {
            self.report(
                span,
                key,
                format!("{what} `{}` is not an absolute path", text.escape_debug()),
                format!(
                    "write the {what} as the Linux processes see it, from `/`, without `.` or `..`: e.g. \"/bin/app\""
                ),
            );
            return None;
        }
        let parts: Vec<&str> = text.split('/').filter(|p| !p.is_empty()).collect();
        Some(format!("/{}", parts.join("/")))
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
    /// argument of init, one `env` line per variable, the Linux processes' `priority`,
    /// and for each confined program a `confine PROGRAM` line followed by its
    /// `confine-files ro|rw SUBTREE`, `confine-listen PORT` and `confine-connect PORT`
    /// lines.
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
        for rule in &self.confine {
            text.push_str(&format!("confine {}\n", rule.program));
            for (subtree, writable) in &rule.files {
                text.push_str(&format!("confine-files {} {subtree}\n", if *writable { "rw" } else { "ro" }));
            }
            for port in &rule.listen {
                text.push_str(&format!("confine-listen {port}\n"));
            }
            for port in &rule.connect {
                text.push_str(&format!("confine-connect {port}\n"));
            }
        }
        text
    }
}
