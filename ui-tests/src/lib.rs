//! The compile-time behaviour of `#[cache_result]`, `entry!` and
//! `function!`: see `tests/ui.rs`. Nothing to use here.
