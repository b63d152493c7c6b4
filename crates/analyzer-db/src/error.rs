//! The one error type every storage backend returns.

use std::error::Error as StdError;

/// A boxed source error from a backend driver (rusqlite, tokio-postgres, ...).
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Everything a storage call can fail with.
///
/// Backends map their driver errors onto these variants so callers can decide what to do
/// without knowing which database sits underneath: `NotFound` is a normal answer to a
/// lookup, `Busy` is worth retrying, everything else is an operator problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The row that a lookup asked for does not exist.
    #[error("not found")]
    NotFound,
    /// Another process held the database lock for longer than the busy timeout.
    #[error("database is busy (locked by another connection)")]
    Busy,
    /// The file is not a database this backend can read (for example a CoreScope schema
    /// older than v3, or a file that is not SQLite at all).
    #[error("unsupported database schema: {0}")]
    UnsupportedSchema(String),
    /// A schema migration step failed; the database is left at the previous step.
    #[error("migration {name} failed")]
    Migration {
        /// The marker name of the step that failed.
        name: String,
        /// What went wrong.
        #[source]
        source: BoxError,
    },
    /// The database reported corruption (failed integrity check, malformed image).
    #[error("database is corrupt: {0}")]
    Corrupt(String),
    /// Reading or creating the database file or its directory failed.
    #[error("i/o error on the database file")]
    Io(#[from] std::io::Error),
    /// This backend (or test double) does not implement the named query.
    #[error("not supported by this storage backend: {0}")]
    Unsupported(&'static str),
    /// Any other error from the backend driver.
    #[error("storage backend error")]
    Backend(#[source] BoxError),
}

/// Shorthand for results of storage calls.
pub type DbResult<T> = Result<T, DbError>;
