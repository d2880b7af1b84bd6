//! The JSON this crate writes: `serde_json`'s compact output, except for the
//! floats JSON has no number for.
//!
//! `serde_json` writes `NaN`, `inf` and `-inf` as `null`, so as written,
//! `f(f64::NAN)` and `f(f64::INFINITY)` would share a key, and a stored
//! `Some(f64::NAN)` would read back as `None`. Neither may happen:
//!
//! - in a key ([`write_key`]), a non-finite float is written as `NaN`,
//!   `Infinity` or `-Infinity` (what JavaScript's and Python's encoders
//!   write): tokens that no JSON value contains, so every argument list keeps
//!   a key of its own, and keys of finite arguments are byte for byte what
//!   `serde_json` writes;
//! - in a stored value ([`to_value_bytes`]), it is an error: the result is
//!   returned but not stored, as any value that cannot round-trip.
//!
//! Both go through [`Floats`], a serializer that passes everything to
//! `serde_json`'s own and intercepts `f32`/`f64` at every depth.

use std::cell::Cell;
use std::fmt::Display;
use std::io;

use serde::ser::{self, Serialize, Serializer};

/// Writes `value` as the JSON a key hashes: non-finite floats as tokens.
pub(crate) fn write_key<W: io::Write, T: Serialize + ?Sized>(
    writer: W,
    value: &T,
) -> Result<(), serde_json::Error> {
    write(writer, value, Mode::Token)
}

/// `value` as the JSON stored for it; an error if it holds a non-finite float.
pub(crate) fn to_value_bytes<T: Serialize + ?Sized>(
    value: &T,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut json = Vec::with_capacity(128);
    write(&mut json, value, Mode::Refuse)?;
    Ok(json)
}

fn write<W: io::Write, T: Serialize + ?Sized>(
    writer: W,
    value: &T,
    mode: Mode,
) -> Result<(), serde_json::Error> {
    let pending = Cell::new(None);
    let formatter = TokenFormatter { pending: &pending };
    let mut serializer = serde_json::Serializer::with_formatter(writer, formatter);
    value.serialize(Floats {
        inner: &mut serializer,
        pending: &pending,
        mode,
    })
}

/// What a non-finite float becomes.
#[derive(Clone, Copy)]
enum Mode {
    /// `NaN`, `Infinity`, `-Infinity`.
    Token,
    /// An error.
    Refuse,
}

/// The token the formatter writes in place of the next `null`.
type Pending<'p> = &'p Cell<Option<&'static [u8]>>;

/// `serde_json`'s compact formatter, except that a `null` asked for by
/// [`Floats`] is the float's token. (`serde_json` writes a non-finite float
/// as its formatter's `null`, with nothing in between.)
struct TokenFormatter<'p> {
    pending: Pending<'p>,
}

impl serde_json::ser::Formatter for TokenFormatter<'_> {
    fn write_null<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(self.pending.take().unwrap_or(b"null"))
    }
}

fn token(value: f64) -> &'static [u8] {
    match value {
        v if v.is_nan() => b"NaN",
        v if v > 0.0 => b"Infinity",
        _ => b"-Infinity",
    }
}

/// A serializer that hands everything to `inner`, and non-finite floats to
/// it as the mode says; compound values wrap their parts, so floats are
/// caught at any depth.
struct Floats<'p, S> {
    inner: S,
    pending: Pending<'p>,
    mode: Mode,
}

/// A part of a compound value, serialized through [`Floats`].
struct Part<'p, 'v, T: ?Sized> {
    value: &'v T,
    pending: Pending<'p>,
    mode: Mode,
}

impl<T: Serialize + ?Sized> Serialize for Part<'_, '_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(Floats {
            inner: serializer,
            pending: self.pending,
            mode: self.mode,
        })
    }
}

impl<'p, S> Floats<'p, S> {
    fn part<'v, T: ?Sized>(&self, value: &'v T) -> Part<'p, 'v, T> {
        Part {
            value,
            pending: self.pending,
            mode: self.mode,
        }
    }
}

