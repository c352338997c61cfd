// A driver's resources are named fields.
use kaal_dev::{Driver, PortBlock};

#[derive(Driver)]
#[isa(com2)]
struct Tuple(#[ports] PortBlock);

#[derive(Driver)]
#[isa(com4)]
struct Unit;

fn main() {}
