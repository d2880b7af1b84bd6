//! How callers that waited for a concurrent call get its result: by
//! autoref specialization at the concrete return type, a clone when the
//! type is `Clone + Send + Sync`, its JSON otherwise.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

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
            // Not `Option::cloned`: one more function compiled per type.
            #[allow(clippy::manual_map)]
            unwrap: |shared| match shared.downcast_ref::<R>() {
                Some(result) => Some(result.clone()),
                None => None,
            },
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