impl<'p, S: Serializer> Floats<'p, S> {
    fn non_finite(self, value: f64) -> Result<S::Ok, S::Error> {
        match self.mode {
            Mode::Refuse => Err(ser::Error::custom(
                "a NaN or infinite float has no JSON number: the value is not stored",
            )),
            Mode::Token => {
                self.pending.set(Some(token(value)));
                let written = self.inner.serialize_f64(value);
                // Spent by the formatter, unless `inner` refused the float
                // (a map key): then it must not reach another `null`.
                self.pending.set(None);
                written
            }
        }
    }
}

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        $(fn $method(self, $($arg: $ty),*) -> Result<$ret, S::Error> {
            self.inner.$method($($arg),*)
        })*
    };
}

impl<'p, S: Serializer> Serializer for Floats<'p, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Floats<'p, S::SerializeSeq>;
    type SerializeTuple = Floats<'p, S::SerializeTuple>;
    type SerializeTupleStruct = Floats<'p, S::SerializeTupleStruct>;
    type SerializeTupleVariant = Floats<'p, S::SerializeTupleVariant>;
    type SerializeMap = Floats<'p, S::SerializeMap>;
    type SerializeStruct = Floats<'p, S::SerializeStruct>;
    type SerializeStructVariant = Floats<'p, S::SerializeStructVariant>;

    forward! {
        serialize_bool(v: bool) -> S::Ok;
        serialize_i8(v: i8) -> S::Ok;
        serialize_i16(v: i16) -> S::Ok;
        serialize_i32(v: i32) -> S::Ok;
        serialize_i64(v: i64) -> S::Ok;
        serialize_i128(v: i128) -> S::Ok;
        serialize_u8(v: u8) -> S::Ok;
        serialize_u16(v: u16) -> S::Ok;
        serialize_u32(v: u32) -> S::Ok;
        serialize_u64(v: u64) -> S::Ok;
        serialize_u128(v: u128) -> S::Ok;
        serialize_char(v: char) -> S::Ok;
        serialize_str(v: &str) -> S::Ok;
        serialize_bytes(v: &[u8]) -> S::Ok;
        serialize_none() -> S::Ok;
        serialize_unit() -> S::Ok;
        serialize_unit_struct(name: &'static str) -> S::Ok;
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str) -> S::Ok;
    }

    fn serialize_f32(self, v: f32) -> Result<S::Ok, S::Error> {
        match v.is_finite() {
            true => self.inner.serialize_f32(v),
            false => self.non_finite(f64::from(v)),
        }
    }

    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        match v.is_finite() {
            true => self.inner.serialize_f64(v),
            false => self.non_finite(v),
        }
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        let part = self.part(value);
        self.inner.serialize_some(&part)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let part = self.part(value);
        self.inner.serialize_newtype_struct(name, &part)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let part = self.part(value);
        self.inner
            .serialize_newtype_variant(name, index, variant, &part)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        let (pending, mode) = (self.pending, self.mode);
        let inner = self.inner.serialize_seq(len)?;
        Ok(Floats {
            inner,
            pending,
            mode,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        let (pending, mode) = (self.pending, self.mode);
        let inner = self.inner.serialize_tuple(len)?;
        Ok(Floats {
            inner,
            pending,
            mode,
        })
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        let (pending, mode) = (self.pending, self.mode);
        let inner = self.inner.serialize_tuple_struct(name, len)?;
        Ok(Floats {
            inner,
            pending,
            mode,
        })
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        let (pending, mode) = (self.pending, self.mode);
        let inner = self
            .inner
            .serialize_tuple_variant(name, index, variant, len)?;
        Ok(Floats {
            inner,
            pending,
            mode,
        })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        let (pending, mode) = (self.pending, self.mode);
        let inner = self.inner.serialize_map(len)?;
        Ok(Floats {
            inner,
            pending,
            mode,
        })
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        let (pending, mode) = (self.pending, self.mode);
        let inner = self.inner.serialize_struct(name, len)?;
        Ok(Floats {
            inner,
            pending,
            mode,
        })
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        let (pending, mode) = (self.pending, self.mode);
        let inner = self
            .inner
            .serialize_struct_variant(name, index, variant, len)?;
        Ok(Floats {
            inner,
            pending,
            mode,
        })
    }

    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.collect_str(value)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

macro_rules! compound {
    ($trait:ident { $($method:ident($($arg:ident: $ty:ty),*);)* }) => {
        impl<C: ser::$trait> ser::$trait for Floats<'_, C> {
            type Ok = C::Ok;
            type Error = C::Error;

            $(fn $method<T: Serialize + ?Sized>(&mut self, $($arg: $ty,)* value: &T)
                -> Result<(), C::Error>
            {
                let part = self.part(value);
                self.inner.$method($($arg,)* &part)
            })*

            fn end(self) -> Result<C::Ok, C::Error> {
                self.inner.end()
            }
        }
    };
}

