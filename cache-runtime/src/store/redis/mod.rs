//! The Redis store, on one server or a Redis Cluster (`client`): one
//! shared, auto-reconnecting multiplexed connection, connected on first use
//! and replaced when the runtime it was opened on ends (`slot`), every
//! command bounded by the operation timeout; and, for sync functions, a
//! small pool of blocking connections with the same timeouts. Both speak the
//! same commands (`ops.rs`), so a sync and an async function share entries.
//! On a single server, concurrent async `GET`s share round trips as `MGET`s
//! under load (`reads`).
//!
//! Connecting is the one slow step, so it has its own bound
//! (`connect_timeout`). A circuit breaker (`breaker`) stops asking a Redis
//! that keeps failing; once connected, the connection reconnects by itself
//! after a Redis restart or a cluster failover, and the breaker's probe finds
//! it back. On a Tokio runtime that probe is a `PING` from a task of its own
//! ([`Prober`]), so that no call waits on a Redis that does not answer.

pub(crate) mod address;
mod breaker;
mod bulk;
pub(crate) mod client;
mod reads;
pub(crate) mod sentinel;
mod slot;

use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use redis::{FromRedisValue, Value};

use self::breaker::{Breaker, Permit};
use self::bulk::Bulk;
use self::client::{cluster_client, cluster_nodes, Client, Node, Shared, SyncConnection};
use self::reads::{Reads, Wire};
use self::sentinel::{sentinel_url, Sentinels};
use self::slot::{Current, Slot};
use super::mode::Mode;
use super::ops::{command, Op, Request};
use crate::config::{encode_userinfo, redact, Backend, Config};
use crate::key::KeyPattern;
use crate::sync::lock;
use crate::tier::Nodes;
use crate::Error;

pub(crate) struct RedisStore {
    /// This store, for the prober's task (which must not keep it alive).
    me: Weak<RedisStore>,
    client: Client,
    /// Whose writes an in-process tier must hear: the server, a Sentinel's
    /// master, or the cluster's masters, found through its seeds.
    pub(crate) nodes: Nodes,
    /// The server's URL, or the cluster's nodes, as they may be shown:
    /// passwords redacted.
    pub(crate) url: String,
    connection: Slot<Shared>,
    /// Which keys hold large values, and the second connection they take
    /// (`bulk`), opened on first need.
    bulk: Bulk,
    bulk_connection: Slot<Shared>,
    /// When the connection to a demoted server was last closed.
    left_replica: Mutex<Option<std::time::Instant>>,
    /// Connections for sync functions and blocking calls.
    idle: Mutex<Vec<SyncConnection>>,
    /// Started the watch of the Sentinels' announcements (`sentinel`).
    watching: std::sync::Once,
    breaker: Breaker,
    /// Concurrent reads batched (`reads`): on a single server, unless
    /// `Config::batch_reads(false)`.
    reads: Option<Reads<RedisStore>>,
    connect_timeout: Duration,
    op_timeout: Duration,
    control_timeout: Duration,
}

/// A client for `url`; with the `tls` feature, trusting the configured CA.
#[cfg(feature = "tls")]
fn single_client(url: &str, config: &Config) -> redis::RedisResult<redis::Client> {
    match &config.tls_root_cert_pem {
        Some(pem) => {
            let certificates = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.clone()),
            };
            redis::Client::build_with_tls(url, certificates)
        }
        None => redis::Client::open(url),
    }
}

#[cfg(not(feature = "tls"))]
fn single_client(url: &str, _: &Config) -> redis::RedisResult<redis::Client> {
    redis::Client::open(url)
}

fn client(nodes: Option<&[String]>, url: &str, config: &Config) -> redis::RedisResult<Client> {
    let Some(nodes) = nodes else {
        return single_client(url, config).map(Client::Single);
    };
    cluster_client(
        nodes,
        config.connect_timeout,
        // redis-rs's own cut: the longest any command may take. A cached
        // call's commands are cut at `op_timeout` by the store's timer.
        config.op_timeout.max(config.control_timeout),
        #[cfg(feature = "tls")]
        config.tls_root_cert_pem.as_deref(),
    )
    .map(Client::Cluster)
}

