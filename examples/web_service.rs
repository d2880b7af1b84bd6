//! A web service on axum: one cache for all
//! handlers, a real SQL database (SQLite, created by the example), and
//!
//! - `GET /users/{id}`: a user and their order statistics, through a cached
//!   function (`/users/{id}/uncached`: the same query, every time);
//! - `POST /session` `{"email", "password"}`: checks the password hash
//!   (argon2), returns a session token; `DELETE /session` logs out;
//! - `GET /profile` with `Authorization: Bearer <token>`: the session's
//!   user, 401 when the token is missing, unknown or expired;
//! - `POST /transfer` `{"from", "to", "amount"}` (authenticated): moves
//!   money between accounts under a distributed lock per account.
//!
//! ```sh
//! cargo run --release --example web_service       # http://127.0.0.1:3000
//! curl 127.0.0.1:3000/users/1
//! curl -X POST 127.0.0.1:3000/session -H 'content-type: application/json' \
//!      -d '{"email":"ann@example.com","password":"ann-password"}'
//! ```
//!
//! Uses Redis at `REDIS_URL` (default 127.0.0.1:6379) when it answers, the
//! embedded store otherwise. `ADDR`, `DB_PATH`, `USERS`, `ORDERS` change the
//! address and the generated data. `scripts/load.sh` drives it with `wrk`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cache_runtime::session::Sessions;
use cache_runtime::{cache_result, Cache, Config};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

/// Everything the handlers share: the database, the cache, the sessions.
pub struct App {
    db: Db,
    pub cache: Cache,
    sessions: Sessions,
}

pub type Shared = Arc<App>;

/// What `GET /users/{id}` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserView {
    pub id: u64,
    pub name: String,
    pub email: String,
    pub orders: u64,
    pub spent_cents: i64,
}

/// What a session holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionUser {
    pub user_id: u64,
    pub name: String,
}

#[derive(Debug)]
pub struct DbError(String);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "database: {}", self.0)
    }
}

impl std::error::Error for DbError {}

impl From<rusqlite::Error> for DbError {
    fn from(error: rusqlite::Error) -> Self {
        DbError(error.to_string())
    }
}

// ---- the cached read --------------------------------------------------

/// The user and their order statistics: an aggregate over every order
/// (a scan: the slow query the cache stands in front of). Missing users and
/// errors are not cached.
#[cache_result(expire = 60, skip(app), store = &app.cache)]
pub async fn user_view(app: &App, id: u64) -> Result<Option<UserView>, DbError> {
    app.db.user_view(id).await
}

// ---- routes -------------------------------------------------------------

pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/users/{id}", get(get_user))
        .route("/users/{id}/uncached", get(get_user_uncached))
        .route("/session", post(create_session).delete(delete_session))
        .route("/profile", get(profile))
        .route("/transfer", post(transfer))
        .with_state(app)
}

