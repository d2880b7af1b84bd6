//! A master watched by Redis Sentinel: where it is now.
//!
//! The store asks the Sentinels for the master's address
//! (`SENTINEL get-master-addr-by-name`) whenever it opens a connection, and
//! checks with `ROLE` that the server there is a master (a Sentinel may not
//! have seen a failover yet). It opens one again, asking again, when the
//! connection is lost, when the server answers `READONLY` (demoted), and
//! when a Sentinel announces `+switch-master` ([`watch`]): so it follows a
//! failover by itself, within the breaker, timeouts and fail-open
//! handling every command has.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use redis::{RedisResult, Value};

use super::address::at;
use crate::config::{encode_userinfo, Sentinel};
use crate::sync::{lock, spawn};

/// The scheme suffix of the URL form:
/// `redis+sentinel://[user:password@]host:port,host:port/<master>[/db]`.
const SENTINEL_SCHEME: &str = "+sentinel://";

/// The settings a `redis+sentinel://` URL gives; `None` when `url` has
/// another form, an error when it is malformed.
pub(crate) fn sentinel_url(url: &str) -> Option<Result<Sentinel, String>> {
    let at = url.find(SENTINEL_SCHEME)?;
    let scheme = &url[..at];
    let rest = &url[at + SENTINEL_SCHEME.len()..];
    let (userinfo, rest) = match rest.rsplit_once('@') {
        Some((userinfo, rest)) => (Some(userinfo), rest),
        None => (None, rest),
    };
    let mut parts = rest.splitn(3, '/');
    let hosts = parts.next().unwrap_or_default();
    let Some(master) = parts.next().filter(|name| !name.is_empty()) else {
        return Some(Err(
            "a Sentinel URL names its master: redis+sentinel://host:port,.../<master>[/db]".into(),
        ));
    };
    let db = match parts.next().map(|db| db.trim_end_matches('/')) {
        None | Some("") => 0,
        Some(db) => match db.parse() {
            Ok(db) => db,
            Err(_) => return Some(Err(format!("`{db}` is not a database number"))),
        },
    };
    let prefix = userinfo.map(|info| format!("{info}@")).unwrap_or_default();
    let sentinels = hosts
        .split(',')
        .map(str::trim)
        .filter(|host| !host.is_empty())
        .map(|host| format!("{scheme}://{prefix}{host}"))
        .collect::<Vec<_>>();
    let mut settings = Sentinel::new(master, sentinels).db(db);
    if let Some(userinfo) = userinfo {
        let userinfo = percent_decode(userinfo);
        let (user, password) = match userinfo.split_once(':') {
            Some((user, password)) => (Some(user), Some(password)),
            None => (None, Some(userinfo.as_str())),
        };
        if let Some(user) = user.filter(|user| !user.is_empty()) {
            settings = settings.master_username(user);
        }
        if let Some(password) = password.filter(|password| !password.is_empty()) {
            settings = settings.master_password(password);
        }
    }
    Some(Ok(settings))
}

/// `%XX` sequences decoded (URL user info, as [`encode_userinfo`] writes it).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// The Sentinels of one master, and how to reach that master.
pub(crate) struct Sentinels {
    name: String,
    /// A client per Sentinel, with the Sentinels' credentials; the one
    /// that answered last is asked first.
    sentinels: Mutex<Vec<redis::Client>>,
    /// The master's settings (credentials, database, TLS), at an address
    /// the answer replaces.
    master: redis::Client,
    /// Where the master was last found.
    last: Mutex<Option<(String, u16)>>,
}

impl Sentinels {
    /// `make` builds a client from a URL (with the configured TLS roots).
    pub(crate) fn new(
        settings: &Sentinel,
        make: impl Fn(&str) -> RedisResult<redis::Client>,
    ) -> RedisResult<Self> {
        if settings.sentinels.is_empty() {
            return Err((redis::ErrorKind::InvalidClientConfig, "no Sentinel given").into());
        }
        let sentinels = settings
            .sentinels
            .iter()
            .map(|url| make(&encode_userinfo(url)))
            .collect::<RedisResult<Vec<_>>>()?;
        let scheme = match settings.tls() {
            true => "rediss",
            false => "redis",
        };
        let placeholder = make(&format!("{scheme}://127.0.0.1:6379"))?;
        let mut redis = placeholder
            .get_connection_info()
            .redis_settings()
            .clone()
            .set_db(settings.db);
        if let Some(user) = &settings.username {
            redis = redis.set_username(user);
        }
        if let Some(password) = &settings.password {
            redis = redis.set_password(password);
        }
        let info = placeholder
            .get_connection_info()
            .clone()
            .set_redis_settings(redis);
        Ok(Sentinels {
            name: settings.master_name.clone(),
            sentinels: Mutex::new(sentinels),
            master: redis::Client::open(info)?,
            last: Mutex::new(None),
        })
    }

