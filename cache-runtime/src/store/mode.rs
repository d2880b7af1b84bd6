//! Whether code runs async or blocks its thread, as a type: what the store's
//! own loops (a clear's `SCAN`s) need to know of [`Io`](super::io::Io),
//! without the commands `Io` sends through a [`Store`](super::Store) (which
//! would tie the store to the module that drives it).

pub(crate) trait Mode {
    /// Whether this is the blocking mode: commands block the thread.
    const BLOCKING: bool;
}
