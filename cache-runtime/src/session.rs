//! Sessions in Redis: a token for the client, typed data in the store, a
//! sliding expiry (a login's `POST /session`, then `GET /profile`).
//!
//! - Tokens are 32 bytes from the OS's CSPRNG, base64url without padding
//!   (43 characters), as `secrets.token_urlsafe(32)` makes them.
//! - The key is `session:<hex SHA-256 of the token>`: a listing of Redis keys
//!   (`SCAN`, a dump, a monitoring tool) does not hand out live sessions.
//! - Data is JSON, with a TTL; reading it slides the TTL (`GETEX`) unless
//!   [`Sessions::sliding`] is off.
//! - A malformed, unknown or expired token, or data that no longer decodes
//!   as the type asked for, is `Ok(None)`: "no session", not an error. Redis
//!   being unreachable is an error: a login cannot be checked without it.
//!
//! ```no_run
//! # async fn demo(cache: &cache_runtime::Cache) -> Result<(), cache_runtime::Error> {
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct User { id: u64, name: String }
//!
//! let sessions = cache.sessions(); // `session:` keys, 1 h sliding TTL
//! let token = sessions.create(&User { id: 1, name: "ann".into() }).await?;
//! // send `token.as_str()` to the client; later, from its header:
//! let user: Option<User> = sessions.get(token.as_str()).await?;
//! sessions.destroy(token.as_str()).await?; // log out
//! # Ok(()) }
//! ```

use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::store::ops::{Delete, Get, GetTouch, SetIf, Touch};
use crate::{Cache, Error};

/// The default key prefix of sessions: `session:<hash>`, outside the cached
/// results' prefix, so that [`Cache::clear`] never logs anyone out.
pub const SESSION_PREFIX: &str = "session";

/// Bytes of randomness in a token.
const TOKEN_BYTES: usize = 32;
/// Characters of a token: base64 of 32 bytes without padding.
const TOKEN_LEN: usize = 43;

/// A session store over a [`Cache`]; from [`Cache::sessions`].
#[derive(Clone)]
pub struct Sessions {
    cache: Cache,
    prefix: String,
    ttl: Duration,
    sliding: bool,
}

/// A session's token: what the client holds. Its `Debug` hides it, so that
/// it does not end up in logs by accident; [`SessionToken::as_str`] gives it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    /// The token, to send to the client (a cookie, a response body).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(***)")
    }
}

impl Cache {
    /// Sessions stored in this cache's store: `session:` keys, a one-hour
    /// TTL that each read renews.
    pub fn sessions(&self) -> Sessions {
        Sessions {
            cache: self.clone(),
            prefix: SESSION_PREFIX.to_owned(),
            ttl: Duration::from_secs(60 * 60),
            sliding: true,
        }
    }
}

impl Sessions {
    /// The key prefix (default `session`), e.g. `"shop:session"`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a session lives without use (default one hour).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// Whether reading a session renews its TTL (default on). Off, a session
    /// ends `ttl` after it was created or last [touched](Sessions::touch).
    pub fn sliding(mut self, on: bool) -> Self {
        self.sliding = on;
        self
    }

    /// Stores `data` under a new token, for the TTL.
    pub async fn create<T: Serialize + ?Sized>(&self, data: &T) -> Result<SessionToken, Error> {
        let json = self.cache.encode(data)?;
        // 256 random bits do not collide; `NX` makes sure anyway.
        for _ in 0..3 {
            let token = new_token()?;
            let set = SetIf {
                key: &self.key(&token),
                value: &json,
                ttl: self.ttl,
                present: false,
            };
            if self.cache.store().exec_control(&set).await? {
                return Ok(SessionToken(token));
            }
        }
        Err(Error::Random(
            "three session tokens in a row were taken".into(),
        ))
    }

