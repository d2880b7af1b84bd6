//! How the Redis store reaches Redis: one server, a Sentinel's master, or a
//! Redis Cluster. Each
//! has a shared async connection and blocking connections, wrapped here so
//! that everything above sends the same [`Request`]s to either.
//!
//! A Sentinel's master is a single server whose address the Sentinels
//! give (`sentinel`).
//!
//! On a cluster, redis-rs routes each command by its key's slot, follows
//! `MOVED`/`ASK` and refreshes the slot map after a failover. Two things a
//! single server does not need are done here: a [`Request::Batch`] whose
//! commands live in different slots is sent as concurrent single commands
//! (the cluster connection pipelines them per node), and a keyspace scan
//! visits every master ([`Client`]'s `nodes`).

use std::time::Duration;

use std::sync::Arc;

use redis::aio::ConnectionManager;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, RedisResult, Value};

use super::sentinel::{master_role, Sentinels};
use crate::store::ops::Request;

/// The scheme suffix of the cluster URL form:
/// `redis+cluster://[user:password@]host:port,host:port`.
const CLUSTER_SCHEME: &str = "+cluster://";

/// One node's URLs for a cluster given in the URL form; `None` when `url`
/// names a single server.
pub(crate) fn cluster_nodes(url: &str) -> Option<Vec<String>> {
    let at = url.find(CLUSTER_SCHEME)?;
    let scheme = &url[..at];
    let rest = &url[at + CLUSTER_SCHEME.len()..];
    let (userinfo, hosts) = match rest.rsplit_once('@') {
        Some((userinfo, hosts)) => (format!("{userinfo}@"), hosts),
        None => (String::new(), rest),
    };
    let hosts = hosts.trim_end_matches('/');
    Some(
        hosts
            .split(',')
            .map(|host| format!("{scheme}://{userinfo}{}", host.trim()))
            .collect(),
    )
}

#[allow(clippy::large_enum_variant)] // one per store: size is irrelevant
pub(crate) enum Client {
    Single(redis::Client),
    Cluster(ClusterClient),
    /// A master found through its Sentinels.
    Sentinel(Arc<Sentinels>),
}

impl Client {
    pub(crate) async fn connect(&self, connect_timeout: Duration) -> RedisResult<Shared> {
        match self {
            Client::Single(client) => {
                ConnectionManager::new_with_config(client.clone(), manager_config(connect_timeout))
                    .await
                    .map(Shared::Single)
            }
            Client::Cluster(client) => client.get_async_connection().await.map(Shared::Cluster),
            // The manager would reconnect to the address it knew, which
            // after a failover is a replica: the store retires a connection
            // lost instead (`RedisStore::permitted`), and the next one asks
            // the Sentinels again. Boxed as a `dyn Future`: a type this deep
            // in every cached call's future would take `Send` checks past
            // the compiler's recursion limit.
            Client::Sentinel(sentinels) => connect_master(sentinels, connect_timeout).await,
        }
    }

    pub(crate) fn connect_blocking(
        &self,
        connect_timeout: Duration,
        op_timeout: Duration,
    ) -> RedisResult<SyncConnection> {
        match self {
            Client::Single(client) => {
                single_blocking(client, connect_timeout, op_timeout).map(SyncConnection::Single)
            }
            Client::Sentinel(sentinels) => {
                let master = sentinels.master_blocking(connect_timeout)?;
                let mut connection = single_blocking(&master, connect_timeout, op_timeout)?;
                master_role(redis::cmd("ROLE").query(&mut connection)?)?;
                Ok(SyncConnection::Single(connection))
            }
            // The cluster client carries the connect timeout (see
            // `cluster_client`); its response timeout is the longer one of
            // locks and sessions, which their commands set for themselves.
            Client::Cluster(client) => {
                let mut connection = SyncConnection::Cluster(Box::new(client.get_connection()?));
                connection.set_timeouts(op_timeout)?;
                Ok(connection)
            }
        }
    }
}

/// A manager connected to the master the Sentinels name, checked to be one.
fn connect_master(
    sentinels: &Sentinels,
    connect_timeout: Duration,
) -> futures_util::future::BoxFuture<'_, RedisResult<Shared>> {
    Box::pin(async move {
        let master = sentinels.master(connect_timeout).await?;
        let config = manager_config(connect_timeout);
        let mut connection = ConnectionManager::new_with_config(master, config).await?;
        master_role(redis::cmd("ROLE").query_async(&mut connection).await?)?;
        Ok(Shared::Single(connection))
    })
}

