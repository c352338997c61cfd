//! `kaal new`: a new KaaL project, outside the KaaL checkout, that boots as generated.
//!
//! A project is a cargo workspace of component crates plus a `system.toml`. It refers to
//! the KaaL checkout that made it by path: its components depend on the `kaal-*` crates
//! there, and its `.cargo/config.toml` defines `cargo kaal` as that checkout's tool. The
//! checkout's `Cargo.lock` is copied in, so the project builds with the dependency
//! versions KaaL was tested with.
//!
//! The templates are real files under `tools/kaal-compose/templates/` (the full one
//! shares lesson 10's files), with `{{name}}`
//! and `{{kaal}}` (the checkout's path) filled in; the boot tests generate every template
//! and boot it, so they cannot rot.

use std::path::{Path, PathBuf};

use crate::error::{Result, ToolError};

/// What a new project starts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Template {
    /// One component that says hello.
    Minimal,
    /// A counter server and a client over an endpoint channel.
    Ipc,
    /// A timer driver (written with the driver kit) in its own component.
    Driver,
    /// Lesson 10's full system: busybox sh on ext2 with a ramfs /tmp, networking, the
    /// Linux personality and a real-time task.
    Full,
}

impl Template {
    /// Every template.
    pub const ALL: [Template; 4] = [Template::Minimal, Template::Ipc, Template::Driver, Template::Full];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Template::Minimal => "minimal",
            Template::Ipc => "ipc",
            Template::Driver => "driver",
            Template::Full => "full",
        }
    }
}

macro_rules! template {
    ($path:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/", $path))
    };
}

/// A file of lesson 10 (tutorial/10-full-system), which the full template shares as it
/// is, so the two cannot drift apart.
macro_rules! lesson_10 {
    ($path:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tutorial/10-full-system/", $path))
    };
}

const COMPONENT_TOML: &str = template!("common/component.toml.in");
const BUILD_RS: &str = template!("common/build.rs");

/// A component crate of a template.
struct ComponentCrate {
    dir: &'static str,
    package: &'static str,
    main: &'static str,
    dependencies: &'static str,
}

/// A template's files besides the common ones.
struct Layout {
    members: &'static [&'static str],
    files: &'static [(&'static str, &'static str)],
    components: &'static [ComponentCrate],
    /// Symbolic links in the root file system's `rootfs/bin`: (name, target).
    links: &'static [(&'static str, &'static str)],
}

/// The busybox applets the full template's root links in `/bin` (lesson 10's).
const APPLETS: &[&str] = &[
    "ash", "awk", "basename", "cat", "chmod", "clear", "cp", "cut", "date", "df", "dirname", "du", "echo", "env",
    "false", "find", "free", "grep", "head", "hostname", "httpd", "id", "kill", "less", "ln", "ls", "mkdir", "more",
    "mount", "mv", "nc", "printf", "ps", "pwd", "rm", "sed", "seq", "sh", "sleep", "sort", "stty", "tail", "test",
    "touch", "tr", "true", "uname", "uniq", "vi", "wc", "which", "whoami", "xargs",
];

fn layout(template: Template) -> Layout {
    match template {
        Template::Minimal => Layout {
            members: &["components/hello"],
            files: &[
                ("system.toml", template!("minimal/system.toml")),
                ("README.md", template!("minimal/README.md")),
                ("examples/twins/system.toml", template!("minimal/examples/twins/system.toml")),
            ],
            components: &[ComponentCrate {
                dir: "components/hello",
                package: "hello",
                main: template!("minimal/components/hello/src/main.rs"),
                dependencies: "",
            }],
            links: &[],
        },
        Template::Ipc => Layout {
            members: &["api", "components/server", "components/client"],
            files: &[
                ("system.toml", template!("ipc/system.toml")),
                ("README.md", template!("ipc/README.md")),
                ("examples/two-clients/system.toml", template!("ipc/examples/two-clients/system.toml")),
                ("api/Cargo.toml", template!("ipc/api/Cargo.toml.in")),
                ("api/src/lib.rs", template!("ipc/api/src/lib.rs")),
            ],
            components: &[
                ComponentCrate {
                    dir: "components/server",
                    package: "counter-server",
                    main: template!("ipc/components/server/src/main.rs"),
                    dependencies: "counter-api = { path = \"../../api\" }\n",
                },
                ComponentCrate {
                    dir: "components/client",
                    package: "counter-client",
                    main: template!("ipc/components/client/src/main.rs"),
                    dependencies: "counter-api = { path = \"../../api\" }\n",
                },
            ],
            links: &[],
        },
        Template::Driver => Layout {
            members: &["drivers/drv-ticker", "components/ticker"],
            files: &[
                ("system.toml", template!("driver/system.toml")),
                ("README.md", template!("driver/README.md")),
                ("drivers/drv-ticker/Cargo.toml", template!("driver/drivers/drv-ticker/Cargo.toml.in")),
                ("drivers/drv-ticker/src/lib.rs", template!("driver/drivers/drv-ticker/src/lib.rs")),
            ],
            components: &[ComponentCrate {
                dir: "components/ticker",
                package: "ticker",
                main: template!("driver/components/ticker/src/main.rs"),
                dependencies: "kaal-dev = { path = \"{{kaal}}/kaal-dev\" }\n\
                               drv-ticker = { path = \"../../drivers/drv-ticker\" }\n",
            }],
            links: &[],
        },
        Template::Full => Layout {
            members: &["components/heartbeat"],
            files: &[
                ("system.toml", template!("full/system.toml")),
                ("README.md", template!("full/README.md")),
                ("rootfs/etc/motd", lesson_10!("rootfs/etc/motd")),
                ("rootfs/etc/profile", lesson_10!("rootfs/etc/profile")),
                ("rootfs/etc/passwd", lesson_10!("rootfs/etc/passwd")),
                ("rootfs/etc/group", lesson_10!("rootfs/etc/group")),
                ("rootfs/www/index.html", lesson_10!("rootfs/www/index.html")),
                ("rootfs/home/user/.keep", ""),
                ("rootfs/tmp/.keep", ""),
            ],
            components: &[ComponentCrate {
                dir: "components/heartbeat",
                package: "heartbeat",
                main: lesson_10!("heartbeat/src/main.rs"),
                dependencies: "kaal-sched = { path = \"{{kaal}}/kaal-sched\" }\n",
            }],
            links: &FULL_LINKS,
        },
    }
}

