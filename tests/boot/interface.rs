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
    let defines = config.defines();
    let source = KernelSource::carrier().unwrap_or_else(|e| panic!("{e}"));
    let root = source.root();
    let scratch = Scratch(std::env::temp_dir().join(format!("kaal-interface-{flavour}-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0).unwrap();
    let autoconf = scratch.0.join("autoconf.h");
    std::fs::write(&autoconf, config.autoconf_h()).unwrap();
    let python = python();
    let tools = root.join("libsel4/tools");
    let xml = xml_files(root);

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
    let ours = KernelInterface::load(&source, &kaal_sel4::define_map(&defines)).unwrap_or_else(|e| panic!("{e}"));
    compare_labels(&ours, kernel_labels, &flavour.to_string());
    compare_stubs(&ours, &python, &tools, &xml, &["-w", "64"], &autoconf, &scratch, &flavour.to_string());
}

/// The interface XML files: generic, x86_64's and x86's, with the generator's layer flag.
fn xml_files(root: &Path) -> [(PathBuf, Option<&'static str>); 3] {
    [
        (root.join("libsel4/include/interfaces/sel4.xml"), None),
        (root.join("libsel4/sel4_arch_include/x86_64/interfaces/sel4arch.xml"), Some("--sel4_arch")),
        (root.join("libsel4/arch_include/x86/interfaces/sel4arch.xml"), Some("--arch")),
    ]
}

fn compare_labels(ours: &KernelInterface, mut kernel_labels: BTreeMap<String, u64>, what: &str) -> usize {
    let ours_labels: BTreeMap<String, u64> = ours.methods.iter().map(|m| (m.label.clone(), m.number)).collect();
    kernel_labels.remove("InvalidInvocation");
    assert!(kernel_labels.len() > 40, "the kernel's headers gave {} labels ({what})", kernel_labels.len());
    assert_eq!(ours_labels, kernel_labels, "invocation labels differ from the kernel's ({what})");
    ours_labels.len()
}

/// The kernel's stub generator (`syscall_stub_gen.py`, with `flags`) against KaaL's.
#[allow(clippy::too_many_arguments)]
fn compare_stubs(
    ours: &KernelInterface,
    python: &Path,
    tools: &Path,
    xml: &[(PathBuf, Option<&str>)],
    flags: &[&str],
    autoconf: &Path,
    scratch: &Scratch,
    what: &str,
) {
    let stubs = scratch.0.join("sel4_client.h");
    let mut cmd = Command::new(python);
    cmd.arg(tools.join("syscall_stub_gen.py")).args(["-a", "x86_64"]).args(flags).arg("-o").arg(&stubs);
    cmd.args(xml.iter().map(|(f, _)| f));
    run(&mut cmd);
    let theirs = stub_messages(&preprocess(&stubs, autoconf), "", "seL4_MessageInfo_new(");
    let rust = kaal_sel4::stubs::generate(ours).unwrap_or_else(|e| panic!("{e}"));
    let ours = stub_messages(&rust, "pub unsafe fn ", "message_info(");
    assert!(theirs.len() > 40, "the kernel's generator produced {} stubs", theirs.len());
    let (their_names, our_names): (Vec<_>, Vec<_>) = (theirs.keys().collect(), ours.keys().collect());
    assert_eq!(our_names, their_names, "the stubs differ from syscall_stub_gen.py's ({what})");
    for (name, theirs) in &theirs {
        assert_eq!(&ours[name], theirs, "{name}: (label, extra caps, words) differ ({what})");
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

/// seL4 16.0.0: KaaL's labels and syscall numbers against the headers the kernel's CMake
/// build generated for itself (`gen_headers/`, the numbering the kernel decodes with),
/// and KaaL's stubs against `syscall_stub_gen.py`, each resolved with the build's own
/// `gen_config.h`. Returns (labels, syscalls).
fn compare_16(kernel: &str) -> Option<(usize, usize)> {
    let root = match kaal_compose::testing::sel4_16_source() {
        Ok(root) => root,
        Err(why) => {
            eprintln!("skipped: {why}");
            return None;
        }
    };
    let choice = kaal_sel4::KernelChoice::parse(kernel).unwrap();
    let config = choice.config();
    let workspace = kaal_compose::testing::workspace_root();
    let project = kaal_compose::project::Project::discover(&workspace).unwrap_or_else(|e| panic!("{e}"));
    let spec = kaal_compose::system::KernelSourceSpec::Path(root.clone());
    let sources = kaal_compose::kernel::SourceChoice { spec: Some(&spec), base_dir: None };
    let built =
        kaal_compose::kernel::prepare(&project, &config, sources, &Reporter::QUIET).unwrap_or_else(|e| panic!("{e}"));
    let source = KernelSource::at(root.clone()).unwrap();
    let defines = kaal_sel4::config_defines(&config, Some(&built.dir)).unwrap_or_else(|e| panic!("{e}"));
    let scratch = Scratch(std::env::temp_dir().join(format!("kaal-interface-{kernel}-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0).unwrap();
    let autoconf = scratch.0.join("autoconf.h");
    std::fs::write(&autoconf, kaal_sel4::autoconf_h(&defines)).unwrap();
    let ours = KernelInterface::load(&source, &kaal_sel4::define_map(&defines)).unwrap_or_else(|e| panic!("{e}"));

    // Labels: generic, then x86_64's, then x86's, as the kernel numbers them.
    let gen = built.dir.join("build/gen_headers");
    let mut kernel_labels = BTreeMap::new();
    let mut next = 0;
    for (i, header) in ["api/invocation.h", "arch/api/sel4_invocation.h", "arch/api/invocation.h"].iter().enumerate() {
        let copy = scratch.0.join(format!("invocation{i}.h"));
        std::fs::copy(gen.join(header), &copy).unwrap();
        next = enum_labels(&preprocess(&copy, &autoconf), next, &mut kernel_labels);
    }
    let labels = compare_labels(&ours, kernel_labels, kernel);

    // Syscall numbers.
    let copy = scratch.0.join("syscall.h");
    std::fs::copy(gen.join("arch/api/syscall.h"), &copy).unwrap();
    let text = preprocess(&copy, &autoconf);
    let body = text.split_once("enum syscall {").and_then(|(_, rest)| rest.split_once('}')).expect("enum syscall").0;
    let theirs: BTreeMap<String, i64> = body
        .split(',')
        .filter_map(|e| e.split_once('='))
        .map(|(name, number)| (name.trim().to_string(), number.trim().parse().expect("a syscall number")))
        .collect();
    let ours_syscalls: BTreeMap<String, i64> =
        ours.syscalls.iter().map(|s| (format!("Sys{}", s.name.trim_start_matches("seL4_Sys")), s.number)).collect();
    assert_eq!(ours_syscalls, theirs, "syscall numbers differ from the kernel's ({kernel})");

    let python =
        kaal_compose::kernel::ensure_venv_for(&workspace.join("target/kaal"), config.version, &Reporter::QUIET)
            .unwrap_or_else(|e| panic!("{e}"))
            .join("bin/python3");
    let flags: &[&str] = if config.mcs { &["--mcs"] } else { &[] };
    // The exported tree keeps symbolic links as files naming their targets; the
    // generator and its XML are read through copies with the links resolved.
    let tools = scratch.0.join("tools");
    std::fs::create_dir_all(&tools).unwrap();
    for entry in std::fs::read_dir(root.join("libsel4/tools")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(resolve_link(&path), tools.join(path.file_name().unwrap())).unwrap();
        }
    }
    let xml = xml_files(&root).map(|(file, layer)| (resolve_link(&file), layer));
    compare_stubs(&ours, &python, &tools, &xml, flags, &autoconf, &scratch, kernel);
    Some((labels, theirs.len()))
}

/// `path`, or the file it names if it is a symbolic link exported as a file.
fn resolve_link(path: &Path) -> PathBuf {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let target = text.trim();
    if !target.is_empty() && !target.contains(char::is_whitespace) && target.len() < 200 {
        let candidate = path.parent().unwrap().join(target);
        if candidate.is_file() {
            return resolve_link(&candidate);
        }
    }
    path.to_path_buf()
}

#[test]
fn labels_syscalls_and_stubs_match_the_kernels_own_for_sel4_16() {
    // The counts the kernel's own generators give (../shared/notes/sel4-16.md).
    if let Some(counts) = compare_16("16.0.0-debug") {
        assert_eq!(counts, (52, 15));
    }
}

#[test]
fn labels_syscalls_and_stubs_match_the_kernels_own_for_sel4_16_mcs() {
    if let Some(counts) = compare_16("16.0.0-mcs") {
        assert_eq!(counts, (58, 18));
    }
}
