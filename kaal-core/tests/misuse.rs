//! Misuse of kaal-core's handles that must not compile, each with the error it must
//! fail with (`misuse/*.stderr`). Stable rustdoc does not check `compile_fail` error
//! codes, so these are trybuild cases instead.

#[test]
fn misuse_does_not_compile() {
    trybuild::TestCases::new().compile_fail("tests/misuse/*.rs");
}
