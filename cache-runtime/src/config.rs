//! Configuration: which store, which key prefix, which timeouts.
//!
//! Everything has a default that works on a developer machine:
//! `redis://127.0.0.1:6379`, prefix `cache`, connect timeout 500 ms,
//! operation timeout 50 ms, a circuit breaker that opens after 3 outages in a
//! row for 1 second, values up to 8 MiB.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::LocalTier;

/// The default Redis URL when `REDIS_URL` is not set.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";
/// The default key prefix (namespace).
pub const DEFAULT_PREFIX: &str = "cache";

/// How to build a [`Cache`](crate::Cache).
///
/// ```
/// use std::time::Duration;
/// use cache_runtime::Config;
///
/// let cache = Config::redis("redis://:secret@127.0.0.1:6379/2")
///     .prefix("billing")
///     .op_timeout(Duration::from_millis(20))
///     .build()?;
/// assert!(!format!("{cache:?}").contains("secret"));
/// # Ok::<(), cache_runtime::Error>(())
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) backend: Backend,
    pub(crate) prefix: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) op_timeout: Duration,
    pub(crate) control_timeout: Duration,
    pub(crate) batch_reads: bool,
    pub(crate) breaker_threshold: u32,
    pub(crate) breaker_cooldown: Duration,
    pub(crate) max_value_bytes: usize,
    pub(crate) embedded_max_bytes: u64,
    pub(crate) local: LocalTier,
    pub(crate) lease_times: LeaseTimes,
    #[cfg(feature = "tls")]
    pub(crate) tls_root_cert_pem: Option<Vec<u8>>,
}

#[derive(Clone)]
pub(crate) enum Backend {
    Redis { url: String },
    Cluster { nodes: Vec<String> },
    Sentinel(Sentinel),
    Embedded,
    Disabled,
}

impl Config {
    /// A Redis store at `url`: `redis://[:password@]host[:port][/db]`, or
    /// `rediss://...` with the `tls` feature. Nothing connects until first use.
    ///
    /// A Redis Cluster in one URL:
    /// `redis+cluster://[user:password@]host:port,host:port,...` (seed nodes;
    /// the rest of the cluster is discovered), `rediss+cluster://` with TLS.
    ///
    /// A master watched by Redis Sentinel:
    /// `redis+sentinel://[user:password@]host:port,host:port/<master>[/db]`
    /// (the Sentinels, then the master's name); the credentials serve the
    /// Sentinels and the master alike (for different ones, see
    /// [`Config::sentinel`]); `rediss+sentinel://` with TLS.
    pub fn redis(url: impl Into<String>) -> Self {
        Config::with_backend(Backend::Redis { url: url.into() })
    }

    /// A Redis Cluster, by some of its nodes' URLs (`redis://[:password@]host:port`;
    /// one is enough, the others are discovered). The attribute and every
    /// feature work as on one server; see the [guide's "Running on Redis
    /// Cluster"](crate::guide#running-on-redis-cluster).
    ///
    /// ```
    /// let config = cache_runtime::Config::cluster(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"]);
    /// ```
    pub fn cluster<I>(nodes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let nodes = nodes.into_iter().map(Into::into).collect();
        Config::with_backend(Backend::Cluster { nodes })
    }

    /// A master watched by Redis Sentinel: the cache asks the Sentinels
    /// where the master is, and follows a failover by itself (see
    /// [`Sentinel`] and the [guide's "Running with Redis
    /// Sentinel"](crate::guide#running-with-redis-sentinel)).
    ///
    /// ```
    /// use cache_runtime::{Config, Sentinel};
    ///
    /// let config = Config::sentinel(
    ///     Sentinel::new("main", ["redis://:sentinel-secret@10.0.0.1:26379", "redis://10.0.0.2:26379"])
    ///         .master_password("master-secret")
    ///         .db(2),
    /// );
    /// ```
    pub fn sentinel(sentinel: Sentinel) -> Self {
        Config::with_backend(Backend::Sentinel(sentinel))
    }

    /// The in-process store: same TTL and JSON semantics as Redis, nothing
    /// shared between processes. Bounded by [`Config::embedded_max_bytes`].
    pub fn embedded() -> Self {
        Config::with_backend(Backend::Embedded)
    }