/// `rootfs/bin/<applet>` -> `busybox` for each of [`APPLETS`].
const FULL_LINKS: [(&str, &str); APPLETS.len()] = {
    let mut links = [("", "busybox"); APPLETS.len()];
    let mut i = 0;
    while i < APPLETS.len() {
        links[i].0 = APPLETS[i];
        i += 1;
    }
    links
};

/// Fills in `{{key}}` placeholders.
fn fill(text: &str, values: &[(&str, &str)]) -> String {
    let mut out = text.to_string();
    for (key, value) in values {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    out
}

/// Checks a project name: it names the system too.
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    let valid = name.len() <= 24
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` cannot name a KaaL system: use 1 to 24 lowercase letters, digits, `-` or `_`, starting with a letter"
        ))
    }
}

/// Creates a project from `template` in `dest` (which must not exist, or be empty),
/// tied to the KaaL checkout at `kaal`. Returns the files written.
pub fn create(dest: &Path, template: Template, kaal: &Path) -> Result<Vec<PathBuf>> {
    let step = format!("creating the project {}", dest.display());
    let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    check_name(&name)
        .map_err(|cause| ToolError::new(&step, cause, "pick another directory name, e.g. `cargo kaal new my-os`"))?;
    if dest.exists() && std::fs::read_dir(dest).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(ToolError::new(
            &step,
            format!("{} already exists and is not empty", dest.display()),
            "pick a new directory; nothing was written",
        ));
    }
    let kaal_text = kaal.display().to_string();
    let layout = layout(template);
    let members: Vec<String> = layout.members.iter().map(|m| format!("\"{m}\"")).collect();
    let members = members.join(", ");
    let values = [("name", name.as_str()), ("kaal", kaal_text.as_str()), ("members", members.as_str())];

    let mut files: Vec<(PathBuf, String)> = vec![
        (PathBuf::from("Cargo.toml"), fill(template!("common/Cargo.toml.in"), &values)),
        (PathBuf::from(".cargo/config.toml"), fill(template!("common/config.toml.in"), &values)),
        (PathBuf::from(".gitignore"), template!("common/gitignore").to_string()),
    ];
    for (path, text) in layout.files {
        files.push((PathBuf::from(path), fill(text, &values)));
    }
    for c in layout.components {
        let dependencies = fill(c.dependencies, &values);
        let manifest = fill(
            COMPONENT_TOML,
            &[("crate", c.package), ("dependencies", dependencies.as_str()), ("kaal", &kaal_text)],
        );
        files.push((Path::new(c.dir).join("Cargo.toml"), manifest));
        files.push((Path::new(c.dir).join("build.rs"), BUILD_RS.to_string()));
        files.push((Path::new(c.dir).join("src/main.rs"), c.main.to_string()));
    }
    // The dependency versions KaaL is tested with; cargo drops what the project does
    // not use and adds its own crates.
    if let Ok(lock) = std::fs::read_to_string(kaal.join("Cargo.lock")) {
        files.push((PathBuf::from("Cargo.lock"), lock));
    }

    let mut written = Vec::new();
    for (path, text) in files {
        let full = dest.join(&path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(|e| ToolError::io(&step, parent, e))?;
        }
        std::fs::write(&full, text).map_err(|e| ToolError::io(&step, &full, e))?;
        written.push(path);
    }
    for (applet, target) in layout.links {
        let path = Path::new("rootfs/bin").join(applet);
        let full = dest.join(&path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(|e| ToolError::io(&step, parent, e))?;
        }
        std::os::unix::fs::symlink(target, &full).map_err(|e| ToolError::io(&step, &full, e))?;
        written.push(path);
    }
    Ok(written)
}

/// A new component's `main`.
const NEW_COMPONENT_MAIN: &str = r#"//! The {{crate}} component: an isolated seL4 process. Everything it may use is granted
//! in system.toml (`[components.{{crate}}]`); `cargo kaal debug caps` lists it.
#![no_std]
#![no_main]

use kaal_core::component::Component;
use kaal_core::{println, Error};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(me: Component) -> Result<(), Error> {
    println!("[{}] hello from a new component", me.name());
    Ok(())
}
"#;

/// A new driver crate's manifest.
const NEW_DRIVER_TOML: &str = r#"[package]
name = "{{crate}}"
version.workspace = true
edition.workspace = true
publish = false

[dependencies]
kaal-dev = { path = "{{kaal}}/kaal-dev" }
"#;

/// A new driver: a skeleton for a 16550-style UART on COM2, to change into the device's.
const NEW_DRIVER_LIB: &str = r#"//! The {{crate}} driver, written with KaaL's driver kit.
//!
//! The struct lists the device's resources and `#[derive(Driver)]` writes the probing
//! and the interrupt wiring; a component is granted only what the struct declares
//! (no `#[interrupt]`: no interrupt). To drive your own device, match it with `#[isa]`
//! or `#[pci(vendor = .., device = ..)]`, declare its `#[ports]`, `#[mmio(bar = N)]`
//! windows and `#[interrupt]`, and name its registers below.
#![no_std]
#![forbid(unsafe_code)]

use kaal_dev::registers::RegisterBlock;
use kaal_dev::{Driver, DriverError, Irq, PortBlock};

// The registers: name @ offset in the device's ports: access, value type (an integer,
// or a set of flags that becomes a `bitflags` type).
kaal_dev::register_map! {
    STATUS @ 5: ReadOnly Status: u8 { DATA_READY = 1, TX_EMPTY = 0x20 };
}

#[derive(Driver)]
#[isa(com2)]
pub struct Device {
    #[ports]
    regs: PortBlock,
    #[interrupt(handler = on_interrupt)]
    irq: Irq,
    interrupts: u64,
}

impl Device {
    /// The status register.
    pub fn status(&self) -> Result<Status, DriverError> {
        Ok(self.regs.read(STATUS)?)
    }

    /// Interrupts served so far.
    pub fn interrupts(&self) -> u64 {
        self.interrupts
    }

    fn on_interrupt(&mut self) -> Result<(), DriverError> {
        self.interrupts += 1;
        Ok(())
    }
}
"#;

/// The project whose `system.toml` and workspace manifest are in `root`, for `kaal add`.
fn project_files(root: &Path, step: &str) -> Result<(PathBuf, PathBuf)> {
    let (system, manifest) = (root.join("system.toml"), root.join("Cargo.toml"));
    if !system.is_file() || !manifest.is_file() {
        return Err(ToolError::new(
            step,
            format!("{} is not a KaaL project (it needs a system.toml and a workspace Cargo.toml)", root.display()),
            "run it at the top of a project `cargo kaal new` made",
        ));
    }
    Ok((system, manifest))
}

/// Adds `member` to the workspace in `manifest`, keeping the file's layout.
fn add_member(manifest: &Path, member: &str, step: &str) -> Result<()> {
    let text = std::fs::read_to_string(manifest).map_err(|e| ToolError::io(step, manifest, e))?;
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e| {
        ToolError::new(step, format!("{} is not valid TOML: {e}", manifest.display()), "fix the file first")
    })?;
    let members =
        doc.get_mut("workspace").and_then(|w| w.get_mut("members")).and_then(|m| m.as_array_mut()).ok_or_else(
            || {
                ToolError::new(
                    step,
                    format!("{} has no [workspace] members list", manifest.display()),
                    "add `members = []` under [workspace]",
                )
            },
        )?;
    if !members.iter().any(|m| m.as_str() == Some(member)) {
        members.push(member);
    }
    std::fs::write(manifest, doc.to_string()).map_err(|e| ToolError::io(step, manifest, e))
}

