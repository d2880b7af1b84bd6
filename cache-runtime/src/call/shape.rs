//! What a return type stores, and how it comes back: the whole value
//! (`T`), the value inside `Some` or `Ok`, or `Ok(Some)`; and the bound every
//! stored type meets.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A value that can be cached: serialized to JSON on a miss, decoded on a hit.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached: it must implement `serde::Serialize` and `serde::Deserialize`",
    label = "the cached value's type",
    note = "derive both: `#[derive(Serialize, Deserialize)]`"
)]
pub trait Value: Serialize + DeserializeOwned {}

impl<T: Serialize + DeserializeOwned> Value for T {}

/// Which part of a return value `R` is stored, and how it comes back.
///
/// No serde bound here: the entry points state `Value` on the stored type,
/// so that a missing derive is reported once, at the call the macro spans on
/// the user's type, and not again at every place that names the shape.
pub trait Shape<R> {
    /// The stored type.
    type Stored;
    /// What `result` is: a value to store, the empty result, or a failure.
    fn classify(result: &R) -> Kind<'_, Self::Stored>;
    /// The return value for a stored value.
    fn restore(stored: Self::Stored) -> R;
    /// The empty result (`None`, `Ok(None)`), for shapes that have one.
    fn empty() -> Option<R> {
        None
    }
    /// The part of `result` to store, if any.
    fn stored(result: &R) -> Option<&Self::Stored> {
        match Self::classify(result) {
            Kind::Value(value) => Some(value),
            Kind::Empty | Kind::Failed => None,
        }
    }
}

/// A result, as its shape sees it.
pub enum Kind<'a, T> {
    /// A value to store (unless `unless` says otherwise).
    Value(&'a T),
    /// `None` or `Ok(None)`: nothing to store, and nothing went wrong.
    Empty,
    /// `Err`: nothing to store; a stale value may stand in for it.
    Failed,
}

/// `T`: every result stored.
pub struct Whole;
/// `Option<T>`: `Some` stored.
pub struct SomeOnly;
/// `Result<T, E>`: `Ok` stored.
pub struct OkOnly;
/// `Result<Option<T>, E>`: `Ok(Some)` stored.
pub struct OkSome;

impl<T> Shape<T> for Whole {
    type Stored = T;
    fn classify(result: &T) -> Kind<'_, T> {
        Kind::Value(result)
    }
    fn restore(stored: T) -> T {
        stored
    }
}

impl<T> Shape<Option<T>> for SomeOnly {
    type Stored = T;
    fn classify(result: &Option<T>) -> Kind<'_, T> {
        match result {
            Some(value) => Kind::Value(value),
            None => Kind::Empty,
        }
    }
    fn restore(stored: T) -> Option<T> {
        Some(stored)
    }
    fn empty() -> Option<Option<T>> {
        Some(None)
    }
}

impl<T, E> Shape<Result<T, E>> for OkOnly {
    type Stored = T;
    fn classify(result: &Result<T, E>) -> Kind<'_, T> {
        match result {
            Ok(value) => Kind::Value(value),
            Err(_) => Kind::Failed,
        }
    }
    fn restore(stored: T) -> Result<T, E> {
        Ok(stored)
    }
}

impl<T, E> Shape<Result<Option<T>, E>> for OkSome {
    type Stored = T;
    fn classify(result: &Result<Option<T>, E>) -> Kind<'_, T> {
        match result {
            Ok(Some(value)) => Kind::Value(value),
            Ok(None) => Kind::Empty,
            Err(_) => Kind::Failed,
        }
    }
    fn restore(stored: T) -> Result<Option<T>, E> {
        Ok(Some(stored))
    }
    fn empty() -> Option<Result<Option<T>, E>> {
        Some(Ok(None))
    }
}