    /// No store at all: every call runs its function (for tests and for
    /// switching caching off without touching code).
    pub fn disabled() -> Self {
        Config::with_backend(Backend::Disabled)
    }

    /// Redis at `REDIS_URL` (default `redis://127.0.0.1:6379`), prefix from
    /// `CACHE_PREFIX` (default `cache`).
    pub fn from_env() -> Self {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
        let config = Config::redis(url);
        match std::env::var("CACHE_PREFIX") {
            Ok(prefix) => config.prefix(prefix),
            Err(_) => config,
        }
    }

    fn with_backend(backend: Backend) -> Self {
        Config {
            backend,
            prefix: DEFAULT_PREFIX.to_owned(),
            connect_timeout: Duration::from_millis(500),
            op_timeout: Duration::from_millis(50),
            control_timeout: Duration::from_secs(1),
            batch_reads: true,
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(1),
            max_value_bytes: 8 * 1024 * 1024,
            embedded_max_bytes: 64 * 1024 * 1024,
            local: LocalTier::default(),
            lease_times: LeaseTimes {
                ttl: Duration::from_secs(3),
                wait: Duration::from_secs(10),
            },
            #[cfg(feature = "tls")]
            tls_root_cert_pem: None,
        }
    }

    /// The namespace in front of every key (`<prefix>:<function>:<md5>`).
    /// An empty prefix leaves the keys without one.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The longest a connection attempt may take. A call that has to connect
    /// first waits at most this long before running its function uncached.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The longest one Redis command (GET, SETEX) may take before the call
    /// goes on without the cache.
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// The longest one command of a lock, a session or an object mapping
    /// may take (default 1 s). These have no function to fall back on and
    /// return their errors, so they wait longer than cached calls do, and
    /// the circuit breaker neither refuses nor counts them: a Redis that
    /// answers slowly fails cached calls over to their functions, not
    /// logins.
    pub fn control_timeout(mut self, timeout: Duration) -> Self {
        self.control_timeout = timeout;
        self
    }

    /// Whether concurrent reads share round trips (on by default): while a
    /// few `GET`s are out, the reads that arrive queue and leave together as
    /// one `MGET` when one of those returns. Nothing waits for a timer: a
    /// lone read is sent at once. Off, every read is its own `GET`. A single
    /// server only; a cluster's reads are never batched.
    pub fn batch_reads(mut self, on: bool) -> Self {
        self.batch_reads = on;
        self
    }

    /// The circuit breaker: after `failures` outages in a row (timeouts,
    /// refused or dropped connections, failed logins; one failed connection
    /// attempt is enough), calls skip Redis for `cooldown`, with no network
    /// wait; then one call probes it. Default: 3 failures, 1 second.
    pub fn circuit_breaker(mut self, failures: u32, cooldown: Duration) -> Self {
        self.breaker_threshold = failures;
        self.breaker_cooldown = cooldown;
        self
    }

    /// The largest value stored or read, in bytes of JSON (default 8 MiB). A
    /// result larger than this is returned but not stored; a stored value
    /// larger than this is a miss.
    pub fn max_value_bytes(mut self, bytes: usize) -> Self {
        self.max_value_bytes = bytes;
        self
    }

    /// Leases of functions with `lock = true`: a lease lasts `lease` (it is
    /// renewed while an async holder computes, so this bounds how long a
    /// crashed holder blocks the others), and a caller waits for another
    /// process's result at most `wait` before computing itself. Default: 3 s
    /// and 10 s. A sync function's lease is not renewed: give it a `lease`
    /// longer than the function takes.
    pub fn lock_times(mut self, lease: Duration, wait: Duration) -> Self {
        self.lease_times = LeaseTimes {
            ttl: lease.max(Duration::from_millis(1)),
            wait,
        };
        self
    }

    /// The embedded store's bound, in bytes of keys and values.
    pub fn embedded_max_bytes(mut self, bytes: u64) -> Self {
        self.embedded_max_bytes = bytes;
        self
    }

    /// The in-process tier in front of Redis: its bounds, and whether every
    /// function uses it or only those with `#[cache_result(local = ...)]`
    /// (the default). See [`LocalTier`].
    pub fn local_tier(mut self, tier: LocalTier) -> Self {
        self.local = tier;
        self
    }

