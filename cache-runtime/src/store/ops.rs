//! Every command the crate sends, defined once: its Redis request, how the
//! reply is read, and what it means on the embedded store. A store only
//! knows how to run an [`Op`]; the call flow, entries, locks and sessions
//! pick the ops they need.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use redis::{Cmd, FromRedisValue, Pipeline, ToRedisArgs};

use super::embedded::EmbeddedStore;

/// A stored value: owned when it came over the network, shared when it is
/// the embedded store's own copy.
pub(crate) enum Bytes {
    Owned(Vec<u8>),
    Shared(Arc<[u8]>),
}

impl Bytes {
    /// The bytes as a shared slice (a copy when they were owned).
    pub(crate) fn into_shared(self) -> Arc<[u8]> {
        match self {
            Bytes::Owned(bytes) => bytes.into(),
            Bytes::Shared(bytes) => bytes,
        }
    }
}

impl Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Owned(bytes) => bytes,
            Bytes::Shared(bytes) => bytes,
        }
    }
}

/// What goes over the wire: one command, or several in one round trip.
pub(crate) enum Request {
    Cmd(Cmd),
    /// Commands on one key (one cluster slot), as one pipeline; atomic
    /// (`MULTI`/`EXEC`) when the pipeline says so.
    Pipe(Pipeline),
    /// Independent commands whose keys may live in different cluster slots:
    /// one pipeline on a single server; concurrent commands on a cluster.
    /// Never atomic, no ignored replies.
    Batch(Pipeline),
}

/// One operation on a store.
pub(crate) trait Op: Sync {
    /// What the caller gets: the reply decoded (not a future's `Output`).
    type Decoded;
    /// The reply as redis-rs reads it.
    type Reply: FromRedisValue;
    fn request(&self) -> Request;
    fn reply(reply: Self::Reply) -> Self::Decoded;
    /// The key, when the op is a read of it (`GET`, and `PTTL` when the
    /// flag says so): then it may share a batch with concurrent reads
    /// (`redis::reads`), which gives it the reply its own request would get.
    fn read_of(&self) -> Option<(&str, bool)> {
        None
    }
    /// Whether the op may be sent again after an I/O error, which may have
    /// come after Redis ran it: true where running it twice is running it
    /// once (reads, writes of a value, a `PEXPIRE`). A conditional write
    /// sent twice reads its own first effect as someone else's (`SET NX`
    /// of a lock: "taken"; a compare-and-delete: "lost"), so those fail
    /// with the I/O error instead, and the caller decides.
    fn resend(&self) -> bool {
        true
    }
    /// The key and the size of the value, for an op that writes one value:
    /// a large one goes on the bulk lane (`redis::bulk`).
    fn writes(&self) -> Option<(&str, usize)> {
        None
    }
    /// The same operation on the in-process store.
    fn embedded(&self, store: &EmbeddedStore) -> Self::Decoded;
    /// The same operation on a store that keeps nothing.
    fn disabled(&self) -> Self::Decoded;
}

/// `GET`: the value, if any.
pub(crate) struct Get<'a>(pub(crate) &'a str);

impl Op for Get<'_> {
    type Decoded = Option<Bytes>;
    type Reply = Option<Vec<u8>>;

    fn request(&self) -> Request {
        Request::Cmd(command("GET", self.0))
    }
    fn reply(reply: Self::Reply) -> Self::Decoded {
        reply.map(Bytes::Owned)
    }
    fn read_of(&self) -> Option<(&str, bool)> {
        Some((self.0, false))
    }
    fn embedded(&self, store: &EmbeddedStore) -> Self::Decoded {
        store.get(self.0).map(|(bytes, _)| Bytes::Shared(bytes))
    }
    fn disabled(&self) -> Self::Decoded {
        None
    }
}

/// A value with the time it has left (`None`: no expiry).
pub(crate) struct Found {
    pub(crate) bytes: Bytes,
    pub(crate) ttl: Option<Duration>,
}

/// `GET` and `PTTL` in one round trip.
pub(crate) struct Read<'a>(pub(crate) &'a str);