/// Writes `files` under `root`, refusing if `dir` exists.
fn write_new(root: &Path, dir: &str, files: &[(String, String)], step: &str) -> Result<Vec<PathBuf>> {
    if root.join(dir).exists() {
        return Err(ToolError::new(
            step,
            format!("{} already exists", root.join(dir).display()),
            "pick another name; nothing was written",
        ));
    }
    let mut written = Vec::new();
    for (path, text) in files {
        let full = root.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(|e| ToolError::io(step, parent, e))?;
        }
        std::fs::write(&full, text).map_err(|e| ToolError::io(step, &full, e))?;
        written.push(PathBuf::from(path));
    }
    Ok(written)
}

/// `kaal add component NAME`: a component crate under `components/NAME`, a workspace
/// member, and its `[components.NAME]` table in system.toml.
pub fn add_component(root: &Path, name: &str, kaal: &Path) -> Result<Vec<PathBuf>> {
    let step = format!("adding component {name}");
    check_name(name).map_err(|cause| ToolError::new(&step, cause, "pick another name"))?;
    let (system, manifest) = project_files(root, &step)?;
    let system_text = std::fs::read_to_string(&system).map_err(|e| ToolError::io(&step, &system, e))?;
    if system_text.lines().any(|l| l.trim() == format!("[components.{name}]")) {
        return Err(ToolError::new(
            &step,
            format!("system.toml already has [components.{name}]"),
            "pick another name; nothing was written",
        ));
    }
    let kaal_text = kaal.display().to_string();
    let dir = format!("components/{name}");
    let manifest_text = fill(COMPONENT_TOML, &[("crate", name), ("dependencies", ""), ("kaal", &kaal_text)]);
    let files = [
        (format!("{dir}/Cargo.toml"), manifest_text),
        (format!("{dir}/build.rs"), BUILD_RS.to_string()),
        (format!("{dir}/src/main.rs"), fill(NEW_COMPONENT_MAIN, &[("crate", name)])),
    ];
    let written = write_new(root, &dir, &files, &step)?;
    add_member(&manifest, &dir, &step)?;
    let table = format!("\n[components.{name}]\npath = \"{dir}\"\n");
    let separator = if system_text.ends_with('\n') { "" } else { "\n" };
    std::fs::write(&system, format!("{system_text}{separator}{table}"))
        .map_err(|e| ToolError::io(&step, &system, e))?;
    Ok(written)
}