/// A blocking connection to one server, with the store's timeouts.
fn single_blocking(
    client: &redis::Client,
    connect_timeout: Duration,
    op_timeout: Duration,
) -> RedisResult<redis::Connection> {
    let connection = client.get_connection_with_timeout(connect_timeout)?;
    connection.set_read_timeout(Some(op_timeout))?;
    connection.set_write_timeout(Some(op_timeout))?;
    Ok(connection)
}

/// A single server's manager: the connect timeout, one attempt per
/// command, no timer of its own.
fn manager_config(connect_timeout: Duration) -> redis::aio::ConnectionManagerConfig {
    redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(connect_timeout))
        // The store's operation timeout bounds every call, reconnection
        // and retry included (`RedisStore::guarded`). A second timer per
        // command in redis-rs would cost on every hit, and cap each call
        // at its 500 ms default whatever `op_timeout` says.
        .set_response_timeout(None)
        // One attempt per call: the circuit breaker decides when to try again.
        .set_number_of_retries(0)
}

/// A cluster client with the store's timeouts. redis-rs's own retries are
/// kept to one: the operation timeout bounds each call, and a call that
/// cannot finish in time runs its function uncached.
pub(crate) fn cluster_client(
    nodes: &[String],
    connect_timeout: Duration,
    op_timeout: Duration,
    #[cfg(feature = "tls")] root_cert: Option<&[u8]>,
) -> RedisResult<ClusterClient> {
    let builder = ClusterClient::builder(nodes.iter().map(String::as_str))
        .connection_timeout(connect_timeout)
        .response_timeout(op_timeout)
        .retries(1)
        .min_retry_wait(10)
        .max_retry_wait(op_timeout.as_millis().max(10) as u64);
    #[cfg(feature = "tls")]
    let builder = match root_cert {
        Some(pem) => builder.certs(redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem.to_vec()),
        }),
        None => builder,
    };
    builder.build()
}

/// The shared async connection: a single server's auto-reconnecting
/// manager, or a cluster connection (which reconnects and follows the slot
/// map by itself). Cheap to clone; clones share the connection.
#[derive(Clone)]
pub(crate) enum Shared {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Shared {
    pub(crate) async fn send<T: FromRedisValue>(&mut self, request: &Request) -> RedisResult<T> {
        match request {
            Request::Cmd(cmd) => cmd.query_async(self).await,
            Request::Pipe(pipe) => pipe.query_async(self).await,
            Request::Batch(batch) => match self {
                Shared::Single(_) => batch.query_async(self).await,
                Shared::Cluster(cluster) => {
                    let replies = batch.cmd_iter().map(|cmd| {
                        let mut cluster = cluster.clone();
                        async move { cmd.query_async::<Value>(&mut cluster).await }
                    });
                    let replies = futures_util::future::try_join_all(replies).await?;
                    T::from_redis_value(Value::Array(replies)).map_err(Into::into)
                }
            },
        }
    }

    /// Where a keyspace scan must go: every master of a cluster, or the one
    /// server (`None`).
    pub(crate) async fn nodes(&mut self) -> RedisResult<Vec<Option<Node>>> {
        match self {
            Shared::Single(_) => Ok(vec![None]),
            Shared::Cluster(cluster) => {
                let reply = cluster
                    .route_command(redis::cmd("PING"), every_master())
                    .await?;
                masters(reply)
            }
        }
    }

    /// Sends `cmd` to `node` (a master of a cluster), or to the server.
    pub(crate) async fn send_to<T: FromRedisValue>(
        &mut self,
        cmd: &Cmd,
        node: Option<&Node>,
    ) -> RedisResult<T> {
        match (self, node) {
            (Shared::Cluster(cluster), Some(node)) => {
                let reply = cluster.route_command(cmd.clone(), node.route()).await?;
                T::from_redis_value(reply).map_err(Into::into)
            }
            (shared, _) => cmd.query_async(shared).await,
        }
    }
}

impl redis::aio::ConnectionLike for Shared {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Shared::Single(connection) => connection.req_packed_command(cmd),
            Shared::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Shared::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Shared::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Shared::Single(connection) => connection.get_db(),
            Shared::Cluster(connection) => connection.get_db(),
        }
    }
}

/// A blocking connection to the server or the cluster.
pub(crate) enum SyncConnection {
    Single(redis::Connection),
    /// Boxed: pooled connections move in and out of a `Vec`.
    Cluster(Box<redis::cluster::ClusterConnection>),
}

impl SyncConnection {
    /// Sets how long a read or a write on the connection may wait.
    pub(crate) fn set_timeouts(&mut self, timeout: Duration) -> RedisResult<()> {
        match self {
            SyncConnection::Single(connection) => {
                connection.set_read_timeout(Some(timeout))?;
                connection.set_write_timeout(Some(timeout))
            }
            SyncConnection::Cluster(connection) => {
                connection.set_read_timeout(Some(timeout))?;
                connection.set_write_timeout(Some(timeout))
            }
        }
    }

