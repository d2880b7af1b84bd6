//! A cache-aside repository: users in a real SQLite database, reads
//! cached with `#[cache_result]`, writes that update the database and then
//! evict the entry (or write the new value through).
//!
//! ```sh
//! cargo run --example user_repository
//! ```
//!
//! Uses Redis at `REDIS_URL` (default `redis://127.0.0.1:6379`) when one
//! answers, the embedded store otherwise. `tests/suite/user_repository.rs` runs the
//! same repository against a redis-server of its own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use cache_runtime::{cache_result, entry, function, Cache, Config};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub email: String,
}

#[derive(Debug)]
pub enum RepoError {
    Db(rusqlite::Error),
    /// The database changed but the cache could not be told: the entry may
    /// be stale until its TTL ends. The caller decides (retry, alert).
    Cache(cache_runtime::Error),
}

impl From<rusqlite::Error> for RepoError {
    fn from(error: rusqlite::Error) -> Self {
        RepoError::Db(error)
    }
}

impl From<cache_runtime::Error> for RepoError {
    fn from(error: cache_runtime::Error) -> Self {
        RepoError::Cache(error)
    }
}

pub struct UserRepository {
    db: Mutex<Connection>,
    cache: Cache,
    queries: AtomicUsize,
}

impl UserRepository {
    /// A repository over a fresh SQLite database at `path` (`:memory:` for
    /// one that lives in this process).
    pub fn open(path: &str, cache: Cache) -> Result<Self, RepoError> {
        let db = Connection::open(path)?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS users (
                 id    INTEGER PRIMARY KEY,
                 name  TEXT NOT NULL,
                 email TEXT NOT NULL
             )",
        )?;
        Ok(UserRepository {
            db: Mutex::new(db),
            cache,
            queries: AtomicUsize::new(0),
        })
    }

    /// How many SELECTs reached the database: each is a cache miss.
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }

    pub fn insert(&self, user: &User) -> Result<(), RepoError> {
        self.db().execute(
            "INSERT INTO users (id, name, email) VALUES (?1, ?2, ?3)",
            params![user.id, user.name, user.email],
        )?;
        Ok(())
    }

    /// Cached for 30 minutes; a missing row is not cached
    /// (`Ok(None)`), nor is a database error.
    #[cache_result(expire = 1800, skip(self), store = &self.cache)]
    pub async fn find_by_id(&self, id: i64) -> Result<Option<User>, RepoError> {
        self.queries.fetch_add(1, Ordering::SeqCst);
        let user = self
            .db()
            .query_row(
                "SELECT id, name, email FROM users WHERE id = ?1",
                [id],
                |row| {
                    Ok(User {
                        id: row.get(0)?,
                        name: row.get(1)?,
                        email: row.get(2)?,
                    })
                },
            )
            .optional()?;
        Ok(user)
    }

    /// Cached for a minute; another function, for `clear` to leave alone.
    #[cache_result(expire = 60, skip(self), store = &self.cache)]
    pub async fn count(&self) -> Result<i64, RepoError> {
        self.queries.fetch_add(1, Ordering::SeqCst);
        Ok(self
            .db()
            .query_row("SELECT COUNT(*) FROM users", [], |row| row.get(0))?)
    }

    /// Invalidate: update the row, then evict its entry; the next read
    /// repopulates it from the database.
    pub async fn update_user(&self, user: &User) -> Result<(), RepoError> {
        self.write(user)?;
        entry!(self.find_by_id(user.id)).evict().await?;
        Ok(())
    }

    /// Write-through: update the row, then put the new value in the cache;
    /// the next read is a hit that returns it.
    pub async fn update_user_write_through(&self, user: &User) -> Result<(), RepoError> {
        self.write(user)?;
        entry!(self.find_by_id(user.id))
            .put(&Ok(Some(user.clone())))
            .await?;
        Ok(())
    }

    /// Delete the row, then evict its entry.
    pub async fn delete_user(&self, id: i64) -> Result<bool, RepoError> {
        let deleted = self.db().execute("DELETE FROM users WHERE id = ?1", [id])? > 0;
        entry!(self.find_by_id(id)).evict().await?;
        Ok(deleted)
    }

    /// Drops every cached `find_by_id`, leaving `count` cached.
    pub async fn forget_all_users(&self) -> Result<u64, RepoError> {
        Ok(function!(self.find_by_id).clear().await?)
    }

    fn write(&self, user: &User) -> Result<(), RepoError> {
        self.db().execute(
            "UPDATE users SET name = ?2, email = ?3 WHERE id = ?1",
            params![user.id, user.name, user.email],
        )?;
        Ok(())
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[allow(dead_code)] // the tests include this file for the repository alone
#[tokio::main]
async fn main() -> Result<(), RepoError> {
    let cache = match Config::from_env()
        .prefix("user-repository-example")
        .connect()
        .await
    {
        Ok(redis) => redis,
        Err(error) => {
            println!("(no Redis: {error}; using the embedded store)");
            Cache::embedded()
        }
    };
    println!("store: {cache:?}");
    cache.clear().await?; // this example's own prefix: a clean start

    let path = std::env::temp_dir().join(format!("user-repository-{}.sqlite", std::process::id()));
    let repo = UserRepository::open(&path.to_string_lossy(), cache)?;
    let ann = User {
        id: 1,
        name: "Ann".into(),
        email: "ann@example.com".into(),
    };
    repo.insert(&ann)?;

    let report = |step: &str, before: usize, found: &Option<User>| {
        let outcome = if repo.queries() > before {
            "miss (database)"
        } else {
            "hit (cache)"
        };
        println!("{step:<44} {outcome:<16} {found:?}");
    };

    for step in ["find_by_id(1)", "find_by_id(1) again"] {
        let before = repo.queries();
        report(step, before, &repo.find_by_id(1).await?);
    }
    let before = repo.queries();
    report(
        "find_by_id(2), no such row",
        before,
        &repo.find_by_id(2).await?,
    );
    let before = repo.queries();
    report(
        "find_by_id(2) again: missing rows not cached",
        before,
        &repo.find_by_id(2).await?,
    );

    repo.update_user(&User {
        name: "Ann Lee".into(),
        ..ann.clone()
    })
    .await?;
    let before = repo.queries();
    report(
        "after update_user (evict)",
        before,
        &repo.find_by_id(1).await?,
    );

    repo.update_user_write_through(&User {
        name: "Ann Park".into(),
        ..ann.clone()
    })
    .await?;
    let before = repo.queries();
    report(
        "after update_user_write_through (put)",
        before,
        &repo.find_by_id(1).await?,
    );

    repo.delete_user(1).await?;
    let before = repo.queries();
    report(
        "after delete_user (evict)",
        before,
        &repo.find_by_id(1).await?,
    );

    println!("database queries: {}", repo.queries());
    drop(repo);
    let _ = std::fs::remove_file(path);
    Ok(())
}