    /// Trust this CA (PEM) for `rediss://` instead of the system's trust
    /// store: for a Redis whose certificate a private CA signed.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls_root_cert_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root_cert_pem = Some(pem.into());
        self
    }
}

/// A master watched by Redis Sentinel, for [`Config::sentinel`]: its name,
/// its Sentinels, and how to log in to it.
///
/// Each Sentinel is a URL, `redis://[user:password@]host:port` with the
/// Sentinel's own credentials, if it has any (`rediss://` with TLS: then
/// the master is reached with TLS too). The master's credentials and
/// database are given here: Sentinel answers with an address only.
#[derive(Clone)]
pub struct Sentinel {
    pub(crate) master_name: String,
    pub(crate) sentinels: Vec<String>,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) db: i64,
}

impl Sentinel {
    /// The master Sentinel knows as `master_name`, asked of `sentinels` in
    /// turn.
    pub fn new<I>(master_name: impl Into<String>, sentinels: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Sentinel {
            master_name: master_name.into(),
            sentinels: sentinels.into_iter().map(Into::into).collect(),
            username: None,
            password: None,
            db: 0,
        }
    }

    /// The master's ACL user (default: none, or `default`).
    pub fn master_username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The master's password (`requirepass`, or the ACL user's).
    pub fn master_password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// The master's database (default 0).
    pub fn db(mut self, db: i64) -> Self {
        self.db = db;
        self
    }

    /// Whether the Sentinels, and so the master, are reached with TLS.
    pub(crate) fn tls(&self) -> bool {
        self.sentinels
            .first()
            .is_some_and(|url| url.starts_with("rediss") || url.starts_with("valkeys"))
    }

    /// `redis+sentinel://host:port,.../<master>`, every password hidden.
    pub(crate) fn shown(&self) -> String {
        let sentinels = self
            .sentinels
            .iter()
            .map(|url| redact(url))
            .collect::<Vec<_>>()
            .join(",");
        format!("sentinel[{sentinels}]/{}", self.master_name)
    }
}

impl fmt::Debug for Sentinel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sentinel")
            .field("master_name", &self.master_name)
            .field(
                "sentinels",
                &self
                    .sentinels
                    .iter()
                    .map(|url| redact(url))
                    .collect::<Vec<_>>(),
            )
            .field("master_username", &self.username)
            .field("master_password", &self.password.as_ref().map(|_| "***"))
            .field("db", &self.db)
            .finish()
    }
}

/// How long leases last, and how long waiters wait.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LeaseTimes {
    pub(crate) ttl: Duration,
    pub(crate) wait: Duration,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Config");
        match &self.backend {
            Backend::Redis { url } => debug.field("url", &redact(url)),
            Backend::Cluster { nodes } => debug.field(
                "cluster",
                &nodes.iter().map(|node| redact(node)).collect::<Vec<_>>(),
            ),
            Backend::Sentinel(sentinel) => debug.field("sentinel", sentinel),
            Backend::Embedded => debug.field("backend", &"embedded"),
            Backend::Disabled => debug.field("backend", &"disabled"),
        };
        debug
            .field("prefix", &self.prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("op_timeout", &self.op_timeout)
            .field("control_timeout", &self.control_timeout)
            .field("batch_reads", &self.batch_reads)
            .field("breaker_threshold", &self.breaker_threshold)
            .field("breaker_cooldown", &self.breaker_cooldown)
            .field("max_value_bytes", &self.max_value_bytes)
            .field("lock_lease", &self.lease_times.ttl)
            .field("lock_wait", &self.lease_times.wait)
            .field("local_tier", &self.local)
            .finish_non_exhaustive()
    }
}

/// The URL with any password replaced by `***`:
/// `redis://user:pw@host/2` -> `redis://user:***@host/2`,
/// `redis://pw@host` -> `redis://***@host`, `...?pass=pw` -> `...?pass=***`.
///
/// The user info runs to the last `@` of the URL, wherever it is: a
/// password may hold `?`, `#`, `/` or `@` unencoded (see [`encode_userinfo`]).
/// A URL whose query holds an `@` is redacted up to it: more than needed,
/// never less.
pub(crate) fn redact(url: &str) -> String {
    let (scheme, rest) = split_scheme(url);
    let rest = match rest.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("***@{host}"),
        },
        None => rest.to_owned(),
    };
    let query_start = rest.find(['?', '#']).unwrap_or(rest.len());
    let (before_query, query) = rest.split_at(query_start);
    format!("{scheme}{before_query}{}", redact_query_password(query))
}

