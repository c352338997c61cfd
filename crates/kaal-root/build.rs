fn main() {
    kaal_build::link::system_image();
    kaal_build::link::boot_plan();
}
