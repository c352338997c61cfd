fn main() {
    // Links the component as a KaaL image (KaaL's linker script and entry point).
    kaal_sel4::link::system_image();
}
