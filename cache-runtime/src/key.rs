//! Cache keys: what a call's key is made of and how it is hashed.
//!
//! A key reads `<prefix>:<identity>:<md5>`:
//!
//! - `prefix` is the cache's namespace ([`Config::prefix`](crate::Config::prefix),
//!   `cache` by default);
//! - `identity` is the function's path, e.g. `my_app::users::get_user` or
//!   `my_app::repo::UserRepo::find`, so that an operator sees whose key it is
//!   and same-named functions in two modules or two `impl`s never share keys;
//! - `md5` is the lowercase hex MD5 of the compact JSON array
//!   `["<identity>",<arg 1>,<arg 2>,...]`, the arguments as `serde_json`
//!   writes them, in declaration order, skipped ones left out.
//!
//! The arguments are serialized once, straight into the hasher: no buffer, no
//! `std::hash` (whose output may change between compiler versions).
//! Anyone can recompute a key from outside, e.g. in Python:
//! `md5(json.dumps(["app::get_user", 42], separators=(",", ":"), ensure_ascii=False))`.

use std::io;

use md5::{Digest, Md5};
use serde::Serialize;

use crate::Error;

/// A value that can be part of a cache key: anything `Serialize`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a cache key: it does not implement `serde::Serialize`",
    label = "not `Serialize`",
    note = "derive `Serialize` for it, or leave the argument out of the key with `skip(<name>)` (`skip(self)` for the receiver)"
)]
pub trait KeyArg: Serialize {}

impl<T: Serialize + ?Sized> KeyArg for T {}

/// Hashes a function identity and its arguments into a [`CallKey`].
///
/// The generated code uses this; it is public so that other code can derive
/// the same key as a cached function (to inspect it, or from another tool).
///
/// ```
/// use cache_runtime::key::KeyHasher;
///
/// let key = KeyHasher::new("app::users::get_user").arg(&42u64).arg("ann").finish()?;
/// assert_eq!(key.identity(), "app::users::get_user");
/// assert_eq!(key.digest_hex().len(), 32);
/// # Ok::<(), cache_runtime::Error>(())
/// ```
pub struct KeyHasher<'a> {
    identity: &'a str,
    md5: Md5,
    error: Option<serde_json::Error>,
}

impl<'a> KeyHasher<'a> {
    /// Starts the key of a call to the function named `identity`.
    pub fn new(identity: &'a str) -> Self {
        let mut hasher = KeyHasher {
            identity,
            md5: Md5::new(),
            error: None,
        };
        hasher.md5.update(b"[");
        hasher.write_json(identity);
        hasher
    }

    /// Adds the next argument.
    #[must_use]
    pub fn arg<T: KeyArg + ?Sized>(mut self, value: &T) -> Self {
        self.md5.update(b",");
        self.write_json(value);
        self
    }

    /// The key, or the first argument that failed to serialize (a map with
    /// non-string keys, a `Serialize` impl that errors).
    pub fn finish(mut self) -> Result<CallKey<'a>, Error> {
        if let Some(error) = self.error {
            return Err(Error::Key(error));
        }
        self.md5.update(b"]");
        Ok(CallKey {
            identity: self.identity,
            digest: self.md5.finalize().into(),
        })
    }

    fn write_json<T: Serialize + ?Sized>(&mut self, value: &T) {
        if self.error.is_none() {
            if let Err(error) = serde_json::to_writer(HashWriter(&mut self.md5), value) {
                self.error = Some(error);
            }
        }
    }
}

/// The key of one call, before the cache's prefix is put in front of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallKey<'a> {
    identity: &'a str,
    digest: [u8; 16],
}

impl CallKey<'_> {
    /// The function's identity, e.g. `app::users::get_user`.
    pub fn identity(&self) -> &str {
        self.identity
    }

    /// The MD5 of identity and arguments, as 32 lowercase hex digits.
    pub fn digest_hex(&self) -> String {
        let mut hex = String::with_capacity(32);
        push_hex(&mut hex, &self.digest);
        hex
    }

    /// `<prefix>:<identity>:<md5>`; an empty prefix leaves out its colon.
    pub fn to_key(&self, prefix: &str) -> String {
        let mut key = String::with_capacity(prefix.len() + self.identity.len() + 34);
        if !prefix.is_empty() {
            key.push_str(prefix);
            key.push(':');
        }
        key.push_str(self.identity);
        key.push(':');
        push_hex(&mut key, &self.digest);
        key
    }
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
}

