//! Objects in Redis, typed through serde (what redis-om calls `HashModel`
//! and `JsonModel`): a struct as a hash with one field per struct field
//! ([`Hashes`]), or as one JSON document ([`Documents`]); keys
//! `<namespace>:<id>`, with an optional TTL.
//!
//! Hash fields hold what other tools expect: strings as they are, numbers
//! and booleans as their text (so `HINCRBY` works on a counter field),
//! nested values (structs, lists, maps) as JSON. Reading is guided by the
//! struct's field types, so the string `"42"` and the number `42` come back
//! as what they were.
//!
//! Missing and extra fields, explicitly:
//!
//! | when loading | result |
//! | --- | --- |
//! | a field of type `Option<T>` is missing | `None` (a `None` is saved as no field) |
//! | a field with `#[serde(default)]` is missing | its default |
//! | any other field is missing | [`Error::Mapping`], e.g. `missing field `email``, never a made-up value |
//! | the hash (or document) has fields the struct does not | ignored, unless the struct has `#[serde(deny_unknown_fields)]`: then [`Error::Mapping`] |
//! | a field does not parse as its type | [`Error::Mapping`] naming it |
//! | the key does not exist (or expired) | `Ok(None)` |
//!
//! ```no_run
//! # async fn demo(cache: &cache_runtime::Cache) -> Result<(), cache_runtime::Error> {
//! use std::time::Duration;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct User { id: u64, name: String, email: String, avatar: Option<String> }
//!
//! let users = cache.hashes::<User>("user").ttl(Duration::from_secs(3600));
//! let ann = User { id: 1, name: "Ann".into(), email: "ann@example.com".into(), avatar: None };
//! users.save(ann.id, &ann).await?;              // HSET user:1 id 1 name Ann email ...
//! let again: Option<User> = users.load(1).await?; // HGETALL user:1
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt::{self, Display};
use std::marker::PhantomData;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

mod index;

use crate::store::ops::{Delete, Get, HashGetAll, HashReplace, Set};
use crate::{Cache, Error};

/// Structs saved as Redis hashes under `<namespace>:<id>`; from
/// [`Cache::hashes`].
pub struct Hashes<T> {
    keys: NamespaceKeys,
    /// The indexed fields ([`Hashes::indexed`]); none by default.
    indexed: Vec<String>,
    kind: PhantomData<fn() -> T>,
}

/// Values saved as JSON documents (one string key each) under
/// `<namespace>:<id>`; from [`Cache::documents`].
pub struct Documents<T> {
    keys: NamespaceKeys,
    kind: PhantomData<fn() -> T>,
}

/// Where objects of one kind live.
#[derive(Clone)]
struct NamespaceKeys {
    cache: Cache,
    namespace: String,
    ttl: Option<Duration>,
}

impl NamespaceKeys {
    fn key(&self, id: impl Display) -> String {
        format!("{}:{id}", self.namespace)
    }
}

impl Cache {
    /// Structs of type `T` as hashes at `<namespace>:<id>`. The namespace is
    /// used as given, outside the cached results' prefix.
    pub fn hashes<T>(&self, namespace: &str) -> Hashes<T> {
        Hashes {
            keys: self.keys(namespace),
            indexed: Vec::new(),
            kind: PhantomData,
        }
    }

    /// Values of type `T` as JSON documents at `<namespace>:<id>`.
    pub fn documents<T>(&self, namespace: &str) -> Documents<T> {
        Documents {
            keys: self.keys(namespace),
            kind: PhantomData,
        }
    }

    fn keys(&self, namespace: &str) -> NamespaceKeys {
        NamespaceKeys {
            cache: self.clone(),
            namespace: namespace.to_owned(),
            ttl: None,
        }
    }
}

