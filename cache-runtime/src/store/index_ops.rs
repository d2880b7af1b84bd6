//! The commands of indexed objects ([`Hashes::indexed`]): a save, a delete
//! and the two finds, each one script, so that an object and its index
//! entries change together and a find reads them as they are at one moment.
//!
//! The layout, for objects at `<namespace>:<id>` (the index keys follow
//! `#`, which no object key of the namespace has there):
//!
//! - `<namespace>#idx:<field>:<text>`: a sorted set of the ids whose
//!   `field` reads `text`, each scored by its object's expiry (Unix ms;
//!   `+inf` without one), so that a find skips, and a save prunes, the
//!   ids of expired objects;
//! - `<namespace>#idx:<field>`: a sorted set of the ids whose `field` is a
//!   number, scored by it (ranges);
//! - `<namespace>#idx:~expiry`: the ids of objects with a TTL, scored by
//!   their expiry; each save drops up to 64 expired ids from the number
//!   indexes.
//!
//! A save reads the object's old indexed values and moves its id out of
//! their entries before it writes the new ones; a delete does the same.
//! Each index key lives as long as its longest-lived object (no TTL while
//! one without a TTL is in it): nothing grows without bound.
//!
//! The scripts name the index keys they build; on a cluster they must
//! share the object's slot, which a namespace with a hash tag (`{user}`)
//! gives (checked by [`Hashes::indexed`]).
//!
//! [`Hashes::indexed`]: crate::mapping::Hashes::indexed

use std::collections::HashMap;
use std::ops::{Bound, RangeBounds};
use std::time::Duration;

use redis::Cmd;

use super::embedded::EmbeddedStore;
use super::ops::{millis, Op, Request};

/// An indexed field's new value, as a save sends it.
pub(crate) struct Indexed<'a> {
    pub(crate) field: &'a str,
    pub(crate) value: IndexedValue,
}

pub(crate) enum IndexedValue {
    /// No value (`None`): the object is in no entry of this index.
    Absent,
    /// Text, matched exactly.
    Text(String),
    /// A number: matched exactly as its text, and by ranges.
    Number(String),
}

/// Saves an indexed object: the hash replaced, its TTL set, and its index
/// entries moved, in one script.
pub(crate) struct IndexedSave<'a> {
    pub(crate) key: &'a str,
    /// `<namespace>#idx:`.
    pub(crate) prefix: &'a str,
    pub(crate) id: &'a str,
    pub(crate) indexed: &'a [Indexed<'a>],
    pub(crate) fields: &'a [(String, String)],
    pub(crate) ttl: Option<Duration>,
}

/// Lua that moves `id` out of the index entries of the object at `key`'s
/// current values (`names`: the `n` indexed fields), for a save and a delete.
macro_rules! unindex {
    () => {
        r"
if n > 0 then
  local old = redis.call('HMGET', key, unpack(names))
  for i = 1, n do
    if old[i] then
      redis.call('ZREM', prefix .. names[i] .. ':' .. old[i], id)
      redis.call('ZREM', prefix .. names[i], id)
    end
  end
end
"
    };
}

const SAVE: &str = concat!(
    r"
local key, ttl, prefix, id, n = KEYS[1], tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local expires = '+inf'
if ttl > 0 then expires = now + ttl end
local names = {}
for i = 1, n do names[i] = ARGV[2 + 3 * i] end
",
    unindex!(),
    r"
redis.call('DEL', key)
local first = 5 + 3 * n
if #ARGV >= first then redis.call('HSET', key, unpack(ARGV, first)) end
if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
local function add(index, score)
  local existed = redis.call('EXISTS', index) == 1
  redis.call('ZADD', index, score, id)
  if ttl == 0 then
    redis.call('PERSIST', index)
  elseif not existed then
    redis.call('PEXPIRE', index, ttl)
  else
    local left = redis.call('PTTL', index)
    if left >= 0 and left < ttl then redis.call('PEXPIRE', index, ttl) end
  end
end
for i = 1, n do
  local kind, value = ARGV[3 + 3 * i], ARGV[4 + 3 * i]
  if kind ~= '-' then
    local exact = prefix .. names[i] .. ':' .. value
    add(exact, expires)
    redis.call('ZREMRANGEBYSCORE', exact, '-inf', '(' .. now)
    if kind == 'n' then add(prefix .. names[i], value) end
  end
end
local expiry = prefix .. '~expiry'
if ttl > 0 then add(expiry, expires) else redis.call('ZREM', expiry, id) end
local gone = redis.call('ZRANGEBYSCORE', expiry, '-inf', '(' .. now, 'LIMIT', 0, 64)
for _, dead in ipairs(gone) do
  for i = 1, n do redis.call('ZREM', prefix .. names[i], dead) end
  redis.call('ZREM', expiry, dead)
end
return 1
"
);

