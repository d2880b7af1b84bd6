//! The value the hit-path measurements cache (`perf/benches/hit_path.rs`,
//! `perf/src/bin/hit_costs.rs`): one struct for both, so that their figures
//! describe the same work.

use serde::{Deserialize, Serialize};

/// Five fields: numbers, strings, a list.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Profile {
    pub id: u64,
    pub name: String,
    pub email: String,
    pub roles: Vec<String>,
    pub score: f64,
}

pub fn profile(id: u64) -> Profile {
    Profile {
        id,
        name: format!("user {id}"),
        email: format!("user{id}@example.com"),
        roles: vec!["reader".into(), "writer".into()],
        score: id as f64 * 1.5,
    }
}