/// The identity of the function whose body holds the `__cache_site` marker
/// function, from `type_name_of_val(&__cache_site)`:
///
/// `app::users::get_user::{{closure}}::__cache_site` -> `app::users::get_user`
/// `<app::Repo as app::Find>::find::{{closure}}::__cache_site` -> `<app::Repo as app::Find>::find`
///
/// Async bodies show up as `{{closure}}` segments; they are not part of the
/// function's identity and are removed.
pub fn site_identity(site: &str) -> &str {
    let mut identity = site.strip_suffix("::__cache_site").unwrap_or(site);
    while let Some(outer) = identity.strip_suffix("::{{closure}}") {
        identity = outer;
    }
    identity
}

/// Feeds `serde_json`'s output straight into the hasher.
struct HashWriter<'a>(&'a mut Md5);

impl io::Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn md5_hex(bytes: &[u8]) -> String {
        let mut hex = String::new();
        push_hex(&mut hex, &Md5::digest(bytes));
        hex
    }

    /// The expected digest was computed independently, with Python:
    /// `md5(json.dumps(["app::users::get_user",42,"ann"], separators=(",",":")))`.
    /// The key format is a promise to operators and other services: if this
    /// test fails, every deployed cache would go cold. Change it only with a
    /// version bump and a note in docs/DESIGN.md.
    #[test]
    fn golden_key_is_stable() {
        let key = KeyHasher::new("app::users::get_user")
            .arg(&42u64)
            .arg("ann")
            .finish()
            .unwrap();
        assert_eq!(
            key.to_key("cache"),
            "cache:app::users::get_user:0f2b7ac5126c2721f829b88e8df992d1"
        );
    }

    #[test]
    fn digest_is_md5_of_the_json_array() {
        let key = KeyHasher::new("app::f")
            .arg(&42u64)
            .arg("ann")
            .arg(&[1.5, 2.0])
            .finish()
            .unwrap();
        assert_eq!(
            key.digest_hex(),
            md5_hex(br#"["app::f",42,"ann",[1.5,2.0]]"#)
        );
    }

    #[test]
    fn no_arguments_hash_the_identity_alone() {
        let key = KeyHasher::new("app::f").finish().unwrap();
        assert_eq!(key.digest_hex(), md5_hex(br#"["app::f"]"#));
    }

    #[test]
    fn argument_boundaries_are_unambiguous() {
        let split = KeyHasher::new("f").arg("a,b").finish().unwrap();
        let two = KeyHasher::new("f").arg("a").arg("b").finish().unwrap();
        assert_ne!(split, two);
    }

    #[test]
    fn identity_is_escaped_as_a_json_string() {
        let key = KeyHasher::new(r#"a"b"#).finish().unwrap();
        assert_eq!(key.digest_hex(), md5_hex(br#"["a\"b"]"#));
    }

    #[test]
    fn unserializable_argument_is_an_error_not_a_panic() {
        let mut map = BTreeMap::new();
        map.insert((1, 2), "non-string key");
        let error = KeyHasher::new("f").arg(&map).finish().unwrap_err();
        assert!(matches!(error, Error::Key(_)), "{error:?}");
    }

    #[test]
    fn empty_prefix_has_no_leading_colon() {
        let key = KeyHasher::new("f").finish().unwrap();
        assert!(key.to_key("").starts_with("f:"));
    }

    #[test]
    fn site_identity_drops_marker_and_async_closures() {
        assert_eq!(
            site_identity("app::get::{{closure}}::__cache_site"),
            "app::get"
        );
        assert_eq!(
            site_identity("app::Repo::get::__cache_site"),
            "app::Repo::get"
        );
        assert_eq!(
            site_identity("<u32 as app::Load>::load::{{closure}}::__cache_site"),
            "<u32 as app::Load>::load"
        );
    }
}
