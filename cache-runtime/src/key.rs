//! Cache keys: what a call's key is made of, how it is hashed, and which
//! keys belong to one function (for clearing).
//!
//! A key reads `<prefix>:<identity>[:v<version>]:<md5>`:
//!
//! - `prefix` is the namespace: the cache's ([`Config::prefix`](crate::Config::prefix),
//!   `cache` by default) or the function's own (`prefix = "..."`);
//! - `identity` is the function's path, e.g. `my_app::users::get_user` or
//!   `my_app::repo::UserRepo::find`, so that an operator sees whose key it is
//!   and same-named functions in two modules or two `impl`s never share keys;
//! - `v<version>` appears when the function sets `version = N`;
//! - `md5` is the lowercase hex MD5 of the compact JSON array
//!   `["<identity>","<stored type>",<arg 1>,<arg 2>,...]`: the stored type is
//!   its Rust path (`core::any::type_name`, e.g. `my_app::User`), so an entry
//!   written for another type is never read as this one; the arguments are as
//!   `serde_json` writes them, in declaration order, skipped ones left out,
//!   except that a NaN or infinite float, which `serde_json` writes as
//!   `null`, is `NaN`, `Infinity` or `-Infinity` (see `json.rs`).
//!
//! With a key template (`key = "user:{id}"`) the key is `<prefix>:<rendered
//! template>` instead: readable, no MD5, and the template is yours to version.
//! Each hole's value is percent-encoded where a character could forge the
//! template's structure, so that distinct arguments render distinct keys
//! (`user:{id}` with id `"5:orders"` is
//! `user:5%3Aorders`, never `user:5:orders`), while `user:42` and
//! `user:ann@example.com` stay as they are.
//!
//! The arguments are serialized once, straight into the hasher: no buffer, no
//! `std::hash` (whose output may change between compiler versions).

use std::borrow::Cow;
use std::fmt::{self, Display, Write as _};
use std::io;
use std::sync::OnceLock;

use md5::Digest;
pub(crate) use md5::Md5;
use serde::Serialize;

use crate::Error;

/// A value that can be part of a cache key: anything `Serialize`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a cache key: it does not implement `serde::Serialize`",
    label = "not `Serialize`",
    note = "derive `Serialize` for it"
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
        self.push(value);
        self
    }

    pub(crate) fn push<T: KeyArg + ?Sized>(&mut self, value: &T) {
        self.md5.update(b",");
        self.write_json(value);
    }

    /// Adds arguments already serialized, as `arg` writes them (`,<json>` each).
    pub(crate) fn json_args(mut self, args: &[u8]) -> Self {
        self.md5.update(args);
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

    /// A hasher that has taken `identity` and `stored_type`, from a copy of
    /// the MD5 state `start` caches for them (see `Site::key_hasher`).
    pub(crate) fn resume(identity: &'a str, stored_type: &str, start: &OnceLock<Md5>) -> Self {
        let md5 = start.get_or_init(|| {
            // Neither string can fail to serialize.
            KeyHasher::new(identity).arg(stored_type).md5
        });
        KeyHasher {
            identity,
            md5: md5.clone(),
            error: None,
        }
    }

    fn write_json<T: Serialize + ?Sized>(&mut self, value: &T) {
        if self.error.is_none() {
            if let Err(error) = crate::json::write_key(HashWriter(&mut self.md5), value) {
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

    /// `<prefix>:<identity>[:v<version>]:<md5>`; an empty prefix leaves out
    /// its colon.
    pub fn to_key(&self, prefix: &str, version: Option<u32>) -> String {
        let mut key = String::with_capacity(prefix.len() + self.identity.len() + 48);
        push_prefix(&mut key, prefix);
        key.push_str(self.identity);
        key.push(':');
        if let Some(version) = version {
            key.push('v');
            key.push_str(&version.to_string());
            key.push(':');
        }
        push_hex(&mut key, &self.digest);
        key
    }
}

/// `<prefix>:<rendered template>` for a function with `key = "..."`.
pub(crate) fn template_key(prefix: &str, rendered: &str) -> String {
    let mut key = String::with_capacity(prefix.len() + rendered.len() + 1);
    push_prefix(&mut key, prefix);
    key.push_str(rendered);
    key
}

/// Redis Cluster's hash tag of a key: what lies between its first `{` and
/// the first `}` after that, if anything (the part of the key that picks
/// its slot).
pub(crate) fn hash_tag(key: &str) -> Option<&str> {
    let open = key.find('{')?;
    let rest = &key[open + 1..];
    let close = rest.find('}').filter(|close| *close > 0)?;
    Some(&rest[..close])
}

/// `<prefix>:[tag]:<tag>`: where a tag's token lives. `[` starts no
/// segment of an entry's key (a template's text cannot hold it, a hole's
/// value escapes it, a Rust path does not begin with it), so no entry can
/// be a tag's token.
pub(crate) fn tag_key(prefix: &str, tag: &str) -> String {
    let mut key = String::with_capacity(prefix.len() + tag.len() + 7);
    push_prefix(&mut key, prefix);
    key.push_str("[tag]:");
    key.push_str(tag);
    key
}

/// A template hole's value as it is written into the key: its `Display`
/// output, percent-encoded (`%` and two uppercase hex digits per UTF-8 byte)
/// where a character is
///
/// - `%`, the escape itself;
/// - `:`, the separator of key segments, so that no value reaches another
///   template's keys (`user:{id}` and `user:{id}:orders`), a lease's
///   (`<key>:lease`) or a hashed key (`<prefix>:<identity>:<md5>`);
/// - `{` or `}` (a Redis Cluster hash tag would move the key to another
///   slot), `*`, `?`, `[`, `]` or `\` (`SCAN MATCH` globs), or a control
///   character;
/// - the first character of the text that follows a hole in the template
///   (`separators`, e.g. `-` in `"{year}-{month}"`), so that each hole's
///   value ends where the template says.
///
/// Built by `#[cache_result]` (through `__private::hole`).
pub(crate) struct Hole<'a, T: ?Sized> {
    value: &'a T,
    separators: &'static str,
}

/// The hole `value` in a template whose holes are followed by `separators`.
pub(crate) fn hole<'a, T: Display + ?Sized>(value: &'a T, separators: &'static str) -> Hole<'a, T> {
    Hole { value, separators }
}

impl<T: Display + ?Sized> Display for Hole<'_, T> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut escaped = Escaped {
            out,
            separators: self.separators,
        };
        write!(escaped, "{}", self.value)
    }
}

