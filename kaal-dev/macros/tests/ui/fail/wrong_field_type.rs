// A resource field must have the resource's type; rustc points at the field's type.
use kaal_dev::Driver;

#[derive(Driver)]
#[isa(com2)]
struct Uart {
    #[ports]
    regs: u16,
}

fn main() {}
