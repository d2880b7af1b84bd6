//! Tags: `#[cache_result(tags = ["user:{id}", "users"])]` marks each entry
//! with tags rendered from the call's arguments, and
//! [`Cache::invalidate_tag`](crate::Cache::invalidate_tag) makes every entry
//! written with a tag a miss, in every process.
//!
//! A tag is a token in the store (`store/tag_ops.rs`); a tagged entry is
//! stored in an envelope that holds, with the value, its tags' tokens when
//! the value was computed:
//!
//! ```text
//! {"tags":{"user:42":"9f86d081884c7d65","users":"2c26b46b68ffc68f"},"value":<the value's JSON>}
//! ```
//!
//! A read takes the entry and the tokens in one round trip, and opens the
//! envelope only if every token is still the one stored: a hit stays one
//! round trip, and invalidation is one write per tag, whatever the number
//! of entries. The rest of the call sees the value's JSON alone.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::key::tag_key;
use crate::store::io::Io;
use crate::store::ops::{Bytes, Found, Set};
use crate::store::tag_ops::{ReadTagged, TaggedFound, Unchanged};
use crate::store::Store;
use crate::Error;

/// A call's tags, rendered: their text, and their tokens' keys.
#[derive(Debug)]
pub(crate) struct Tags {
    texts: Vec<String>,
    keys: Vec<String>,
}

/// The tokens a read found, one per tag (`None`: the tag had none).
pub(crate) type Tokens = Vec<Option<String>>;

#[derive(Deserialize)]
struct Envelope<'a> {
    tags: HashMap<String, String>,
    #[serde(borrow)]
    value: &'a RawValue,
}

impl Tags {
    /// The tags `texts` of a cache with `prefix`.
    pub(crate) fn new(prefix: &str, texts: Vec<String>) -> Self {
        let keys = texts.iter().map(|text| tag_key(prefix, text)).collect();
        Tags { texts, keys }
    }

    /// The keys of the tags' tokens (what an invalidation announces).
    pub(crate) fn keys(&self) -> &[String] {
        &self.keys
    }

    /// The entry at `key`, as the value's JSON with its time left, if its
    /// tags are as it was stored with; and the tokens now.
    pub(crate) async fn read<I: Io>(
        &self,
        store: &Store,
        key: &str,
    ) -> Result<(Option<Found>, Tokens), Error> {
        let read = ReadTagged {
            key,
            tags: &self.keys,
        };
        let TaggedFound { found, tokens } = I::exec(store, &read).await?;
        let found = found.and_then(|found| {
            let value = self.open(&found.bytes, &tokens)?;
            Some(Found {
                bytes: Bytes::Owned(value),
                ttl: found.ttl,
            })
        });
        Ok((found, tokens))
    }

    /// The value's JSON in `stored`, if every tag's token is the stored one.
    fn open(&self, stored: &[u8], tokens: &[Option<String>]) -> Option<Vec<u8>> {
        let envelope: Envelope<'_> = serde_json::from_slice(stored).ok()?;
        let current = self.texts.iter().zip(tokens);
        for (text, token) in current {
            if envelope.tags.get(text) != Some(token.as_ref()?) {
                return None;
            }
        }
        Some(envelope.value.get().as_bytes().to_vec())
    }

    /// Stores `json` at `key` for `ttl`, with the tokens `read` before the
    /// value was computed, unless a tag changed since: whether it was
    /// stored. A tag that had no token gets one.
    pub(crate) async fn write<I: Io>(
        &self,
        store: &Store,
        key: &str,
        json: &[u8],
        ttl: Duration,
        read: &[Option<String>],
    ) -> Result<bool, Error> {
        let tokens: Vec<String> = read
            .iter()
            .map(|read| read.clone().map_or_else(crate::lock::token, Ok))
            .collect::<Result<_, _>>()?;
        let tags: Vec<(&str, Option<&str>, &str)> = self
            .keys
            .iter()
            .zip(read)
            .zip(&tokens)
            .map(|((key, read), token)| (key.as_str(), read.as_deref(), token.as_str()))
            .collect();
        if tags.len() != self.keys.len() || !I::exec(store, &Unchanged { tags: &tags, ttl }).await?
        {
            return Ok(false);
        }
        let envelope = self.envelope(&tokens, json);
        let set = Set {
            key,
            value: &envelope,
            ttl: Some(ttl),
        };
        I::exec(store, &set).await?;
        Ok(true)
    }

    /// `{"tags":{...},"value":<json>}`; the value's JSON as it is.
    fn envelope(&self, tokens: &[String], json: &[u8]) -> Vec<u8> {
        let tags: serde_json::Map<String, serde_json::Value> = self
            .texts
            .iter()
            .zip(tokens)
            .map(|(text, token)| (text.clone(), token.clone().into()))
            .collect();
        let mut envelope = Vec::with_capacity(json.len() + 64 * tokens.len() + 20);
        envelope.extend_from_slice(b"{\"tags\":");
        serde_json::to_writer(&mut envelope, &tags).expect("strings serialize");
        envelope.extend_from_slice(b",\"value\":");
        envelope.extend_from_slice(json);
        envelope.push(b'}');
        envelope
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags() -> Tags {
        Tags::new("cache", vec!["user:42".into(), "users".into()])
    }

    #[test]
    fn a_tags_token_lives_beside_the_prefix() {
        assert_eq!(tags().keys(), ["cache:[tag]:user:42", "cache:[tag]:users"]);
        assert_eq!(Tags::new("", vec!["a".into()]).keys(), ["[tag]:a"]);
    }

    #[test]
    fn an_envelope_opens_only_with_the_tokens_it_was_stored_with() {
        let tags = tags();
        let stored = tags.envelope(&["t1".into(), "t2".into()], br#"{"a":[1,2]}"#);
        assert_eq!(
            String::from_utf8(stored.clone()).unwrap(),
            r#"{"tags":{"user:42":"t1","users":"t2"},"value":{"a":[1,2]}}"#
        );
        let now = |a: &str, b: &str| vec![Some(a.to_owned()), Some(b.to_owned())];
        assert_eq!(
            tags.open(&stored, &now("t1", "t2")).unwrap(),
            br#"{"a":[1,2]}"#
        );
        assert_eq!(tags.open(&stored, &now("t1", "t3")), None, "invalidated");
        assert_eq!(
            tags.open(&stored, &[Some("t1".into()), None]),
            None,
            "expired"
        );
        assert_eq!(
            tags.open(br#"{"a":1}"#, &now("t1", "t2")),
            None,
            "no envelope"
        );
        let fewer = Tags::new("cache", vec!["user:42".into(), "orders".into()]);
        assert_eq!(fewer.open(&stored, &now("t1", "t2")), None, "other tags");
    }
}