impl RedisStore {
    /// A store for a `Backend::Redis`, `Backend::Cluster` or
    /// `Backend::Sentinel` configuration.
    pub(crate) fn new(config: &Config) -> Result<Arc<Self>, Error> {
        let (url, nodes) = match &config.backend {
            Backend::Sentinel(sentinel) => return Self::with_sentinels(config, sentinel),
            Backend::Redis { url } => match sentinel_url(url) {
                Some(Ok(sentinel)) => return Self::with_sentinels(config, &sentinel),
                Some(Err(reason)) => {
                    return Err(Error::InvalidUrl {
                        url: redact(url),
                        reason,
                    })
                }
                None => (url.clone(), cluster_nodes(url)),
            },
            Backend::Cluster { nodes } => (nodes.join(","), Some(nodes.clone())),
            Backend::Embedded | Backend::Disabled => unreachable!("not a Redis backend"),
        };
        // Passwords as their writers meant them, whatever they hold.
        let url = encode_userinfo(&url).into_owned();
        let nodes = nodes.map(|nodes| {
            nodes
                .iter()
                .map(|node| encode_userinfo(node).into_owned())
                .collect::<Vec<_>>()
        });
        let shown = match &nodes {
            Some(nodes) => nodes
                .iter()
                .map(|node| redact(node))
                .collect::<Vec<_>>()
                .join(","),
            None => redact(&url),
        };
        let invalid = |reason: String| Error::InvalidUrl {
            url: shown.clone(),
            reason,
        };
        if nodes
            .as_ref()
            .is_some_and(|nodes| nodes.iter().all(|node| node.is_empty()))
        {
            return Err(invalid("a cluster needs at least one node".into()));
        }
        let tls_url = |url: &str| url.starts_with("rediss") || url.starts_with("valkeys");
        let any_tls = nodes
            .as_ref()
            .map_or(tls_url(&url), |nodes| nodes.iter().any(|n| tls_url(n)));
        if any_tls && cfg!(not(feature = "tls")) {
            return Err(invalid(
                "TLS URLs need the `tls` feature of cache-runtime".into(),
            ));
        }
        let client =
            client(nodes.as_deref(), &url, config).map_err(|error| invalid(error.to_string()))?;
        let listen_to = match (&client, &nodes) {
            (Client::Single(client), _) => Nodes::Server(client.clone()),
            (Client::Cluster(_), Some(nodes)) => Nodes::Cluster(
                nodes
                    .iter()
                    .filter(|node| !node.is_empty())
                    .map(|node| single_client(node, config))
                    .collect::<Result<_, _>>()
                    .map_err(|error| invalid(error.to_string()))?,
            ),
            (Client::Cluster(_), None) | (Client::Sentinel(_), _) => {
                unreachable!("a cluster client has nodes; Sentinel's are made elsewhere")
            }
        };
        Ok(Self::with_client(config, client, listen_to, shown))
    }

    /// A store for a master watched by `sentinel`.
    fn with_sentinels(
        config: &Config,
        sentinel: &crate::config::Sentinel,
    ) -> Result<Arc<Self>, Error> {
        let shown = sentinel.shown();
        if sentinel.tls() && cfg!(not(feature = "tls")) {
            return Err(Error::InvalidUrl {
                url: shown,
                reason: "TLS URLs need the `tls` feature of cache-runtime".into(),
            });
        }
        let sentinels =
            Sentinels::new(sentinel, |url| single_client(url, config)).map_err(|error| {
                Error::InvalidUrl {
                    url: shown.clone(),
                    reason: error.to_string(),
                }
            })?;
        let sentinels = Arc::new(sentinels);
        let listen_to = Nodes::Sentinel(Arc::clone(&sentinels));
        Ok(Self::with_client(
            config,
            Client::Sentinel(sentinels),
            listen_to,
            shown,
        ))
    }

