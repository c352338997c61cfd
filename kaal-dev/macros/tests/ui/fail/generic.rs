// A driver cannot be generic.
use kaal_dev::Driver;

#[derive(Driver)]
#[isa(com2)]
struct Uart<T> {
    state: T,
}

#[derive(Driver)]
#[isa(com4)]
struct Borrowing<'a> {
    name: &'a str,
}

fn main() {}