/// The URL with the characters of its user info that a URL reserves
/// (`?`, `#`, `/`, `@`, `[`, `]`, and `%` not followed by two hex digits)
/// percent-encoded, so that `redis://:p?ss@host` means the password `p?ss`
/// on `host`, as its writer meant, where a URL parser would take `?ss@host`
/// for a query. The user info runs to the last `@`; Unix socket URLs,
/// which have none, are left alone.
pub(crate) fn encode_userinfo(url: &str) -> Cow<'_, str> {
    let (scheme, rest) = split_scheme(url);
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return Cow::Borrowed(url);
    };
    let reserved = |at: usize, c: char| match c {
        '?' | '#' | '/' | '@' | '[' | ']' => true,
        '%' => !userinfo
            .get(at + 1..at + 3)
            .is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit())),
        _ => false,
    };
    if scheme.contains("unix") || !userinfo.char_indices().any(|(at, c)| reserved(at, c)) {
        return Cow::Borrowed(url);
    }
    let mut encoded = String::with_capacity(url.len() + 8);
    encoded.push_str(scheme);
    for (at, c) in userinfo.char_indices() {
        match reserved(at, c) {
            true => encoded.push_str(&format!("%{:02X}", c as u32)),
            false => encoded.push(c),
        }
    }
    encoded.push('@');
    encoded.push_str(host);
    Cow::Owned(encoded)
}

/// `("redis://", "rest")`; no scheme is an empty one.
fn split_scheme(url: &str) -> (&str, &str) {
    match url.find("://") {
        Some(at) => url.split_at(at + 3),
        None => ("", url),
    }
}

fn redact_query_password(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name @ ("pass" | "password" | "?pass" | "?password"), _)) => {
                format!("{name}=***")
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::{encode_userinfo, redact};

    #[test]
    fn redact_hides_every_password_form() {
        assert_eq!(
            redact("redis://:pw@host:6379/2"),
            "redis://:***@host:6379/2"
        );
        assert_eq!(redact("redis://user:pw@host"), "redis://user:***@host");
        assert_eq!(redact("rediss://pw@host"), "rediss://***@host");
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
        assert_eq!(
            redact("redis+unix:///tmp/r.sock?db=1&pass=pw"),
            "redis+unix:///tmp/r.sock?db=1&pass=***"
        );
        assert_eq!(redact("redis://:p@ss:w@rd@host/0"), "redis://:***@host/0");
        assert_eq!(redact("redis://:pa/ss@host/0"), "redis://:***@host/0");
        assert_eq!(redact("redis://h?pass=pw"), "redis://h?pass=***");
        assert_eq!(redact("redis://:p?ss@host/0"), "redis://:***@host/0");
        assert_eq!(redact("redis://user:s3cr#t@host"), "redis://user:***@host");
        assert_eq!(
            redact("redis+cluster://:a?b#c@h1,h2"),
            "redis+cluster://:***@h1,h2"
        );
    }

    #[test]
    fn reserved_characters_of_a_password_are_encoded() {
        assert_eq!(
            encode_userinfo("redis://:p?ss@host/0"),
            "redis://:p%3Fss@host/0"
        );
        assert_eq!(
            encode_userinfo("redis://user:s3cr#t@host"),
            "redis://user:s3cr%23t@host"
        );
        assert_eq!(
            encode_userinfo("redis://:a/b@c@h:1"),
            "redis://:a%2Fb%40c@h:1"
        );
        assert_eq!(encode_userinfo("redis://:100%@h"), "redis://:100%25@h");
        // Already encoded, or nothing to encode: as it was.
        assert_eq!(encode_userinfo("redis://:p%3Fss@h"), "redis://:p%3Fss@h");
        assert_eq!(encode_userinfo("redis://:plain@h/2"), "redis://:plain@h/2");
        assert_eq!(encode_userinfo("redis://h:6379"), "redis://h:6379");
        assert_eq!(
            encode_userinfo("redis+unix:///tmp/r.sock?pass=p@ss"),
            "redis+unix:///tmp/r.sock?pass=p@ss"
        );
    }
}