/// Writes through to `out`, percent-encoding what [`Hole`] says.
struct Escaped<'a, 'b> {
    out: &'a mut fmt::Formatter<'b>,
    separators: &'static str,
}

impl fmt::Write for Escaped<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut plain = 0;
        for (at, c) in text.char_indices() {
            if !is_reserved(c, self.separators) {
                continue;
            }
            self.out.write_str(&text[plain..at])?;
            let mut utf8 = [0; 4];
            for byte in c.encode_utf8(&mut utf8).bytes() {
                write!(self.out, "%{byte:02X}")?;
            }
            plain = at + c.len_utf8();
        }
        self.out.write_str(&text[plain..])
    }
}

/// Whether a hole's value writes `c` percent-encoded.
fn is_reserved(c: char, separators: &str) -> bool {
    matches!(c, '%' | ':' | '{' | '}' | '*' | '?' | '[' | ']' | '\\')
        || c.is_control()
        || separators.contains(c)
}

/// The first character of each literal part that follows a hole and
/// precedes another: what ends each hole's value but the last.
pub(crate) fn separators(literal_parts: &[&str]) -> String {
    let inner = literal_parts.get(1..literal_parts.len().saturating_sub(1));
    let mut separators = String::new();
    for c in inner
        .unwrap_or(&[])
        .iter()
        .filter_map(|part| part.chars().next())
    {
        if !separators.contains(c) {
            separators.push(c);
        }
    }
    separators
}

/// Whether `text` is a hole's value as [`Hole`] writes it.
fn is_hole_value(text: &str, separators: &str) -> bool {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            let hex = |c: Option<char>| c.is_some_and(|c| matches!(c, '0'..='9' | 'A'..='F'));
            if !(hex(chars.next()) && hex(chars.next())) {
                return false;
            }
        } else if is_reserved(c, separators) {
            return false;
        }
    }
    true
}

fn push_prefix(key: &mut String, prefix: &str) {
    if !prefix.is_empty() {
        key.push_str(prefix);
        key.push(':');
    }
}

/// Appends the 32 hex digits of a digest, written in a buffer first (one
/// push, where a push per digit checks the capacity 32 times).
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = [0; 32];
    for (pair, byte) in hex.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
    let digits = 2 * bytes.len().min(16);
    out.push_str(std::str::from_utf8(&hex[..digits]).expect("hex digits are ASCII"));
}

