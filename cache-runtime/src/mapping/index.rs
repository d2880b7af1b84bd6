//! Indexed fields: declared with [`Hashes::indexed`], searched with
//! [`Hashes::find`] (exact text) and [`Hashes::find_range`] (numbers). Redis
//! keeps the indexes itself, without modules: each save and delete is one
//! script that changes the object and its index entries together, and each
//! find one script that reads them at one moment (`store/index_ops.rs` has
//! the layout). The embedded store keeps no index: a find there reads the
//! namespace's objects.

use std::fmt::Display;
use std::ops::{Bound, RangeBounds};

use serde::de::{self, DeserializeOwned, Visitor};
use serde::{forward_to_deserialize_any, Serialize};

use super::{field_text, from_fields, mapping, to_fields, Hashes, Object};
use crate::key::hash_tag;
use crate::store::index_ops::{Find, Indexed, IndexedDelete, IndexedSave, IndexedValue, Wanted};
use crate::{Error, StoreKind};

impl<T: Serialize + DeserializeOwned> Hashes<T> {
    /// Indexes `fields`, so that objects can be found by them: any field by
    /// its exact text ([`find`](Self::find)), a number field by ranges too
    /// ([`find_range`](Self::find_range)). Every save and delete through
    /// this handle keeps the indexes in step with the objects, atomically,
    /// and index entries expire with their objects.
    ///
    /// Fails ([`Error::Mapping`]) for a name that is not one of `T`'s fields
    /// (as serialized, after `rename`), a name with `:`, or, on a Redis
    /// Cluster, a namespace without a hash tag: an object and its index
    /// entries must share a slot, so the namespace is written `{user}` and
    /// all of its objects live on one node.
    ///
    /// Objects saved before their fields were indexed (or by another
    /// program) are not in the indexes until they are saved again.
    pub fn indexed<'f>(mut self, fields: impl IntoIterator<Item = &'f str>) -> Result<Self, Error> {
        let namespace = &self.keys.namespace;
        let known = field_names::<T>();
        for field in fields {
            if let Some(known) = known.filter(|known| !known.contains(&field)) {
                let reason = format!("`{field}` is not a field; the fields are {known:?}");
                return Err(mapping(namespace, reason));
            }
            // `:` ends a field's name in an index key; `~` starts the
            // name of the namespace's expiry index.
            if field.contains(':') || field.starts_with('~') {
                let reason =
                    format!("`{field}`: an indexed field's name cannot hold `:` or start with `~`");
                return Err(mapping(namespace, reason));
            }
            if !self.indexed.iter().any(|indexed| indexed == field) {
                self.indexed.push(field.to_owned());
            }
        }
        if self.keys.cache.kind() == StoreKind::RedisCluster && hash_tag(namespace).is_none() {
            let reason = "on a Redis Cluster, an indexed namespace needs a hash tag (`{user}`) \
                          so that its objects and their indexes share a slot";
            return Err(mapping(namespace, reason));
        }
        Ok(self)
    }

    /// The objects whose `field` reads `value` (as saved: a string as it
    /// is, a number or a boolean as its text), in no particular order.
    /// `field` must be indexed.
    pub async fn find(&self, field: &str, value: impl Display) -> Result<Vec<T>, Error> {
        let value = value.to_string();
        self.find_where(field, Wanted::Exactly(&value)).await
    }

    /// The objects whose number `field` lies within `range`, by that
    /// number, ascending. `field` must be indexed.
    ///
    /// ```no_run
    /// # async fn demo(users: cache_runtime::mapping::Hashes<()>) -> Result<(), cache_runtime::Error> {
    /// let adults = users.find_range("age", 18.0..).await?;
    /// let teens = users.find_range("age", 13.0..=19.0).await?;
    /// # Ok(()) }
    /// ```
    pub async fn find_range(
        &self,
        field: &str,
        range: impl RangeBounds<f64>,
    ) -> Result<Vec<T>, Error> {
        let (min, max) = (range.start_bound().cloned(), range.end_bound().cloned());
        let nan = |bound: Bound<f64>| matches!(bound, Bound::Included(x) | Bound::Excluded(x) if x.is_nan());
        if nan(min) || nan(max) {
            let reason = format!("`{field}`: a range's bounds cannot be NaN");
            return Err(mapping(&self.keys.namespace, reason));
        }
        let wanted = Wanted::Within { min, max };
        self.find_where(field, wanted).await
    }

    async fn find_where(&self, field: &str, wanted: Wanted<'_>) -> Result<Vec<T>, Error> {
        if !self.indexed.iter().any(|indexed| indexed == field) {
            let reason = format!("`{field}` is not indexed (see `Hashes::indexed`)");
            return Err(mapping(&self.keys.namespace, reason));
        }
        let (objects, prefix) = (self.key(""), self.index_prefix());
        let find = Find {
            objects: &objects,
            prefix: &prefix,
            field,
            wanted,
        };
        let matches = self.keys.cache.store().exec_control(&find).await?;
        matches
            .into_iter()
            .map(|(id, fields)| from_fields(&self.key(id), fields))
            .collect()
    }

    /// [`Hashes::save`] with indexes: the object's old entries out, its new
    /// ones in, with the hash, in one script.
    pub(super) async fn save_indexed(
        &self,
        key: &str,
        id: &str,
        object: Object,
    ) -> Result<(), Error> {
        let indexed: Vec<Indexed<'_>> = self
            .indexed
            .iter()
            .map(|field| Indexed {
                field,
                value: indexed_value(object.get(field).cloned()),
            })
            .collect();
        let fields = to_fields(object);
        let prefix = self.index_prefix();
        let save = IndexedSave {
            key,
            prefix: &prefix,
            id,
            indexed: &indexed,
            fields: &fields,
            ttl: self.keys.ttl,
        };
        self.keys.cache.store().exec_control(&save).await
    }

    /// [`Hashes::delete`] with indexes.
    pub(super) async fn delete_indexed(&self, id: &str) -> Result<bool, Error> {
        let (key, prefix) = (self.key(id), self.index_prefix());
        let delete = IndexedDelete {
            key: &key,
            prefix: &prefix,
            id,
            fields: &self.indexed,
        };
        self.keys.cache.store().exec_control(&delete).await
    }

    /// `<namespace>#idx:`: an object key has `:` where index keys have `#`.
    fn index_prefix(&self) -> String {
        format!("{}#idx:", self.keys.namespace)
    }
}