    fn with_client(config: &Config, client: Client, nodes: Nodes, shown: String) -> Arc<Self> {
        // Batched reads are for one server; a Sentinel's master is one.
        let batched = config.batch_reads && !matches!(client, Client::Cluster(_));
        Arc::new_cyclic(|me| RedisStore {
            me: me.clone(),
            reads: batched.then(Reads::default),
            client,
            nodes,
            breaker: Breaker::new(
                config.breaker_threshold,
                config.breaker_cooldown,
                shown.clone(),
            ),
            url: shown,
            connection: Slot::new(),
            bulk: Bulk::default(),
            bulk_connection: Slot::new(),
            left_replica: Mutex::new(None),
            idle: Mutex::new(Vec::new()),
            watching: std::sync::Once::new(),
            connect_timeout: config.connect_timeout,
            op_timeout: config.op_timeout,
            control_timeout: config.control_timeout,
        })
    }

    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.client, Client::Cluster(_))
    }

    pub(crate) async fn exec<O: Op>(self: &Arc<Self>, op: &O) -> Result<O::Decoded, Error> {
        if self.takes_bulk(op) {
            // Boxed: a path most commands never take.
            return Box::pin(self.exec_bulk(op)).await;
        }
        let reply = match (op.read_of(), &self.reads) {
            (Some((key, ttl)), Some(reads)) => reads.read(self, key, ttl, || op.request()).await?,
            _ => {
                let reply = self.query::<Value>(&op.request(), op.resend()).await;
                self.unless_read_only(reply, || op.request(), op.resend())
                    .await?
            }
        };
        // Asked again, not kept: what a command's future keeps across its
        // awaits is boxed on every Redis call.
        if let Some((key, _)) = op.read_of() {
            self.bulk.learn(key, &reply);
        }
        let reply =
            O::Reply::from_redis_value(reply).map_err(|error| Error::redis(error.into()))?;
        Ok(O::reply(reply))
    }

    /// Whether `op` reads a key known to hold a large value, or writes one.
    fn takes_bulk<O: Op>(&self, op: &O) -> bool {
        match (op.read_of(), op.writes()) {
            (Some((key, _)), _) => self.bulk.takes(key, None),
            (None, Some((key, bytes))) => self.bulk.takes(key, Some(bytes)),
            (None, None) => false,
        }
    }

    /// `op` on the bulk lane: its own connection, so that a large value
    /// holds up no other command; the same breaker and timeout, no resend.
    async fn exec_bulk<O: Op>(&self, op: &O) -> Result<O::Decoded, Error> {
        let permit = self.breaker.permit()?;
        // A failure before a connection is had was a connection attempt.
        let mut connecting = true;
        let reply = async {
            let open = || self.connect();
            let bulk = self
                .bulk_connection
                .get(open, self.breaker.cooldown())
                .await?;
            connecting = bulk.fresh;
            let (mut connection, request) = (bulk.connection, op.request());
            let send = connection.send::<Value>(&request);
            match tokio::time::timeout(self.op_timeout, send).await {
                Ok(Err(error)) if error.is_io_error() => {
                    self.lost(&self.bulk_connection, bulk.generation);
                    Err(Error::redis(error))
                }
                Ok(reply) => reply.map_err(Error::redis),
                Err(_) => Err(Error::Timeout(self.op_timeout)),
            }
        }
        .await;
        self.settle(permit, &reply, connecting);
        let reply =
            O::Reply::from_redis_value(reply?).map_err(|error| Error::redis(error.into()))?;
        Ok(O::reply(reply))
    }

    /// A new shared connection, within the connect timeout.
    async fn connect(&self) -> Result<Shared, Error> {
        if let Client::Sentinel(sentinels) = &self.client {
            let timeout = self.connect_timeout;
            self.watching
                .call_once(|| sentinel::watch(self.me.clone(), sentinels, timeout));
        }
        let connect = self.client.connect(self.connect_timeout);
        match tokio::time::timeout(self.connect_timeout, connect).await {
            Ok(result) => result.map_err(Error::redis),
            Err(_) => Err(Error::Timeout(self.connect_timeout)),
        }
    }

    /// Sends `request`, reads (resent once on a dead connection), as it
    /// is, and returns the reply unread.
    async fn send(&self, request: &Request) -> Result<Value, Error> {
        self.query::<Value>(request, true).await
    }

    pub(crate) fn exec_blocking<O: Op>(&self, op: &O) -> Result<O::Decoded, Error> {
        self.query_blocking::<O::Reply>(&op.request(), op.resend())
            .map(O::reply)
    }

    /// Runs a lock's, a session's or an object's `op`: within the control
    /// timeout, past the breaker (which neither refuses nor counts it).
    pub(crate) async fn exec_control<O: Op>(&self, op: &O) -> Result<O::Decoded, Error> {
        let request = &op.request();
        let send = |mut shared: Shared| async move { shared.send::<Value>(request).await };
        let reply = self.permitted(None, op.resend(), send).await;
        let reply = self
            .unless_read_only(reply, || op.request(), op.resend())
            .await?;
        let reply =
            O::Reply::from_redis_value(reply).map_err(|error| Error::redis(error.into()))?;
        Ok(O::reply(reply))
    }

    /// [`RedisStore::exec_control`] for sync code: a pooled connection, its
    /// timeouts set to the control timeout for this command.
    pub(crate) fn exec_control_blocking<O: Op>(&self, op: &O) -> Result<O::Decoded, Error> {
        let idle = lock(&self.idle).pop();
        let mut connection = idle.map_or_else(|| self.connect_blocking(), Ok)?;
        let reply = connection
            .set_timeouts(self.control_timeout)
            .and_then(|()| connection.send::<O::Reply>(&op.request()))
            .and_then(|reply| connection.set_timeouts(self.op_timeout).map(|()| reply))
            .map_err(|error| match error {
                error if error.is_timeout() => Error::Timeout(self.control_timeout),
                error => Error::redis(error),
            })?;
        self.give_back(connection);
        Ok(O::reply(reply))
    }

    /// `SCAN`s the keyspace (every master's, on a cluster) in batches and
    /// `UNLINK`s each batch's matches: no `KEYS`, no `FLUSHDB`, no command
    /// that blocks Redis for long. Written once for both modes; the three
    /// commands go through `M`'s connections.
    pub(crate) async fn delete_matching<M: Mode>(
        &self,
        pattern: &KeyPattern,
    ) -> Result<u64, Error> {
        let nodes = self.nodes::<M>().await?;
        let mut deleted = 0;
        for node in &nodes {
            let mut cursor = 0;
            loop {
                let scan = &scan(cursor, pattern);
                let (next, keys): (u64, Vec<Vec<u8>>) =
                    self.send_to::<M, _>(scan, node.as_ref()).await?;
                let matching = matching_keys(keys, pattern);
                if !matching.is_empty() {
                    // Not resent: a resent `UNLINK` would count nothing.
                    let unlink = &unlink(&matching);
                    deleted += match M::BLOCKING {
                        true => self.query_blocking::<u64>(unlink, false)?,
                        false => self.query::<u64>(unlink, false).await?,
                    };
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(deleted)
    }

    /// The nodes a `SCAN` must visit: every master of a cluster, or the one
    /// server (`None`).
    async fn nodes<M: Mode>(&self) -> Result<Vec<Option<Node>>, Error> {
        match M::BLOCKING {
            true => self.guarded_blocking(true, SyncConnection::nodes),
            false => {
                self.guarded(true, |mut shared| async move { shared.nodes().await })
                    .await
            }
        }
    }

    /// Sends `cmd` to `node` (the one server for `None`), resent once.
    async fn send_to<M: Mode, T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
        node: Option<&Node>,
    ) -> Result<T, Error> {
        match M::BLOCKING {
            true => self.guarded_blocking(true, |blocking| blocking.send_to(cmd, node)),
            false => {
                self.guarded(
                    true,
                    |mut shared| async move { shared.send_to(cmd, node).await },
                )
                .await
            }
        }
    }

    /// Sends `request`; once more after an I/O error if `resend` (see
    /// [`Op::resend`]).
    async fn query<T: redis::FromRedisValue>(
        &self,
        request: &Request,
        resend: bool,
    ) -> Result<T, Error> {
        self.guarded(
            resend,
            |mut shared| async move { shared.send(request).await },
        )
        .await
    }

    /// Runs `send` on the shared connection behind the circuit breaker,
    /// within the operation timeout.
    async fn guarded<T, F, Fut>(&self, resend: bool, send: F) -> Result<T, Error>
    where
        F: Fn(Shared) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let permit = Some(self.breaker.permit()?);
        self.permitted(permit, resend, send).await
    }

    /// Runs `send` on the shared connection (opened first if need be).
    /// Under `permit`, within the operation timeout, and the outcome is the
    /// breaker's to count (it may start the prober); without one (a lock's,
    /// a session's command), within the control timeout, and the breaker
    /// never hears of it.
    ///
    /// One function for both, not one calling the other: a command's
    /// future is boxed, and a level more took it past the allocator's
    /// fast path (1,032 bytes).
    async fn permitted<T, F, Fut>(
        &self,
        permit: Option<Permit<'_>>,
        resend: bool,
        send: F,
    ) -> Result<T, Error>
    where
        F: Fn(Shared) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        // A failure before a connection is had was a connection attempt.
        let mut connecting = true;
        let result = async {
            let mut current = self.connection().await?;
            connecting = current.fresh;
            // A command that meets a connection that died (Redis restarted)
            // makes the manager reconnect; one more try, within the same
            // timeout, finds the new connection. Only where sending it twice
            // means what sending it once does: the I/O error may have come
            // after Redis ran the first (see `Op::resend`). (A loop, not a
            // second `send` in the match: the command's future is smaller.)
            let attempts = async {
                let mut resend = resend;
                loop {
                    // Taken apart, so that the send's future holds the
                    // only copy of the connection.
                    let Current {
                        connection,
                        generation,
                        ..
                    } = current;
                    match send(connection).await {
                        Err(error) if error.is_io_error() => {
                            self.lost(&self.connection, generation);
                            // Retired meanwhile (its runtime ended, or just
                            // above): the next command opens a new one.
                            let (true, Some(again)) = (resend, self.connection.live()) else {
                                return Err(error);
                            };
                            (current, resend) = (again, false);
                        }
                        result => return result,
                    }
                }
            };
            // The breaker's commands are the cached calls'; the others
            // are locks', sessions' and objects'. (The class, not the
            // `Duration`, is what the future keeps.)
            let timeout = |permitted| match permitted {
                true => self.op_timeout,
                false => self.control_timeout,
            };
            match tokio::time::timeout(timeout(permit.is_some()), attempts).await {
                Ok(result) => result.map_err(Error::redis),
                Err(_) => Err(Error::Timeout(timeout(permit.is_some()))),
            }
        }
        .await;
        if let Some(permit) = permit {
            self.settle(permit, &result, connecting);
        }
        result
    }

    /// Records how a command under `permit` went, and starts the prober if
    /// that left the breaker open.
    fn settle<T>(&self, permit: Permit<'_>, result: &Result<T, Error>, connecting: bool) {
        if permit.record(result, connecting) {
            self.watch();
        }
    }

    /// Starts the background prober, unless one runs or there is no Tokio
    /// runtime here (then the first call after the cool-down probes).
    fn watch(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.breaker.claim_prober() {
            runtime.spawn(Prober::new(self.me.clone()).run());
        }
    }

    /// `reply`, unless it is `READONLY`: the server was demoted to a
    /// replica (a failover). Then the store connects again, as after a
    /// restart, which finds the new primary where the address now leads (a
    /// DNS name, a virtual IP, a proxy), and sends `request` once more if
    /// it may be resent. Boxed where it starts, and called where little
    /// else is alive: a path no hit takes stays out of every command's
    /// future (boxed, and kept within the allocator's fast path).
    async fn unless_read_only(
        &self,
        reply: Result<Value, Error>,
        request: impl FnOnce() -> Request,
        resend: bool,
    ) -> Result<Value, Error> {
        let error = match reply {
            Err(Error::Redis(error)) if is_read_only(error.inner()) => error,
            reply => return reply,
        };
        let again = async {
            let connection = self.connection().await?;
            match self.leave_replica(&connection) && resend {
                true => self.query::<Value>(&request(), true).await,
                false => Err(Error::Redis(error)),
            }
        };
        Box::pin(again).await
    }

    /// Retires the shared connection to a server that answered `READONLY`,
    /// so that the next command connects again; at most once per breaker
    /// cool-down (an address that still leads to a replica must not turn
    /// every write into a reconnect). Whether it did. A cluster follows
    /// its failovers by itself.
    fn leave_replica(&self, connection: &Current<Shared>) -> bool {
        if self.is_cluster() {
            return false;
        }
        {
            let mut last = lock(&self.left_replica);
            if last.is_some_and(|at| at.elapsed() < self.breaker.cooldown()) {
                return false;
            }
            *last = Some(std::time::Instant::now());
        }
        tracing::warn!(url = %self.url, "Redis answers READONLY (a replica now): connecting again");
        self.connection.retire(connection);
        lock(&self.idle).clear();
        true
    }

    /// Retires the connection of `generation` of `slot`, which failed
    /// with an I/O error, if it must not come back by itself: a Sentinel's
    /// master's (the next connection asks the Sentinels where the master is
    /// now; its manager would reconnect to the old address). A single
    /// server's manager reconnects by itself, to the same address; a
    /// cluster connection follows the slot map.
    fn lost(&self, slot: &Slot<Shared>, generation: u64) {
        if matches!(self.client, Client::Sentinel(_)) {
            slot.retire_generation(generation);
        }
    }

    /// Retires the store's shared connections (a command met the end of
    /// the runtime one of them is bound to): the next commands open new
    /// ones.
    pub(crate) fn retire_connections(&self) {
        self.connection.retire_current();
        self.bulk_connection.retire_current();
    }

    /// The shared connection, opened first if need be (within the connect
    /// timeout; see [`Slot::get`]).
    pub(crate) async fn connection(&self) -> Result<Current<Shared>, Error> {
        let open = || self.connect();
        self.connection.get(open, self.breaker.cooldown()).await
    }

    fn query_blocking<T: redis::FromRedisValue>(
        &self,
        request: &Request,
        resend: bool,
    ) -> Result<T, Error> {
        self.guarded_blocking(resend, |blocking| blocking.send(request))
    }

    /// Runs `send` on an idle blocking connection, or a new one, behind the
    /// circuit breaker. A connection that failed is dropped, not returned: it
    /// may be half-way through a reply.
    ///
    /// A pooled connection that meets a dead socket died with its server (a
    /// restart), and so did every other pooled one: the pool is emptied,
    /// and the command, if it may be resent, goes once more on a new
    /// connection. (Kept, each dead connection would fail one command in
    /// turn, and open the breaker again after each cool-down.)
    fn guarded_blocking<T>(
        &self,
        resend: bool,
        send: impl Fn(&mut SyncConnection) -> redis::RedisResult<T>,
    ) -> Result<T, Error> {
        let permit = self.breaker.permit()?;
        let idle = lock(&self.idle).pop();
        let connecting = idle.is_none();
        let mut result = self.on_connection(idle, &send);
        if !connecting && is_stale(&result) {
            lock(&self.idle).clear();
            if resend {
                result = self.on_connection(None, &send);
            }
        }
        // A blocking timeout is an I/O error from the socket; name it.
        let result = result.map_err(|error| match error {
            Error::Redis(error) if error.inner().is_timeout() => Error::Timeout(self.op_timeout),
            error => error,
        });
        self.settle(permit, &result, connecting);
        result
    }

    /// Runs `send` on `connection`, or on a new one; keeps the connection
    /// for the next command if it answered.
    fn on_connection<T>(
        &self,
        connection: Option<SyncConnection>,
        send: impl Fn(&mut SyncConnection) -> redis::RedisResult<T>,
    ) -> Result<T, Error> {
        let mut connection = connection.map_or_else(|| self.connect_blocking(), Ok)?;
        let value = send(&mut connection).map_err(Error::redis)?;
        self.give_back(connection);
        Ok(value)
    }

    /// Keeps a connection that answered for the next blocking command.
    fn give_back(&self, connection: SyncConnection) {
        let mut idle = lock(&self.idle);
        if idle.len() < MAX_IDLE_BLOCKING {
            idle.push(connection);
        }
    }

    /// A new blocking connection with the store's timeouts.
    pub(crate) fn connect_blocking(&self) -> Result<SyncConnection, Error> {
        self.client
            .connect_blocking(self.connect_timeout, self.op_timeout)
            .map_err(Error::redis)
    }
}