    /// The session's data; `None` for a malformed, unknown or expired token,
    /// or data that does not decode as `T`. Renews the TTL when sliding.
    pub async fn get<T: DeserializeOwned>(&self, token: &str) -> Result<Option<T>, Error> {
        if !is_well_formed(token) {
            return Ok(None);
        }
        let key = self.key(token);
        let bytes = match self.sliding {
            true => {
                let get = GetTouch {
                    key: &key,
                    ttl: self.ttl,
                };
                self.cache.store().exec_control(&get).await?
            }
            false => self.cache.store().exec_control(&Get(&key)).await?,
        };
        Ok(bytes.and_then(|bytes| match serde_json::from_slice(&bytes) {
            Ok(data) => Some(data),
            Err(error) => {
                tracing::warn!(%error, "session data does not decode; treating it as no session");
                None
            }
        }))
    }

    /// Replaces the session's data (and renews its TTL); false when there is
    /// no such session.
    pub async fn update<T: Serialize + ?Sized>(
        &self,
        token: &str,
        data: &T,
    ) -> Result<bool, Error> {
        if !is_well_formed(token) {
            return Ok(false);
        }
        let json = self.cache.encode(data)?;
        let set = SetIf {
            key: &self.key(token),
            value: &json,
            ttl: self.ttl,
            present: true,
        };
        self.cache.store().exec_control(&set).await
    }

    /// Renews the session's TTL; false when there is no such session.
    pub async fn touch(&self, token: &str) -> Result<bool, Error> {
        if !is_well_formed(token) {
            return Ok(false);
        }
        let touch = Touch {
            key: &self.key(token),
            ttl: self.ttl,
        };
        self.cache.store().exec_control(&touch).await
    }

    /// Ends the session; false when there was none.
    pub async fn destroy(&self, token: &str) -> Result<bool, Error> {
        if !is_well_formed(token) {
            return Ok(false);
        }
        self.cache
            .store()
            .exec_control(&Delete(&self.key(token)))
            .await
    }

    /// `<prefix>:<hex SHA-256 of the token>`.
    fn key(&self, token: &str) -> String {
        let digest = Sha256::digest(token.as_bytes());
        let mut key = String::with_capacity(self.prefix.len() + 65);
        key.push_str(&self.prefix);
        key.push(':');
        for byte in digest {
            key.push_str(&format!("{byte:02x}"));
        }
        key
    }
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .field("sliding", &self.sliding)
            .finish()
    }
}

/// A token this module could have made: 43 base64url characters.
fn is_well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn new_token() -> Result<String, Error> {
    let mut bytes = [0u8; TOKEN_BYTES];
    crate::lock::fill_random(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_url_safe_characters_and_differ() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert!(is_well_formed(&a), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn malformed_tokens_are_refused_before_any_lookup() {
        for token in [
            "",
            "short",
            &"a".repeat(44),
            &format!("{}/", "a".repeat(42)),
        ] {
            assert!(!is_well_formed(token), "{token}");
        }
    }

    #[test]
    fn keys_hold_the_tokens_hash_not_the_token() {
        let sessions = Cache::embedded().sessions();
        let token = new_token().unwrap();
        let key = sessions.key(&token);
        assert!(key.starts_with("session:") && key.len() == "session:".len() + 64);
        assert!(!key.contains(&token));
    }

    #[test]
    fn a_token_debug_prints_no_secret() {
        let token = SessionToken(new_token().unwrap());
        assert_eq!(format!("{token:?}"), "SessionToken(***)");
    }

    #[tokio::test]
    async fn an_embedded_session_lives_slides_and_ends() {
        let sessions = Cache::embedded().sessions().ttl(Duration::from_millis(200));
        let token = sessions.create(&42u64).await.unwrap();
        assert_eq!(sessions.get::<u64>(token.as_str()).await.unwrap(), Some(42));
        assert_eq!(
            sessions.get::<String>(token.as_str()).await.unwrap(),
            None,
            "wrong type"
        );
        assert!(sessions.update(token.as_str(), &7u64).await.unwrap());
        assert_eq!(sessions.get::<u64>(token.as_str()).await.unwrap(), Some(7));
        assert!(sessions.destroy(token.as_str()).await.unwrap());
        assert_eq!(sessions.get::<u64>(token.as_str()).await.unwrap(), None);
        assert!(!sessions.touch(token.as_str()).await.unwrap());
    }
}
