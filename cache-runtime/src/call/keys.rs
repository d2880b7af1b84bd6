//! A cached call's keys, as the generated code hands them to the call
//! (`call/flow.rs`): its key in Redis and, when the call has an in-process tier,
//! its key there.
//!
//! The tier's key is the function's `Site` address (8 bytes) followed by
//! the arguments' JSON, `,<arg 1>,<arg 2>...`: the very bytes the Redis
//! key's MD5 takes after the identity and the stored type. A hit in the tier
//! needs neither MD5 nor the Redis key's `String`; on a miss the Redis key
//! is hashed from those bytes, and is the same key as ever ([`KeyHasher`]).
//! A template function's tier key is its Redis key behind eight zero bytes
//! (no site lives at address 0): two functions that share a template share
//! their copies, as they share the entry.

use std::fmt;

use serde::Serialize;
use smallvec::SmallVec;

use crate::call::site::Site;
use crate::key::{KeyArg, KeyHasher};
use crate::tags::Tags;
use crate::tier::Tier;
use crate::{Cache, Error};

/// Where the tier key's arguments start: after the site's address.
const ARGS: usize = std::mem::size_of::<usize>();

/// A tier key, inline up to 24 bytes (a site and a short argument, an id):
/// a local hit then allocates nothing for its key.
pub(crate) type TierKey = SmallVec<[u8; 24]>;

/// Argument `N` of a cached function, in its key. `N` is a type named
/// after the argument, declared by the generated code beside the call.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a cache key: it does not implement `serde::Serialize`",
    label = "not `Serialize`",
    note = "derive `Serialize` for it, or leave the argument out of the key with `skip({N})`"
)]
pub trait Arg<N>: KeyArg {}

impl<N, T: Serialize + ?Sized> Arg<N> for T {}

/// Argument `N`, of a reference type, in the key.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a cache key: it does not implement `serde::Serialize`",
    label = "not `Serialize`",
    note = "leave the argument out of the key with `skip({N})` (a pool, client or connection \
            is not part of what the call computes), or derive `Serialize` for it"
)]
pub trait Borrowed<N>: KeyArg {}

impl<N, T: Serialize + ?Sized> Borrowed<N> for T {}

/// The receiver, in the key.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a cache key: it does not implement `serde::Serialize`",
    label = "not `Serialize`",
    note = "leave the receiver out of the key with `skip(self)`, or derive `Serialize` for it"
)]
pub trait Receiver: KeyArg {}

impl<T: Serialize + ?Sized> Receiver for T {}

// An argument of the cached function and of its `entry!` companion goes
// into the key through a probe, in the way `call/share.rs` picks a sharer:
//
//     (&KeyProbe(&id)).push_to(&mut keys)
//
// finds `PushJson::push_to` on `KeyProbe<T>` when `T: Serialize`. The bound
// is checked, once and with the argument's name in the error, by the
// `keys_of` companion beside the function (`arg`, `borrowed`, `receiver`
// above); without it, both places would report the same mistake. For any
// other `T` the probe finds `PushUnchecked` one autoref further, whose body
// does not compile: a program in which it were picked would not build.

/// The probe; see above.
pub struct KeyProbe<'v, T: ?Sized>(pub &'v T);

/// `T: Serialize`: the argument's JSON goes into the key.
pub trait PushJson {
    /// Adds the argument to `keys`.
    fn push_to(&self, keys: &mut KeysBuilder<'_>);
}

impl<T: Serialize + ?Sized> PushJson for KeyProbe<'_, T> {
    #[inline(always)]
    fn push_to(&self, keys: &mut KeysBuilder<'_>) {
        keys.push(self.0);
    }
}

/// Any other `T`: reported by the `keys_of` companion; never built.
pub trait PushUnchecked {
    /// Fails to build when instantiated.
    fn push_to(&self, keys: &mut KeysBuilder<'_>);
}

impl<T: ?Sized> PushUnchecked for &KeyProbe<'_, T> {
    fn push_to(&self, _: &mut KeysBuilder<'_>) {
        let () = NotSerialize::<T>::STOP;
    }
}

struct NotSerialize<T: ?Sized>(std::marker::PhantomData<T>);

impl<T: ?Sized> NotSerialize<T> {
    const STOP: () = panic!("an argument of a cached function does not implement `Serialize`");
}