impl sentinel::Follower for RedisStore {
    /// Retires every connection to the master, shared and blocking: a
    /// Sentinel announced that another server is the master now.
    fn leave_master(&self) {
        self.retire_connections();
        lock(&self.idle).clear();
    }
}

impl Wire for RedisStore {
    /// Only called on a single server: a cluster's reads are not batched.
    fn reads(&self) -> &Reads<Self> {
        self.reads
            .as_ref()
            .expect("reads are batched on a single server")
    }

    fn send(&self, request: &Request) -> impl Future<Output = Result<Value, Error>> + Send {
        RedisStore::send(self, request)
    }

    fn op_timeout(&self) -> Duration {
        self.op_timeout
    }
}

/// The breaker's probe while it is open, off the callers' path: after each
/// cool-down, a `PING` under the probe's permit (connecting first if need
/// be, within the connect timeout). It ends when the breaker closes or the
/// store is dropped; calls probe again if it is dropped unfinished (its
/// runtime shut down).
struct Prober {
    store: Weak<RedisStore>,
    /// The role was handed back (`Breaker::prober_done`): another prober
    /// may hold it now, so dropping this one must not release it.
    handed_back: bool,
}

impl Prober {
    fn new(store: Weak<RedisStore>) -> Self {
        Prober {
            store,
            handed_back: false,
        }
    }

