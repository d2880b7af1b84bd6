//! Generated code must not depend on the user's names: a module named
//! `core`, locals named like ours, a strict lint.
#![deny(unused_qualifications)]
#![allow(dead_code)]

mod core {}
mod std {}
mod serde {}
mod cache_runtime {}

#[::cache_runtime::cache_result(expire = 60)]
async fn names(__cache_key: u64, __cache_store: u64, __cache_ret: u64, __cache_site: u64) -> u64 {
    __cache_key + __cache_store + __cache_ret + __cache_site
}

#[::cache_runtime::cache_result(expire = 60)]
async fn patterns((a, b): (u64, u64), __cache_arg0: u64, __cache_arg1: u64) -> u64 {
    a + b + __cache_arg0 + __cache_arg1
}

fn main() {}
