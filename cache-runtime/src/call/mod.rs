//! The entry points the generated code calls, one async and one blocking
//! per return shape (`T`, `Option<T>`, `Result<T, E>`, `Result<Option<T>,
//! E>`), and what each shape stores. The call itself is in `flow`.

mod body;
mod confirm;
pub(crate) mod flow;
pub(crate) mod keys;
pub(crate) mod policy;
mod refresher;
pub(crate) mod shape;
pub(crate) mod share;
pub(crate) mod site;
mod slot;

use std::future::Future;
use std::marker::PhantomData;
use std::pin::pin;
use std::sync::Arc;

pub use self::body::Body;
use self::body::Bound;
pub use self::flow::Answer;
use self::flow::{Behind, Call};
use self::keys::CallKeys;
pub use self::shape::{Kind, OkOnly, OkSome, Shape, SomeOnly, Value, Whole};
pub use self::share::{ShareClone, ShareJson, Sharer, Sharing};
use self::site::Site;
use crate::store::io::{block_on, Async, Blocking};
use crate::{Cache, Error};

/// The default `unless`: store every storable result.
pub fn never<T: ?Sized>(_: &T) -> bool {
    false
}

/// Checks an `unless = ...` condition against the stored type once, where
/// the user wrote it; the opaque result satisfies the entry point's bound.
pub fn unless<T, U: Fn(&T) -> bool>(condition: U) -> impl Fn(&T) -> bool {
    condition
}

// One async and one blocking entry point per shape, written out rather
// than generated: each states its bound on the stored type (`T: Value`)
// itself, so that a missing serde derive is reported at the user's type,
// with this signature as the only context.
//
// Not `async fn`s: an in-process hit is answered before any future of the
// call is built (see [`Answer`]).

/// Caches any `T`.
pub fn plain<'c, 'k, 'x, 'b, T: Value + 'b, U: Fn(&T) -> bool, F: Future<Output = T> + 'b>(
    site: &'static Site,
    cache: &'c Cache,
    keys: Result<CallKeys<'k>, Error>,
    unless: U,
    sharer: Option<Sharer<T>>,
    body: &'x mut Body<'b, T, F>,
) -> impl Future<Output = T> + use<'c, 'k, 'x, 'b, T, U, F> {
    Bound::<_, F>::new(
        Call::new(site, cache, unless, sharer).start::<Async, Whole, _>(keys, &mut body.erased),
    )
}

/// Caches any `T`.
pub fn plain_blocking<T: Value, U: Fn(&T) -> bool>(
    site: &'static Site,
    cache: &Cache,
    keys: Result<CallKeys<'_>, Error>,
    unless: U,
    sharer: Option<Sharer<T>>,
    body: impl FnOnce() -> T,
) -> T {
    blocking::<Whole, _, _, _>(Call::new(site, cache, unless, sharer), keys, body)
}

/// Caches `Some`; `None` is returned and not stored.
pub fn some<
    'c,
    'k,
    'x,
    'b,
    T: Value + 'b,
    U: Fn(&T) -> bool,
    F: Future<Output = Option<T>> + 'b,
>(
    site: &'static Site,
    cache: &'c Cache,
    keys: Result<CallKeys<'k>, Error>,
    unless: U,
    sharer: Option<Sharer<Option<T>>>,
    body: &'x mut Body<'b, Option<T>, F>,
) -> impl Future<Output = Option<T>> + use<'c, 'k, 'x, 'b, T, U, F> {
    Bound::<_, F>::new(
        Call::new(site, cache, unless, sharer).start::<Async, SomeOnly, _>(keys, &mut body.erased),
    )
}

/// Caches `Some`; `None` is returned and not stored.
pub fn some_blocking<T: Value, U: Fn(&T) -> bool>(
    site: &'static Site,
    cache: &Cache,
    keys: Result<CallKeys<'_>, Error>,
    unless: U,
    sharer: Option<Sharer<Option<T>>>,
    body: impl FnOnce() -> Option<T>,
) -> Option<T> {
    blocking::<SomeOnly, _, _, _>(Call::new(site, cache, unless, sharer), keys, body)
}

/// Caches `Ok`; `Err` is returned and not stored, and needs no serde.
pub fn ok<
    'c,
    'k,
    'x,
    'b,
    T: Value + 'b,
    E: 'b,
    U: Fn(&T) -> bool,
    F: Future<Output = Result<T, E>> + 'b,
>(
    site: &'static Site,
    cache: &'c Cache,
    keys: Result<CallKeys<'k>, Error>,
    unless: U,
    sharer: Option<Sharer<Result<T, E>>>,
    body: &'x mut Body<'b, Result<T, E>, F>,
) -> impl Future<Output = Result<T, E>> + use<'c, 'k, 'x, 'b, T, E, U, F> {
    Bound::<_, F>::new(
        Call::new(site, cache, unless, sharer).start::<Async, OkOnly, _>(keys, &mut body.erased),
    )
}

/// Caches `Ok`; `Err` is returned and not stored, and needs no serde.
pub fn ok_blocking<T: Value, E, U: Fn(&T) -> bool>(
    site: &'static Site,
    cache: &Cache,
    keys: Result<CallKeys<'_>, Error>,
    unless: U,
    sharer: Option<Sharer<Result<T, E>>>,
    body: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    blocking::<OkOnly, _, _, _>(Call::new(site, cache, unless, sharer), keys, body)
}

/// Caches `Ok(Some)`; `Ok(None)` and `Err` are returned and not stored.
pub fn ok_some<
    'c,
    'k,
    'x,
    'b,
    T: Value + 'b,
    E: 'b,
    U: Fn(&T) -> bool,
    F: Future<Output = Result<Option<T>, E>> + 'b,
