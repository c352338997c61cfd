//! Declarative systems: a `system.toml` is checked before anything builds, built into a
//! bootable image by `kaal build`, and booted on the real seL4 kernel; components get
//! exactly what the file grants them; `kaal new` makes projects that boot as generated.

use std::path::{Path, PathBuf};
use std::process::Command;

use kaal_abi::exit::ExitStatus;
use kaal_compose::progress::Reporter;
use kaal_compose::qemu::Verdict;
use kaal_compose::testing::{workspace_root, Boot};

/// The hex number after `prefix` on its line.
fn hex_after(run: &kaal_compose::qemu::BootOutcome, line: &str, prefix: &str) -> String {
    let at = run.serial.iter().find(|l| l.contains(line)).unwrap_or_else(|| panic!("no line with {line:?}"));
    let rest = at.split_once(prefix).unwrap_or_else(|| panic!("no {prefix:?} in {at:?}")).1;
    rest.chars().take_while(|c| c.is_ascii_hexdigit() || *c == 'x').collect()
}

#[test]
fn the_pipeline_example_runs_three_components_wired_by_system_toml() {
    pipeline("5.0.0-debug");
}

#[test]
fn the_pipeline_example_runs_on_the_release_kernel() {
    pipeline("5.0.0-release");
}

#[test]
fn the_pipeline_example_runs_on_sel4_16() {
    pipeline("16.0.0-debug");
}

#[test]
fn the_pipeline_example_runs_on_sel4_16_release() {
    pipeline("16.0.0-release");
}

#[test]
fn the_pipeline_example_runs_on_sel4_16_mcs() {
    pipeline("16.0.0-mcs");
}

fn pipeline(kernel: &str) {
    let Some(boot) = Boot::new("examples/pipeline").on(kernel) else { return };
    let run = boot.run();
    run.assert_success()
        .assert_lines_in_order(&[
            "[kaal-root] system 'pipeline': 3 components",
            "[kaal-root] started logger (priority 120, 3 grants)",
            "[kaal-root] started server (priority 110, 4 grants)",
            "[kaal-root] started client (priority 100, 1 grants)",
            "[server] serving `calc`, logging to a ring of 64 records",
        ])
        .assert_line("[logger] #5 client 1: 4997373775488 / 0 -> division by zero")
        .assert_line("-> overflow")
        .assert_line("[client] 300 requests: 205 answered, 95 refused as expected, 0 wrong; checksum 0x")
        .assert_line("[logger] 300 records in ")
        .assert_line("[server] client 1 is done; served 300 requests")
        .assert_line("[kaal-root] system 'pipeline' done: 3 succeeded, 0 failed, 0 faulted")
        // defmt frames, decoded on the host with each component's ELF: the server logs
        // at debug (system.toml says so), the logger at the default, info.
        .assert_line("INFO  [server] served 300 requests, the last from client 1")
        .assert_line("DEBUG [server] request 299 from client 1: op ")
        .assert_no_line("DEBUG [logger]")
        .assert_no_line("~defmt~");
    // The logger rebuilt the client's checksum from the ring alone.
    let client = hex_after(&run, "[client] 300 requests", "checksum ");
    let logger = hex_after(&run, "[logger] 300 records", "checksum ");
    assert_eq!(client.len(), 18, "{client}");
    assert_eq!(client, logger, "the logger's checksum differs from the client's");
}