    async fn run(mut self) {
        loop {
            let Some(store) = self.store.upgrade() else {
                return;
            };
            let Some(wait) = store.breaker.reopens_in() else {
                if store.breaker.prober_done() {
                    continue;
                }
                self.handed_back = true;
                return;
            };
            drop(store);
            tokio::time::sleep(wait).await;
            let Some(store) = self.store.upgrade() else {
                return;
            };
            if let Some(permit) = store.breaker.probe() {
                let ping = &Request::Cmd(redis::cmd("PING"));
                let send = |mut shared: Shared| async move { shared.send::<()>(ping).await };
                let _ = store.permitted(Some(permit), true, send).await;
                continue;
            }
            // A call took the probe before this task began: look again
            // after a cool-down.
            let cooldown = store.breaker.cooldown();
            drop(store);
            tokio::time::sleep(cooldown).await;
        }
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        if self.handed_back {
            return;
        }
        if let Some(store) = self.store.upgrade() {
            store.breaker.release_prober();
        }
    }
}

/// Blocking connections kept for reuse; more are opened under load and
/// closed when returned to a full pool.
const MAX_IDLE_BLOCKING: usize = 16;

/// Keys per `SCAN` reply: large enough to clear quickly, small enough that
/// each `SCAN` and `UNLINK` is short.
const SCAN_BATCH: usize = 1000;