compound!(SerializeSeq { serialize_element(); });
compound!(SerializeTuple { serialize_element(); });
compound!(SerializeTupleStruct { serialize_field(); });
compound!(SerializeTupleVariant { serialize_field(); });
compound!(SerializeStruct { serialize_field(key: &'static str); });
compound!(SerializeStructVariant { serialize_field(key: &'static str); });

impl<C: ser::SerializeMap> ser::SerializeMap for Floats<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), C::Error> {
        let part = self.part(key);
        self.inner.serialize_key(&part)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let part = self.part(value);
        self.inner.serialize_value(&part)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::*;

    fn key_json<T: Serialize + ?Sized>(value: &T) -> String {
        let mut out = Vec::new();
        write_key(&mut out, value).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[derive(Serialize)]
    struct Point {
        x: f64,
        y: Option<f32>,
        tags: Vec<(String, f64)>,
    }

    #[test]
    fn finite_values_are_written_as_serde_json_writes_them() {
        let point = Point {
            x: 1.5,
            y: Some(-2.0),
            tags: vec![("a:b*{c}?".into(), 0.1)],
        };
        assert_eq!(key_json(&point), serde_json::to_string(&point).unwrap());
        let mut map = BTreeMap::new();
        map.insert("k", vec![Some(1u8), None]);
        assert_eq!(key_json(&map), serde_json::to_string(&map).unwrap());
        assert_eq!(key_json(&()), "null");
        assert_eq!(key_json(&None::<f64>), "null");
    }

    #[test]
    fn non_finite_floats_are_tokens_at_any_depth() {
        assert_eq!(key_json(&f64::NAN), "NaN");
        assert_eq!(key_json(&f64::INFINITY), "Infinity");
        assert_eq!(key_json(&f32::NEG_INFINITY), "-Infinity");
        let point = Point {
            x: f64::NAN,
            y: None,
            tags: vec![("t".into(), f64::INFINITY)],
        };
        assert_eq!(
            key_json(&point),
            r#"{"x":NaN,"y":null,"tags":[["t",Infinity]]}"#
        );
        assert_eq!(key_json(&[Some(f64::NAN), None]), "[NaN,null]");
    }

    #[test]
    fn a_non_finite_map_key_is_an_error() {
        /// A map whose one key is NaN.
        struct NanKeyed;
        impl Serialize for NanKeyed {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry(&f64::NAN, &())?;
                map.end()
            }
        }
        let mut out = Vec::new();
        assert!(write_key(&mut out, &(NanKeyed, None::<u8>)).is_err());
    }

    #[test]
    fn stored_values_refuse_non_finite_floats() {
        assert!(to_value_bytes(&Some(f64::NAN)).is_err());
        assert!(to_value_bytes(&vec![1.0, f64::INFINITY]).is_err());
        assert_eq!(to_value_bytes(&Some(1.5)).unwrap(), b"1.5");
    }
}