/// A driver without `#[interrupt]` gets the device's ports and no interrupt: the tool
/// reads the driver's declaration from the component's image. `kaal debug caps` says so,
/// and `kaal debug devices` matches the system's drivers to the device table.
#[test]
fn a_driver_without_an_interrupt_is_granted_none() {
    let Some(boot) = Boot::new("tests/systems/least-authority").on("5.0.0-debug") else { return };
    let run = boot.run();
    run.assert_success()
        .assert_line("[pit-reader] granted pit:ports")
        .assert_no_line("[pit-reader] granted pit:irq")
        .assert_no_line("[pit-reader] granted pit:events")
        .assert_line(": running")
        .assert_line("[pit-reader] the interrupt: this component was not granted anything called \"pit:")
        .assert_no_line("UNEXPECTED")
        // #[ports(count = 6)]: COM2's first six ports, narrowed in the capability itself.
        .assert_line("[kaal-root] device com2 -> lsr-reader (ports 0x2f8-0x2fd of 0x2f8-0x2ff)")
        .assert_line("[lsr-reader] line status 0x60: transmitter empty")
        .assert_line("[lsr-reader] the scratch register: ")
        .assert_line("[lsr-reader] the kernel refuses port 0x2ff: ");
    let (ok, out) = cargo_kaal(&workspace_root(), &["debug", "caps", "tests/systems/least-authority"]);
    assert!(ok, "{out}");
    let row =
        |name: &str| out.lines().find(|l| l.split_whitespace().nth(1) == Some(name)).unwrap_or_default().to_string();
    assert!(row("pit:ports").trim_start().starts_with("8 "), "{out}");
    assert!(row("pit:irq").contains("not granted: pit-reader takes no interrupt"), "{out}");
    assert!(row("pit:events").contains("not granted: pit-reader takes no interrupt"), "{out}");
    assert!(row("pit:mmio").contains("not granted: pit-reader takes no device memory"), "{out}");
    assert!(row("com2:ports").contains("only the device's first 6 ports: lsr-reader takes no more"), "{out}");
    // `debug devices` boots the machine, prints the broker's table, and matches the
    // system's own drivers to it.
    let (ok, out) = cargo_kaal(&workspace_root(), &["debug", "devices", "tests/systems/least-authority"]);
    assert!(ok, "{out}");
    assert!(out.lines().any(|l| l.starts_with("pit ") && l.contains("8254 interval timer")), "{out}");
    assert!(out.contains("pit-reader (in least-authority-pit-reader; takes ports): drives pit"), "{out}");
}

#[test]
fn components_get_only_what_system_toml_grants_them() {
    confinement("5.0.0-debug");
}

/// seL4 16.0.0's badges and CNode guards are encoded differently; what a component can
/// reach must not change.
#[test]
fn components_get_only_what_system_toml_grants_them_on_sel4_16() {
    confinement("16.0.0-debug");
}

#[test]
fn components_get_only_what_system_toml_grants_them_on_sel4_16_mcs() {
    confinement("16.0.0-mcs");
}

fn confinement(kernel: &str) {
    let mcs = kernel.contains("mcs");
    // What the kernel says the intruder's CNode holds: its own TCB and CNode, the
    // supervisor and console endpoints, the heap lock and log signal, on MCS its reply
    // object, and its one grant.
    let mut held = vec![
        if mcs { "[intruder] my CNode holds 8 capabilities:" } else { "[intruder] my CNode holds 7 capabilities:" },
        "[intruder]   slot 1: thread_cap",
        "[intruder]   slot 2: cnode_cap",
        "[intruder]   slot 3: endpoint_cap",
        "[intruder]   slot 4: notification_cap",
        "[intruder]   slot 5: endpoint_cap",
        "[intruder]   slot 6: notification_cap",
        "[intruder]   slot 8: notification_cap",
    ];
    if mcs {
        held.insert(7, "[intruder]   slot 7: reply_cap");
    }
    let Some(boot) = Boot::new("tests/systems/confinement").on(kernel) else { return };
    let run = boot.run();
    // The intruder faults on purpose, so the system reports a failure; the others finish.
    run.assert_verdict(Verdict::Exited(ExitStatus::ERROR))
        .assert_line(
            "[intruder] me.client(\"vault\") -> this component was not granted anything called \"vault\"",
        )
        .assert_line("[intruder] me.server(\"board\") -> \"board\" was granted as a shared region, but used as a capability")
        .assert_lines_in_order(&held)
        .assert_no_line("UNEXPECTED")
        .assert_line("[intruder] the board says: the vault is open on weekdays")
        .assert_line(
            "[supervisor] component 'intruder' faulted: VM fault (write of a protected page) at address 0x80000000, ip 0x",
        )
        .assert_line("[vault] served 101 calls from the owner and 0 from anyone else")
        .assert_line("[owner] 100 of 100 vault calls answered correctly")
        .assert_line("[kaal-root] system 'confinement' done: 2 succeeded, 0 failed, 1 faulted");
    // Slot 5 is the intruder's own console endpoint and on MCS slot 7 its reply object
    // (both listed above), so those are not forged.
    for slot in [5, 7, 9, 10].into_iter().filter(|s| *s != 5 && !(mcs && *s == 7)) {
        run.assert_line(&format!("[intruder] copying slot {slot} -> seL4_CNode_Copy failed: seL4_FailedLookup"));
    }
    // Calling through an empty slot is refused by the kernel with seL4_InvalidCapability (2).
    run.assert_line("[intruder] calling through slot 9 -> reply label 2 (seL4 error code)");
    // The owner's work happened after the intruder was stopped: isolation, not timing.
    let fault = run.serial.iter().position(|l| l.contains("'intruder' faulted")).unwrap();
    let owner = run.serial.iter().position(|l| l.contains("[owner] 100 of 100")).unwrap();
    assert!(owner > fault);
}