/// The keys of one call. Built by `#[cache_result]`; not a stable API.
#[doc(hidden)]
pub struct CallKeys<'a> {
    redis: Redis<'a>,
    local: Option<(&'a Tier, TierKey)>,
    /// The call's tags (`tags = [...]`), rendered.
    tags: Option<Box<Tags>>,
}

enum Redis<'a> {
    Ready(String),
    /// To be hashed from the tier key's arguments.
    Deferred(Deferred<'a>),
}

/// What the Redis key takes besides the arguments.
struct Deferred<'a> {
    site: &'static Site,
    identity: &'static str,
    stored_type: &'static str,
    prefix: &'a str,
    version: Option<u32>,
}

impl<'a> CallKeys<'a> {
    /// The keys of a call to a function with a key template.
    pub fn template(
        site: &'static Site,
        cache: &'a Cache,
        prefix: Option<&'static str>,
        rendered: std::fmt::Arguments<'_>,
    ) -> Result<Self, Error> {
        let key = rendered_key(cache, prefix, rendered)?;
        let local = cache.local_tier(&site.policy).map(|tier| {
            let mut local = TierKey::with_capacity(ARGS + key.len());
            local.extend_from_slice(&[0; ARGS]);
            local.extend_from_slice(key.as_bytes());
            (tier, local)
        });
        Ok(CallKeys {
            redis: Redis::Ready(key),
            local,
            tags: None,
        })
    }

    /// The call's tags, taken out (the call holds them from then on).
    pub(crate) fn take_tags(&mut self) -> Option<Box<Tags>> {
        self.tags.take()
    }

    /// The tier this call uses, and its key there.
    pub(crate) fn local(&self) -> Option<(&'a Tier, &[u8])> {
        self.local
            .as_ref()
            .map(|(tier, key)| (*tier, key.as_slice()))
    }

    /// The Redis key, and the tier with the call's key in it.
    pub(crate) fn split(self) -> (String, Option<(&'a Tier, TierKey)>) {
        let redis = match self.redis {
            Redis::Ready(key) => key,
            Redis::Deferred(parts) => parts.hash(args_of(&self.local)),
        };
        (redis, self.local)
    }

    /// The Redis key, made for the occasion (for a span).
    pub(crate) fn redis_key(&self) -> String {
        match &self.redis {
            Redis::Ready(key) => key.clone(),
            Redis::Deferred(parts) => parts.hash(args_of(&self.local)),
        }
    }
}

/// The arguments' JSON in a tier key.
fn args_of<'k>(local: &'k Option<(&Tier, TierKey)>) -> &'k [u8] {
    local.as_ref().map_or(&[], |(_, key)| &key[ARGS..])
}

impl Deferred<'_> {
    fn hash(&self, args: &[u8]) -> String {
        let call = self
            .site
            .key_hasher(self.identity, self.stored_type)
            .json_args(args)
            .finish()
            .expect("the arguments serialized once already");
        call.to_key(self.prefix, self.version)
    }
}

/// Takes a cached call's arguments, one `arg` each, in declaration order.
/// The function's companions (`entry!`) use it too, without a tier: the
/// same calls, so that a wrong argument is reported once.
#[doc(hidden)]
pub struct KeysBuilder<'a>(Args<'a>);

enum Args<'a> {
    /// No tier: straight into MD5.
    Hashed {
        hasher: KeyHasher<'a>,
        prefix: &'a str,
        version: Option<u32>,
    },
    /// A tier: into its key; hashed for Redis only if it has no copy.
    Local {
        tier: &'a Tier,
        key: TierKey,
        error: Option<serde_json::Error>,
        redis: Deferred<'a>,
    },
}

impl<'a> KeysBuilder<'a> {
    /// For a call of the function `site`, under the function's `prefix` or
    /// the cache's.
    pub fn new(
        site: &'static Site,
        cache: &'a Cache,
        identity: &'static str,
        stored_type: &'static str,
        prefix: Option<&'static str>,
        version: Option<u32>,
    ) -> Self {
        let prefix = prefix.unwrap_or(cache.prefix());
        KeysBuilder(match cache.local_tier(&site.policy) {
            Some(tier) => {
                let key = TierKey::from_slice(&(site as *const Site as usize).to_ne_bytes());
                Args::Local {
                    tier,
                    key,
                    error: None,
                    redis: Deferred {
                        site,
                        identity,
                        stored_type,
                        prefix,
                        version,
                    },
                }
            }
            None => Args::Hashed {
                hasher: site.key_hasher(identity, stored_type),
                prefix,
                version,
            },
        })
    }

