//! How a command ends: its exit status, and the message it prints on stderr. Every subcommand
//! (`cli`, `doctor`, `hold`, `service`) ends with a [`Failure`] or success.

/// Exit status: success.
pub const EXIT_OK: i32 = 0;
/// Exit status: an error (I/O, a server that failed, a bad config).
pub const EXIT_ERROR: i32 = 1;
/// Exit status: a usage error (bad arguments or input).
pub const EXIT_USAGE: i32 = 2;
/// Exit status: the request was not found.
pub(crate) const EXIT_NOT_FOUND: i32 = 3;
/// Exit status: refused (not allowed, or not possible in the request's state).
pub(crate) const EXIT_REFUSED: i32 = 4;

/// A failure with its exit status.
#[derive(Debug)]
pub struct Failure {
    /// The exit status.
    pub code: i32,
    /// What to print on stderr.
    pub message: String,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Self::new(EXIT_ERROR, format!("{e:#}"))
    }
}

/// The exit status for an error code of the API or tool: a queue error by its kind; the API's
/// own refusals (`executing`, `lease_expired`) are refusals; anything else is a bad input.
pub(crate) fn exit_for(code: &str) -> i32 {
    match lull_queue::ErrorKind::from_code(code) {
        Some(lull_queue::ErrorKind::NotFound) => EXIT_NOT_FOUND,
        Some(lull_queue::ErrorKind::Internal) => EXIT_ERROR,
        Some(_) => EXIT_REFUSED,
        None if matches!(code, "executing" | "lease_expired") => EXIT_REFUSED,
        None => EXIT_USAGE,
    }
}