#[test]
fn a_network_driver_in_a_component_moves_frames_through_dma() {
    nic_loopback("5.0.0-debug");
}

#[test]
fn a_network_driver_in_a_component_moves_frames_through_dma_on_sel4_16() {
    nic_loopback("16.0.0-debug");
}

fn nic_loopback(kernel: &str) {
    let Some(boot) = Boot::new("tests/systems/nic-loopback").on(kernel) else { return };
    let run = boot.run();
    run.assert_success()
        .assert_lines_in_order(&[
            "[kaal-root] device pci:00:03.0 -> nic",
            // The e1000 driver takes MMIO, its interrupt and DMA memory, not the
            // device's I/O ports, so those are not granted (least authority); a PCI
            // device also comes with its configuration page (`D:config`).
            "[kaal-root] started nic (priority 150, 5 grants)",
            "[nic] e1000 at 00:03.0, MAC 52:54:00:12:34:56, link up: true",
            "[nic] the receiver took frame ",
            "[nic] 64 frames of 60 to 1514 bytes (50337 bytes) went out and back through DMA: 64 intact, 0 dropped",
        ])
        .assert_line("[kaal-root] system 'nic-loopback' done: 1 succeeded")
        // The driver's own defmt line, printed for it by the supervisor's log thread.
        .assert_line("INFO  [nic] e1000 up: MAC [52, 54, 00, 12, 34, 56], rings of 32 descriptors");
}

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("kaal-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_bad_system_toml_is_refused_before_anything_builds() {
    let scratch = Scratch::new("bad-system");
    std::fs::write(
        scratch.0.join("system.toml"),
        "[system]\nname = \"bad\"\n\n[components.server]\npath = \"server\"\npriority = 300\n\n\
         [connections.channels.calc]\nserver = \"server\"\nclients = [\"clinet\"]\n",
    )
    .unwrap();
    let error = kaal_compose::build(Some(&scratch.0), &Reporter::QUIET).unwrap_err().to_string();
    assert!(error.contains("system.toml failed: 2 problem(s)"), "{error}");
    assert!(error.contains("system.toml:6:12: components.server.priority: priority 300 is out of range"), "{error}");
    assert!(error.contains("system.toml:10:12: connections.channels.calc.clients: `clinet`"), "{error}");
    assert!(error.contains("nothing was built"), "{error}");
    // Fixed, the file is fine, but the component's crate is missing.
    std::fs::write(
        scratch.0.join("system.toml"),
        "[system]\nname = \"bad\"\n\n[components.server]\npath = \"server\"\n",
    )
    .unwrap();
    let error = kaal_compose::build(Some(&scratch.0), &Reporter::QUIET).unwrap_err().to_string();
    assert!(error.contains("system.toml:4:1: components.server.path:"), "{error}");
    assert!(error.contains("does not exist"), "{error}");
    assert!(!scratch.0.join("target").exists(), "nothing may be built for a bad system");
}

/// Runs `cargo kaal ARGS` in `dir` and returns (success, stdout + stderr).
fn cargo_kaal(dir: &Path, args: &[&str]) -> (bool, String) {
    cargo_kaal_with(dir, args, &[])
}