impl Op for Read<'_> {
    type Decoded = Option<Found>;
    type Reply = (Option<Vec<u8>>, i64);

    fn request(&self) -> Request {
        let mut pipe = redis::pipe();
        pipe.cmd("GET").arg(self.0).cmd("PTTL").arg(self.0);
        Request::Pipe(pipe)
    }
    fn read_of(&self) -> Option<(&str, bool)> {
        Some((self.0, true))
    }
    fn reply((bytes, millis): Self::Reply) -> Self::Decoded {
        Some(Found {
            bytes: Bytes::Owned(bytes?),
            ttl: ttl_from_millis(millis),
        })
    }
    fn embedded(&self, store: &EmbeddedStore) -> Self::Decoded {
        store.get(self.0).map(|(bytes, ttl)| Found {
            bytes: Bytes::Shared(bytes),
            ttl,
        })
    }
    fn disabled(&self) -> Self::Decoded {
        None
    }
}

/// `SETEX` (whole seconds) or `PSETEX` (anything finer): sets the value and
/// its time to live, replacing a key of any type; `SET` without a TTL.
pub(crate) struct Set<'a> {
    pub(crate) key: &'a str,
    pub(crate) value: &'a [u8],
    pub(crate) ttl: Option<Duration>,
}

impl Op for Set<'_> {
    type Decoded = ();
    type Reply = ();

    fn writes(&self) -> Option<(&str, usize)> {
        Some((self.key, self.value.len()))
    }

    fn request(&self) -> Request {
        let (key, value) = (self.key, self.value);
        Request::Cmd(match self.ttl {
            None => command("SET", (key, value)),
            Some(ttl) if ttl.subsec_nanos() == 0 && !ttl.is_zero() && ttl <= CENTURY => {
                command("SETEX", (key, ttl.as_secs(), value))
            }
            Some(ttl) => command("PSETEX", (key, millis(ttl), value)),
        })
    }
    fn reply((): ()) {}
    fn embedded(&self, store: &EmbeddedStore) {
        store.set(self.key, self.value, self.ttl);
    }
    fn disabled(&self) {}
}

/// `SET key value PX ttl NX` (only if absent) or `XX` (only if present):
/// true when set.
pub(crate) struct SetIf<'a> {
    pub(crate) key: &'a str,
    pub(crate) value: &'a [u8],
    pub(crate) ttl: Duration,
    pub(crate) present: bool,
}

impl Op for SetIf<'_> {
    type Decoded = bool;
    type Reply = Option<String>;

    fn request(&self) -> Request {
        let condition = if self.present { "XX" } else { "NX" };
        let args = (self.key, self.value, "PX", millis(self.ttl), condition);
        Request::Cmd(command("SET", args))
    }
    fn reply(reply: Option<String>) -> bool {
        reply.is_some()
    }
    fn embedded(&self, store: &EmbeddedStore) -> bool {
        store.set_if(self.key, self.value, self.ttl, self.present)
    }
    fn disabled(&self) -> bool {
        false
    }
}

/// `GETEX key PX ttl`: the value, its time to live set again (sliding
/// expiration).
#[cfg_attr(not(feature = "session"), allow(dead_code))] // only sessions send it
pub(crate) struct GetTouch<'a> {
    pub(crate) key: &'a str,
    pub(crate) ttl: Duration,
}

impl Op for GetTouch<'_> {
    type Decoded = Option<Bytes>;
    type Reply = Option<Vec<u8>>;

    fn request(&self) -> Request {
        Request::Cmd(command("GETEX", (self.key, "PX", millis(self.ttl))))
    }
    fn reply(reply: Self::Reply) -> Self::Decoded {
        reply.map(Bytes::Owned)
    }
    fn embedded(&self, store: &EmbeddedStore) -> Self::Decoded {
        store.touch(self.key, self.ttl);
        Get(self.key).embedded(store)
    }
    fn disabled(&self) -> Self::Decoded {
        None
    }
}

/// `PEXPIRE key ttl`: true when the key exists.
#[cfg_attr(not(feature = "session"), allow(dead_code))] // only sessions send it
pub(crate) struct Touch<'a> {
    pub(crate) key: &'a str,
    pub(crate) ttl: Duration,
}

impl Op for Touch<'_> {
    type Decoded = bool;
    type Reply = i64;

    fn request(&self) -> Request {
        Request::Cmd(command("PEXPIRE", (self.key, millis(self.ttl))))
    }
    fn reply(set: i64) -> bool {
        set == 1
    }
    fn embedded(&self, store: &EmbeddedStore) -> bool {
        store.touch(self.key, self.ttl)
    }
    fn disabled(&self) -> bool {
        false
    }
}

