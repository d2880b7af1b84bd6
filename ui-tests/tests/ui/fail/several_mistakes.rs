use cache_runtime::cache_result;

// Independent mistakes are reported together, each at its own token.
#[cache_result(expire = 0, skip(nope))]
fn f(id: u64) -> &'static str {
    let _ = id;
    "x"
}

fn main() {}