/// `UNLINK` of keys that may live in several slots: on a cluster, redis-rs
/// splits it per slot and adds up the counts.
fn unlink<K: redis::ToRedisArgs>(keys: &[K]) -> Request {
    Request::Cmd(command("UNLINK", keys))
}

fn scan(cursor: u64, pattern: &KeyPattern) -> redis::Cmd {
    let args = (cursor, "MATCH", pattern.glob(), "COUNT", SCAN_BATCH);
    command("SCAN", args)
}

/// The keys that really belong to the pattern (the glob is coarser), as
/// bytes: other applications' keys need not be UTF-8.
fn matching_keys(keys: Vec<Vec<u8>>, pattern: &KeyPattern) -> Vec<Vec<u8>> {
    keys.into_iter()
        .filter(|key| std::str::from_utf8(key).is_ok_and(|key| pattern.matches(key)))
        .collect()
}

/// Whether a command failed on a connection that will fail every command:
/// its socket was closed (not a timeout: a slow server's connection is
/// alive), or its server is a replica now.
fn is_stale<T>(result: &Result<T, Error>) -> bool {
    matches!(result, Err(Error::Redis(error))
        if (error.inner().is_io_error() && !error.inner().is_timeout())
            || is_read_only(error.inner()))
}

/// `READONLY`: a write reached a replica.
fn is_read_only(error: &redis::RedisError) -> bool {
    error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
}

