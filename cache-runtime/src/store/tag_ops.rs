//! The commands of tagged entries (`tags = [...]`, `Cache::invalidate_tag`).
//!
//! Each tag has a token, a random string at `<prefix>:[tag]:<tag>`. A
//! tagged entry stores, with its value, the tokens its tags had when the
//! value was computed; a read fetches the entry and its tags' tokens in the
//! same round trip, and an entry whose tokens are not the current ones is a
//! miss. Invalidating a tag is giving it a new token: one `SET`, however
//! many entries carry it, which then expire by their own TTLs.
//!
//! A write first checks, per tag and atomically, that the token is still
//! the one read before the value was computed (and extends its life to the
//! entry's); a tag invalidated meanwhile leaves the value unstored. A tag
//! that had no token gets the writer's, unless one appeared meanwhile.
//! (Stored anyway, such a value would carry an old token and never be
//! served: the check saves a useless write; the tokens make the race safe.)

use std::time::Duration;

use redis::{FromRedisValue, Value};

use super::embedded::EmbeddedStore;
use super::ops::{millis, ttl_from_millis, Bytes, Found, Op, Request};

/// How long a new token outlives its invalidation at least, whatever the
/// tag's entries: a computation that read the tag before the invalidation
/// must find it changed when it writes.
pub(crate) const INVALIDATED_FOR: Duration = Duration::from_secs(3600);

/// An entry, its time left and its tags' tokens, in one round trip.
pub(crate) struct ReadTagged<'a> {
    pub(crate) key: &'a str,
    pub(crate) tags: &'a [String],
}

/// What a tagged read found: the stored bytes (the envelope), and the
/// tokens now.
pub(crate) struct TaggedFound {
    pub(crate) found: Option<Found>,
    pub(crate) tokens: Vec<Option<String>>,
}

impl Op for ReadTagged<'_> {
    type Decoded = TaggedFound;
    type Reply = Vec<Value>;

    fn request(&self) -> Request {
        let mut pipe = redis::pipe();
        pipe.cmd("GET").arg(self.key).cmd("PTTL").arg(self.key);
        for tag in self.tags {
            pipe.cmd("GET").arg(tag);
        }
        Request::Batch(pipe)
    }
    fn reply(replies: Vec<Value>) -> TaggedFound {
        let mut replies = replies.into_iter();
        let bytes = replies.next().unwrap_or(Value::Nil);
        let bytes = Option::<Vec<u8>>::from_redis_value(bytes).ok().flatten();
        let ttl = replies.next().unwrap_or(Value::Nil);
        let ttl = Option::<i64>::from_redis_value(ttl).ok().flatten();
        let tokens = replies
            .map(|reply| Option::<String>::from_redis_value(reply).ok().flatten())
            .collect();
        TaggedFound {
            found: bytes.map(|bytes| Found {
                bytes: Bytes::Owned(bytes),
                ttl: ttl.and_then(ttl_from_millis),
            }),
            tokens,
        }
    }
    fn embedded(&self, store: &EmbeddedStore) -> TaggedFound {
        let token = |tag: &String| {
            let (token, _) = store.get(tag)?;
            String::from_utf8(token.to_vec()).ok()
        };
        TaggedFound {
            found: store.get(self.key).map(|(bytes, ttl)| Found {
                bytes: Bytes::Shared(bytes),
                ttl,
            }),
            tokens: self.tags.iter().map(token).collect(),
        }
    }
    fn disabled(&self) -> TaggedFound {
        TaggedFound {
            found: None,
            tokens: vec![None; self.tags.len()],
        }
    }
}

/// Before a tagged write: each tag's token is still the one the writer
/// read (then made to live at least `ttl`), or, where there was none, the
/// writer's `candidate` is set. True when every tag agreed.
pub(crate) struct Unchanged<'a> {
    /// Each tag's key, the token read before the value was computed, and a
    /// new token for a tag that had none.
    pub(crate) tags: &'a [(&'a str, Option<&'a str>, &'a str)],
    pub(crate) ttl: Duration,
}

const UNCHANGED: &str = r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  if current then return 0 end
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
if current ~= ARGV[1] then return 0 end
local left = redis.call('PTTL', KEYS[1])
if left >= 0 and left < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
";

impl Op for Unchanged<'_> {
    type Decoded = bool;
    type Reply = Vec<i64>;

    fn request(&self) -> Request {
        let mut pipe = redis::pipe();
        for (key, read, candidate) in self.tags {
            let read = read.unwrap_or("");
            pipe.cmd("EVAL").arg(UNCHANGED).arg(1).arg(*key);
            pipe.arg(read).arg(*candidate).arg(millis(self.ttl));
        }
        Request::Batch(pipe)
    }
    fn reply(agreed: Vec<i64>) -> bool {
        agreed.iter().all(|agreed| *agreed == 1)
    }
    /// Twice, a first run that set a candidate reads as a tag that moved:
    /// the value is not stored, which is never wrong.
    fn resend(&self) -> bool {
        false
    }
    fn embedded(&self, store: &EmbeddedStore) -> bool {
        self.tags.iter().all(|(key, read, candidate)| match read {
            None => store.set_if(key, candidate.as_bytes(), self.ttl, false),
            Some(read) => holds_longer(store, key, read, self.ttl),
        })
    }
    fn disabled(&self) -> bool {
        false
    }
}

/// Whether `key` holds `token`, made to live at least `ttl` if it does.
fn holds_longer(store: &EmbeddedStore, key: &str, token: &str, ttl: Duration) -> bool {
    match store.get(key) {
        Some((held, left)) if *held == *token.as_bytes() => {
            if left.is_some_and(|left| left < ttl) {
                store.expire_if(key, token.as_bytes(), ttl);
            }
            true
        }
        _ => false,
    }
}

/// Invalidates a tag: a new token, living as long as the old one had left
/// or [`INVALIDATED_FOR`], whichever is longer.
pub(crate) struct NewToken<'a> {
    pub(crate) key: &'a str,
    pub(crate) token: &'a str,
}

const NEW_TOKEN: &str = r"
local keep = tonumber(ARGV[2])
local left = redis.call('PTTL', KEYS[1])
if left > keep then keep = left end
redis.call('SET', KEYS[1], ARGV[1], 'PX', keep)
return 1
";

impl Op for NewToken<'_> {
    type Decoded = ();
    type Reply = ();

    fn request(&self) -> Request {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(NEW_TOKEN).arg(1).arg(self.key);
        cmd.arg(self.token).arg(millis(INVALIDATED_FOR));
        Request::Cmd(cmd)
    }
    fn reply((): ()) {}
    fn embedded(&self, store: &EmbeddedStore) {
        let left = store.get(self.key).and_then(|(_, left)| left);
        let keep = left.map_or(INVALIDATED_FOR, |left| left.max(INVALIDATED_FOR));
        store.set(self.key, self.token.as_bytes(), Some(keep));
    }
    fn disabled(&self) {}
}
