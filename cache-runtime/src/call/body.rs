//! A function's body behind one type per return type, so that what of the
//! call is generic over the body (its typed part, see `slot`) is compiled
//! once per return type rather than once per function.
//!
//! Each `async fn`'s body is a type of its own: code generic over it is
//! compiled again for every cached function, which is the build time of a
//! crate with many cached functions. So the generated code
//! hands its entry point a [`Body`], the pinned body as a `dyn Future`,
//! made in the caller's own future; the path gets a reference to its
//! [`Erased`] core, whose type names only the return type, and the future
//! the entry point returns takes the auto traits of the body's own type
//! ([`Bound`]): the caller's future is `Send` exactly when it was. (Whether
//! a body is `Send` cannot be decided where it is written: an `async`
//! block's auto traits are known only once the function that holds it is
//! type-checked.) A reference, not the `dyn` pointer itself: the call's
//! box stays within the allocator's fast path. A body's poll costs one
//! indirect call; only misses poll it.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The pinned body `F` of a call, returning `R`, as the generated code
/// hands it over; `Send` and `Sync` as `F` is.
#[repr(transparent)]
pub struct Body<'b, R, F> {
    /// The body behind its return type alone, for a call whose answer is
    /// wrapped in a [`Bound`] with `F`. A field, not a method: one
    /// function fewer to compile per cached function.
    pub(crate) erased: Erased<'b, R>,
    body: PhantomData<F>,
}

impl<'b, R, F: Future<Output = R> + 'b> Body<'b, R, F> {
    /// The body, pinned where the generated code made it.
    pub fn new(body: Pin<&'b mut F>) -> Self {
        Body {
            erased: Erased { future: body },
            body: PhantomData,
        }
    }
}

/// A body, known by its return type `R` alone.
pub(crate) struct Erased<'b, R> {
    future: Pin<&'b mut (dyn Future<Output = R> + 'b)>,
}

// SAFETY: an `Erased` is reached only through the `Body` that holds it,
// whose auto traits are its body's, or through the reference an entry
// point hands the call's path, inside a future it wraps in a `Bound` with
// the body's type: that future is `Send` only if the body is. `Sync`: an
// `Erased` has no method taking `&self`; a shared reference reaches nothing.
unsafe impl<R> Send for Erased<'_, R> {}
unsafe impl<R> Sync for Erased<'_, R> {}

impl<R> Future for Erased<'_, R> {
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        self.future.as_mut().poll(cx)
    }
}

/// A call's answer, with the auto traits of the body `B` it was made
/// from (see [`Body`]).
pub(crate) struct Bound<F, B> {
    rest: F,
    body: PhantomData<B>,
}

impl<F, B> Bound<F, B> {
    pub(crate) fn new(rest: F) -> Self {
        Bound {
            rest,
            body: PhantomData,
        }
    }
}

// The body is only named, never held: `Bound` moves as `rest` does.
impl<F: Unpin, B> Unpin for Bound<F, B> {}

impl<F: Future + Unpin, B> Future for Bound<F, B> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        Pin::new(&mut self.get_mut().rest).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;

    use super::*;

    fn is_send<T: Send>(_: &T) {}

    #[test]
    fn a_body_is_polled_through_its_return_type() {
        let future = pin!(async {
            std::future::ready(()).await;
            7u8
        });
        let mut body = Body::new(future);
        is_send(&body);
        let erased: &mut Erased<'_, u8> = &mut body.erased;
        assert_eq!(futures_util::FutureExt::now_or_never(erased), Some(7));
    }
}
