// The IPC buffer is private to kaal-core: writing its userData word would make the next
// panic dereference any address.
fn forge_thread_control() {
    kaal_core::sys::ipc_buffer_write(kaal_core::sys::OFFSETOF_seL4_IPCBuffer_userData / 8, 0xdead);
}

fn main() {}
