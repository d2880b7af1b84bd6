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
//! their settings on [`Config`]; everything else, with examples, in the
//! [`guide`].
//!
//! # Runtime requirements
//!
//! Commands to Redis run on [Tokio](https://tokio.rs), under its timer: call
//! cached `async fn`s, and use a Redis-backed [`Cache`], inside a Tokio
//! runtime with time and I/O enabled (`#[tokio::main]`, `#[tokio::test]`, or
//! `Builder::enable_all`). Outside one, a cached call runs its function
//! uncached and explicit operations return [`Error::NoTokio`]. Cached plain
//! `fn`s need no runtime: they use blocking connections. The embedded
//! store ([`Cache::embedded`]) needs no runtime at all.
//!
//! # Features
//!
//! - `session` (default): sessions in Redis ([`Cache::sessions`]).
//! - `mapping` (default): objects as Redis hashes or JSON documents
//!   ([`Cache::hashes`], [`Cache::documents`]).
//! - `tls`: `rediss://` URLs (rustls, with the system's trust store or a
//!   given CA).
//! - `metrics`: every cached call reported to the
//!   [`metrics`](https://docs.rs/metrics) facade.
#![warn(missing_docs, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(test)]
mod architecture;
mod cache;
mod call;
mod clock;
mod config;
pub mod connection;
mod entry;
mod error;
mod json;
pub mod key;
pub mod lock;
#[cfg(feature = "mapping")]
#[cfg_attr(docsrs, doc(cfg(feature = "mapping")))]
pub mod mapping;
mod notice;
#[cfg(feature = "session")]
#[cfg_attr(docsrs, doc(cfg(feature = "session")))]
pub mod session;
mod stampede;
mod stats;
mod store;
mod sync;
mod tags;
mod tier;

pub use crate::cache::{global, set_global, Cache, StoreKind};
pub use crate::call::site::stats;
pub use crate::config::{Config, Sentinel, DEFAULT_PREFIX, DEFAULT_URL};
pub use crate::entry::{CachedFunction, Entry, Stores};
pub use crate::error::{Error, ErrorKind, RedisError};
pub use crate::stats::latency::Latency;
pub use crate::stats::FunctionStats;
pub use crate::tier::LocalTier;

#[doc = include_str!("../ATTRIBUTE.md")]
pub use cache_macros::cache_result;

/// The redis-rs crate this crate is built with, for commands of your own on
/// [`Cache::connection`].
pub use redis;

/// The cache [`Entry`] of one call of a cached function, for invalidation
/// and write-through: write the call as you would make it.
///
/// ```no_run
/// use cache_runtime::{cache_result, entry};
///
/// #[cache_result(expire = 600)]
/// async fn user_name(id: u64) -> Option<String> {
///     Some(format!("user {id}")) // the database
/// }
///
/// # async fn update() -> Result<(), cache_runtime::Error> {
/// // After the database changed:
/// entry!(user_name(42)).evict().await?;                       // next call reads the database
/// entry!(user_name(7)).put(&Some("Eve".to_owned())).await?;   // next call returns "Eve"
/// # Ok(()) }
/// ```
///
/// The entry comes from code `#[cache_result]` generated beside the function,
/// from the same arguments: it cannot name another key. A function that is
/// not cached has no such code (`cannot find function __cache_result_entry_of_...`),
/// and arguments of the wrong type are type errors, as in the call itself.
/// Methods go through their instance: `entry!(repo.find(42))`.
pub use cache_macros::entry;

/// All the entries of a cached function, to [`clear`](CachedFunction::clear)
/// them: `function!(get_user).clear().await?`.
///
/// Free and associated functions are named by their path
/// (`function!(users::get_user)`, `function!(Repo::count)`); methods with a
/// receiver through an instance (`function!(repo.find)`). A function whose
/// `store` comes from one of its arguments has no such handle: clear its
/// cache, or use [`Cache::clear`].
pub use cache_macros::function;

/// The README's examples, compiled as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The guide: every option, key templates, invalidation, stampedes, the
/// in-process tier, failures, Redis Cluster, locks, sessions and objects,
/// configuration. Its examples are doc tests.
pub mod guide {
    #![doc = include_str!("../GUIDE.md")]
}

/// What the generated code calls. Not a stable API: it may change in any
/// release, in step with `cache-macros`.
#[doc(hidden)]
pub mod __private {
    pub use crate::cache::global;
    pub use crate::call::flow::compiled_here;
    pub use crate::call::keys::{rendered_key, tagged};
    pub use crate::call::keys::{
        Arg, Borrowed, CallKeys, KeyProbe, KeysBuilder, PushJson, PushUnchecked, Receiver,
    };
    pub use crate::call::policy::Policy;
    pub use crate::call::site::Site;
    pub use crate::call::RefreshArg;
    pub use crate::call::{
        cooperate, never, ok, ok_blocking, ok_some, ok_some_blocking, plain, plain_blocking,
        refresh_arg, refreshing, some, some_blocking, unless, Answer, Body, Kind, OkOnly, OkSome,
        Shape, ShareClone, ShareJson, Sharer, Sharing, SomeOnly, Value, Whole,
    };
    pub use crate::entry::{CachedFunction, Entry};

    /// The identity of the function whose body made `marker` (see
    /// `key::site_identity`).
    pub fn site(marker: &str) -> std::borrow::Cow<'_, str> {
        crate::key::site_identity(marker)
    }

    /// A template hole's value as the key holds it (see `key::Hole`).
    pub fn hole<'a, T: std::fmt::Display + ?Sized>(
        value: &'a T,
        separators: &'static str,
    ) -> impl std::fmt::Display + 'a {
        crate::key::hole(value, separators)
    }
}