    /// The Sentinels, the one that answered last first.
    pub(crate) fn sentinels(&self) -> Vec<redis::Client> {
        lock(&self.sentinels).clone()
    }

    /// Asks first, from now on, the Sentinel at `index` of `asked`.
    fn answered(&self, asked: &[redis::Client], index: usize) {
        if index > 0 {
            let mut sentinels = lock(&self.sentinels);
            let answered = asked[index].get_connection_info().addr().to_string();
            if let Some(at) = sentinels
                .iter()
                .position(|s| s.get_connection_info().addr().to_string() == answered)
            {
                let sentinel = sentinels.remove(at);
                sentinels.insert(0, sentinel);
            }
        }
    }

    /// A client for the master at `address`, as a Sentinel named it.
    pub(crate) fn found(&self, address: (String, u16)) -> RedisResult<redis::Client> {
        let client = at(&self.master, &address.0, address.1)?;
        let mut last = lock(&self.last);
        if last.as_ref().is_some_and(|last| *last != address) {
            tracing::info!(master = %self.name, host = %address.0, port = address.1,
                "Sentinel names a new master");
        }
        *last = Some(address);
        Ok(client)
    }

    /// How long each Sentinel is given, out of a connect timeout of
    /// `connect`: an equal share for each Sentinel and one for the master,
    /// so that a Sentinel that never answers (a host down) leaves time to
    /// ask the next one, and to connect to the master they name.
    pub(crate) fn each(&self, connect: Duration) -> Duration {
        let shares = lock(&self.sentinels).len() as u32 + 1;
        connect / shares
    }

    /// A client for the master, as the first Sentinel that answers names
    /// it, each asked within its share of `connect` (see [`Sentinels::each`]).
    pub(crate) async fn master(&self, connect: Duration) -> RedisResult<redis::Client> {
        let timeout = self.each(connect);
        let asked = self.sentinels();
        let mut failure = None;
        for (index, sentinel) in asked.iter().enumerate() {
            let ask = async {
                let mut connection = sentinel.get_multiplexed_async_connection().await?;
                let reply: Value = self.get_master_addr().query_async(&mut connection).await?;
                address(reply)
            };
            let reply = match tokio::time::timeout(timeout, ask).await {
                Ok(reply) => reply,
                Err(_) => Err(timed_out()),
            };
            match reply {
                Ok(address) => {
                    self.answered(&asked, index);
                    return self.found(address);
                }
                Err(error) => failure = Some(error),
            }
        }
        Err(failure.unwrap_or_else(timed_out))
    }

    /// [`Sentinels::master`], blocking.
    pub(crate) fn master_blocking(&self, connect: Duration) -> RedisResult<redis::Client> {
        let timeout = self.each(connect);
        let asked = self.sentinels();
        let mut failure = None;
        for (index, sentinel) in asked.iter().enumerate() {
            let ask = || {
                let mut connection = sentinel.get_connection_with_timeout(timeout)?;
                connection.set_read_timeout(Some(timeout))?;
                address(self.get_master_addr().query(&mut connection)?)
            };
            match ask() {
                Ok(address) => {
                    self.answered(&asked, index);
                    return self.found(address);
                }
                Err(error) => failure = Some(error),
            }
        }
        Err(failure.unwrap_or_else(timed_out))
    }
}

impl Sentinels {
    /// The question that finds the master.
    pub(crate) fn get_master_addr(&self) -> redis::Cmd {
        let mut cmd = redis::cmd("SENTINEL");
        cmd.arg("get-master-addr-by-name").arg(&self.name);
        cmd
    }
}

/// `[host, port]`; nil when the Sentinel does not know the master.
pub(crate) fn address(reply: Value) -> RedisResult<(String, u16)> {
    let unknown = || -> redis::RedisError {
        (
            redis::ErrorKind::InvalidClientConfig,
            "the Sentinel does not know this master",
        )
            .into()
    };
    let (host, port): (String, String) = match reply {
        Value::Nil => return Err(unknown()),
        reply => redis::FromRedisValue::from_redis_value(reply)?,
    };
    let port = port.parse().map_err(|_| unknown())?;
    Ok((host, port))
}

fn timed_out() -> redis::RedisError {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "no Sentinel answered in time").into()
}

/// `Ok` if `ROLE`'s reply says master; else the error of a server a
/// Sentinel named that is not (or no longer) a master.
pub(crate) fn master_role(role: Value) -> RedisResult<()> {
    match &role {
        Value::Array(fields) if matches!(fields.first(), Some(Value::BulkString(role)) if role == b"master") => {
            Ok(())
        }
        _ => Err((
            redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly),
            "the server Sentinel named is not a master",
        )
            .into()),
    }
}