/// The identity of the function whose body made the `__cache_site` marker
/// closure, from `type_name_of_val(&__cache_site)`:
///
/// `app::users::get_user::{{closure}}::{{closure}}` -> `app::users::get_user`
/// `app::Table<app::A>::name::{{closure}}` -> `app::Table<app::A>::name`
/// `app::Repo::__cache_result_entry_of_find::{{closure}}` -> `app::Repo::find`
///
/// The marker closure and an async body show up as `{{closure}}` segments,
/// and the generated entry companion (`__cache_result_entry_of_<name>`) stands for the
/// function it serves; both are removed, so that the function and its
/// companion derive one key.
pub(crate) fn site_identity(site: &str) -> Cow<'_, str> {
    let mut identity = site;
    while let Some(outer) = identity.strip_suffix("::{{closure}}") {
        identity = outer;
    }
    let companion = identity.rsplit_once("::").and_then(|(parent, last)| {
        let name = COMPANION_PREFIXES
            .iter()
            .find_map(|prefix| last.strip_prefix(prefix))?;
        Some(format!("{parent}::{name}"))
    });
    companion.map_or(Cow::Borrowed(identity), Cow::Owned)
}

/// The name prefixes of the companions `#[cache_result]` generates beside a
/// cached function: `__cache_result_entry_of_<name>` (for `entry!`) and
/// `__cache_result_function_of_<name>` (for `function!`).
const COMPANION_PREFIXES: [&str; 2] = ["__cache_result_entry_of_", "__cache_result_function_of_"];

/// Which keys belong to one function, or to a whole prefix: a `SCAN MATCH`
/// glob for the server, and an exact check for each key it returns (a glob
/// over `app::get` would also match `app::get::inner`'s keys).
#[derive(Clone, Debug)]
pub(crate) struct KeyPattern {
    glob: String,
    exact: Exact,
}

#[derive(Clone, Debug)]
enum Exact {
    /// `<head>[v<digits>:]<32 hex digits>`.
    Hashed { head: String },
    /// `<head><hole><inner[0]><hole>...<inner[n-1]><hole><tail>`, each hole
    /// a value as [`Hole`] writes it.
    Template {
        head: String,
        inner: Vec<String>,
        tail: String,
        separators: String,
    },
    /// Whatever the glob matches.
    Glob,
}

impl KeyPattern {
    /// Every key of the hashed-key function `identity` under `prefix`, all versions.
    pub(crate) fn function(prefix: &str, identity: &str) -> Self {
        let mut head = String::new();
        push_prefix(&mut head, prefix);
        head.push_str(identity);
        head.push(':');
        KeyPattern {
            glob: format!("{}*", glob_escape(&head)),
            exact: Exact::Hashed { head },
        }
    }

    /// Every key a template can render to, and no other: `user:{id}` ->
    /// the glob `<prefix>:user:*`, then a check that what the glob took for
    /// each hole is a value [`Hole`] can write (`<prefix>:user:5:orders`
    /// is not `user:{id}`'s: its id would hold a `:`).
    pub(crate) fn template(prefix: &str, literal_parts: &[&str]) -> Self {
        let mut glob = String::new();
        push_prefix(&mut glob, &glob_escape(prefix));
        let escaped: Vec<String> = literal_parts.iter().map(|part| glob_escape(part)).collect();
        glob.push_str(&escaped.join("*"));
        let mut head = String::new();
        push_prefix(&mut head, prefix);
        let (first, rest) = literal_parts.split_first().unwrap_or((&"", &[]));
        head.push_str(first);
        let (tail, inner) = rest.split_last().unwrap_or((&"", &[]));
        KeyPattern {
            glob,
            exact: Exact::Template {
                head,
                inner: inner.iter().map(|part| part.to_string()).collect(),
                tail: tail.to_string(),
                separators: separators(literal_parts),
            },
        }
    }

    /// Every key under `prefix` (which must not be empty).
    pub(crate) fn prefix(prefix: &str) -> Self {
        KeyPattern {
            glob: format!("{}:*", glob_escape(prefix)),
            exact: Exact::Glob,
        }
    }

    pub(crate) fn glob(&self) -> &str {
        &self.glob
    }

    pub(crate) fn matches(&self, key: &str) -> bool {
        match &self.exact {
            Exact::Hashed { head } => key
                .strip_prefix(head.as_str())
                .is_some_and(is_versioned_digest),
            Exact::Template {
                head,
                inner,
                tail,
                separators,
            } => template_matches(key, head, inner, tail, separators),
            Exact::Glob => glob_matches(&self.glob, key),
        }
    }
}

