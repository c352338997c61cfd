fn main() {
    // Links the component as a KaaL image (KaaL's linker script and entry point).
    kaal_build::link::system_image();
}