#[cfg(all(test, not(feature = "tls")))]
mod tests {
    use super::*;

    #[test]
    fn rediss_without_the_tls_feature_is_a_clear_error() {
        let config = Config::redis("rediss://:pw@127.0.0.1:6380");
        let error = RedisStore::new(&config).err().unwrap();
        let message = error.to_string();
        assert!(message.contains("`tls` feature"), "{message}");
        assert!(!message.contains("pw@"), "{message}");
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;
    use crate::store::ops::Get;

    /// A command's future is boxed on every Redis call (`Store::exec`).
    /// glibc serves blocks up to 1,032 bytes from a per-thread cache; past
    /// that, `malloc` and `free` cost a hit a few hundred instructions more.
    #[test]
    fn a_commands_future_stays_within_the_allocators_fast_path() {
        let store = RedisStore::new(&Config::redis("redis://127.0.0.1:1")).unwrap();
        let get = Get("k");
        let future = store.exec(&get);
        let size = std::mem::size_of_val(&future);
        assert!(size <= 1032, "{size} bytes");
    }
}

#[cfg(test)]
mod sentinel_config_tests {
    use super::*;
    use crate::config::Sentinel;

    fn refused(config: Config) -> String {
        let error = RedisStore::new(&config).err().expect("refused");
        assert!(matches!(error, Error::InvalidUrl { .. }), "{error:?}");
        error.to_string()
    }

    #[test]
    fn sentinel_mistakes_are_invalid_urls_that_hide_passwords() {
        let message = refused(Config::redis("redis+sentinel://:pw@h1:26379"));
        assert!(message.contains("names its master"), "{message}");
        assert!(!message.contains("pw@"), "{message}");
        let message = refused(Config::redis("redis+sentinel://:pw@h1:26379/main/x"));
        assert!(message.contains("not a database number"), "{message}");
        assert!(!message.contains("pw@"), "{message}");
        let message = refused(Config::sentinel(Sentinel::new(
            "main",
            Vec::<String>::new(),
        )));
        assert!(message.contains("no Sentinel"), "{message}");
    }
}
