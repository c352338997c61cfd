//! Lesson 03's second process: a component with its own address space, CNode and heap.
//!
//! It learns its name from the start-up block the root task wrote, counts with its
//! heap, tells the root task it is done by returning, and is gone. It holds no
//! capability except its own TCB and CNode and the endpoint to its supervisor.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

use kaal_core::component::Component;
use kaal_core::println;

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(me: Component) {
    let squares: Vec<u64> = (1..=10).map(|i| i * i).collect();
    for (i, s) in squares.iter().enumerate().take(3) {
        println!("[{}] count {} (square {s})", me.name(), i + 1);
        kaal_core::thread::yield_now();
    }
    println!("[{}] sum of the first 10 squares: {}", me.name(), squares.iter().sum::<u64>());
    println!("[{}] my address space starts empty: {} grants", me.name(), me.grants().caps().count());
}