impl<T: Serialize + DeserializeOwned> Hashes<T> {
    /// Each save sets this time to live (default: none, kept until deleted).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.keys.ttl = Some(ttl);
        self
    }

    /// `<namespace>:<id>`.
    pub fn key(&self, id: impl Display) -> String {
        self.keys.key(id)
    }

    /// Saves `value` as the hash at `<namespace>:<id>`, replacing whatever
    /// was there (in one `MULTI`: `DEL`, `HSET`, `PEXPIRE`; with indexes,
    /// in one script that moves the object's index entries too).
    pub async fn save(&self, id: impl Display, value: &T) -> Result<(), Error> {
        let id = id.to_string();
        let key = self.key(&id);
        let object = to_object(&key, value)?;
        if !self.indexed.is_empty() {
            return self.save_indexed(&key, &id, object).await;
        }
        let fields = to_fields(object);
        let replace = HashReplace {
            key: &key,
            fields: &fields,
            ttl: self.keys.ttl,
        };
        self.keys.cache.store().exec_control(&replace).await
    }

    /// The hash at `<namespace>:<id>` as a `T`; `None` when there is none.
    pub async fn load(&self, id: impl Display) -> Result<Option<T>, Error> {
        let key = self.key(id);
        let fields = self
            .keys
            .cache
            .store()
            .exec_control(&HashGetAll(&key))
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        from_fields(&key, fields).map(Some)
    }

    /// Deletes the hash (and its index entries); true when there was one.
    pub async fn delete(&self, id: impl Display) -> Result<bool, Error> {
        if !self.indexed.is_empty() {
            return self.delete_indexed(&id.to_string()).await;
        }
        self.keys
            .cache
            .store()
            .exec_control(&Delete(&self.key(id)))
            .await
    }
}

impl<T: Serialize + DeserializeOwned> Documents<T> {
    /// Each save sets this time to live (default: none, kept until deleted).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.keys.ttl = Some(ttl);
        self
    }

    /// `<namespace>:<id>`.
    pub fn key(&self, id: impl Display) -> String {
        self.keys.key(id)
    }

    /// Saves `value` as JSON at `<namespace>:<id>`.
    pub async fn save(&self, id: impl Display, value: &T) -> Result<(), Error> {
        let key = self.key(id);
        let json = self.keys.cache.encode(value)?;
        let set = Set {
            key: &key,
            value: &json,
            ttl: self.keys.ttl,
        };
        self.keys.cache.store().exec_control(&set).await
    }

    /// The document at `<namespace>:<id>`; `None` when there is none.
    pub async fn load(&self, id: impl Display) -> Result<Option<T>, Error> {
        let key = self.key(id);
        let Some(bytes) = self.keys.cache.store().exec_control(&Get(&key)).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|error| mapping(&key, error))
    }

    /// Deletes the document; true when there was one.
    pub async fn delete(&self, id: impl Display) -> Result<bool, Error> {
        self.keys
            .cache
            .store()
            .exec_control(&Delete(&self.key(id)))
            .await
    }
}

impl<T> fmt::Debug for Hashes<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hashes")
            .field("namespace", &self.keys.namespace)
            .field("ttl", &self.keys.ttl)
            .field("indexed", &self.indexed)
            .finish()
    }
}

impl<T> fmt::Debug for Documents<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Documents")
            .field("namespace", &self.keys.namespace)
            .field("ttl", &self.keys.ttl)
            .finish()
    }
}

fn mapping(key: &str, reason: impl Display) -> Error {
    Error::Mapping {
        key: key.to_owned(),
        reason: reason.to_string(),
    }
}

/// `value` as a JSON object, which it must serialize as (a struct or a
/// map).
fn to_object<T: Serialize>(key: &str, value: &T) -> Result<Object, Error> {
    let json = serde_json::to_value(value).map_err(|error| mapping(key, error))?;
    let serde_json::Value::Object(object) = json else {
        return Err(mapping(
            key,
            "only structs and maps can be saved as hashes; save other values as documents",
        ));
    };
    Ok(object)
}

type Object = serde_json::Map<String, serde_json::Value>;

/// The hash fields of an object: strings as they are, numbers and booleans
/// as text, `None` left out, nested values as JSON.
fn to_fields(object: Object) -> Vec<(String, String)> {
    object
        .into_iter()
        .filter_map(|(name, value)| Some((name, field_text(value)?)))
        .collect()
}

/// A hash field's text for a JSON value; `None` for `null` (no field).
fn field_text(value: serde_json::Value) -> Option<String> {
    use serde_json::Value;

    match value {
        Value::Null => None,
        Value::String(text) => Some(text),
        Value::Bool(_) | Value::Number(_) | Value::Array(_) | Value::Object(_) => {
            Some(value.to_string())
        }
    }
}

fn from_fields<T: DeserializeOwned>(
    key: &str,
    fields: HashMap<String, String>,
) -> Result<T, Error> {
    T::deserialize(de::Fields(fields)).map_err(|error| mapping(key, error))
}

/// A serde `Deserializer` over a hash's fields, each read as the type the
/// target asks for.
mod de {
    use std::collections::HashMap;
    use std::fmt::Display;

