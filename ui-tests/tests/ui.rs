//! Compile-time behaviour: each file in `ui/fail` is one diagnostic, with its
//! expected output in the `.stderr` beside it; `ui/pass` holds the shapes that
//! must compile. A package of its own: trybuild's projects build against
//! its few dev-dependencies and no features.
//! Refresh with `TRYBUILD=overwrite cargo test -p cache-ui-tests --test ui`
//! and read the diff before committing.

#[test]
fn compile_time_behaviour() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
