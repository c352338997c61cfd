fn main() {
    kaal_sel4::link::system_image();
    kaal_sel4::link::boot_plan();
}