/// What follows the master: the store, whose connections a switch retires.
pub(crate) trait Follower: Send + Sync + 'static {
    fn leave_master(&self);
}

/// How often the watch checks that its store still exists.
const HEARTBEAT: Duration = Duration::from_secs(1);
const BACKOFF: Duration = Duration::from_millis(500);

/// Listens, on a thread of its own, for a Sentinel's `+switch-master`
/// about this master, and then retires the store's connections: the next
/// command asks the Sentinels again, and connects to the new master,
/// before any command has failed on the old one (a demoted master stays
/// up, and would answer reads as a replica). Ends with the store.
pub(crate) fn watch<F: Follower>(store: Weak<F>, sentinels: &Arc<Sentinels>, timeout: Duration) {
    let sentinels = Arc::clone(sentinels);
    let spawned = spawn("cache-runtime-sentinel", move || loop {
        for sentinel in sentinels.sentinels() {
            let started = Instant::now();
            match listen(&store, &sentinels, &sentinel, timeout) {
                Ok(()) => return,
                Err(error) => {
                    tracing::debug!(%error, master = %sentinels.name,
                        "lost a Sentinel's announcements; trying the next Sentinel");
                }
            }
            if store.strong_count() == 0 {
                return;
            }
            if started.elapsed() < BACKOFF {
                std::thread::sleep(BACKOFF);
            }
        }
    });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot watch the Sentinels; failovers are followed on errors only");
    }
}

/// Applies `sentinel`'s announcements until it fails (an error) or the
/// store is gone (`Ok`).
fn listen<F: Follower>(
    store: &Weak<F>,
    sentinels: &Sentinels,
    sentinel: &redis::Client,
    timeout: Duration,
) -> RedisResult<()> {
    let mut connection = sentinel.get_connection_with_timeout(timeout)?;
    let mut pubsub = connection.as_pubsub();
    pubsub.set_read_timeout(Some(HEARTBEAT))?;
    pubsub.subscribe("+switch-master")?;
    loop {
        let message = match pubsub.get_message() {
            Ok(message) => Some(message),
            Err(error) if error.is_timeout() => None,
            Err(error) => return Err(error),
        };
        let Some(store) = store.upgrade() else {
            return Ok(());
        };
        let Some(message) = message else {
            continue;
        };
        // `<master name> <old ip> <old port> <new ip> <new port>`
        let text = String::from_utf8_lossy(message.get_payload_bytes()).into_owned();
        if text.split(' ').next() == Some(sentinels.name.as_str()) {
            tracing::warn!(master = %sentinels.name, announcement = %text,
                "Sentinel switched the master; connecting to the new one");
            store.leave_master();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_form_names_sentinels_master_credentials_and_database() {
        let settings = sentinel_url("redis+sentinel://u:p%40ss@h1:26379, h2:26380/main/2")
            .unwrap()
            .unwrap();
        assert_eq!(settings.master_name, "main");
        assert_eq!(
            settings.sentinels,
            ["redis://u:p%40ss@h1:26379", "redis://u:p%40ss@h2:26380"]
        );
        assert_eq!(settings.username.as_deref(), Some("u"));
        assert_eq!(settings.password.as_deref(), Some("p@ss"));
        assert_eq!(settings.db, 2);

        let plain = sentinel_url("rediss+sentinel://h1:26379/main")
            .unwrap()
            .unwrap();
        assert_eq!(plain.sentinels, ["rediss://h1:26379"]);
        assert!(plain.tls());
        assert_eq!((plain.password, plain.db), (None, 0));

        assert!(sentinel_url("redis+sentinel://h1:26379").unwrap().is_err());
        assert!(sentinel_url("redis+sentinel://h1/main/x").unwrap().is_err());
        assert!(sentinel_url("redis://h1:6379").is_none());
    }

    #[test]
    fn the_master_takes_its_own_credentials_not_the_sentinels() {
        let settings = Sentinel::new("main", ["redis://:sentinel-pw@h1:26379"])
            .master_password("master-pw")
            .db(3);
        let sentinels = Sentinels::new(&settings, |url| redis::Client::open(url)).unwrap();
        let master = sentinels.found(("10.0.0.9".into(), 6380)).unwrap();
        let info = master.get_connection_info();
        assert_eq!(info.redis_settings().password(), Some("master-pw"));
        assert_eq!(info.redis_settings().db(), 3);
        assert_eq!(info.addr().to_string(), "10.0.0.9:6380");
        let sentinel = &sentinels.sentinels()[0];
        let sentinel = sentinel.get_connection_info().redis_settings();
        assert_eq!(sentinel.password(), Some("sentinel-pw"));
    }
}
