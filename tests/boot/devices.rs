//! Lesson 05 on the real kernel: the broker's device table, refused claims, the PIT
//! driver keeping time, and the 16550 driver talking to the host through COM2.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use kaal_compose::testing::Boot;

/// The milliseconds in "the time-stamp counter measured 500.122 ms".
fn measured_ms(run: &kaal_compose::qemu::BootOutcome) -> f64 {
    let rest = run.value_after("the time-stamp counter measured").expect("timer line");
    rest.split_whitespace().next().and_then(|v| v.parse().ok()).expect("a number of milliseconds")
}

#[test]
fn broker_lists_devices_refuses_second_claims_and_the_timer_keeps_time() {
    lesson_05("5.0.0-debug");
}

/// On seL4 16.0.0 the broker issues each device's ports from the I/O port control
/// capability, each range once, rather than minting them from the capability for all.
#[test]
fn broker_lists_devices_refuses_second_claims_and_the_timer_keeps_time_on_sel4_16() {
    lesson_05("16.0.0-debug");
}

/// MCS release: the drivers wait for interrupts with `Wait`, and print through the
/// console thread, which answers through its reply object.
#[test]
fn broker_lists_devices_refuses_second_claims_and_the_timer_keeps_time_on_sel4_16_mcs_release() {
    lesson_05("16.0.0-mcs-release");
}

fn lesson_05(kernel: &str) {
    // Deterministic virtual time: the PIT and the time-stamp counter both follow
    // executed instructions, so the measurement is exact. Idle waits take no host time
    // (`icount_exact`): with plain -icount, virtual time follows the host's clock while
    // the guest idles, and a loaded host stretched 50 ticks to 502.7 and 510.5 ms in
    // CI runs. Nothing here waits for the host.
    let Some(boot) = Boot::new("tutorial/05-device-driver").on(kernel) else { return };
    let run = boot.icount_exact().run();
    run.assert_success()
        .assert_lines_in_order(&[
            "== the device table",
            "com1 ",
            "com2 ",
            "pit ",
            "hpet ",
            "pci:00:00.0",
            "pci:00:03.0",
            "== the timer",
            "pit: 50 ticks at 100 Hz",
            "== claiming twice",
            "a second claim on the PIT is refused:",
            "pit8254 cannot claim device pit: it is held by pit8254",
            "a claim on COM1 is refused:",
            "device com1 cannot be handed out: the seL4 kernel's debug console",
            "== the UART on COM2",
            "com2 is held by uart16550",
            "lesson-05 cannot claim device com4: its interrupt line (gsi 3) is held by uart16550 through device com2",
            "uart loopback: sent 13 bytes, received Ok(\"loopback test\"): ok",
            "uart: no input for 5 s, stopping",
            "== a PCI device and DMA memory",
            "e1000: registers at 0xfebc0000, MAC 52:54:00:12:34:56, link up",
            "all inside and aligned: true",
            "dma: 4 buffers of 16 KiB from a 64 KiB pool at physical",
            "dma: read back Ok(\"written by the CPU\")",
        ])
        // Running out names the pool and its size.
        .assert_line("then: lesson-buffers limit reached: asked for 16 KiB, but only 0 B of the 64 KiB limit is left")
        .assert_line("reserved (kernel)")
        .assert_line("8086:100e") // QEMU's e1000, found through PCI configuration space
        .assert_line("0xfed00000") // the HPET, found through ACPI
        .assert_no_line("unexpected");
    let ms = measured_ms(&run);
    assert!((499.0..=502.0).contains(&ms), "50 ticks at 100 Hz took {ms} ms of virtual time");
    // The broker matched its table against the registered drivers (the linkme slice).
    let row = |device: &str| run.serial.iter().find(|l| l.starts_with(device)).cloned().unwrap_or_default();
    assert!(row("com2 ").contains("uart16550"), "{}", row("com2 "));
    assert!(row("pit ").contains("pit8254"), "{}", row("pit "));
    assert!(row("pci:00:03.0").contains("e1000-peek"), "{}", row("pci:00:03.0"));
    assert!(!row("com1 ").contains("uart16550"), "the driver does not match COM1: {}", row("com1 "));
    // Freeing returns memory to the pool: the next buffer is the one just freed.
    let line = run.value_after("dma: freed the buffer at").expect("dma line");
    let (freed, again) = line.split_once("; the next one is at").expect("both addresses");
    assert_eq!(freed.trim(), again.trim(), "the pool should hand the freed buffer out again");
}

#[test]
fn uart_driver_echoes_what_the_host_sends_in_upper_case() {
    let socket: PathBuf = std::env::temp_dir().join(format!("kaal-com2-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&socket);
    let path = socket.clone();
    // The host end of COM2: wait for the driver's "ready", send two lines, read the echoes.
    let host = std::thread::spawn(move || -> Result<Vec<String>, String> {
        let started = Instant::now();
        let stream = loop {
            match UnixStream::connect(&path) {
                Ok(stream) => break stream,
                Err(_) if started.elapsed() < Duration::from_secs(120) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => return Err(format!("cannot connect to {}: {e}", path.display())),
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
        let mut reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
        let mut writer = stream;
        let mut read_line = || {
            let mut line = String::new();
            reader.read_line(&mut line).map_err(|e| format!("reading COM2: {e}"))?;
            Ok::<_, String>(line.trim_end().to_string())
        };
        let mut heard = vec![read_line()?];
        for line in ["hello from the host", "quit"] {
            writer.write_all(format!("{line}\n").as_bytes()).map_err(|e| e.to_string())?;
            heard.push(read_line()?);
        }
        Ok(heard)
    });
    let args = [
        "-chardev".to_string(),
        format!("socket,id=com2,path={},server=on,wait=off", socket.display()),
        "-serial".into(),
        "chardev:com2".into(),
        "-serial".into(),
        "null".into(),
        "-serial".into(),
        "null".into(),
    ];
    let run = Boot::new("tutorial/05-device-driver").replace_qemu_args(args).run();
    let heard = host.join().expect("host thread").unwrap_or_else(|e| panic!("{e}\n{}", run.user_output().join("\n")));
    let _ = std::fs::remove_file(&socket);
    assert_eq!(heard, ["ready", "HELLO FROM THE HOST", "QUIT"], "{}", run.user_output().join("\n"));
    run.assert_success()
        .assert_lines_in_order(&[
            "uart loopback: sent 13 bytes, received Ok(\"loopback test\"): ok",
            "uart: echoed \"HELLO FROM THE HOST\"",
            "uart: echoed \"QUIT\"",
            "uart: quit received",
            "uart: 25 bytes received in all",
        ])
        .assert_no_line("no input for");
    // Real time here (no -icount): the same measurement, with scheduling noise.
    let ms = measured_ms(&run);
    assert!((450.0..=700.0).contains(&ms), "50 ticks at 100 Hz took {ms} ms");
}