>(
    site: &'static Site,
    cache: &'c Cache,
    keys: Result<CallKeys<'k>, Error>,
    unless: U,
    sharer: Option<Sharer<Result<Option<T>, E>>>,
    body: &'x mut Body<'b, Result<Option<T>, E>, F>,
) -> impl Future<Output = Result<Option<T>, E>> + use<'c, 'k, 'x, 'b, T, E, U, F> {
    Bound::<_, F>::new(
        Call::new(site, cache, unless, sharer).start::<Async, OkSome, _>(keys, &mut body.erased),
    )
}

/// Caches `Ok(Some)`; `Ok(None)` and `Err` are returned and not stored.
pub fn ok_some_blocking<T: Value, E, U: Fn(&T) -> bool>(
    site: &'static Site,
    cache: &Cache,
    keys: Result<CallKeys<'_>, Error>,
    unless: U,
    sharer: Option<Sharer<Result<Option<T>, E>>>,
    body: impl FnOnce() -> Result<Option<T>, E>,
) -> Result<Option<T>, E> {
    blocking::<OkSome, _, _, _>(Call::new(site, cache, unless, sharer), keys, body)
}

/// Any shape, for an `async fn` with `early_refresh` whose arguments can
/// move into a task (owned, `Clone`, `'static`): `make` makes the body anew
/// from clones of them, so that an early refresh runs in a task of its own
/// while every caller gets the current value at once. The call itself runs
/// `make`'s body only on a miss.
#[allow(clippy::type_complexity)]
pub fn refreshing<'a, 'k, S, R, U, M, F>(
    site: &'static Site,
    cache: &'a Cache,
    keys: Result<CallKeys<'k>, Error>,
    unless: U,
    sharer: Option<Sharer<R>>,
    make: &'a M,
) -> Answer<R, impl Future<Output = R> + use<'a, 'k, S, R, U, M, F>>
where
    S: Shape<R, Stored: Value + Send + Sync> + 'static,
    R: Send + 'static,
    U: Fn(&S::Stored) -> bool + Send + Sync + 'static,
    M: Fn() -> F,
    F: Future<Output = R> + Send + 'static,
{
    let unless = Arc::new(unless);
    let behind: Behind<S, U, M> = Behind {
        make,
        unless: Arc::clone(&unless),
        shape: PhantomData,
    };
    let unless = move |value: &S::Stored| unless(value);
    let body = async move { make().await };
    Call::new(site, cache, unless, sharer)
        .refreshing(behind)
        .start::<Async, S, _>(keys, body)
}

/// An argument of a function whose early refresh runs in a task of its own.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot move into the early refresh's task: it is not `Clone`, `Send` and `'static`",
    label = "an argument of a function with `early_refresh`",
    note = "an early refresh runs in a task of its own, from clones of the arguments; derive \
            `Clone` for it, or take it by reference (`&{Self}`) to refresh in the caller instead"
)]
pub trait RefreshArg: Clone + Send + 'static {}

impl<T: Clone + Send + 'static> RefreshArg for T {}

/// A clone of argument `value`, for the early refresh's task.
pub fn refresh_arg<T: RefreshArg>(value: &T) -> T {
    value.clone()
}

/// The blocking entry points' one body: the call's future, driven here,
/// with the function's body behind `dyn FnMut` (see `body` for why: the
/// call's typed part is then compiled once per return type, not per
/// function).
fn blocking<S, R, U, F>(call: Call<'_, R, U>, keys: Result<CallKeys<'_>, Error>, body: F) -> R
where
    S: Shape<R, Stored: Value>,
    U: Fn(&S::Stored) -> bool,
    F: FnOnce() -> R,
{
    let mut body = Some(body);
    let mut once = || body.take().expect("the body runs once")();
    erased_blocking::<S, R, U>(call, keys, &mut once)
}

fn erased_blocking<S, R, U>(
    call: Call<'_, R, U>,
    keys: Result<CallKeys<'_>, Error>,
    body: &mut dyn FnMut() -> R,
) -> R
where
    S: Shape<R, Stored: Value>,
    U: Fn(&S::Stored) -> bool,
{
    let body = pin!(async move { body() });
    block_on(call.start::<Blocking, S, _>(keys, body))
}

/// Yields to the runtime once the task has used its cooperative budget, as
/// Tokio's own channels and sockets do: the generated code calls it first,
/// so that a loop of in-process hits (no I/O, never pending) still lets the
/// thread's other tasks run.
pub async fn cooperate() {
    tokio::task::consume_budget().await;
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
        keys.push(&7u64);
        // A value the size of a small record (88 bytes, as the benches'
        // `Profile`), behind a body that holds 4 KB across its awaits.
        type Record = (String, String, Vec<String>, u64, f64);
        let big = [0u8; 4096];
        let body = pin!(async move {
            tokio::task::yield_now().await;
            let record: Record = Default::default();
            (record.0, record.1, record.2, big.len() as u64, 1.0)
        });
        let mut body = Body::new(body);
        let answer = Call::new(&SITE, &cache, never, None)
            .start::<Async, Whole, _>(keys.finish(), &mut body.erased);
        match answer {
            Answer::Pending(rest) => {
                let size = std::mem::size_of_val(&*rest);
                assert!(size <= 1032, "the rest of a call is {size} bytes");
            }
            Answer::Ready(_) => panic!("no in-process tier: nothing is answered at once"),
        }
    }
}
