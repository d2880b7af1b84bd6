// Tags: each a `format_args!` of its template, handed to the call's keys
// and to the `entry!` companion; a tag without holes is a literal.
#[cache_result(expire = 600, tags = ["user:{id}", "users"])]
async fn profile(id: u64) -> Profile {
    Profile::load(id).await
}
