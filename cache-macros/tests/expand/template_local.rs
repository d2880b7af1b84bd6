// A key template (`entry!` and `function!` reach its keys by the template),
// the in-process tier, early refresh and a stale window.
#[cache_result(
    expire = 300,
    key = "user:{id}",
    local = 5,
    early_refresh = true,
    stale_if_error = 600
)]
async fn profile(id: u64, locale: &str) -> Result<Profile, Error> {
    Profile::load(id, locale).await
}