/// Whether `key` is `head`, then holes separated by `inner`, then `tail`.
/// A hole's value holds none of its separators, so the first one found
/// ends it.
fn template_matches(key: &str, head: &str, inner: &[String], tail: &str, separators: &str) -> bool {
    let Some(mut rest) = key
        .strip_prefix(head)
        .and_then(|rest| rest.strip_suffix(tail))
    else {
        return false;
    };
    for part in inner {
        let Some(end) = part.chars().next().and_then(|c| rest.find(c)) else {
            return false;
        };
        let (value, after) = rest.split_at(end);
        match after.strip_prefix(part.as_str()) {
            Some(after) if is_hole_value(value, separators) => rest = after,
            _ => return false,
        }
    }
    is_hole_value(rest, separators)
}

fn is_versioned_digest(rest: &str) -> bool {
    let digest = match rest.strip_prefix('v').and_then(|r| r.split_once(':')) {
        Some((version, digest))
            if !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()) =>
        {
            digest
        }
        _ => rest,
    };
    digest.len() == 32
        && digest
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Escapes the characters `SCAN MATCH` treats as special.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Redis glob matching for the globs this module makes: `*` and `\\`-escapes.
fn glob_matches(glob: &str, text: &str) -> bool {
    // The literal runs before each `*`, and the one after the last.
    let mut runs = Vec::new();
    let mut last = String::new();
    let mut chars = glob.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => last.extend(chars.next()),
            '*' => runs.push(std::mem::take(&mut last)),
            c => last.push(c),
        }
    }
    let mut runs = runs.into_iter();
    let Some(first) = runs.next() else {
        return text == last;
    };
    let Some(mut rest) = text.strip_prefix(first.as_str()) else {
        return false;
    };
    // Leftmost matches for the middle runs leave the most room for the end.
    for run in runs {
        match rest.find(run.as_str()) {
            Some(at) => rest = &rest[at + run.len()..],
            None => return false,
        }
    }
    rest.ends_with(last.as_str())
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

    #[test]
    fn a_hash_tag_is_the_first_braced_text() {
        assert_eq!(hash_tag("{user}"), Some("user"));
        assert_eq!(hash_tag("app:{user}:v2"), Some("user"));
        assert_eq!(hash_tag("lock:{a}{b}"), Some("a"));
        assert_eq!(hash_tag("user"), None);
        assert_eq!(hash_tag("{}user"), None);
        assert_eq!(hash_tag("{user"), None);
    }

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
            key.to_key("cache", None),
            "cache:app::users::get_user:0f2b7ac5126c2721f829b88e8df992d1"
        );
        assert_eq!(
            key.to_key("cache", Some(3)),
            "cache:app::users::get_user:v3:0f2b7ac5126c2721f829b88e8df992d1"
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
        assert!(key.to_key("", None).starts_with("f:"));
    }

    #[test]
    fn site_identity_drops_marker_and_async_closures() {
        assert_eq!(
            site_identity("app::Repo::get::{{closure}}"),
            "app::Repo::get"
        );
        assert_eq!(
            site_identity("<u32 as app::Load>::load::{{closure}}::{{closure}}"),
            "<u32 as app::Load>::load"
        );
        assert_eq!(
            site_identity("app::get::{{closure}}::{{closure}}"),
            "app::get"
        );
        assert_eq!(
            site_identity("app::Table<app::A>::__cache_result_entry_of_name::{{closure}}"),
            "app::Table<app::A>::name"
        );
    }

    #[test]
    fn function_pattern_matches_its_keys_only() {
        let pattern = KeyPattern::function("cache", "app::get");
        assert_eq!(pattern.glob(), "cache:app::get:*");
        let digest = "0f2b7ac5126c2721f829b88e8df992d1";
        assert!(pattern.matches(&format!("cache:app::get:{digest}")));
        assert!(pattern.matches(&format!("cache:app::get:v12:{digest}")));
        assert!(!pattern.matches(&format!("cache:app::get::inner:{digest}")));
        assert!(!pattern.matches(&format!("cache:app::get_user:{digest}")));
        assert!(!pattern.matches("cache:app::get:not-a-digest"));
    }

    #[test]
    fn patterns_escape_glob_characters() {
        let pattern = KeyPattern::function("c", "<[u8] as app::T>::f");
        assert_eq!(pattern.glob(), r"c:<\[u8\] as app::T>::f:*");
        assert!(pattern.matches("c:<[u8] as app::T>::f:0f2b7ac5126c2721f829b88e8df992d1"));
    }

    fn render(value: &str, separators: &'static str) -> String {
        hole(value, separators).to_string()
    }

    #[test]
    fn holes_escape_what_could_forge_the_template() {
        assert_eq!(render("42", ""), "42");
        assert_eq!(render("ann@example.com", ""), "ann@example.com");
        assert_eq!(render("5:orders", ""), "5%3Aorders");
        assert_eq!(render("100%", ""), "100%25");
        assert_eq!(render("{tag}*?[x]\\", ""), "%7Btag%7D%2A%3F%5Bx%5D%5C");
        assert_eq!(render("a\nb", ""), "a%0Ab");
        assert_eq!(render("2024-01", "-"), "2024%2D01");
        assert_eq!(render("zürich→", "→"), "zürich%E2%86%92");
    }

    #[test]
    fn separators_are_the_first_characters_between_holes() {
        assert_eq!(separators(&["user:", ""]), "");
        assert_eq!(separators(&["", "-", "/", "-x"]), "-/");
        assert_eq!(separators(&["d:", "|", ":x"]), "|");
    }

    #[test]
    fn template_pattern_matches_rendered_keys() {
        let pattern = KeyPattern::template("cache", &["user:", ":orders"]);
        assert_eq!(pattern.glob(), "cache:user:*:orders");
        assert!(pattern.matches("cache:user:42:orders"));
        assert!(pattern.matches("cache:user:5%3Ax:orders"));
        assert!(!pattern.matches("cache:user:5:x:orders"));
        assert!(!pattern.matches("cache:user:42"));
        assert!(!pattern.matches("other:user:42:orders"));
        assert!(!pattern.matches("cache:user:42:orders:lease"));
        let id = KeyPattern::template("cache", &["user:", ""]);
        assert!(id.matches("cache:user:42"));
        assert!(!id.matches("cache:user:42:orders"));
        assert!(!id.matches("cache:user:42:lease"));
        let bare = KeyPattern::template("cache", &["", ""]);
        assert_eq!(bare.glob(), "cache:*");
        assert!(bare.matches("cache:42"));
        assert!(!bare.matches("cache:app::f:0f2b7ac5126c2721f829b88e8df992d1"));
        let dated = KeyPattern::template("c", &["d:", "-", ""]);
        assert!(dated.matches("c:d:2024-01"));
        assert!(!dated.matches("c:d:2024-01-02"));
        assert!(dated.matches("c:d:2024-01%2D02"));
        assert!(!dated.matches("c:d:2024-01%2"));
        let prefix = KeyPattern::prefix("svc");
        assert!(prefix.matches("svc:anything:at:all"));
        assert!(!prefix.matches("svc2:x"));
    }
}