/// [`cargo_kaal`] without the environment variables `unset`.
fn cargo_kaal_with(dir: &Path, args: &[&str], unset: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for name in unset {
        cmd.env_remove(name);
    }
    let out = cmd
        .arg("kaal")
        .args(args)
        .current_dir(dir)
        // The user's cargo home, as `cargo kaal test` itself runs with: the tool is built
        // with its dependencies' source paths, which run through the cargo home, so the
        // cargo home of its own these tests once had rebuilt the tool (52 s), and the
        // user's next `cargo kaal` rebuilt it again. (The global alias, the one thing the
        // tool writes there, `cargo kaal test` has already seen to; see
        // `kaal_compose::shim`.)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// `cargo kaal new` into an empty directory outside the repository, then `cargo kaal run`
/// inside the new project, as a newcomer would. (`cargo kaal new` runs from this
/// checkout, so the checkout under test makes the project; in any other directory the
/// global alias would run whichever checkout it points at, see `kaal_compose::shim`.)
fn new_project_boots(template: &str, expect: &[&str]) {
    new_project_boots_system(template, None, expect)
}

fn new_project_boots_system(template: &str, system: Option<&str>, expect: &[&str]) {
    new_project_runs(template, &["run"], system, expect)
}

fn new_project_runs(template: &str, command: &[&str], system: Option<&str>, expect: &[&str]) {
    let scratch =
        Scratch::new(&format!("new-{template}-{}-{}", command[0], system.unwrap_or("root").replace('/', "-")));
    let target = scratch.0.join("demo");
    let (ok, out) = cargo_kaal(&workspace_root(), &["new", &target.display().to_string(), "--template", template]);
    assert!(ok, "cargo kaal new failed:\n{out}");
    let project = scratch.0.join("demo");
    // The projects share one target directory across runs, so only the first build of
    // the kaal crates is cold. (The project itself is fresh each time.)
    let shared = workspace_root().join("target/kaal/new-project-target");
    std::fs::create_dir_all(&shared).unwrap();
    std::os::unix::fs::symlink(&shared, project.join("target")).unwrap();
    let mut args = command.to_vec();
    args.extend(system);
    let (ok, out) = cargo_kaal(&project, &args);
    assert!(ok, "cargo kaal {} in a new `{template}` project failed:\n{out}", command[0]);
    let mut from = 0;
    for text in expect {
        let lines: Vec<&str> = out.lines().collect();
        match lines[from..].iter().position(|l| l.contains(text)) {
            Some(i) => from += i + 1,
            None => panic!("expected {text:?} (in order) from the `{template}` project:\n{out}"),
        }
    }
}

/// `kaal add` grows a generated project: a component (crate, workspace member, system.toml
/// table) and a driver crate the component then uses; the project builds and boots with
/// no file of the KaaL checkout changed.
#[test]
fn kaal_add_grows_a_project_with_a_component_and_a_driver() {
    let scratch = Scratch::new("kaal-add");
    let project = scratch.0.join("demo");
    let (ok, out) = cargo_kaal(&workspace_root(), &["new", &project.display().to_string()]);
    assert!(ok, "cargo kaal new failed:\n{out}");
    let shared = workspace_root().join("target/kaal/new-project-target");
    std::fs::create_dir_all(&shared).unwrap();
    std::os::unix::fs::symlink(&shared, project.join("target")).unwrap();
    let (ok, out) = cargo_kaal(&project, &["add", "component", "extra"]);
    assert!(ok && out.contains("created components/extra/src/main.rs"), "{out}");
    let (ok, out) = cargo_kaal(&project, &["add", "driver", "drv-extra"]);
    assert!(ok && out.contains("created drivers/drv-extra/src/lib.rs"), "{out}");
    let (ok, out) = cargo_kaal(&project, &["add", "component", "extra"]);
    assert!(!ok && out.contains("system.toml already has [components.extra]"), "{out}");
    let system = std::fs::read_to_string(project.join("system.toml")).unwrap();
    assert!(system.contains("[components.extra]\npath = \"components/extra\""), "{system}");
    let manifest = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("\"components/extra\"") && manifest.contains("\"drivers/drv-extra\""), "{manifest}");
    // The component links the new driver (its declaration and registration come along).
    let extra = project.join("components/extra");
    let toml = std::fs::read_to_string(extra.join("Cargo.toml")).unwrap();
    let toml = toml.replace("[dependencies]\n", "[dependencies]\ndrv-extra = { path = \"../../drivers/drv-extra\" }\n");
    std::fs::write(extra.join("Cargo.toml"), toml).unwrap();
    let main = std::fs::read_to_string(extra.join("src/main.rs")).unwrap();
    std::fs::write(
        extra.join("src/main.rs"),
        main.replace(
            "use kaal_core::component::Component;",
            "use drv_extra as _;\nuse kaal_core::component::Component;",
        ),
    )
    .unwrap();
    let (ok, out) = cargo_kaal(&project, &["run"]);
    assert!(ok, "{out}");
    assert!(out.contains("[extra] hello from a new component"), "{out}");
    assert!(out.contains("system 'demo' done: 2 succeeded"), "{out}");
}

