fn main() {
    kaal_sel4::link::system_image();
}