/// The key model's invariants over generated inputs: distinct arguments
/// give distinct keys, rendered templates are injective, and a template's
/// pattern takes its own keys and no other template's.
#[cfg(test)]
mod properties {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde::Serialize;

    use super::*;

    /// Strings that lean on what a key's structure is made of.
    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                4 => prop::sample::select(vec![
                    ":", "*", "{", "}", "?", "[", "]", "\\", "%", "%3A", ",", "\"", "-", "/",
                    "|", " ", "\n", "lease", "null", "NaN", "é", "→", "🦀", "0", "42", "a",
                ])
                .prop_map(str::to_owned),
                1 => any::<String>(),
            ],
            0..6,
        )
        .prop_map(|parts| parts.concat())
    }

    fn float() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.0),
            Just(-0.0),
            any::<f64>(),
        ]
    }

    #[derive(Clone, Debug, Serialize)]
    enum Arg {
        Text(String),
        Float(f64),
        Int(i64),
        Opt(Option<Box<Arg>>),
        List(Vec<Arg>),
        Map(BTreeMap<String, Arg>),
        Point { x: f64, label: String },
    }

    /// Equality as a key sees it: floats by bits, every NaN one value.
    fn same(a: &Arg, b: &Arg) -> bool {
        let float = |a: f64, b: f64| (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits();
        match (a, b) {
            (Arg::Text(a), Arg::Text(b)) => a == b,
            (Arg::Float(a), Arg::Float(b)) => float(*a, *b),
            (Arg::Int(a), Arg::Int(b)) => a == b,
            (Arg::Opt(a), Arg::Opt(b)) => match (a, b) {
                (Some(a), Some(b)) => same(a, b),
                (a, b) => a.is_none() && b.is_none(),
            },
            (Arg::List(a), Arg::List(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
            }
            (Arg::Map(a), Arg::Map(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|((ka, a), (kb, b))| ka == kb && same(a, b))
            }
            (Arg::Point { x, label }, Arg::Point { x: x2, label: l2 }) => {
                float(*x, *x2) && label == l2
            }
            _ => false,
        }
    }

    fn arg() -> impl Strategy<Value = Arg> {
        let leaf = prop_oneof![
            text().prop_map(Arg::Text),
            float().prop_map(Arg::Float),
            any::<i64>().prop_map(Arg::Int),
            (float(), text()).prop_map(|(x, label)| Arg::Point { x, label }),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::option::of(inner.clone()).prop_map(|a| Arg::Opt(a.map(Box::new))),
                prop::collection::vec(inner.clone(), 0..4).prop_map(Arg::List),
                prop::collection::btree_map(text(), inner, 0..3).prop_map(Arg::Map),
            ]
        })
    }

    fn key(args: &[Arg]) -> String {
        let mut hasher = KeyHasher::new("app::f").arg("app::T");
        for arg in args {
            hasher = hasher.arg(arg);
        }
        hasher.finish().unwrap().to_key("cache", None)
    }

    proptest! {
        #[test]
        fn distinct_arguments_have_distinct_keys(
            a in prop::collection::vec(arg(), 0..3),
            b in prop::collection::vec(arg(), 0..3),
        ) {
            let equal = a.len() == b.len() && a.iter().zip(&b).all(|(a, b)| same(a, b));
            prop_assert_eq!(equal, key(&a) == key(&b));
        }

        #[test]
        fn the_same_arguments_have_the_same_key(a in prop::collection::vec(arg(), 0..3)) {
            prop_assert_eq!(key(&a), key(&a.clone()));
        }
    }

    /// A template: literal text, then holes each followed by text; inner
    /// texts start with punctuation, as the macro requires.
    fn template() -> impl Strategy<Value = Vec<String>> {
        let inner = (
            prop::sample::select(vec![":", "-", "/", "|", ".", "_", "@", "→"]),
            text(),
        )
            .prop_map(|(first, rest)| format!("{first}{rest}"));
        (text(), prop::collection::vec(inner, 0..3), text()).prop_map(|(head, inner, tail)| {
            let mut parts = vec![head];
            parts.extend(inner);
            parts.push(tail);
            parts
        })
    }

    fn render(parts: &[String], values: &[String]) -> String {
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        let separators: &'static str = Box::leak(separators(&refs).into_boxed_str());
        let mut rendered = parts[0].clone();
        for (value, part) in values.iter().zip(&parts[1..]) {
            rendered.push_str(&hole(value, separators).to_string());
            rendered.push_str(part);
        }
        template_key("cache", &rendered)
    }

    fn pattern(parts: &[String]) -> KeyPattern {
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        KeyPattern::template("cache", &refs)
    }

    proptest! {
        #[test]
        fn a_template_renders_distinct_values_apart(
            parts in template(),
            a in prop::collection::vec(text(), 3),
            b in prop::collection::vec(text(), 3),
        ) {
            let holes = parts.len() - 1;
            let (a, b) = (&a[..holes], &b[..holes]);
            prop_assert_eq!(a == b, render(&parts, a) == render(&parts, b));
        }

        #[test]
        fn a_templates_pattern_takes_its_keys(
            parts in template(),
            values in prop::collection::vec(text(), 3),
        ) {
            let key = render(&parts, &values[..parts.len() - 1]);
            let pattern = pattern(&parts);
            prop_assert!(pattern.matches(&key), "{key} / {:?}", pattern);
            prop_assert!(glob_matches(pattern.glob(), &key));
            let lease = format!("{key}:lease");
            prop_assert!(!pattern.matches(&lease));
        }

        #[test]
        fn a_template_never_takes_a_longer_templates_keys(
            head in text(),
            id in text(),
            suffix in text(),
        ) {
            // `user:{id}` and `user:{id}:orders`, whatever the texts.
            let short = vec![format!("{head}:"), String::new()];
            let long = vec![format!("{head}:"), format!(":{suffix}")];
            let key = render(&long, std::slice::from_ref(&id));
            prop_assert!(!pattern(&short).matches(&key), "{key}");
            let hashed = KeyHasher::new("app::f").finish().unwrap().to_key("cache", None);
            prop_assert!(!pattern(&[String::new(), String::new()]).matches(&hashed));
        }
    }
}
