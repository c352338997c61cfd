//! Links the Linux driver `kaal build` made for this system (`KAAL_DDE_ARCHIVE`:
//! `lib<driver>.a`, the driver's objects with kaal-dde's glue and stubs) and names it
//! (`KAAL_DDE_DRIVER`, for the component's messages). A plain `cargo build` of the workspace has neither: the image
//! then links no driver and says, when started, to build it with `cargo kaal build`.
fn main() {
    kaal_sel4::link::system_image();
    println!("cargo:rerun-if-env-changed=KAAL_DDE_ARCHIVE");
    match std::env::var_os("KAAL_DDE_ARCHIVE") {
        Some(archive) => {
            let archive = std::path::PathBuf::from(archive);
            println!("cargo:rerun-if-changed={}", archive.display());
            let dir = archive.parent().expect("the archive has a directory");
            let lib = archive.file_stem().and_then(|s| s.to_str()).and_then(|s| s.strip_prefix("lib"));
            let lib = lib.expect("KAAL_DDE_ARCHIVE names a lib<driver>.a");
            println!("cargo:rustc-link-search=native={}", dir.display());
            println!("cargo:rustc-link-lib=static={lib}");
            println!("cargo:rustc-cfg=kaal_dde_linked");
            println!("cargo:rerun-if-env-changed=KAAL_DDE_DRIVER");
            let name = std::env::var("KAAL_DDE_DRIVER").unwrap_or_else(|_| lib.to_string());
            println!("cargo:rustc-env=KAAL_DDE_LINKED={name}");
        }
        None => println!("cargo:rustc-env=KAAL_DDE_LINKED="),
    }
    println!("cargo::rustc-check-cfg=cfg(kaal_dde_linked)");
}
