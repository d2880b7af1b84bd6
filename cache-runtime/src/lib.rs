//! Cache the results of `async fn`s in Redis with one attribute.
//!
//! ```no_run
//! use cache_runtime::cache_result;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Stats { visits: u64 }
//!
//! /// Cached in Redis (`REDIS_URL`, default `redis://127.0.0.1:6379`) for 60 s.
//! #[cache_result(expire = 60)]
//! async fn get_user_stats(user_id: u64) -> Stats {
//!     Stats { visits: user_id * 10 } // the slow query
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let stats = get_user_stats(42).await; // miss: runs, stores JSON with SETEX
//! let again = get_user_stats(42).await; // hit: decoded from Redis
//! # }
//! ```
//!
//! The key is `<prefix>:<module::function>:<md5 of the arguments' JSON>`
//! (see [`key`]); the value is the plain JSON of the result. When Redis is
//! unreachable, slow or returns garbage, the function runs and its result is
//! returned: the cache can make a call faster, never make it fail.
//!
//! The attribute's options are documented on [`cache_result`]; the stores and
//! their settings on [`Config`].
#![warn(missing_docs, unreachable_pub)]

mod cache;
mod call;
mod config;
mod error;
pub mod key;
mod store;

pub use crate::cache::{global, set_global, Cache, StoreKind};
pub use crate::config::{Config, DEFAULT_PREFIX, DEFAULT_URL};
pub use crate::error::Error;

#[doc = include_str!("../ATTRIBUTE.md")]
pub use cache_macros::cache_result;

/// The README's examples, compiled as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

/// What the generated code calls. Not a stable API: it may change in any
/// release, in step with `cache-macros`.
#[doc(hidden)]
pub mod __private {
    pub use crate::cache::global;
    pub use crate::call::{ok, ok_some, plain, some, Value};
    pub use crate::key::{site_identity as site, KeyHasher};
}