/// `UNLINK` of one key: true when it existed.
pub(crate) struct Delete<'a>(pub(crate) &'a str);

impl Op for Delete<'_> {
    type Decoded = bool;
    type Reply = u64;

    /// Twice: the second finds the key gone, "did not exist".
    fn resend(&self) -> bool {
        false
    }
    fn request(&self) -> Request {
        Request::Cmd(command("UNLINK", self.0))
    }
    fn reply(count: u64) -> bool {
        count > 0
    }
    fn embedded(&self, store: &EmbeddedStore) -> bool {
        store.delete(self.0)
    }
    fn disabled(&self) -> bool {
        false
    }
}

/// `PUBLISH channel message`: for the in-process tiers of other processes.
pub(crate) struct Publish<'a> {
    pub(crate) channel: &'a str,
    pub(crate) message: Vec<u8>,
}

impl Op for Publish<'_> {
    type Decoded = ();
    type Reply = i64;

    fn request(&self) -> Request {
        Request::Cmd(command("PUBLISH", (self.channel, &self.message)))
    }
    fn reply(_receivers: i64) {}
    fn embedded(&self, _: &EmbeddedStore) {}
    fn disabled(&self) {}
}

/// `PTTL`: the time a key has left; `None` when it does not exist or never
/// expires.
pub(crate) struct Ttl<'a>(pub(crate) &'a str);

impl Op for Ttl<'_> {
    type Decoded = Option<Duration>;
    type Reply = i64;

    fn request(&self) -> Request {
        Request::Cmd(command("PTTL", self.0))
    }
    fn reply(millis: i64) -> Self::Decoded {
        ttl_from_millis(millis)
    }
    fn embedded(&self, store: &EmbeddedStore) -> Self::Decoded {
        store.get(self.0).and_then(|(_, ttl)| ttl)
    }
    fn disabled(&self) -> Self::Decoded {
        None
    }
}

/// `PING`.
pub(crate) struct Ping;

impl Op for Ping {
    type Decoded = ();
    type Reply = String;

    fn request(&self) -> Request {
        Request::Cmd(redis::cmd("PING"))
    }
    fn reply(_: String) {}
    fn embedded(&self, _: &EmbeddedStore) {}
    fn disabled(&self) {}
}

/// `SET key token NX PX ttl`: takes a lease that nobody holds; true when
/// taken.
pub(crate) struct Acquire<'a> {
    pub(crate) key: &'a str,
    pub(crate) token: &'a str,
    pub(crate) ttl: Duration,
}

impl Acquire<'_> {
    fn set_if(&self) -> SetIf<'_> {
        SetIf {
            key: self.key,
            value: self.token.as_bytes(),
            ttl: self.ttl,
            present: false,
        }
    }
}

impl Op for Acquire<'_> {
    type Decoded = bool;
    type Reply = Option<String>;

    /// `SET NX` twice: the second finds this holder's own token, "taken".
    fn resend(&self) -> bool {
        false
    }
    fn request(&self) -> Request {
        self.set_if().request()
    }
    fn reply(reply: Option<String>) -> bool {
        reply.is_some()
    }
    fn embedded(&self, store: &EmbeddedStore) -> bool {
        self.set_if().embedded(store)
    }
    fn disabled(&self) -> bool {
        true
    }
}

/// Takes a free lock and its fencing token, atomically (a script): sets
/// `key` to `token` for `ttl` if nobody holds it, and counts one more at
/// `fence`, a key that never expires, so that each holder of the lock gets
/// a larger number than the one before. `None` when someone else holds it.
///
/// Sent twice (a reply lost on a dead connection), it finds its own token
/// and answers the number it gave the first time: it may be resent.
pub(crate) struct LockAcquire<'a> {
    pub(crate) key: &'a str,
    pub(crate) fence: &'a str,
    pub(crate) token: &'a str,
    pub(crate) ttl: Duration,
}

const LOCK_ACQUIRE: &str = "\
    local held = redis.call('GET', KEYS[1]) \
    if held == ARGV[1] then \
        redis.call('PEXPIRE', KEYS[1], ARGV[2]) \
        return tonumber(redis.call('GET', KEYS[2]) or '0') \
    end \
    if held then return -1 end \
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) \
    return redis.call('INCR', KEYS[2])";

