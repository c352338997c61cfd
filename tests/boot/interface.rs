//! KaaL's generated seL4 interface against the kernel's own generators.
//!
//! `kaal-sel4` reads the kernel's interface XML itself and generates `kaal-core`'s
//! invocation labels and stubs. This test runs the kernel's own generators on the same
//! source, `libsel4/tools/invocation_header_gen.py` and `syscall_stub_gen.py` (with the
//! python venv `kaal` builds the kernel with), resolves their `#if CONFIG_...` guards
//! with the C preprocessor and the same rendered `autoconf.h`, and checks, for both
//! kernel flavours, that:
//!
//! * every invocation label has the same number in both;
//! * both generate the same set of `seL4_*` stubs;
//! * each stub sends the same label with the same number of extra capabilities and
//!   message words.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kaal_compose::progress::Reporter;
use kaal_sel4::{Flavour, KernelConfig, KernelInterface, KernelSource};

/// A scratch directory for one flavour, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn python() -> PathBuf {
    let kaal = kaal_compose::testing::workspace_root().join("target/kaal");
    let venv = kaal_compose::kernel::ensure_venv(&kaal, &Reporter::QUIET).unwrap_or_else(|e| panic!("{e}"));
    venv.join("bin/python3")
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// `file` through the C preprocessor with `autoconf`'s definitions, guards resolved.
/// Its `#include`s are dropped first: they name libsel4's installed headers, and only
/// the declarations in the file itself are compared.
fn preprocess(file: &Path, autoconf: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let alone: String =
        text.lines().filter(|l| !l.trim_start().starts_with("#include")).map(|l| format!("{l}\n")).collect();
    std::fs::write(file, alone).unwrap();
    run(Command::new("gcc").args(["-E", "-P", "-x", "c", "-include"]).arg(autoconf).arg(file))
}

/// The labels of one generated invocation header, numbered from `first`: the body of
/// its enum, with `Name = previous_total` for the first entry and a count name last.
fn enum_labels(text: &str, first: u64, out: &mut BTreeMap<String, u64>) -> u64 {
    let body = text.split_once('{').and_then(|(_, rest)| rest.split_once('}')).map(|(b, _)| b).expect("an enum");
    let names: Vec<&str> =
        body.split(',').map(|e| e.split('=').next().unwrap_or("").trim()).filter(|n| !n.is_empty()).collect();
    let (count_name, labels) = names.split_last().expect("a count entry");
    assert!(count_name.starts_with('n'), "the last entry counts the labels: {count_name}");
    for (i, name) in labels.iter().enumerate() {
        out.insert(name.to_string(), first + i as u64);
    }
    first + labels.len() as u64
}

/// `(label, extra caps, words)` of each stub, from `seL4_MessageInfo_new(L, 0, c, w)` in
/// the C (`call`) or `message_info(invocation::L, 0, c, w)` in KaaL's Rust.
fn stub_messages(text: &str, fn_marker: &str, call: &str) -> BTreeMap<String, (String, u32, u32)> {
    let mut stubs = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        // A definition starts a line (C, after its return type's line) or follows the
        // marker (Rust).
        let start = if fn_marker.is_empty() { line.starts_with("seL4_").then_some(0) } else { line.find(fn_marker) };
        if let Some(at) = start {
            let name: String =
                line[at + fn_marker.len()..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if name.starts_with("seL4_") && line.contains('(') {
                current = Some(name);
            }
        }
        if let (Some(name), Some(at)) = (&current, line.find(call)) {
            let args = &line[at + call.len()..];
            let args = &args[..args.find(')').expect("closing parenthesis")];
            let parts: Vec<&str> = args.split(',').map(str::trim).collect();
            assert_eq!(parts.len(), 4, "{line}");
            let label = parts[0].trim_start_matches("invocation::").to_string();
            let number = |s: &str| s.trim_end_matches("u64").parse::<u32>().unwrap_or_else(|_| panic!("{line}"));
            stubs.insert(name.clone(), (label, number(parts[2]), number(parts[3])));
            current = None;
        }
    }
    stubs
}

fn compare(flavour: Flavour) {
    let config = KernelConfig::for_flavour(flavour);
    let defines = kaal_sel4::define_map(&config);
    let source = KernelSource::locate().unwrap_or_else(|e| panic!("{e}"));
    let root = source.root();
    let scratch = Scratch(std::env::temp_dir().join(format!("kaal-interface-{flavour}-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0).unwrap();
    let autoconf = scratch.0.join("autoconf.h");
    std::fs::write(&autoconf, config.autoconf_h()).unwrap();
    let python = python();
    let tools = root.join("libsel4/tools");
    let xml = [
        (root.join("libsel4/include/interfaces/sel4.xml"), None),
        (root.join("libsel4/sel4_arch_include/x86_64/interfaces/sel4arch.xml"), Some("--sel4_arch")),
        (root.join("libsel4/arch_include/x86/interfaces/sel4arch.xml"), Some("--arch")),
    ];

    // The kernel's label numbering: generic labels, then x86_64's, then x86's.
    let mut kernel_labels = BTreeMap::new();
    let mut next = 0;
    for (i, (file, layer)) in xml.iter().enumerate() {
        let header = scratch.0.join(format!("invocation{i}.h"));
        let mut cmd = Command::new(&python);
        cmd.arg(tools.join("invocation_header_gen.py")).arg("--xml").arg(file).arg("--dest").arg(&header);
        cmd.arg("--libsel4").args(layer.iter());
        run(&mut cmd);
        next = enum_labels(&preprocess(&header, &autoconf), next, &mut kernel_labels);
    }
    let ours = KernelInterface::load(&source, &defines).unwrap_or_else(|e| panic!("{e}"));
    let ours_labels: BTreeMap<String, u64> = ours.methods.iter().map(|m| (m.label.clone(), m.number)).collect();
    kernel_labels.remove("InvalidInvocation");
    assert_eq!(ours_labels, kernel_labels, "invocation labels differ from invocation_header_gen.py's ({flavour})");

    // The kernel's stubs against KaaL's.
    let stubs = scratch.0.join("sel4_client.h");
    let mut cmd = Command::new(&python);
    cmd.arg(tools.join("syscall_stub_gen.py")).args(["-a", "x86_64", "-w", "64", "-o"]).arg(&stubs);
    cmd.args(xml.iter().map(|(f, _)| f));
    run(&mut cmd);
    let theirs = stub_messages(&preprocess(&stubs, &autoconf), "", "seL4_MessageInfo_new(");
    let rust = kaal_sel4::stubs::generate(&ours).unwrap_or_else(|e| panic!("{e}"));
    let ours = stub_messages(&rust, "pub unsafe fn ", "message_info(");
    assert!(theirs.len() > 40, "the kernel's generator produced {} stubs", theirs.len());
    let (their_names, our_names): (Vec<_>, Vec<_>) = (theirs.keys().collect(), ours.keys().collect());
    assert_eq!(our_names, their_names, "the stubs differ from syscall_stub_gen.py's ({flavour})");
    for (name, theirs) in &theirs {
        assert_eq!(&ours[name], theirs, "{name}: (label, extra caps, words) differ ({flavour})");
    }
}

#[test]
fn labels_and_stubs_match_the_kernels_own_generators() {
    compare(Flavour::Debug);
}

#[test]
fn labels_and_stubs_match_the_kernels_own_generators_for_the_release_kernel() {
    compare(Flavour::Release);
}
