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

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use smallvec::SmallVec;

use crate::key::tag_key;
use crate::store::io::Io;
use crate::store::ops::{Bytes, Found, Set};
use crate::store::tag_ops::{ReadTagged, TaggedFound, Unchanged};
use crate::store::Store;
use crate::Error;

/// A call's tags, rendered: their text, and their tokens' keys.
#[derive(Clone, Debug)]
pub(crate) struct Tags {
    texts: Vec<String>,
    keys: Vec<String>,
}

/// The tokens a read found, one per tag (`None`: the tag had none).
pub(crate) type Tokens = Vec<Option<String>>;

impl Tags {
    /// The tags `texts` of a cache with `prefix`.
    pub(crate) fn new(prefix: &str, mut texts: Vec<String>) -> Self {
        // Each tag once (`tags = ["users", "users"]`, or two templates that
        // render alike): an envelope holds each once.
        // A call has a few tags: no set for them.
        let mut at = 0;
        while at < texts.len() {
            match texts[..at].contains(&texts[at]) {
                true => drop(texts.remove(at)),
                false => at += 1,
            }
        }
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
    /// Read in one pass without allocating: the tags are compared as they
    /// are parsed (this runs on every tagged hit).
    fn open(&self, stored: &[u8], tokens: &[Option<String>]) -> Option<Vec<u8>> {
        let wanted = Wanted {
            texts: &self.texts,
            tokens,
        };
        let mut stored = serde_json::Deserializer::from_slice(stored);
        let value = stored.deserialize_map(wanted).ok()??;
        Some(value.get().as_bytes().to_vec())
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

/// An envelope, opened for a call: its value, if its `tags` are the call's
/// with the call's tokens.
struct Wanted<'w> {
    texts: &'w [String],
    tokens: &'w [Option<String>],
}

impl<'de, 'w> Visitor<'de> for Wanted<'w> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a tagged entry's envelope")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut agreed, mut value) = (None, None);
        while let Some(field) = map.next_key::<Text<'de>>()? {
            match field.as_str() {
                "tags" => agreed = Some(map.next_value_seed(self.tags())?),
                "value" => value = Some(map.next_value::<&'de RawValue>()?),
                _ => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        Ok(value.filter(|_| agreed == Some(true)))
    }
}

impl<'w> Wanted<'w> {
    fn tags(&self) -> TagsSeen<'w> {
        TagsSeen {
            texts: self.texts,
            tokens: self.tokens,
        }
    }
}

/// The envelope's `tags`, compared with the call's: true when each of the
/// call's tags is there once, with its current token, and nothing else is.
struct TagsSeen<'w> {
    texts: &'w [String],
    tokens: &'w [Option<String>],
}

impl<'de> de::DeserializeSeed<'de> for TagsSeen<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TagsSeen<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of tags to tokens")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut seen: SmallVec<[bool; 8]> = SmallVec::from_elem(false, self.texts.len());
        let mut agreed = true;
        while let Some((tag, token)) = map.next_entry::<Text<'de>, Text<'de>>()? {
            let at = self.texts.iter().position(|text| *text == tag.as_str());
            match at.map(|at| (at, self.tokens[at].as_deref())) {
                Some((at, Some(current))) if current == token.as_str() && !seen[at] => {
                    seen[at] = true;
                }
                _ => agreed = false,
            }
        }
        Ok(agreed && seen.iter().all(|seen| *seen))
    }
}

/// A JSON string, borrowed from the input unless it holds escapes.
enum Text<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Text<'_> {
    fn as_str(&self) -> &str {
        match self {
            Text::Borrowed(text) => text,
            Text::Owned(text) => text,
        }
    }
}

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Text<'de>, E> {
                Ok(Text::Borrowed(text))
            }
            fn visit_str<E>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text::Owned(text.to_owned()))
            }
        }
        deserializer.deserialize_str(Visit)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever the tags' text (quotes, backslashes, unicode, control
        /// characters) and the value, an envelope opens with the tokens it
        /// was stored with, to the value as it was, and with no other.
        #[test]
        fn an_envelope_opens_with_its_own_tokens_only(
            texts in prop::collection::vec(any::<String>(), 1..5),
            tokens in prop::collection::vec("[0-9a-f]{32}", 5),
            value in any::<Vec<Option<f64>>>(),
            changed in 0usize..5,
        ) {
            let tags = Tags::new("p", texts);
            let tokens = &tokens[..tags.texts.len()];
            let json = serde_json::to_vec(&value).unwrap();
            let stored = tags.envelope(tokens, &json);
            let current: Vec<Option<String>> = tokens.iter().cloned().map(Some).collect();
            prop_assert_eq!(tags.open(&stored, &current), Some(json));
            let mut moved = current.clone();
            let at = changed % moved.len();
            moved[at] = Some("0".repeat(31) + "g");
            prop_assert_eq!(tags.open(&stored, &moved), None);
            moved[at] = None;
            prop_assert_eq!(tags.open(&stored, &moved), None);
        }
    }

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
        let twice = br#"{"tags":{"user:42":"t1","user:42":"t1"},"value":1}"#;
        assert_eq!(tags.open(twice, &now("t1", "t2")), None, "a tag twice");
        let escaped = br#"{"value":1,"tags":{"user:42":"t1","users":"t2"}}"#;
        assert_eq!(
            tags.open(escaped, &now("t1", "t2")).unwrap(),
            b"1",
            "any order, escapes"
        );
        let once = Tags::new("cache", vec!["users".into(), "users".into()]);
        assert_eq!(once.keys(), ["cache:[tag]:users"]);
    }
}
