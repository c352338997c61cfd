// The raw layer's invocation primitive and the handles' slot numbers are private: safe
// code cannot unmap a frame behind the back of the MappedFrame that lends it out.
use kaal_core::vspace::MappedFrame;

fn unmap_behind_its_back(m: &MappedFrame) {
    let bytes = m.as_bytes().unwrap();
    let _ = kaal_core::sys::invoke(m.cptr(), 0, &[0u64; 0]);
    let _ = bytes[0];
}

fn main() {}
