fn main() {
    kaal_build::link::system_image();
}
