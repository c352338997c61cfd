//! DDE-Linux: Linux's own 8139cp and e1000 drivers, from Debian's pinned linux-source
//! package, compiled unmodified against the real headers (with KaaL's shadow headers
//! first), checked by the privileged-instruction gate, and run in a KaaL component
//! over kaal-dde on the real kernel, serving the network stack.

use std::time::Duration;

use kaal_compose::dde;
use kaal_compose::progress::Reporter;
use kaal_compose::testing::{free_port, workspace_root, Boot};

fn kaal_dir() -> std::path::PathBuf {
    workspace_root().join("target/kaal")
}

/// Both drivers compile, pass the gate, and need the kernel API the emulation is to
/// give; a second build takes every object from the cache.
#[test]
fn linux_8139cp_and_e1000_compile_unmodified_and_pass_the_gate() {
    for (name, needs) in [
        (
            "8139cp",
            &["pci_enable_device", "request_threaded_irq", "register_netdev", "dma_alloc_attrs", "napi_gro_receive"][..],
        ),
        ("e1000", &["pci_enable_device_mem", "queue_delayed_work_on", "mutex_lock", "msleep", "init_timer_key"][..]),
    ] {
        let driver = dde::driver(name).unwrap();
        let built =
            dde::build(driver, &kaal_dir(), &dde::shadow_dir(), &Reporter::QUIET).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(built.objects.len(), driver.files.len());
        assert!(built.text_bytes > 8 * 1024, "{name}: only {} bytes of code", built.text_bytes);
        for symbol in needs {
            assert!(built.calls.contains(*symbol), "{name} does not call {symbol}: {:?}", built.calls);
        }
        // The shadow irqflags.h turned cli/sti into calls.
        assert!(built.calls.contains("kaal_dde_irq_disable"), "{:?}", built.calls);
        assert!(built.data.contains("jiffies"), "{:?}", built.data);
        // Linux's own helpers are compiled in: mii.c's, crc32.c's and string.c's
        // functions are defined, not needed.
        for helper in ["mii_ethtool_gset", "crc32_le", "strscpy"] {
            assert!(!built.calls.contains(helper), "{name} still needs {helper}");
        }
        // The archive holds the objects, kaal-dde's glue (which defines what the
        // emulation gives) and a weak stub for each function it does not.
        let nm = std::process::Command::new("nm").arg(&built.archive).output().expect("nm runs");
        let symbols = String::from_utf8_lossy(&nm.stdout);
        assert!(symbols.contains("T register_netdev") && symbols.contains("T kaal_dde_irq_flags"), "{symbols}");
        assert!(symbols.contains("T kaal_dde_initcalls"), "{symbols}");
        for missing in &built.missing {
            assert!(symbols.contains(&format!("W {missing}\n")), "no stub for {missing}");
        }
        assert!(!symbols.contains("W mii_link_ok"), "a stub for a function mii.c defines");
        assert_eq!(built.emulated.len() + built.missing.len(), built.calls.len());
        let again =
            dde::build(driver, &kaal_dir(), &dde::shadow_dir(), &Reporter::QUIET).unwrap_or_else(|e| panic!("{e}"));
        assert!(!again.compiled, "{name}: a warm build compiled Linux objects again");
        assert_eq!(again.calls, built.calls);
    }
}