    use serde::de::value::{MapDeserializer, StrDeserializer};
    use serde::de::{self, IntoDeserializer, Visitor};
    use serde::forward_to_deserialize_any;

    #[derive(Debug)]
    pub(super) struct Error(String);

    impl Display for Error {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl std::error::Error for Error {}

    impl de::Error for Error {
        fn custom<T: Display>(message: T) -> Self {
            Error(message.to_string())
        }
    }

    /// The whole hash: a map of field names to [`Field`]s.
    pub(super) struct Fields(pub(super) HashMap<String, String>);

    impl<'de> de::Deserializer<'de> for Fields {
        type Error = Error;

        fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let fields = self.0.into_iter().map(|(name, text)| (name, Field(text)));
            visitor.visit_map(MapDeserializer::new(fields))
        }

        forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map struct enum identifier ignored_any
        }
    }

    /// One field's text, read as the type the target asks for.
    pub(super) struct Field(String);

    impl<'de> IntoDeserializer<'de, Error> for Field {
        type Deserializer = Self;

        fn into_deserializer(self) -> Self {
            self
        }
    }

    impl Field {
        fn parse<T: std::str::FromStr>(&self, what: &str) -> Result<T, Error>
        where
            T::Err: Display,
        {
            self.0
                .parse()
                .map_err(|error| Error(format!("`{}` is not {what}: {error}", self.0)))
        }

        /// The text as JSON: parsed to an owned value first, since the
        /// target may not borrow from this field's text.
        fn json(&self) -> Result<serde_json::Value, Error> {
            serde_json::from_str(&self.0).map_err(|error| Error(error.to_string()))
        }

        fn visit_json<'de, V: Visitor<'de>>(&self, visitor: V) -> Result<V::Value, Error> {
            de::Deserializer::deserialize_any(self.json()?, visitor)
                .map_err(|error| Error(error.to_string()))
        }
    }

    macro_rules! parsed {
        ($($method:ident => $visit:ident, $ty:ty, $what:literal;)*) => {$(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
                visitor.$visit(self.parse::<$ty>($what)?)
            }
        )*};
    }

    impl<'de> de::Deserializer<'de> for Field {
        type Error = Error;

        /// Untyped targets (`serde_json::Value`, untagged enums): JSON when
        /// the text is JSON, else the string.
        fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.json() {
                Ok(json) => de::Deserializer::deserialize_any(json, visitor)
                    .map_err(|error| Error(error.to_string())),
                Err(_) => visitor.visit_string(self.0),
            }
        }

        parsed! {
            deserialize_bool => visit_bool, bool, "a boolean";
            deserialize_i8 => visit_i8, i8, "an integer";
            deserialize_i16 => visit_i16, i16, "an integer";
            deserialize_i32 => visit_i32, i32, "an integer";
            deserialize_i64 => visit_i64, i64, "an integer";
            deserialize_i128 => visit_i128, i128, "an integer";
            deserialize_u8 => visit_u8, u8, "an unsigned integer";
            deserialize_u16 => visit_u16, u16, "an unsigned integer";
            deserialize_u32 => visit_u32, u32, "an unsigned integer";
            deserialize_u64 => visit_u64, u64, "an unsigned integer";
            deserialize_u128 => visit_u128, u128, "an unsigned integer";
            deserialize_f32 => visit_f32, f32, "a number";
            deserialize_f64 => visit_f64, f64, "a number";
            deserialize_char => visit_char, char, "one character";
        }

        fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            visitor.visit_string(self.0)
        }

        fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            visitor.visit_string(self.0)
        }

        fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            visitor.visit_string(self.0)
        }

        /// A field that is there is `Some`; a missing one never gets here.
        fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            visitor.visit_some(self)
        }

        fn deserialize_newtype_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            visitor: V,
        ) -> Result<V::Value, Error> {
            visitor.visit_newtype_struct(self)
        }

        /// A unit variant was saved as its bare name (`Admin`); anything
        /// else as JSON.
        fn deserialize_enum<V: Visitor<'de>>(
            self,
            name: &'static str,
            variants: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, Error> {
            if self.0.starts_with(['{', '"']) {
                return de::Deserializer::deserialize_enum(self.json()?, name, variants, visitor)
                    .map_err(|error| Error(error.to_string()));
            }
            let variant: StrDeserializer<'_, Error> = self.0.as_str().into_deserializer();
            visitor.visit_enum(variant)
        }

        fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            visitor.visit_unit()
        }

        // Nested values were saved as JSON.
        fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.visit_json(visitor)
        }

        fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.visit_json(visitor)
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            _: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, Error> {
            self.visit_json(visitor)
        }

        forward_to_deserialize_any! {
            bytes byte_buf unit unit_struct tuple tuple_struct
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Role {
        Admin,
        Guest { until: u64 },
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Address {
        city: String,
        zip: String,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct User {
        id: u64,
        name: String,
        code: String,
        score: f64,
        active: bool,
        avatar: Option<String>,
        role: Role,
        guest: Role,
        address: Address,
        tags: Vec<String>,
        #[serde(default)]
        visits: u32,
    }

    fn ann() -> User {
        User {
            id: 7,
            name: "Ann {not json}".into(),
            code: "0042".into(),
            score: 1.5,
            active: true,
            avatar: None,
            role: Role::Admin,
            guest: Role::Guest { until: 9 },
            address: Address {
                city: "Oslo".into(),
                zip: "0150".into(),
            },
            tags: vec!["a".into(), "b".into()],
            visits: 3,
        }
    }

    fn fields_of(user: &User) -> HashMap<String, String> {
        to_fields(to_object("user:7", user).unwrap())
            .into_iter()
            .collect()
    }

    #[test]
    fn fields_are_plain_where_they_can_be_and_json_where_nested() {
        let fields = fields_of(&ann());
        assert_eq!(fields["id"], "7");
        assert_eq!(fields["name"], "Ann {not json}");
        assert_eq!(fields["code"], "0042", "a string of digits stays a string");
        assert_eq!(fields["active"], "true");
        assert_eq!(fields["role"], "Admin");
        assert_eq!(fields["guest"], r#"{"Guest":{"until":9}}"#);
        assert_eq!(fields["address"], r#"{"city":"Oslo","zip":"0150"}"#);
        assert!(!fields.contains_key("avatar"), "None is no field");
    }

    #[test]
    fn a_struct_round_trips_through_its_fields() {
        let user = ann();
        assert_eq!(
            from_fields::<User>("user:7", fields_of(&user)).unwrap(),
            user
        );
        let with_avatar = User {
            avatar: Some("a.png".into()),
            ..ann()
        };
        assert_eq!(
            from_fields::<User>("user:7", fields_of(&with_avatar)).unwrap(),
            with_avatar
        );
    }

    #[test]
    fn missing_and_extra_fields_are_handled_explicitly() {
        let mut fields = fields_of(&ann());
        fields.remove("visits");
        fields.insert("added_by_another_service".into(), "x".into());
        let user: User = from_fields("user:7", fields.clone()).unwrap();
        assert_eq!(user.visits, 0, "#[serde(default)]");

        fields.remove("name");
        let error = from_fields::<User>("user:7", fields).unwrap_err();
        assert_eq!(error.to_string(), "`user:7`: missing field `name`");

        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)] // read by serde only
        struct Strict {
            id: u64,
        }
        let extra = HashMap::from([("id".into(), "1".into()), ("x".into(), "2".into())]);
        let error = from_fields::<Strict>("k", extra).unwrap_err();
        assert!(error.to_string().contains("unknown field `x`"), "{error}");
    }

    #[test]
    fn a_field_of_the_wrong_type_is_named() {
        let mut fields = fields_of(&ann());
        fields.insert("id".into(), "seven".into());
        let error = from_fields::<User>("user:7", fields).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("`seven` is not an unsigned integer"),
            "{error}"
        );
    }

    #[test]
    fn only_maps_become_hashes() {
        assert!(matches!(to_object("k", &42u8), Err(Error::Mapping { .. })));
        let map = BTreeMap::from([("a", 1), ("b", 2)]);
        assert_eq!(to_fields(to_object("k", &map).unwrap()).len(), 2);
    }

    #[tokio::test]
    async fn the_embedded_store_keeps_hashes_and_documents_too() {
        let cache = Cache::embedded();
        let users = cache.hashes::<User>("user");
        users.save(7, &ann()).await.unwrap();
        assert_eq!(users.load(7).await.unwrap(), Some(ann()));
        assert_eq!(users.load(8).await.unwrap(), None);
        let docs = cache.documents::<User>("doc").ttl(Duration::from_secs(60));
        docs.save("ann", &ann()).await.unwrap();
        assert_eq!(docs.load("ann").await.unwrap(), Some(ann()));
        assert!(docs.delete("ann").await.unwrap());
        assert_eq!(docs.load("ann").await.unwrap(), None);
    }
}
