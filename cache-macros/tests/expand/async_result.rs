// The common case: an async function returning `Result`, a handle skipped,
// the key hashed from the other arguments.
#[cache_result(expire = 60, skip(db))]
pub async fn get_user(db: &Db, id: u64) -> Result<User, DbError> {
    db.find(id).await
}