    /// For a companion of the function `identity`: its Redis key only.
    pub fn hashed(
        cache: &'a Cache,
        identity: &'a str,
        stored_type: &str,
        prefix: Option<&'static str>,
        version: Option<u32>,
    ) -> Self {
        KeysBuilder(Args::Hashed {
            hasher: KeyHasher::new(identity).arg(stored_type),
            prefix: prefix.unwrap_or(cache.prefix()),
            version,
        })
    }

    /// Checks argument `N` (named after the argument by the macro, so that
    /// the note of a "not `Serialize`" error can say `skip(db)`); the
    /// `keys_of` companion calls it, and only to be type-checked.
    #[inline(always)]
    pub fn arg<N, T: Arg<N> + ?Sized>(&mut self, value: &T) {
        self.push(value);
    }

    /// As `arg`, for an argument of a reference type (`db: &Pool`), with a
    /// note that leads with `skip`: such an argument is most often a handle
    /// the call uses rather than a part of what it computes.
    #[inline(always)]
    pub fn borrowed<N, T: Borrowed<N> + ?Sized>(&mut self, value: &T) {
        self.push(value);
    }

    /// As `arg`, for an argument the note cannot name: a pattern
    /// (`(a, b): (u8, u8)`), or a name the signature's types also use.
    #[inline(always)]
    pub fn value<T: KeyArg + ?Sized>(&mut self, value: &T) {
        self.push(value);
    }

    /// As `arg`, for the receiver (`self`).
    #[inline(always)]
    pub fn receiver<T: Receiver + ?Sized>(&mut self, value: &T) {
        self.push(value);
    }

    /// Adds the next argument. In place: the builder is ~130 bytes, and
    /// moving it per argument was a `memcpy` each time.
    pub(crate) fn push<T: KeyArg + ?Sized>(&mut self, value: &T) {
        match &mut self.0 {
            Args::Hashed { hasher, .. } => hasher.push(value),
            Args::Local { key, error, .. } => {
                if error.is_none() {
                    key.push(b',');
                    if let Err(failed) = crate::json::write_key(&mut *key, value) {
                        *error = Some(failed);
                    }
                }
            }
        }
    }

    /// The call's keys, or the first argument that failed to serialize.
    pub fn finish(self) -> Result<CallKeys<'a>, Error> {
        match self.0 {
            Args::Hashed {
                hasher,
                prefix,
                version,
            } => Ok(CallKeys {
                redis: Redis::Ready(hasher.finish()?.to_key(prefix, version)),
                local: None,
                tags: None,
            }),
            Args::Local {
                error: Some(error), ..
            } => Err(Error::Key(error)),
            Args::Local {
                tier, key, redis, ..
            } => Ok(CallKeys {
                redis: Redis::Deferred(redis),
                local: Some((tier, key)),
                tags: None,
            }),
        }
    }

    /// The Redis key alone (for a companion).
    pub fn key(self) -> Result<String, Error> {
        Ok(self.finish()?.split().0)
    }
}

/// The key of a call with a key template.
#[doc(hidden)]
pub fn rendered_key(
    cache: &Cache,
    prefix: Option<&str>,
    rendered: fmt::Arguments<'_>,
) -> Result<String, Error> {
    let rendered = rendered.to_string();
    Ok(crate::key::template_key(
        prefix.unwrap_or(cache.prefix()),
        &rendered,
    ))
}

/// A call's keys with its tags (`tags = [...]`), each rendered like a key
/// template, under the cache's prefix: tags are the cache's, shared by its
/// functions whatever their own prefix.
#[doc(hidden)]
pub fn tagged<'a>(
    keys: Result<CallKeys<'a>, Error>,
    cache: &Cache,
    tags: &[fmt::Arguments<'_>],
) -> Result<CallKeys<'a>, Error> {
    let mut keys = keys?;
    keys.tags = Some(Box::new(render_tags(cache, tags)));
    Ok(keys)
}

/// `tags`, rendered, as the cache's.
pub(crate) fn render_tags(cache: &Cache, tags: &[fmt::Arguments<'_>]) -> Tags {
    let texts = tags.iter().map(ToString::to_string).collect();
    Tags::new(cache.prefix(), texts)
}
