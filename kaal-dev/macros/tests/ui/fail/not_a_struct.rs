// Only structs can be drivers.
use kaal_dev::Driver;

#[derive(Driver)]
#[isa(com2)]
enum Uart {
    Com2,
}

#[derive(Driver)]
#[isa(com4)]
union Raw {
    word: u32,
}

fn main() {}