    pub(crate) fn send<T: FromRedisValue>(&mut self, request: &Request) -> RedisResult<T> {
        match request {
            Request::Cmd(cmd) => cmd.query(self),
            Request::Pipe(pipe) => pipe.query(self),
            Request::Batch(batch) => match self {
                SyncConnection::Single(_) => batch.query(self),
                SyncConnection::Cluster(cluster) => {
                    let replies = batch
                        .cmd_iter()
                        .map(|cmd| cmd.query::<Value>(cluster.as_mut()))
                        .collect::<RedisResult<Vec<_>>>()?;
                    T::from_redis_value(Value::Array(replies)).map_err(Into::into)
                }
            },
        }
    }

    pub(crate) fn nodes(&mut self) -> RedisResult<Vec<Option<Node>>> {
        match self {
            SyncConnection::Single(_) => Ok(vec![None]),
            SyncConnection::Cluster(cluster) => {
                masters(cluster.route_command(&redis::cmd("PING"), every_master())?)
            }
        }
    }

    pub(crate) fn send_to<T: FromRedisValue>(
        &mut self,
        cmd: &Cmd,
        node: Option<&Node>,
    ) -> RedisResult<T> {
        match (self, node) {
            (SyncConnection::Cluster(cluster), Some(node)) => {
                T::from_redis_value(cluster.route_command(cmd, node.route())?).map_err(Into::into)
            }
            (blocking, _) => cmd.query(blocking),
        }
    }
}

impl redis::ConnectionLike for SyncConnection {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        match self {
            SyncConnection::Single(connection) => connection.req_packed_command(cmd),
            SyncConnection::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        match self {
            SyncConnection::Single(connection) => {
                connection.req_packed_commands(cmd, offset, count)
            }
            SyncConnection::Cluster(connection) => {
                connection.req_packed_commands(cmd, offset, count)
            }
        }
    }

    fn req_command(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        match self {
            SyncConnection::Single(connection) => connection.req_command(cmd),
            SyncConnection::Cluster(connection) => connection.req_command(cmd),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            SyncConnection::Single(connection) => connection.get_db(),
            SyncConnection::Cluster(connection) => connection.get_db(),
        }
    }

    fn supports_pipelining(&self) -> bool {
        match self {
            SyncConnection::Single(connection) => connection.supports_pipelining(),
            SyncConnection::Cluster(connection) => connection.supports_pipelining(),
        }
    }

    fn check_connection(&mut self) -> bool {
        match self {
            SyncConnection::Single(connection) => connection.check_connection(),
            SyncConnection::Cluster(connection) => connection.check_connection(),
        }
    }

    fn is_open(&self) -> bool {
        match self {
            SyncConnection::Single(connection) => connection.is_open(),
            SyncConnection::Cluster(connection) => connection.is_open(),
        }
    }
}

/// A cluster master, as redis-rs names it.
pub(crate) struct Node {
    host: String,
    port: u16,
}

impl Node {
    fn route(&self) -> RoutingInfo {
        RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
            host: self.host.clone(),
            port: self.port,
        })
    }
}

fn every_master() -> RoutingInfo {
    RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None))
}

/// The masters that answered a command sent to all of them: redis-rs
/// replies with a map from each node's `host:port` to its answer.
fn masters(reply: Value) -> RedisResult<Vec<Option<Node>>> {
    let Value::Map(replies) = reply else {
        return Err(unexpected("a map of masters"));
    };
    replies
        .into_iter()
        .map(|(address, _)| {
            let address = String::from_redis_value(address)?;
            let (host, port) = address
                .rsplit_once(':')
                .and_then(|(host, port)| Some((host.to_owned(), port.parse().ok()?)))
                .ok_or_else(|| unexpected("host:port"))?;
            Ok(Some(Node { host, port }))
        })
        .collect()
}

fn unexpected(what: &'static str) -> redis::RedisError {
    (
        redis::ErrorKind::UnexpectedReturnType,
        "expected",
        what.to_owned(),
    )
        .into()
}

#[cfg(test)]
mod tests {
    use super::cluster_nodes;

    #[test]
    fn cluster_url_form_expands_to_one_url_per_node() {
        assert_eq!(
            cluster_nodes("redis+cluster://:pw@10.0.0.1:7000,10.0.0.2:7001/").unwrap(),
            ["redis://:pw@10.0.0.1:7000", "redis://:pw@10.0.0.2:7001"]
        );
        assert_eq!(
            cluster_nodes("rediss+cluster://a:7000").unwrap(),
            ["rediss://a:7000"]
        );
        assert_eq!(cluster_nodes("redis://a:7000"), None);
    }
}
