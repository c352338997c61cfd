//! A system whose root task overflows its stack on purpose. The runtime's guard page
//! turns the overflow into a VM fault; the root task has no one to report it to, so
//! the kernel prints it and `kaal run` must report an unhandled fault (exit code 3).
#![no_std]
#![no_main]

use kaal_core::{println, RootTask};

kaal_core::root_task!(main, stack_size = 64 * 1024);

#[inline(never)]
fn recurse(depth: u64, sink: &mut [u64; 64]) -> u64 {
    let mut local = [depth; 64];
    // Keep the frame alive so the recursion really uses stack.
    core::hint::black_box(&mut local);
    sink[(depth % 64) as usize] = local[0];
    if depth == u64::MAX {
        return 0;
    }
    recurse(depth + 1, sink) + local[1]
}

fn main(_rt: RootTask) {
    println!("recursing until the stack guard page is hit");
    let mut sink = [0; 64];
    let total = recurse(0, &mut sink);
    println!("unreachable: {total}");
}