fn indexed_value(value: Option<serde_json::Value>) -> IndexedValue {
    match value {
        Some(serde_json::Value::Number(number)) => IndexedValue::Number(number.to_string()),
        Some(value) => field_text(value).map_or(IndexedValue::Absent, IndexedValue::Text),
        None => IndexedValue::Absent,
    }
}

/// The names `T` deserializes as a struct (after `rename`), as serde's
/// derive declares them; `None` for a map or a struct serde reads as one
/// (`flatten`): then any name is accepted.
fn field_names<T: DeserializeOwned>() -> Option<&'static [&'static str]> {
    match T::deserialize(FieldNames) {
        Err(Named(names)) => names,
        Ok(_) => None,
    }
}

/// A deserializer that answers nothing, but learns the field names a
/// struct asks for.
struct FieldNames;

#[derive(Debug)]
struct Named(Option<&'static [&'static str]>);

impl Display for Named {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field names")
    }
}

impl std::error::Error for Named {}

impl de::Error for Named {
    fn custom<M: Display>(_: M) -> Self {
        Named(None)
    }
}

impl<'de> de::Deserializer<'de> for FieldNames {
    type Error = Named;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Named> {
        Err(Named(None))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Named> {
        Err(Named(Some(fields)))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Serialize, Deserialize)]
    struct User {
        id: u64,
        #[serde(rename = "full_name")]
        name: String,
    }

    #[test]
    fn a_structs_field_names_are_its_serialized_names() {
        assert_eq!(field_names::<User>(), Some(&["id", "full_name"][..]));
        assert_eq!(field_names::<HashMap<String, String>>(), None);
    }
}
