//! The thread that keeps a tier told of every write, on one connection per
//! node whose writes it must hear: the server, a Sentinel's master, or
//! every master of a cluster.
//!
//! Each connection asks Redis to track the cache's keys for it
//! (`CLIENT TRACKING on REDIRECT <itself> BCAST PREFIX <prefix>:`) and
//! subscribes to `__redis__:invalidate`, where Redis then names every key
//! under the prefix that changes, whoever changes it: this crate, another
//! program's `SET` or `DEL`, an operator's `redis-cli`, an expiry, an
//! eviction under `maxmemory`, a `FLUSHDB` (a message without keys). In
//! broadcast mode Redis remembers prefixes, not the keys each client read:
//! it keeps no table per client, and the data connections stay as they are.
//!
//! One connection also subscribes to the crate's announcements
//! ([`Invalidation`](super::Invalidation)), which stay where tracking cannot
//! serve: a tag's token is renewed (`PEXPIRE`) by every tagged write, which
//! tracking reports as a change, so tokens' notices are ignored and a tag's
//! invalidation is announced; a clear is one message rather than one per
//! key; and processes of earlier versions, during a rolling upgrade, hear
//! evictions only there.
//!
//! The tier is on only while every connection of the round is subscribed.
//! A connection lost, a node that cannot be reached, or a change in the
//! cluster's masters (checked every heartbeat) switches it off and empties
//! it until a new round is subscribed everywhere: a write it could not hear
//! can never leave a copy behind.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use redis::RedisResult;

use super::{Invalidation, Tier};
use crate::clock;
use crate::store::redis::address::{address_of, at};
use crate::store::redis::sentinel::{address, Sentinels};
use crate::sync::{lock, spawn};

/// How often an idle connection checks that it is alive (`PING`) and that
/// its tier still exists; and how often, busy or idle, the round's first
/// connection checks that the masters are the same (on a cluster, or with
/// Sentinel).
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How often the listener removes expired copies.
const SWEEP: Duration = Duration::from_secs(10);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Where Redis sends the notices of a connection that redirects tracking
/// to itself (the RESP2 form).
const NOTICES: &str = "__redis__:invalidate";

/// Whose writes a tier must hear.
#[derive(Clone)]
#[allow(clippy::large_enum_variant)] // one per cache: size is irrelevant
pub(crate) enum Nodes {
    /// One server.
    Server(redis::Client),
    /// A cluster, by its seeds: every master, as the first seed that
    /// answers lists them (`CLUSTER NODES`).
    Cluster(Vec<redis::Client>),
    /// A Sentinel's master, wherever the Sentinels say it is now.
    Sentinel(Arc<Sentinels>),
}

/// A node to listen on, and its address (to see the masters change).
struct Node {
    client: redis::Client,
    address: (String, u16),
}

impl Nodes {
    /// The nodes to listen on now, sorted by address; a seed's or a
    /// Sentinel's answer, through `asker`'s connection.
    fn current(&self, asker: &mut Asker, timeout: Duration) -> RedisResult<Vec<Node>> {
        match self {
            Nodes::Server(client) => Ok(vec![Node {
                address: address_of(client),
                client: client.clone(),
            }]),
            Nodes::Cluster(seeds) => {
                let nodes = redis::cmd("CLUSTER").arg("NODES").clone();
                let nodes: String = asker.ask(seeds, &nodes, timeout)?;
                masters(&seeds[0], &nodes)
            }
            Nodes::Sentinel(sentinels) => {
                let asked = sentinels.sentinels();
                let address_reply = asker.ask(&asked, &sentinels.get_master_addr(), timeout)?;
                let client = sentinels.found(address(address_reply)?)?;
                Ok(vec![Node {
                    address: address_of(&client),
                    client,
                }])
            }
        }
    }
}

/// A connection kept to the seed or Sentinel that answered last: the
/// masters are checked every heartbeat, and a connection each time would
/// be one more per second per process.
#[derive(Default)]
struct Asker {
    kept: Option<redis::Connection>,
}