impl Op for IndexedSave<'_> {
    type Decoded = ();
    type Reply = ();

    fn request(&self) -> Request {
        let ttl = self.ttl.map_or(0, millis);
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SAVE).arg(1).arg(self.key);
        cmd.arg(ttl).arg(self.prefix).arg(self.id);
        cmd.arg(self.indexed.len());
        for indexed in self.indexed {
            let (kind, value) = match &indexed.value {
                IndexedValue::Absent => ("-", ""),
                IndexedValue::Text(text) => ("s", text.as_str()),
                IndexedValue::Number(number) => ("n", number.as_str()),
            };
            cmd.arg(indexed.field).arg(kind).arg(value);
        }
        for (field, value) in self.fields {
            cmd.arg(field).arg(value);
        }
        Request::Cmd(cmd)
    }
    fn reply((): ()) {}
    // A conditional write in effect: sent twice, the second run finds the
    // first one's values as the old ones, which is the same end state.
    fn embedded(&self, store: &EmbeddedStore) {
        store.set_fields(self.key, self.fields, self.ttl);
    }
    fn disabled(&self) {}
}

/// Deletes an indexed object and its index entries; true when there was one.
pub(crate) struct IndexedDelete<'a> {
    pub(crate) key: &'a str,
    pub(crate) prefix: &'a str,
    pub(crate) id: &'a str,
    pub(crate) fields: &'a [String],
}

const DELETE: &str = concat!(
    r"
local key, prefix, id, n = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
local names = {}
for i = 1, n do names[i] = ARGV[3 + i] end
",
    unindex!(),
    r"
redis.call('ZREM', prefix .. '~expiry', id)
return redis.call('DEL', key)
"
);

impl Op for IndexedDelete<'_> {
    type Decoded = bool;
    type Reply = bool;

    fn request(&self) -> Request {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(DELETE).arg(1).arg(self.key);
        cmd.arg(self.prefix).arg(self.id).arg(self.fields.len());
        cmd.arg(self.fields);
        Request::Cmd(cmd)
    }
    fn reply(deleted: bool) -> bool {
        deleted
    }
    // Sent twice, the second run finds nothing and says so.
    fn resend(&self) -> bool {
        false
    }
    fn embedded(&self, store: &EmbeddedStore) -> bool {
        store.delete(self.key)
    }
    fn disabled(&self) -> bool {
        false
    }
}

/// The objects a find matched: each id with the hash's fields.
pub(crate) type Matches = Vec<(String, HashMap<String, String>)>;

/// What a find looks for in one field.
pub(crate) enum Wanted<'a> {
    /// The field's text is this.
    Exactly(&'a str),
    /// The field is a number within these bounds (never NaN).
    Within { min: Bound<f64>, max: Bound<f64> },
}

impl Wanted<'_> {
    fn admits(&self, text: &str) -> bool {
        match self {
            Wanted::Exactly(wanted) => text == *wanted,
            Wanted::Within { min, max } => text
                .parse::<f64>()
                .is_ok_and(|number| (*min, *max).contains(&number)),
        }
    }
}