/// Without KaaL's shadow headers, Linux's irqflags.h inlines cli/sti (and pushf) into
/// 8139cp: the gate refuses the build and names the functions.
#[test]
fn the_gate_refuses_8139cp_built_without_the_shadow_headers() {
    let empty = workspace_root().join(format!("target/kaal/dde-test-no-shadows-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let driver = dde::driver("8139cp").unwrap();
    let error = dde::build(driver, &kaal_dir(), &empty, &Reporter::QUIET).expect_err("privileged instructions");
    let text = error.to_string();
    assert!(text.contains("privileged instructions") && text.contains("cli in cp_"), "{text}");
    assert!(text.contains("kaal-dde/shadow"), "{text}");
    // Refused objects are not cached: the same build fails again.
    let again = dde::build(driver, &kaal_dir(), &empty, &Reporter::QUIET).expect_err("privileged instructions");
    assert!(again.to_string().contains("cli in cp_"));
    std::fs::remove_dir_all(&empty).unwrap();
}

#[test]
fn an_unknown_linux_driver_lists_the_known_ones() {
    let error = dde::driver("8139too").expect_err("not known");
    assert!(error.help.contains("8139cp") && error.help.contains("e1000"), "{error}");
}

/// Lesson 08's server with a Linux driver in component `nic`: the driver probes the
/// card and reads its MAC, the link comes up, the stack gets its address by DHCP
/// through it, and host curl and nc reach the server, many times over.
fn serves_the_host(system: &str, driver: &str, lines: &[&str]) {
    let Some(boot) = Boot::new(system).on("5.0.0-debug") else { return };
    let (http, echo) = (free_port(), free_port());
    let boot = boot.forward(http, 80).forward(echo, 7).timeout(Duration::from_secs(240));
    let ((pages, echoed), run) = boot.run_with(|session| {
        session.wait_for_line("[server] listening on", Duration::from_secs(150)).expect("the server listens");
        let curl = |path: &str| {
            let out = kaal_compose::testing::curl(http, path, 20);
            assert!(out.status.success(), "curl {path}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        // Ten pages: frames both ways through the driver's rings, many times over.
        let pages: Vec<String> = (0..10).map(|_| curl("/")).collect();
        (pages, kaal_compose::testing::nc(echo, &format!("hello through Linux's {driver}\n")))
    });
    let log = run.serial.join("\n");
    let mac = format!("[nic] Linux {driver} (DDE-Linux): MAC 52:54:00:12:34:56, link ");
    for line in lines.iter().copied().chain([mac.as_str(), "[net] address 10.0.2.15/24, gateway 10.0.2.2"]) {
        assert!(log.contains(line), "no `{line}` in:\n{log}");
    }
    assert!(!log.contains("does not emulate"), "the driver called a stub:\n{log}");
    for page in &pages {
        assert!(page.contains("<h1>Hello from seL4!</h1>"), "{page}");
    }
    assert_eq!(echoed, format!("hello through Linux's {driver}\n"));
    assert_eq!(run.verdict, kaal_compose::qemu::Verdict::Stopped, "{}", run.summary());
}

/// Linux's 8139cp, for QEMU's RTL8139C+ (`-device rtl8139`), a card KaaL has no
/// driver of its own for.
#[test]
fn linux_8139cp_in_a_component_serves_curl_and_nc_from_the_host() {
    serves_the_host(
        "tests/systems/dde-8139cp",
        "8139cp",
        &[
            "[nic] linux: eth0: RTL-8139C+ at 0x",
            "[nic] linux: eth0: link up, 100Mbps, full-duplex",
            "[net] smoltcp on rtl8139 (MAC 52:54:00:12:34:56), address by DHCP",
        ],
    );
}

/// Linux's e1000 in place of KaaL's own: its watchdog (a delayed work item) finds the
/// link up, as a cooperative task of the component's event loop.
#[test]
fn linux_e1000_in_a_component_serves_curl_and_nc_from_the_host() {
    serves_the_host(
        "tests/systems/dde-e1000",
        "e1000",
        &[
            "[nic] linux: eth0: Intel(R) PRO/1000 Network Connection",
            "[nic] linux: e1000: eth0 NIC Link is Up 1000 Mbps Full Duplex",
            "[nic] link up",
            "[net] smoltcp on e1000 (MAC 52:54:00:12:34:56), address by DHCP",
        ],
    );
}

/// The driver calls a function the emulation lacks (8139cp built `without` the glue's
/// `__dev_kfree_skb_irq`): it stops with the function's name, and the network server
/// says the driver stopped and keeps answering its client.
#[test]
fn a_function_the_emulation_lacks_stops_the_driver_by_name_and_the_rest_runs_on() {
    let Some(boot) = Boot::new("tests/systems/dde-without").on("5.0.0-debug") else { return };
    let run = boot.run();
    run.assert_verdict(kaal_compose::qemu::Verdict::Exited(kaal_abi::exit::ExitStatus::ERROR)).assert_lines_in_order(
        &[
            "[nic] Linux 8139cp (DDE-Linux): MAC 52:54:00:12:34:56, link up",
            "[net] address 10.0.2.15/24, gateway 10.0.2.2",
            "[nic] Linux 8139cp called `__dev_kfree_skb_irq`, which kaal-dde does not emulate yet: the driver stops \
             here (add `__dev_kfree_skb_irq` to kaal-dde/glue/linux.c)",
            "[supervisor] component 'nic' exited: main returned an error",
            "[net] the NIC driver `nic` has not returned a transmit buffer in 3 s: it stopped",
            "[witness] the network server still answers: 10.0.2.15/24",
            "[kaal-root] system 'dde-without' done: 1 succeeded, 1 failed, 0 faulted",
        ],
    );
}