impl Asker {
    /// `cmd`'s reply from the kept connection, or else from the first of
    /// `clients` that answers (whose connection is kept then).
    fn ask<T: redis::FromRedisValue>(
        &mut self,
        clients: &[redis::Client],
        cmd: &redis::Cmd,
        timeout: Duration,
    ) -> RedisResult<T> {
        if let Some(connection) = &mut self.kept {
            match cmd.query(connection) {
                Ok(reply) => return Ok(reply),
                Err(_) => self.kept = None,
            }
        }
        let mut failure = None;
        for client in clients {
            let asked = client
                .get_connection_with_timeout(timeout)
                .and_then(|mut connection| {
                    connection.set_read_timeout(Some(timeout))?;
                    let reply = cmd.query(&mut connection)?;
                    Ok((connection, reply))
                });
            match asked {
                Ok((connection, reply)) => {
                    self.kept = Some(connection);
                    return Ok(reply);
                }
                Err(error) => failure = Some(error),
            }
        }
        Err(failure
            .unwrap_or_else(|| (redis::ErrorKind::InvalidClientConfig, "nothing to ask").into()))
    }
}

/// The masters in a `CLUSTER NODES` reply, as clients with `seed`'s
/// settings. A master is left out only when the cluster agrees it failed
/// (`fail`; its slots go to a replica, which is listed as a master): one
/// only suspected (`fail?`) may still take writes, so it is listened to,
/// and if it cannot be reached the tier stays off.
fn masters(seed: &redis::Client, nodes: &str) -> RedisResult<Vec<Node>> {
    let mut masters = Vec::new();
    for line in nodes.lines() {
        // `<id> <ip:port@cport[,hostname]> <flags> ...`
        let mut fields = line.split(' ');
        let (Some(_), Some(address), Some(flags)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let flags = flags.split(',').collect::<Vec<_>>();
        if !flags.contains(&"master") || flags.contains(&"fail") || flags.contains(&"noaddr") {
            continue;
        }
        let address = address.split(['@', ',']).next().unwrap_or_default();
        let Some((host, port)) = address.rsplit_once(':') else {
            continue;
        };
        let Ok(port) = port.parse() else {
            continue;
        };
        // A node that knows no address of its own yet reports an empty one.
        let host = match host {
            "" => address_of(seed).0,
            host => host.to_owned(),
        };
        masters.push(Node {
            client: at(seed, &host, port)?,
            address: (host, port),
        });
    }
    masters.sort_by(|a, b| a.address.cmp(&b.address));
    Ok(masters)
}

/// Whether `error` is Redis refusing the listener's `CLIENT` commands (an
/// unknown or denied command), not a failure to reach it.
fn refused(error: &redis::RedisError) -> bool {
    let reached = !(error.is_io_error()
        || error.is_timeout()
        || error.is_connection_refusal()
        || error.is_connection_dropped());
    let text = error.to_string().to_ascii_lowercase();
    reached && (text.contains("client") || text.contains("tracking") || text.contains("noperm"))
}

pub(super) struct Listener {
    pub(super) tier: Weak<Tier>,
    /// The announcements' channel.
    pub(super) channel: String,
    /// The prefix every key of the cache starts with (`<prefix>:`; empty
    /// for no prefix: then every key is tracked).
    pub(super) tracked: String,
    /// The prefix of tags' tokens, whose notices are ignored.
    pub(super) tokens: String,
    pub(super) nodes: Nodes,
    pub(super) connect_timeout: Duration,
    /// Redis refused a command of the listener's (said once).
    pub(super) refused: AtomicBool,
}

/// One round: a connection to each node, all subscribed or the tier off.
struct Round {
    /// How many connections are subscribed; held while the tier goes on or
    /// off, so that a connection that ends always leaves it off.
    subscribed: Mutex<usize>,
    nodes: usize,
    /// A connection of the round ended: the others end at their next
    /// heartbeat, and the tier stays off until the next round.
    ended: AtomicBool,
    went_live: AtomicBool,
}

impl Round {
    fn new(nodes: usize) -> Self {
        Round {
            subscribed: Mutex::new(0),
            nodes,
            ended: AtomicBool::new(false),
            went_live: AtomicBool::new(false),
        }
    }
}

enum Ended {
    /// The cache, and with it the tier, is gone.
    Dropped,
    /// Another connection of the round ended it.
    Stopped,
    /// The cluster's masters changed.
    Moved,
    Lost(redis::RedisError),
}

impl Listener {
    pub(super) fn run(self: Arc<Self>) {
        let mut backoff = MIN_BACKOFF;
        let mut asker = Asker::default();
        loop {
            let (ended, went_live) = match self.nodes.current(&mut asker, self.connect_timeout) {
                Ok(nodes) => self.round(nodes, &mut asker),
                Err(error) => {
                    let ended = Ended::Lost(error);
                    self.end(&Round::new(0), &ended);
                    (ended, false)
                }
            };
            if went_live {
                backoff = MIN_BACKOFF;
            }
            match ended {
                Ended::Dropped => return,
                // Listen to the new masters at once.
                Ended::Moved => continue,
                Ended::Stopped | Ended::Lost(_) => {}
            }
            let Some(tier) = self.tier.upgrade() else {
                return;
            };
            tier.started();
            drop(tier);
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Listens on every node until one connection ends (and with it the
    /// round): the first node on this thread (it also hears the
    /// announcements, sweeps the tier and watches the masters), each other
    /// one on a thread of its own. How it ended, and whether the tier was on
    /// meanwhile.
    fn round(self: &Arc<Self>, nodes: Vec<Node>, asker: &mut Asker) -> (Ended, bool) {
        let round = Arc::new(Round::new(nodes.len()));
        let addresses = nodes
            .iter()
            .map(|node| node.address.clone())
            .collect::<Vec<_>>();
        let mut nodes = nodes.into_iter();
        let ended = match nodes.next() {
            Some(first) => {
                let mut spawned = Ok(());
                for node in nodes {
                    let (listener, round) = (Arc::clone(self), Arc::clone(&round));
                    let thread = spawn("cache-runtime-invalidations", move || {
                        let ended = listener.listen(&node.client, &round, None);
                        listener.end(&round, &ended);
                    });
                    if let Err(error) = thread {
                        spawned = Err(error);
                        break;
                    }
                }
                match spawned {
                    Ok(()) => self.listen(&first.client, &round, Some((&addresses, asker))),
                    Err(error) => Ended::Lost(error.into()),
                }
            }
            None => Ended::Lost((redis::ErrorKind::InvalidClientConfig, "no master").into()),
        };
        self.end(&round, &ended);
        (ended, round.went_live.load(Ordering::Acquire))
    }

    /// Ends `round` as `ended` says, if it is still going: the tier goes
    /// off (and empty) at once, and the round's other connections stop at
    /// their next heartbeat.
    fn end(&self, round: &Round, ended: &Ended) {
        let _subscribed = lock(&round.subscribed);
        if round.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        let Some(tier) = self.tier.upgrade() else {
            return;
        };
        match ended {
            // Redis answered, and refused: `CLIENT TRACKING` is missing
            // (before Redis 6) or not allowed (a renamed or ACL-denied
            // command). Said once: the tier stays off until it is allowed.
            Ended::Lost(error) if refused(error) => {
                if !self.refused.swap(true, Ordering::AcqRel) {
                    tracing::warn!(%error, channel = %self.channel,
                        "Redis refuses client tracking (CLIENT TRACKING, Redis 6 or later); \
                         the in-process tier stays off, and calls go to Redis");
                }
            }
            Ended::Lost(error) => {
                if tier.live.load(Ordering::Acquire) {
                    tracing::warn!(%error, channel = %self.channel,
                        "invalidation notices lost; the in-process tier is off until they are back");
                }
            }
            Ended::Moved => tracing::info!(channel = %self.channel,
                "the cluster's masters changed; listening to the new ones"),
            Ended::Stopped | Ended::Dropped => {}
        }
        tier.set_live(false);
    }

    /// Asks `client`'s node to track the cache's keys, subscribes, and
    /// applies what arrives until the connection fails, the round ends or
    /// the tier is dropped. `masters`: this is the round's first connection,
    /// which hears the announcements and watches the masters.
    fn listen(
        &self,
        client: &redis::Client,
        round: &Round,
        mut masters: Option<(&[(String, u16)], &mut Asker)>,
    ) -> Ended {
        let first = masters.is_some();
        let mut result = || {
            let mut connection = client.get_connection_with_timeout(self.connect_timeout)?;
            connection.set_read_timeout(Some(self.connect_timeout))?;
            let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut connection)?;
            let mut tracking = redis::cmd("CLIENT");
            tracking
                .arg("TRACKING")
                .arg("ON")
                .arg("REDIRECT")
                .arg(id)
                .arg("BCAST");
            if !self.tracked.is_empty() {
                tracking.arg("PREFIX").arg(&self.tracked);
            }
            tracking.query::<()>(&mut connection)?;
            let mut pubsub = connection.as_pubsub();
            pubsub.set_read_timeout(Some(HEARTBEAT))?;
            pubsub.subscribe(NOTICES)?;
            if first {
                pubsub.subscribe(&self.channel)?;
            }
            {
                let Some(tier) = self.tier.upgrade() else {
                    return Ok(Ended::Dropped);
                };
                let mut subscribed = lock(&round.subscribed);
                if round.ended.load(Ordering::Acquire) {
                    return Ok(Ended::Stopped);
                }
                *subscribed += 1;
                if *subscribed == round.nodes {
                    tier.set_live(true);
                    round.went_live.store(true, Ordering::Release);
                    tier.started();
                    tracing::debug!(channel = %self.channel, nodes = round.nodes, "in-process tier on");
                }
            }
            let (mut swept, mut checked) = (clock::now(), clock::now());
            loop {
                let message = match pubsub.get_message() {
                    Ok(message) => Some(message),
                    Err(error) if error.is_timeout() => None,
                    Err(error) => return Err(error),
                };
                if round.ended.load(Ordering::Acquire) {
                    return Ok(Ended::Stopped);
                }
                let Some(tier) = self.tier.upgrade() else {
                    return Ok(Ended::Dropped);
                };
                match message {
                    Some(message) => self.apply(&tier, &message),
                    None => drop(pubsub.ping::<redis::Value>()?),
                }
                // Every heartbeat, whether notices come or not: a busy
                // cache must see a failover as soon as an idle one does.
                if let Some((masters, asker)) = &mut masters {
                    if checked.elapsed() >= HEARTBEAT {
                        checked = clock::now();
                        let now = self.nodes.current(asker, self.connect_timeout)?;
                        if !now.iter().map(|node| &node.address).eq(masters.iter()) {
                            return Ok(Ended::Moved);
                        }
                    }
                }
                if first && swept.elapsed() >= SWEEP {
                    tier.sweep();
                    swept = clock::now();
                }
            }
        };
        result().unwrap_or_else(Ended::Lost)
    }

    /// Applies a notice from Redis or an announcement.
    fn apply(&self, tier: &Tier, message: &redis::Msg) {
        if message.get_channel_name() != NOTICES {
            return tier.apply(message.get_payload_bytes());
        }
        match message.get_payload::<Option<Vec<Vec<u8>>>>() {
            Ok(Some(keys)) => {
                for key in keys {
                    if !key.starts_with(self.tokens.as_bytes()) {
                        tier.invalidate_key(&key);
                    }
                }
            }
            // The database was flushed, or a notice this version cannot read.
            Ok(None) | Err(_) => tier.invalidate(Invalidation::All),
        }
    }
}
