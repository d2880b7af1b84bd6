//! The function keeps its visibility, doc comments and other attributes.
#![deny(missing_docs)]

use cache_runtime::cache_result;

/// Public, documented, with an attribute before and after ours.
#[must_use = "the count is the point"]
#[cache_result(expire = 60)]
#[allow(clippy::needless_return)]
pub async fn documented(id: u64) -> u64 {
    return id;
}

pub(crate) mod inner {
    use cache_runtime::cache_result;

    /// Crate-visible.
    #[cache_result(expire = 5)]
    pub(crate) async fn crate_visible(id: u64) -> u64 {
        id
    }
}

fn main() {
    let _ = inner::crate_visible;
}
