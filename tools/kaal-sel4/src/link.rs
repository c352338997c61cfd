//! Link setup for KaaL system images (root tasks and components).
//!
//! Images are freestanding ELF executables built with the *host* target: no startup
//! files, no libc, static, non-PIE, laid out by KaaL's linker script. A system crate's
//! `build.rs` is one line, `kaal_sel4::link::system_image()`.
//!
//! The flags only take effect for the crate's binaries, so host builds of the same
//! workspace (`cargo test`, `cargo clippy`) are unaffected; `kaal build` adds
//! `-C relocation-model=static` through per-build RUSTFLAGS.

use std::path::PathBuf;

/// The linker script.
///
/// * seL4's ELF loader (`src/arch/x86/64/kernel/elf.c`) copies every program header to
///   its `p_vaddr`, not only `PT_LOAD`s, so `PHDRS` declares load segments only.
/// * The image starts 4 KiB-aligned at 4 MiB; the kernel maps the IPC buffer and the
///   BootInfo frame right after its end.
/// * `defmt.x` adds the `.defmt` section of interned log strings, never loaded.
/// * Tables built at link time (registered drivers, a `linkme` distributed slice) get
///   explicit start/stop symbols here, and `KEEP` stops `--gc-sections` from dropping
///   them.
pub const LINKER_SCRIPT: &str = r#"/* KaaL system image layout (kaal-sel4/src/link.rs). */
ENTRY(_start)
PHDRS
{
    text   PT_LOAD FLAGS(5);
    rodata PT_LOAD FLAGS(4);
    data   PT_LOAD FLAGS(6);
}
SECTIONS
{
    . = 0x400000;
    __kaal_image_start = .;
    .text : ALIGN(4096) {
        KEEP(*(.text._start))
        *(.text .text.*)
    } :text
    .rodata : ALIGN(4096) {
        *(.rodata .rodata.*)
        *(.eh_frame .eh_frame_hdr .gcc_except_table*)
        /* kaal-dev's driver registry (a linkme distributed slice named DRIVERS). */
        . = ALIGN(8);
        __start_linkme_DRIVERS = .;
        KEEP(*(linkme_DRIVERS))
        __stop_linkme_DRIVERS = .;
        __start_linkm2_DRIVERS = .;
        KEEP(*(linkm2_DRIVERS))
        __stop_linkm2_DRIVERS = .;
    } :rodata
    .data : ALIGN(4096) {
        *(.data .data.*)
        *(.got .got.plt)
    } :data
    .bss : ALIGN(16) {
        __kaal_bss_start = .;
        *(.bss .bss.*)
        *(COMMON)
        __kaal_bss_end = .;
    } :data
    . = ALIGN(4096);
    __kaal_image_end = .;
    /* Driver declarations for the kaal tool (`kaal_abi::drivers`): not loaded. */
    .kaal_drivers 0 (INFO) : { KEEP(*(.kaal_drivers)) }
    /DISCARD/ : {
        *(.comment) *(.note .note.*) *(.interp) *(.dynamic) *(.dynsym) *(.dynstr)
    }
}
/* defmt's interned log strings: a non-loaded `.defmt` section the host decodes with
   (kaal-core depends on defmt, whose build script puts defmt.x on the search path). */
INCLUDE defmt.x
"#;

/// Linker arguments for an image, given the linker script's path.
pub fn link_args(script: &std::path::Path) -> Vec<String> {
    [
        "-nostartfiles",
        "-nostdlib",
        "-static",
        "-no-pie",
        "-Wl,--build-id=none",
        "-Wl,-z,norelro",
        "-Wl,-z,noexecstack",
        "-Wl,--gc-sections",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("-Wl,-T,{}", script.display())])
    .collect()
}

/// Environment variable through which `kaal build` passes a component's image path.
pub fn component_env(package: &str) -> String {
    format!("KAAL_COMPONENT_{package}")
}

/// First bytes of a placeholder component image (see [`system_image`]).
pub const PLACEHOLDER_MAGIC: &[u8] = b"KAAL-PLACEHOLDER";

/// The component packages a system crate embeds: `[package.metadata.kaal] components`.
pub fn components_of(manifest: &std::path::Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(manifest) else { return Vec::new() };
    let Ok(doc) = text.parse::<toml::Table>() else { return Vec::new() };
    doc.get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("kaal"))
        .and_then(|k| k.get("components"))
        .and_then(|c| c.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Call from a system crate's `build.rs`: links its binaries as KaaL images.
///
/// For a root task that embeds components, `kaal build` builds them first and names
/// their images in `KAAL_COMPONENT_<package>`. A plain `cargo build` (or `clippy`) of the
/// workspace gets a placeholder image instead, so it still compiles; spawning a
/// placeholder fails with an error that says to use `cargo kaal build`.
pub fn system_image() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("system_image() runs from a build script"));
    let script = out.join("kaal-image.ld");
    std::fs::write(&script, LINKER_SCRIPT).expect("OUT_DIR is writable");
    for arg in link_args(&script) {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=Cargo.toml");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    for package in components_of(&manifest.join("Cargo.toml")) {
        let var = component_env(&package);
        println!("cargo:rerun-if-env-changed={var}");
        if std::env::var_os(&var).is_none() {
            let placeholder = out.join(format!("{package}.placeholder"));
            let mut text = PLACEHOLDER_MAGIC.to_vec();
            text.extend_from_slice(b": build this system with `cargo kaal build` to embed the real image\n");
            std::fs::write(&placeholder, text).expect("OUT_DIR is writable");
            println!("cargo:rustc-env={var}={}", placeholder.display());
        }
    }
}

/// Environment variable through which `kaal build` names the boot plan it generated from
/// a `system.toml` (Rust source defining `static PLAN: kaal_abi::plan::BootPlan`).
pub const BOOT_PLAN_ENV: &str = "KAAL_BOOT_PLAN";

/// Call from the generic root task's `build.rs`: puts the boot plan `kaal build` made
/// into `OUT_DIR/boot_plan.rs`, or, in a plain `cargo build` of the workspace, a plan
/// with no components (which the root task refuses to boot, saying how to build it).
pub fn boot_plan() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("boot_plan() runs from a build script"));
    let target = out.join("boot_plan.rs");
    println!("cargo:rerun-if-env-changed={BOOT_PLAN_ENV}");
    let text = match std::env::var_os(BOOT_PLAN_ENV) {
        Some(path) => {
            println!("cargo:rerun-if-changed={}", PathBuf::from(&path).display());
            std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!(
                    "cannot read the boot plan {}: {e}; rebuild with `cargo kaal build`",
                    PathBuf::from(&path).display()
                )
            })
        }
        None => "/// No system.toml: built by plain cargo, not `cargo kaal build`.\n\
                 static PLAN: ::kaal_abi::plan::BootPlan = ::kaal_abi::plan::BootPlan::EMPTY;\n"
            .to_string(),
    };
    // Rewrite only on change, so cargo's fingerprint of the file stays put.
    if std::fs::read_to_string(&target).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&target, text).expect("OUT_DIR is writable");
    }
}
