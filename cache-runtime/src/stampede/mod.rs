//! Stampede protection: when a key misses, one caller computes it while
//! the others wait for its result. In this process, concurrent callers of
//! one key share one run (`flight`); across processes, with `lock = true`,
//! one process holds the key's lease and the others poll for its value
//! (`lease`).

pub(crate) mod flight;
pub(crate) mod lease;
