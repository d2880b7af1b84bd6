//! The entry points the generated code calls, one async and one blocking
//! per return shape (`T`, `Option<T>`, `Result<T, E>`, `Result<Option<T>,
//! E>`), and what each shape stores. The call itself is in `flow`.

pub(crate) mod flow;
pub(crate) mod keys;
pub(crate) mod policy;
pub(crate) mod site;

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::call::flow::Call;
use crate::call::keys::CallKeys;
use crate::call::site::Site;
use crate::store::io::{block_on, Async, Blocking};
use crate::{Cache, Error};

/// A value that can be cached: serialized to JSON on a miss, decoded on a hit.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached: it must implement `serde::Serialize` and `serde::Deserialize`",
    label = "the cached value's type",
    note = "derive both: `#[derive(Serialize, Deserialize)]`"
)]
pub trait Value: Serialize + DeserializeOwned {}

impl<T: Serialize + DeserializeOwned> Value for T {}

/// The default `unless`: store every storable result.
pub fn never<T: ?Sized>(_: &T) -> bool {
    false
}

/// Checks an `unless = ...` condition against the stored type once, where
/// the user wrote it; the opaque result satisfies the entry point's bound.
pub fn unless<T, U: Fn(&T) -> bool>(condition: U) -> impl Fn(&T) -> bool {
    condition
}