impl Op for LockAcquire<'_> {
    type Decoded = Option<u64>;
    type Reply = i64;

    fn request(&self) -> Request {
        let args = (LOCK_ACQUIRE, 2, self.key, self.fence, self.token);
        let mut cmd = command("EVAL", args);
        cmd.arg(millis(self.ttl));
        Request::Cmd(cmd)
    }
    fn reply(fence: i64) -> Option<u64> {
        u64::try_from(fence).ok()
    }
    fn embedded(&self, store: &EmbeddedStore) -> Option<u64> {
        store.lock_acquire(self.key, self.token.as_bytes(), self.ttl)
    }
    fn disabled(&self) -> Option<u64> {
        None
    }
}

/// Takes a free lease and reads the value it guards, in one round trip:
/// `SET <lease> <token> NX PX <ttl>`, `GET <key>`, `PTTL <key>`.
pub(crate) struct Claim<'a> {
    pub(crate) lease: Acquire<'a>,
    pub(crate) key: &'a str,
}

impl Op for Claim<'_> {
    /// Whether the lease was taken, and the value if there is one.
    type Decoded = (bool, Option<Found>);
    type Reply = (Option<String>, Option<Vec<u8>>, i64);

    /// Its `SET NX` twice: the claimant would wait on its own lease.
    fn resend(&self) -> bool {
        false
    }
    fn request(&self) -> Request {
        let Request::Cmd(acquire) = self.lease.request() else {
            unreachable!("a lease is one command")
        };
        let mut pipe = redis::pipe();
        pipe.add_command(acquire)
            .cmd("GET")
            .arg(self.key)
            .cmd("PTTL")
            .arg(self.key);
        Request::Batch(pipe)
    }
    fn reply((taken, bytes, millis): Self::Reply) -> Self::Decoded {
        let found = Read::reply((bytes, millis));
        (taken.is_some(), found)
    }
    fn embedded(&self, store: &EmbeddedStore) -> Self::Decoded {
        (self.lease.embedded(store), Read(self.key).embedded(store))
    }
    fn disabled(&self) -> Self::Decoded {
        (true, None)
    }
}

/// Deletes a lease only while it still holds `token`: a holder whose lease
/// expired cannot delete the next holder's.
pub(crate) struct Release<'a> {
    pub(crate) key: &'a str,
    pub(crate) token: &'a str,
}

const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                       return redis.call('DEL', KEYS[1]) else return 0 end";

impl Op for Release<'_> {
    type Decoded = bool;
    type Reply = i64;

    /// Twice: the second finds the key gone, "lost".
    fn resend(&self) -> bool {
        false
    }
    fn request(&self) -> Request {
        Request::Cmd(eval(RELEASE, self.key, self.token))
    }
    fn reply(deleted: i64) -> bool {
        deleted == 1
    }
    fn embedded(&self, store: &EmbeddedStore) -> bool {
        store.delete_if(self.key, self.token.as_bytes())
    }
    fn disabled(&self) -> bool {
        true
    }
}

/// Sets a lease's time to live again, only while it still holds `token`.
pub(crate) struct Extend<'a> {
    pub(crate) key: &'a str,
    pub(crate) token: &'a str,
    pub(crate) ttl: Duration,
}

const EXTEND: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                      return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

impl Op for Extend<'_> {
    type Decoded = bool;
    type Reply = i64;

    fn request(&self) -> Request {
        let mut cmd = eval(EXTEND, self.key, self.token);
        cmd.arg(millis(self.ttl));
        Request::Cmd(cmd)
    }
    fn reply(extended: i64) -> bool {
        extended == 1
    }
    fn embedded(&self, store: &EmbeddedStore) -> bool {
        store.expire_if(self.key, self.token.as_bytes(), self.ttl)
    }
    fn disabled(&self) -> bool {
        true
    }
}

/// Replaces the hash at `key` with `fields`, atomically: `MULTI`, `DEL`,
/// `HSET`, `PEXPIRE`, `EXEC`. On the embedded store the fields are kept as
/// one JSON map.
#[cfg_attr(not(feature = "mapping"), allow(dead_code))] // only object mappings send it
pub(crate) struct HashReplace<'a> {
    pub(crate) key: &'a str,
    pub(crate) fields: &'a [(String, String)],
    pub(crate) ttl: Option<Duration>,
}

