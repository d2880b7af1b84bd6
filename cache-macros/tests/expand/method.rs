// A method of a generic impl: the receiver skipped, the store taken from it,
// each instantiation of `Repo<T>` named apart in its keys.
impl<T: Table> Repo<T> {
    #[cache_result(expire = 60, skip(self), store = &self.cache, lock = true)]
    pub async fn count(&self, filter: Filter) -> u64 {
        self.table.count(&filter).await
    }
}