// One async and one blocking entry point per shape. Each states its bound on
// the stored type directly (`T: Value`), so that a missing serde derive is
// reported as such, at the user's type.
macro_rules! entry_points {
    ($($(#[$doc:meta])* $name:ident, $blocking:ident: [$($generic:ident),*] $ret:ty => $shape:ty;)*) => {$(
        // Not an `async fn`: an in-process hit is answered here, before any
        // future of the call is built (see [`Answer`]).
        $(#[$doc])*
        pub fn $name<'c, 'k, T: Value, $($generic,)* U: Fn(&T) -> bool, B: Future<Output = $ret>>(
            site: &'static Site,
            cache: &'c Cache,
            keys: Result<CallKeys<'k>, Error>,
            unless: U,
            sharer: Option<Sharer<$ret>>,
            body: B,
        ) -> Answer<$ret, impl Future<Output = $ret> + use<'c, 'k, T, $($generic,)* U, B>> {
            Call::new(site, cache, unless, sharer).start::<Async, $shape, B>(keys, body)
        }

        $(#[$doc])*
        pub fn $blocking<T: Value, $($generic,)* U: Fn(&T) -> bool>(
            site: &'static Site,
            cache: &Cache,
            keys: Result<CallKeys<'_>, Error>,
            unless: U,
            sharer: Option<Sharer<$ret>>,
            body: impl FnOnce() -> $ret,
        ) -> $ret {
            let call = Call::new(site, cache, unless, sharer);
            let body = pin!(async move { body() });
            block_on(call.start::<Blocking, $shape, _>(keys, body))
        }
    )*};
}

entry_points! {
    /// Caches any `T`.
    plain, plain_blocking: [] T => Whole;
    /// Caches `Some`; `None` is returned and not stored.
    some, some_blocking: [] Option<T> => SomeOnly;
    /// Caches `Ok`; `Err` is returned and not stored, and needs no serde.
    ok, ok_blocking: [E] Result<T, E> => OkOnly;
    /// Caches `Ok(Some)`; `Ok(None)` and `Err` are returned and not stored.
    ok_some, ok_some_blocking: [E] Result<Option<T>, E> => OkSome;
}

/// The future an async entry point returns: the answer from the in-process
/// tier, ready, or the rest of the call, boxed. Small either way, so that
/// the caller's own future holds and moves a few bytes more than the value.
pub enum Answer<R, F> {
    /// Answered from the in-process tier (taken by the first poll).
    Ready(Option<R>),
    /// The rest of the call: the store, and the function if it must run.
    Pending(Pin<Box<F>>),
}

// The value is never pinned: it is only moved out, whole.
impl<R, F> Unpin for Answer<R, F> {}

impl<R, F: Future<Output = R>> Future for Answer<R, F> {
    type Output = R;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        match self.get_mut() {
            Answer::Ready(value) => Poll::Ready(value.take().expect("polled after completion")),
            Answer::Pending(rest) => rest.as_mut().poll(cx),
        }
    }
}

/// Yields to the runtime once the task has used its cooperative budget, as
/// Tokio's own channels and sockets do: the generated code calls it first,
/// so that a loop of in-process hits (no I/O, never pending) still lets the
/// thread's other tasks run.
pub async fn cooperate() {
    tokio::task::consume_budget().await;
}

/// How callers that waited for a concurrent call get its result when the
/// return type is `Clone + Send + Sync`: a clone of it, errors included.
/// Other return types share values through their JSON, and errors not at all.
pub struct Sharer<R> {
    wrap: fn(&R) -> Arc<dyn Any + Send + Sync>,
    unwrap: fn(&(dyn Any + Send + Sync)) -> Option<R>,
}

impl<R> Sharer<R> {
    pub(crate) fn wrap(&self, result: &R) -> Arc<dyn Any + Send + Sync> {
        (self.wrap)(result)
    }

    pub(crate) fn unwrap(&self, shared: &(dyn Any + Send + Sync)) -> Option<R> {
        (self.unwrap)(shared)
    }
}

// Which `Sharer` a return type gets is decided where the type is concrete,
// in the generated code, by method resolution ("autoref specialization"):
//
//     (&&Sharing::<R>::NEW).sharer()
//
// finds `ShareClone::sharer` on `&Sharing<R>` when `R: Clone + Send + Sync +
// 'static`, and otherwise `ShareJson::sharer` on `Sharing<R>`, one autoref
// further. Stable Rust, no bound on the user's type.

/// The probe for [`Sharer`]; see above.
pub struct Sharing<R>(PhantomData<fn() -> R>);

impl<R> Sharing<R> {
    /// The probe.
    pub const NEW: Self = Sharing(PhantomData);
}

/// `R: Clone + Send + Sync`: waiters get clones.
pub trait ShareClone<R> {
    /// The sharer for `R`.
    fn sharer(&self) -> Option<Sharer<R>>;
}

impl<R: Clone + Send + Sync + 'static> ShareClone<R> for &Sharing<R> {
    fn sharer(&self) -> Option<Sharer<R>> {
        Some(Sharer {
            wrap: |result| Arc::new(result.clone()),
            unwrap: |shared| shared.downcast_ref::<R>().cloned(),
        })
    }
}

/// Any other `R`: values through their JSON.
pub trait ShareJson<R> {
    /// No sharer: see [`Sharer`].
    fn sharer(&self) -> Option<Sharer<R>>;
}

impl<R> ShareJson<R> for Sharing<R> {
    fn sharer(&self) -> Option<Sharer<R>> {
        None
    }
}

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
        result.as_ref().map_or(Kind::Empty, Kind::Value)
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
        result.as_ref().map_or(Kind::Failed, Kind::Value)
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::call::keys::KeysBuilder;
    use crate::call::policy::Policy;

    /// The rest of a call past the in-process check is one allocation,
    /// made on every Redis hit. glibc serves blocks up to 1,032 bytes from a
    /// per-thread cache; past that, `malloc` and `free` cost a hit ~500
    /// instructions more. The body is pinned in the caller's future, so
    /// this size does not grow with what the function awaits.
    #[test]
    fn the_rest_of_a_call_stays_within_the_allocators_fast_path() {
        static SITE: Site = Site::new(Policy::new(Duration::from_secs(60)));
        let cache = Cache::embedded();
        let identity = SITE.instance("app::f::{{closure}}::{{closure}}").1;
        let mut keys = KeysBuilder::new(&SITE, &cache, identity, "Record", None, None);
        keys.arg(&7u64);
        // A value the size of a small record (80 bytes), behind a body
        // that holds 4 KB across its awaits.
        type Record = (String, String, Vec<String>, u64);
        let big = [0u8; 4096];
        let body = pin!(async move {
            tokio::task::yield_now().await;
            let record: Record = Default::default();
            (record.0, record.1, record.2, big.len() as u64)
        });
        let answer = plain(&SITE, &cache, keys.finish(), never, None, body);
        match answer {
            Answer::Pending(rest) => {
                let size = std::mem::size_of_val(&*rest);
                assert!(size <= 1032, "the rest of a call is {size} bytes");
            }
            Answer::Ready(_) => panic!("no in-process tier: nothing is answered at once"),
        }
    }
}