impl Op for HashReplace<'_> {
    type Decoded = ();
    type Reply = ();

    fn request(&self) -> Request {
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("DEL").arg(self.key).ignore();
        if !self.fields.is_empty() {
            pipe.cmd("HSET").arg(self.key);
            for (field, value) in self.fields {
                pipe.arg(field).arg(value);
            }
            pipe.ignore();
        }
        if let Some(ttl) = self.ttl {
            pipe.cmd("PEXPIRE").arg(self.key).arg(millis(ttl)).ignore();
        }
        Request::Pipe(pipe)
    }
    fn reply((): ()) {}
    fn embedded(&self, store: &EmbeddedStore) {
        store.set_fields(self.key, self.fields, self.ttl);
    }
    fn disabled(&self) {}
}

/// `HGETALL`: every field of the hash at `key` (none when there is no key).
#[cfg_attr(not(feature = "mapping"), allow(dead_code))] // only object mappings send it
pub(crate) struct HashGetAll<'a>(pub(crate) &'a str);

impl Op for HashGetAll<'_> {
    type Decoded = HashMap<String, String>;
    type Reply = HashMap<String, String>;

    fn request(&self) -> Request {
        Request::Cmd(command("HGETALL", self.0))
    }
    fn reply(fields: Self::Reply) -> Self::Decoded {
        fields
    }
    fn embedded(&self, store: &EmbeddedStore) -> Self::Decoded {
        store
            .get(self.0)
            .and_then(|(json, _)| serde_json::from_slice(&json).ok())
            .unwrap_or_default()
    }
    fn disabled(&self) -> Self::Decoded {
        HashMap::new()
    }
}

/// `EVAL <script> 1 <key> <token>`. Plain `EVAL`, not `EVALSHA`: the
/// scripts are a few dozen bytes, Redis caches them by digest itself, and a
/// single command stays under the same timeout and breaker as any other.
fn eval(script: &str, key: &str, token: &str) -> Cmd {
    command("EVAL", (script, 1, key, token))
}

/// The command `name` with `args` (one value, or a tuple of them), built in
/// place: `redis::cmd(..).arg(..)` borrows, and `.to_owned()` on it would
/// copy every command once more on the hot path.
pub(crate) fn command(name: &str, args: impl ToRedisArgs) -> Cmd {
    let mut cmd = redis::cmd(name);
    cmd.arg(args);
    cmd
}

/// Whole milliseconds, at least one (Redis refuses a TTL of 0).
/// `duration` in milliseconds for `PX`/`PEXPIRE`: at least 1, at most a
/// century (Redis refuses an expiry whose time overflows its clock, so a
/// `Duration::MAX` would be an error where the caller meant "for good").
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.min(CENTURY).as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The longest expiry sent to Redis.
const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `PTTL`'s answer: -2 no such key, -1 no expiry, else milliseconds left.
pub(crate) fn ttl_from_millis(millis: i64) -> Option<Duration> {
    u64::try_from(millis).ok().map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(request: Request) -> Vec<String> {
        let Request::Cmd(cmd) = request else {
            panic!("one command")
        };
        cmd.args_iter()
            .map(|arg| match arg {
                redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                _ => "<cursor>".into(),
            })
            .collect()
    }

    #[test]
    fn whole_seconds_use_setex_and_finer_ttls_psetex() {
        let set = |ttl| Set {
            key: "k",
            value: b"1",
            ttl,
        };
        let seconds = |s| Some(Duration::from_secs(s));
        assert_eq!(args(set(seconds(60)).request()), ["SETEX", "k", "60", "1"]);
        assert_eq!(
            args(set(Some(Duration::from_millis(1500))).request()),
            ["PSETEX", "k", "1500", "1"]
        );
        assert_eq!(
            args(set(Some(Duration::from_micros(10))).request()),
            ["PSETEX", "k", "1", "1"]
        );
        assert_eq!(args(set(None).request()), ["SET", "k", "1"]);
    }

    #[test]
    fn a_lease_is_set_nx_px_with_the_token() {
        let acquire = Acquire {
            key: "k:lease",
            token: "t0k3n",
            ttl: Duration::from_secs(3),
        };
        assert_eq!(
            args(acquire.request()),
            ["SET", "k:lease", "t0k3n", "PX", "3000", "NX"]
        );
    }
}