/// seL4 16.0.0 is in no registry: a system that asks for it without a source (or with
/// one that is not there) fails before anything builds, saying how to give one.
#[test]
fn a_sel4_16_system_without_a_reachable_source_fails_before_anything_builds() {
    let scratch = Scratch::new("no-sel4-16-source");
    let project = scratch.0.join("demo");
    let (ok, out) = cargo_kaal(&workspace_root(), &["new", &project.display().to_string()]);
    assert!(ok, "cargo kaal new failed:\n{out}");
    let system = std::fs::read_to_string(project.join("system.toml")).unwrap();
    let unset = [kaal_sel4::source::SOURCE_ENV];
    for (kernel, expect) in [
        (
            "version = \"16.0.0\"",
            vec!["no seL4 16.0.0 source: no package registry carries it", "git clone --branch 16.0.0"],
        ),
        (
            "version = \"16.0.0\"\nsource = \"../nowhere\"",
            vec!["is not an seL4 source tree KaaL knows", "[kernel] source names"],
        ),
        (
            "version = \"16.0.0\"\nsource = { git = \"/nonexistent/seL4.git\", tag = \"16.0.0\" }",
            vec![
                "git clone --depth 1 --branch 16.0.0 /nonexistent/seL4.git failed",
                "set [kernel] source to the tree's path",
            ],
        ),
    ] {
        std::fs::write(project.join("system.toml"), format!("{system}\n[kernel]\n{kernel}\n")).unwrap();
        let (ok, out) = cargo_kaal_with(&project, &["build"], &unset);
        assert!(!ok, "a 16.0.0 system with `{kernel}` built:\n{out}");
        for text in expect {
            assert!(out.contains(text), "expected {text:?} for `{kernel}`:\n{out}");
        }
        assert!(!project.join("target").exists(), "nothing may be built without a kernel source");
    }
}

#[test]
fn kaal_new_minimal_boots_as_generated() {
    new_project_boots(
        "minimal",
        &[
            "[hello] Hello from a KaaL component on seL4!",
            "[hello] the heap works: the first ten squares add up to 385",
            "[hello] my CNode holds 6 capabilities",
            "[kaal-root] system 'demo' done: 1 succeeded",
        ],
    );
}

#[test]
fn kaal_new_minimal_example_boots_one_crate_as_two_components() {
    new_project_boots_system(
        "minimal",
        Some("examples/twins"),
        &[
            "[kaal-root] started castor (priority 110, 0 grants)",
            "[kaal-root] started pollux (priority 100, 0 grants)",
            "[castor] Hello from a KaaL component on seL4!",
            "[pollux] Hello from a KaaL component on seL4!",
            "[kaal-root] system 'demo-twins' done: 2 succeeded",
        ],
    );
}

#[test]
fn kaal_new_ipc_boots_as_generated() {
    new_project_boots(
        "ipc",
        &[
            "[counter] serving",
            "[client] my count is 55, the server's total is 55",
            "[kaal-root] system 'demo' done: 1 succeeded, 0 failed, 0 faulted, 1 daemons still serving",
        ],
    );
}

#[test]
fn kaal_test_in_a_new_project_boots_each_of_its_systems() {
    new_project_runs(
        "ipc",
        &["test"],
        None,
        &[
            "checking the whole workspace",
            "[kaal] booting demo: the system exited successfully",
            "[kaal] booting examples/two-clients: the system exited successfully",
        ],
    );
}

#[test]
fn kaal_new_driver_boots_as_generated() {
    new_project_boots(
        "driver",
        &[
            "[kaal-root] device pit -> ticker",
            "[ticker] tick 25",
            "[ticker] tick 100",
            "[ticker] 100 ticks at 100 Hz took",
            "[kaal-root] system 'demo' done: 1 succeeded",
        ],
    );
}

