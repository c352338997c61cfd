//! DDE-Linux, the build: Linux's own 8139cp and e1000 drivers, from Debian's pinned
//! linux-source package, compiled unmodified against the real headers (with KaaL's
//! shadow headers first) and checked by the privileged-instruction gate.
//!
//! These are build tests: the emulation that runs the objects in a component
//! (`kaal-dde`) and its boot tests are not written yet.

use kaal_compose::dde;
use kaal_compose::progress::Reporter;
use kaal_compose::testing::workspace_root;

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
        // The archive holds the objects and a weak stub for each function needed.
        let nm = std::process::Command::new("nm").arg(&built.archive).output().expect("nm runs");
        let symbols = String::from_utf8_lossy(&nm.stdout);
        assert!(symbols.contains("W register_netdev") && symbols.contains("W kaal_dde_irq_flags"), "{symbols}");
        assert!(symbols.contains("U kaal_dde_unimplemented"), "{symbols}");
        assert!(!symbols.contains("W mii_link_ok"), "a stub for a function mii.c defines");
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