async fn get_user(
    State(app): State<Shared>,
    UrlPath(id): UrlPath<u64>,
) -> Result<Json<UserView>, ApiError> {
    user_view(&app, id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

async fn get_user_uncached(
    State(app): State<Shared>,
    UrlPath(id): UrlPath<u64>,
) -> Result<Json<UserView>, ApiError> {
    app.db
        .user_view(id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
}

#[derive(Serialize, Deserialize)]
pub struct TokenReply {
    pub token: String,
}

async fn create_session(
    State(app): State<Shared>,
    Json(credentials): Json<Credentials>,
) -> Result<Json<TokenReply>, ApiError> {
    let user = app
        .db
        .check_password(credentials.email, credentials.password)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let token = app.sessions.create(&user).await?;
    Ok(Json(TokenReply {
        token: token.as_str().to_owned(),
    }))
}

async fn delete_session(
    State(app): State<Shared>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let token = bearer(&headers).ok_or(ApiError::Unauthorized)?;
    match app.sessions.destroy(token).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::Unauthorized),
    }
}

async fn profile(
    State(app): State<Shared>,
    headers: HeaderMap,
) -> Result<Json<UserView>, ApiError> {
    let session = app.authenticate(&headers).await?;
    user_view(&app, session.user_id)
        .await?
        .map(Json)
        .ok_or(ApiError::Unauthorized)
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TransferRequest {
    pub from: u64,
    pub to: u64,
    pub amount: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TransferDone {
    pub from_balance: i64,
    pub to_balance: i64,
}

/// Reads both balances, checks, writes both: a read-modify-write that two
/// concurrent transfers would interleave without the locks. Both accounts
/// are locked in id order, so two transfers in opposite directions cannot
/// wait for each other forever.
async fn transfer(
    State(app): State<Shared>,
    headers: HeaderMap,
    Json(request): Json<TransferRequest>,
) -> Result<Json<TransferDone>, ApiError> {
    let session = app.authenticate(&headers).await?;
    if request.from == request.to || request.amount <= 0 {
        return Err(ApiError::BadRequest(
            "two different accounts and a positive amount",
        ));
    }
    if app.db.owner(request.from).await? != Some(session.user_id) {
        return Err(ApiError::Forbidden);
    }
    let (first, second) = (request.from.min(request.to), request.from.max(request.to));
    let lock = |account: u64| {
        app.cache
            .lock(&format!("account:{account}"))
            .ttl(Duration::from_secs(10))
            .wait(Duration::from_secs(5))
    };
    let first = lock(first).acquire().await?;
    let second = lock(second).acquire().await?;
    let done = app
        .db
        .move_money(request.from, request.to, request.amount)
        .await;
    second.release().await?;
    first.release().await?;
    done?
        .map(Json)
        .ok_or(ApiError::Conflict("insufficient funds"))
}

impl App {
    /// An account's balance, in cents (for tests and tools).
    pub async fn db_balance(&self, account: u64) -> i64 {
        self.db.balance(account).await.expect("the account exists")
    }

    /// The session of the `Authorization: Bearer <token>` header.
    async fn authenticate(&self, headers: &HeaderMap) -> Result<SessionUser, ApiError> {
        let token = bearer(headers).ok_or(ApiError::Unauthorized)?;
        self.sessions
            .get::<SessionUser>(token)
            .await?
            .ok_or(ApiError::Unauthorized)
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// What a request can end in besides success.
#[derive(Debug)]
pub enum ApiError {
    NotFound,
    Unauthorized,
    Forbidden,
    BadRequest(&'static str),
    Conflict(&'static str),
    Db(DbError),
    Cache(cache_runtime::Error),
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        ApiError::Db(error)
    }
}

impl From<cache_runtime::Error> for ApiError {
    fn from(error: cache_runtime::Error) -> Self {
        ApiError::Cache(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not found".to_owned()),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "log in first".to_owned()),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "not your account".to_owned()),
            ApiError::BadRequest(why) => (StatusCode::BAD_REQUEST, why.to_owned()),
            ApiError::Conflict(why) => (StatusCode::CONFLICT, why.to_owned()),
            ApiError::Db(error) => {
                tracing::error!(%error, "database");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "database error".to_owned(),
                )
            }
            // Sessions and locks need Redis: without it, try again later.
            ApiError::Cache(error) => (StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

// ---- the database -------------------------------------------------------

/// SQLite, with a few connections kept for reuse; every query runs on the
/// blocking thread pool.
pub struct Db {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Db {
    fn open(path: &Path) -> Result<Connection, DbError> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(Duration::from_secs(5))?;
        Ok(connection)
    }

    /// Runs `query` on a connection of the pool, off the async threads.
    async fn run<T: Send + 'static>(
        &self,
        query: impl FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
    ) -> Result<T, DbError> {
        let idle = self.idle.lock().unwrap().pop();
        let path = self.path.clone();
        let (connection, result) = tokio::task::spawn_blocking(move || {
            let mut connection = match idle {
                Some(connection) => connection,
                None => Db::open(&path)?,
            };
            let result = query(&mut connection);
            Ok::<_, DbError>((connection, result))
        })
        .await
        .map_err(|error| DbError(error.to_string()))??;
        self.idle.lock().unwrap().push(connection);
        result
    }

    pub async fn user_view(&self, id: u64) -> Result<Option<UserView>, DbError> {
        self.run(move |db| {
            let user = db
                .query_row(
                    "SELECT name, email FROM users WHERE id = ?1",
                    [sql(id)],
                    |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
                )
                .optional()?;
            let Some((name, email)) = user else {
                return Ok(None);
            };
            let (orders, spent_cents) = db.query_row(
                "SELECT COUNT(*), COALESCE(SUM(amount_cents), 0) FROM orders WHERE user_id = ?1",
                [sql(id)],
                |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)),
            )?;
            Ok(Some(UserView {
                id,
                name,
                email,
                orders: orders.unsigned_abs(),
                spent_cents,
            }))
        })
        .await
    }

    async fn check_password(
        &self,
        email: String,
        password: String,
    ) -> Result<Option<SessionUser>, DbError> {
        self.run(move |db| {
            let user = db
                .query_row(
                    "SELECT id, name, password_hash FROM users WHERE email = ?1",
                    [&email],
                    |row| {
                        let id: i64 = row.get(0)?;
                        Ok((
                            id.unsigned_abs(),
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                        ))
                    },
                )
                .optional()?;
            let Some((user_id, name, hash)) = user else {
                return Ok(None);
            };
            let valid = hash.parse::<PasswordHash>().is_ok_and(|hash| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            });
            Ok(valid.then_some(SessionUser { user_id, name }))
        })
        .await
    }

    async fn owner(&self, account: u64) -> Result<Option<u64>, DbError> {
        self.run(move |db| {
            let owner: Option<i64> = db
                .query_row(
                    "SELECT user_id FROM accounts WHERE id = ?1",
                    [sql(account)],
                    |row| row.get(0),
                )
                .optional()?;
            Ok(owner.map(i64::unsigned_abs))
        })
        .await
    }

    /// `None` when `from` has too little money (or an account is missing).
    async fn move_money(
        &self,
        from: u64,
        to: u64,
        amount: i64,
    ) -> Result<Option<TransferDone>, DbError> {
        self.run(move |db| {
            let balance = |db: &Connection, account: u64| -> Result<Option<i64>, DbError> {
                Ok(db
                    .query_row(
                        "SELECT balance_cents FROM accounts WHERE id = ?1",
                        [sql(account)],
                        |row| row.get(0),
                    )
                    .optional()?)
            };
            let (Some(from_balance), Some(to_balance)) = (balance(db, from)?, balance(db, to)?)
            else {
                return Ok(None);
            };
            if from_balance < amount {
                return Ok(None);
            }
            // Give other transfers a chance to interleave, as a slower
            // database would: the locks are what keeps them out.
            std::thread::sleep(Duration::from_millis(2));
            let done = TransferDone {
                from_balance: from_balance - amount,
                to_balance: to_balance + amount,
            };
            let write = db.transaction()?;
            let set = "UPDATE accounts SET balance_cents = ?1 WHERE id = ?2";
            write.execute(set, params![done.from_balance, sql(from)])?;
            write.execute(set, params![done.to_balance, sql(to)])?;
            write.commit()?;
            Ok(Some(done))
        })
        .await
    }

    pub async fn balance(&self, account: u64) -> Result<i64, DbError> {
        self.run(move |db| {
            Ok(db.query_row(
                "SELECT balance_cents FROM accounts WHERE id = ?1",
                [sql(account)],
                |row| row.get(0),
            )?)
        })
        .await
    }
}

/// An id as SQLite's integer; ids past `i64::MAX` name no row.
fn sql(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

/// The users who can log in: (name, email, password). Every user has one
/// account, number = user id, with 1000.00 on it.
pub const LOGINS: [(&str, &str, &str); 3] = [
    ("Ann", "ann@example.com", "ann-password"),
    ("Bob", "bob@example.com", "bob-password"),
    ("Cid", "cid@example.com", "cid-password"),
];

/// Creates the database at `path`: `users` users (the first three from
/// [`LOGINS`]), one account each, `orders` orders spread over the users.
/// `orders.user_id` has no index: the statistics query scans, as an
/// unindexed report does in a real database.
pub fn create_database(path: &Path, users: u64, orders: u64) -> Result<(), DbError> {
    let _ = std::fs::remove_file(path);
    let mut db = Db::open(path)?;
    db.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
                             email TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL);
         CREATE TABLE accounts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL,
                                balance_cents INTEGER NOT NULL);
         CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL,
                              amount_cents INTEGER NOT NULL);",
    )?;
    let fill = db.transaction()?;
    for id in 1..=users {
        let (name, email, hash) = match LOGINS.get(id as usize - 1) {
            Some((name, email, password)) => {
                (name.to_string(), email.to_string(), hash_password(password))
            }
            // Generated users cannot log in: no hash matches any password.
            None => (
                format!("User {id}"),
                format!("user{id}@example.com"),
                "!".to_owned(),
            ),
        };
        fill.execute(
            "INSERT INTO users (id, name, email, password_hash) VALUES (?1, ?2, ?3, ?4)",
            params![sql(id), name, email, hash],
        )?;
        fill.execute(
            "INSERT INTO accounts (id, user_id, balance_cents) VALUES (?1, ?1, 100000)",
            [sql(id)],
        )?;
    }
    {
        let mut insert =
            fill.prepare("INSERT INTO orders (user_id, amount_cents) VALUES (?1, ?2)")?;
        for order in 0..orders {
            insert.execute(params![
                sql(order % users + 1),
                sql((order * 7919) % 10_000 + 100)
            ])?;
        }
    }
    fill.commit()?;
    Ok(())
}

/// An argon2id hash with a random salt, in PHC string form.
fn hash_password(password: &str) -> String {
    let hash: PasswordHash = Argon2::default()
        .hash_password(password.as_bytes())
        .expect("argon2 hashes any password");
    hash.to_string()
}

/// The app over the database at `path`, with `cache` for everything.
pub fn app(path: &Path, cache: Cache) -> Shared {
    Arc::new(App {
        db: Db {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        },
        sessions: cache.sessions().ttl(Duration::from_secs(60 * 60)),
        cache,
    })
}

/// Serves `app` on `listener` until the process ends.
pub async fn serve(app: Shared, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router(app)).await
}

// ---- main ---------------------------------------------------------------

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
#[allow(dead_code)] // tests/suite/web_service.rs includes this file for the app
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    let path: PathBuf = env_or("DB_PATH", std::env::temp_dir().join("cache-web-service.db"));
    let (users, orders) = (env_or("USERS", 1_000), env_or("ORDERS", 200_000));
    println!(
        "creating {} ({users} users, {orders} orders)...",
        path.display()
    );
    tokio::task::block_in_place(|| create_database(&path, users, orders))?;

    let cache = match Config::from_env().connect().await {
        Ok(redis) => redis,
        Err(error) => {
            println!("no Redis ({error}): caching in this process only");
            Cache::embedded()
        }
    };
    let addr: SocketAddr = env_or("ADDR", "127.0.0.1:3000".parse()?);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{addr} with {cache:?}");
    serve(app(&path, cache), listener).await?;
    Ok(())
}