/// `cargo kaal new demo --template full && cargo kaal run </dev/null`: lesson 10's
/// system in a project of its own boots as generated, runs its demo at busybox's shell
/// and exits 0 (its own component, the heartbeat, scheduled beside it).
#[test]
fn kaal_new_full_boots_as_generated_and_runs_its_demo() {
    new_project_boots(
        "full",
        &[
            "[kaal-root] system 'demo': 6 components",
            "[vfs] tmp: ramfs",
            "[POSIX] Ready: Linux 6.1.0-kaal-sel4, busybox sh as init",
            "--- the end of the tour",
            "[rt] heartbeat      100 ms",
            "[kaal] the system exited successfully",
        ],
    );
}

/// The CMOS real-time clock driver the test below writes into a new project: a device
/// KaaL does not ship, reached through an index/data register pair, with an interrupt.
const RTC_DRIVER: &str = r#"//! The PC's MC146818 CMOS real-time clock: register N is read by writing N to port
//! 0x70 and reading port 0x71. It raises IRQ 8 once a second when the update-ended
//! interrupt is on; reading status register C acknowledges it.
#![no_std]
#![forbid(unsafe_code)]

use kaal_dev::registers::{Indexed, ReadWrite, RegisterBlock};
use kaal_dev::{Driver, DriverError, Irq, PortBlock};

const CMOS: Indexed<u8, u8, ReadWrite> = Indexed::at(0, 1);
const SECONDS: u8 = 0x00;
const MINUTES: u8 = 0x02;
const HOURS: u8 = 0x04;
const STATUS_B: u8 = 0x0b;
const STATUS_C: u8 = 0x0c;
const UPDATE_ENDED: u8 = 1 << 4;
const BINARY: u8 = 1 << 2;

#[derive(Driver)]
#[driver(name = "cmos-rtc")]
#[isa(rtc)]
pub struct Rtc {
    #[ports]
    regs: PortBlock,
    #[interrupt(handler = on_interrupt)]
    irq: Irq,
    updates: u64,
}

impl Rtc {
    /// Seconds since midnight.
    pub fn seconds_of_day(&self) -> Result<u32, DriverError> {
        let bcd = self.regs.read_indexed(CMOS, STATUS_B)? & BINARY == 0;
        let field = |register| -> Result<u32, DriverError> {
            let v = self.regs.read_indexed(CMOS, register)? as u32;
            Ok(if bcd { (v >> 4) * 10 + (v & 0xf) } else { v })
        };
        Ok(field(HOURS)? * 3600 + field(MINUTES)? * 60 + field(SECONDS)?)
    }

    /// Turns on the once-a-second update-ended interrupt.
    pub fn interrupt_every_second(&mut self) -> Result<(), DriverError> {
        let b = self.regs.read_indexed(CMOS, STATUS_B)?;
        self.regs.write_indexed(CMOS, STATUS_B, b | UPDATE_ENDED)?;
        self.regs.read_indexed(CMOS, STATUS_C)?;
        Ok(())
    }

    pub fn updates(&self) -> u64 {
        self.updates
    }

    fn on_interrupt(&mut self) -> Result<(), DriverError> {
        if self.regs.read_indexed(CMOS, STATUS_C)? & UPDATE_ENDED != 0 {
            self.updates += 1;
        }
        Ok(())
    }
}
"#;

const RTC_COMPONENT: &str = r#"//! Reads the CMOS clock, waits for two of its interrupts, and reads it again.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;

use drv_rtc::Rtc;
use kaal_core::component::Component;
use kaal_core::println;

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(mut me: Component) -> Result<(), Box<dyn core::error::Error>> {
    let name = me.name();
    let mut rtc: Rtc = kaal_dev::device_grant::claim(&mut me, "rtc")?;
    let before = rtc.seconds_of_day()?;
    println!("[{name}] the CMOS clock reads {:02}:{:02}:{:02}", before / 3600, before / 60 % 60, before % 60);
    rtc.interrupt_every_second()?;
    kaal_dev::kit::serve(&mut rtc, |r| r.updates() < 2)?;
    let after = rtc.seconds_of_day()?;
    let elapsed = (after + 86_400 - before) % 86_400;
    println!("[{name}] {} update interrupts later it reads {elapsed} s further", rtc.updates());
    if !(1..=10).contains(&elapsed) {
        return Err("the clock did not advance between its interrupts".into());
    }
    Ok(())
}
"#;

