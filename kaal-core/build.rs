//! Generates the raw seL4 layer (`sys`) from the kernel's own interface files, for the
//! kernel config `kaal build` hands over (or the default one for host builds).
fn main() {
    kaal_sel4::rerun_if_inputs_change();
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    match kaal_sel4::generate_core_bindings(&out) {
        Ok((config, defines)) => kaal_sel4::kernel_cfgs(&config, &defines).iter().for_each(|line| println!("{line}")),
        Err(e) => {
            eprintln!("error: kaal-core cannot generate its seL4 bindings:\n{e}");
            std::process::exit(1);
        }
    }
}
