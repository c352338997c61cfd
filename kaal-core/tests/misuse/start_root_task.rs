// The runtime's entry point wraps every initial capability into an owned handle; calling
// it again would duplicate them, so it is unsafe.
fn again(main: fn(kaal_core::RootTask)) {
    let layout = kaal_core::runtime::ImageLayout { image_start: 0, stack_guard: 0, stack_top: 0 };
    kaal_core::runtime::__start_root_task(0x1000, "again", layout, main);
}

fn main() {}