/// The path to a device KaaL does not ship, as a newcomer takes it: a new project
/// declares the PC's CMOS clock in system.toml (`[devices.rtc]`), `kaal add` makes a
/// driver crate and a component, the driver uses the declared name in `#[isa(rtc)]`,
/// and the system boots with the clock's ports and interrupt granted to the component.
/// No file of the KaaL checkout changes.
#[test]
fn a_project_drives_a_device_kaal_does_not_ship_declared_in_system_toml() {
    let checkout_status = || {
        Command::new("git")
            .args(["status", "--porcelain", "--untracked-files=all"])
            .current_dir(workspace_root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let before = checkout_status();
    let scratch = Scratch::new("declared-device");
    let project = scratch.0.join("demo");
    let (ok, out) = cargo_kaal(&workspace_root(), &["new", &project.display().to_string()]);
    assert!(ok, "cargo kaal new failed:\n{out}");
    let shared = workspace_root().join("target/kaal/new-project-target");
    std::fs::create_dir_all(&shared).unwrap();
    std::os::unix::fs::symlink(&shared, project.join("target")).unwrap();
    for args in [["add", "component", "clock"], ["add", "driver", "drv-rtc"]] {
        let (ok, out) = cargo_kaal(&project, &args);
        assert!(ok, "cargo kaal {}:\n{out}", args.join(" "));
    }
    std::fs::write(project.join("drivers/drv-rtc/src/lib.rs"), RTC_DRIVER).unwrap();
    let clock = project.join("components/clock");
    std::fs::write(clock.join("src/main.rs"), RTC_COMPONENT).unwrap();
    // The component uses the driver crate and the kit (kaal-dev, as the driver does).
    let driver_toml = std::fs::read_to_string(project.join("drivers/drv-rtc/Cargo.toml")).unwrap();
    let kaal_dev = driver_toml.lines().find(|l| l.starts_with("kaal-dev ")).expect("the driver uses kaal-dev");
    let toml = std::fs::read_to_string(clock.join("Cargo.toml")).unwrap();
    let toml = toml.replace(
        "[dependencies]\n",
        &format!("[dependencies]\ndrv-rtc = {{ path = \"../../drivers/drv-rtc\" }}\n{kaal_dev}\n"),
    );
    std::fs::write(clock.join("Cargo.toml"), toml).unwrap();
    let system = std::fs::read_to_string(project.join("system.toml")).unwrap();
    let system = system.replace(
        "[components.clock]\npath = \"components/clock\"\n",
        "[components.clock]\npath = \"components/clock\"\ndevices = [\"rtc\"]\n",
    );
    std::fs::write(
        project.join("system.toml"),
        format!(
            "{system}\n[devices.rtc]\ndescription = \"MC146818 CMOS real-time clock\"\nports = \"0x70-0x71\"\nirq = 8\n"
        ),
    )
    .unwrap();

    let (ok, out) = cargo_kaal(&project, &["run"]);
    assert!(ok, "{out}");
    for line in [
        "[kaal-root] device rtc -> clock",
        "[clock] the CMOS clock reads ",
        "[clock] 2 update interrupts later it reads ",
        "system 'demo' done: 2 succeeded",
    ] {
        assert!(out.contains(line), "expected {line:?} in:\n{out}");
    }
    let (ok, caps) = cargo_kaal(&project, &["debug", "caps"]);
    assert!(ok && caps.contains("rtc:ports") && caps.contains("rtc:irq"), "{caps}");
    // The device table has the declared device, with the project's driver matched to it.
    let (ok, devices) = cargo_kaal(&project, &["debug", "devices"]);
    let row = devices.lines().find(|l| l.starts_with("rtc ")).unwrap_or_default();
    assert!(ok && row.contains("MC146818 CMOS real-time clock") && row.contains("0x70-0x71"), "{devices}");
    assert!(devices.lines().any(|l| l.contains("rtc") && l.contains("cmos-rtc")), "{devices}");
    assert_eq!(checkout_status(), before, "the KaaL checkout changed");
}
