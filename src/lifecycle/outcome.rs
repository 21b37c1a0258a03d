//! How a verb fails, as its exit code tells it: input that makes no sense (PM2's usage
//! errors, exit 2) or processes that did not reach the state asked for (exit 1). The use
//! cases return these; `cli::finish` prints them and picks the code.

/// A command line or input that makes no sense (exit code 2, as for clap's own usage
/// errors); nothing was changed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Some instances did not reach the state asked for; each was already reported.
#[derive(Debug, thiserror::Error)]
#[error("[PM2][ERROR] {0}")]
pub struct ActionFailed(pub String);