/// A range bound as `ZRANGEBYSCORE` takes it.
fn redis_bound(bound: Bound<f64>, unbounded: &str) -> String {
    let number = |number: f64| match number {
        f64::INFINITY => "+inf".to_owned(),
        f64::NEG_INFINITY => "-inf".to_owned(),
        number => number.to_string(),
    };
    match bound {
        Bound::Included(bound) => number(bound),
        Bound::Excluded(bound) => format!("({}", number(bound)),
        Bound::Unbounded => unbounded.to_owned(),
    }
}

/// Finds the objects of a namespace by one indexed field, in one script:
/// the ids from the index, then each live object's fields.
pub(crate) struct Find<'a> {
    /// `<namespace>:`.
    pub(crate) objects: &'a str,
    pub(crate) prefix: &'a str,
    pub(crate) field: &'a str,
    pub(crate) wanted: Wanted<'a>,
}

// Each script returns `{id, fields}` pairs for the objects that still
// exist (an expired object's id may linger in a number index until a save
// prunes it).
const FIND_EXACT: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local found = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')) do
  local fields = redis.call('HGETALL', ARGV[1] .. id)
  if #fields > 0 then found[#found + 1] = {id, fields} end
end
return found
";

const FIND_WITHIN: &str = r"
local found = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[3])) do
  local fields = redis.call('HGETALL', ARGV[1] .. id)
  if #fields > 0 then found[#found + 1] = {id, fields} end
end
return found
";

impl Op for Find<'_> {
    type Decoded = Matches;
    type Reply = Matches;

    fn request(&self) -> Request {
        let cmd: Cmd = match &self.wanted {
            Wanted::Exactly(text) => {
                let index = format!("{}{}:{text}", self.prefix, self.field);
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(FIND_EXACT).arg(1).arg(index).arg(self.objects);
                cmd
            }
            Wanted::Within { min, max } => {
                let index = format!("{}{}", self.prefix, self.field);
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(FIND_WITHIN).arg(1).arg(index).arg(self.objects);
                cmd.arg(redis_bound(*min, "-inf"))
                    .arg(redis_bound(*max, "+inf"));
                cmd
            }
        };
        Request::Cmd(cmd)
    }
    fn reply(matches: Matches) -> Matches {
        matches
    }
    /// The embedded store keeps no index: a find reads the namespace.
    fn embedded(&self, store: &EmbeddedStore) -> Matches {
        let mut matches = Vec::new();
        for (key, json) in store.live_with_prefix(self.objects) {
            let Ok(fields) = serde_json::from_slice::<HashMap<String, String>>(&json) else {
                continue;
            };
            let Some(value) = fields.get(self.field) else {
                continue;
            };
            if self.wanted.admits(value) {
                let id = key[self.objects.len()..].to_owned();
                matches.push((id, fields));
            }
        }
        // As Redis answers a range: by the field's value.
        if let Wanted::Within { .. } = self.wanted {
            let number = |fields: &HashMap<String, String>| {
                fields
                    .get(self.field)
                    .and_then(|value| value.parse::<f64>().ok())
            };
            matches.sort_by(|(_, a), (_, b)| {
                number(a)
                    .partial_cmp(&number(b))
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
        }
        matches
    }
    fn disabled(&self) -> Matches {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_bounds_read_as_redis_reads_them() {
        assert_eq!(redis_bound(Bound::Included(1.5), "-inf"), "1.5");
        assert_eq!(redis_bound(Bound::Excluded(18.0), "-inf"), "(18");
        assert_eq!(redis_bound(Bound::Unbounded, "+inf"), "+inf");
        assert_eq!(
            redis_bound(Bound::Included(f64::NEG_INFINITY), "+inf"),
            "-inf"
        );
    }

    #[test]
    fn the_embedded_store_admits_what_redis_would_find() {
        let teens = Wanted::Within {
            min: Bound::Included(13.0),
            max: Bound::Excluded(20.0),
        };
        assert!(teens.admits("13") && teens.admits("19.5"));
        assert!(!teens.admits("20") && !teens.admits("twelve"));
        assert!(Wanted::Exactly("Ann").admits("Ann"));
        assert!(!Wanted::Exactly("Ann").admits("ann"));
    }
}
