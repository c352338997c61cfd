//! Compile-time tests of `#[derive(Driver)]`: drivers that must build (and whose
//! generated constants are checked when they run), and mistakes that must be reported.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
