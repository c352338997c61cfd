//! Misuse of kaal-alloc that must not compile (`misuse/*.stderr` holds the errors).

#[test]
fn misuse_does_not_compile() {
    trybuild::TestCases::new().compile_fail("tests/misuse/*.rs");
}
