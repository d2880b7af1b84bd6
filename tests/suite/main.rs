//! The integration tests, in one binary: each module is one concern, and
//! every test that talks to Redis starts its own `redis-server` processes
//! (`cache-test-support`, in `test-support/`). The tests that need a process
//! of their own (a global cache, a counting allocator, worker processes) are
//! the other files in `tests/`.

mod basics;
mod batched_reads;
mod breaker_logs;
mod cluster;
mod correctness;
mod embedded_store;
mod faults;
mod indexes;
mod local_tier;
mod locks;
mod mapping;
#[cfg(feature = "metrics")]
mod metrics;
mod observability;
mod redis_behaviour;
mod secrets_in_logs;
mod sentinel;
mod sessions;
mod stampede;
mod sync_functions;
mod tags;
#[cfg(feature = "tls")]
mod tls;
mod user_repository;
mod web_service;
mod write_paths;
