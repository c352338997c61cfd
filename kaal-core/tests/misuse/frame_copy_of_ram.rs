// A RAM frame lends out its bytes once mapped, so its capability cannot be copied:
// two mappings would give two `&mut [u8]` views of one page. Share it first.
use kaal_core::vspace::Frame;
use kaal_core::CSpace;

fn alias(frame: &Frame, cspace: &mut CSpace) {
    let _copy = frame.copy(cspace);
}

fn main() {}