/// `kaal add driver NAME`: a driver crate under `drivers/NAME` and a workspace member.
pub fn add_driver(root: &Path, name: &str, kaal: &Path) -> Result<Vec<PathBuf>> {
    let step = format!("adding driver {name}");
    check_name(name).map_err(|cause| ToolError::new(&step, cause, "pick another name"))?;
    let (_, manifest) = project_files(root, &step)?;
    let kaal_text = kaal.display().to_string();
    let dir = format!("drivers/{name}");
    let files = [
        (format!("{dir}/Cargo.toml"), fill(NEW_DRIVER_TOML, &[("crate", name), ("kaal", &kaal_text)])),
        (format!("{dir}/src/lib.rs"), fill(NEW_DRIVER_LIB, &[("crate", name)])),
    ];
    let written = write_new(root, &dir, &files, &step)?;
    add_member(&manifest, &dir, &step)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_fills_every_placeholder() {
        for template in Template::ALL {
            let dir = std::env::temp_dir().join(format!("kaal-scaffold-{}-{}", std::process::id(), template.name()));
            let _ = std::fs::remove_dir_all(&dir);
            let dest = dir.join("demo");
            let files = create(&dest, template, Path::new("/opt/kaal")).unwrap();
            assert!(files.contains(&PathBuf::from("system.toml")));
            for file in files {
                let path = dest.join(&file);
                if path.symlink_metadata().unwrap().file_type().is_symlink() {
                    // busybox's applets: links to the binary `kaal build` adds.
                    assert_eq!(std::fs::read_link(&path).unwrap(), Path::new("busybox"), "{}", file.display());
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(!text.contains("{{"), "{} of {} keeps a placeholder", file.display(), template.name());
            }
            let manifest = std::fs::read_to_string(dest.join("Cargo.toml")).unwrap();
            assert!(manifest.contains("[workspace]") && manifest.contains("panic = \"abort\""));
            let config = std::fs::read_to_string(dest.join(".cargo/config.toml")).unwrap();
            assert!(config.contains("--manifest-path /opt/kaal/tools/kaal-compose/Cargo.toml"));
            // A second run into the same place refuses and writes nothing.
            let again = create(&dest, template, Path::new("/opt/kaal")).unwrap_err();
            assert!(again.cause.contains("not empty"), "{again}");
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn names_must_be_system_names() {
        assert!(check_name("demo").is_ok());
        assert!(check_name("my-os_2").is_ok());
        for bad in ["", "Demo", "1os", "my os", "a-very-long-name-that-is-too-long"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
