// Early refresh of a function whose arguments are owned: the body is made
// on demand from clones of them, so that a refresh runs in a task of its own.
#[cache_result(expire = 300, early_refresh = true)]
async fn price(item: u64, mut currency: String) -> u64 {
    currency.make_ascii_uppercase();
    Catalog::price(item, &currency).await
}
