//! Errors shared by every port and use case.
//!
//! Expected failures are variants of each use case's own error enum
//! (`EmailTaken`, `InvalidTransition`). Two shared errors are embedded by
//! every one of them: [`crate::access::AccessError`] (who may do what) and
//! [`Unexpected`] (what the client cannot fix). An unexpected failure keeps
//! its whole cause chain as `source()`s, so the log line of a 5xx names the
//! real cause while the response body says nothing internal.

use std::fmt;

/// A boxed error that keeps its own cause chain.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A validation failure of one input field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field (or query parameter) that failed, as the client named it.
    pub field: String,
    /// What is wrong with it, in English, for humans.
    pub message: String,
}

impl FieldError {
    /// A failure of `field` described by `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Collects field errors so that a client learns about all of them at once.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the parsed value, or records the error and returns `None`.
    pub fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }

    /// Records a failure directly.
    pub fn push(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    /// `Ok(())` when nothing failed, else every failure.
    ///
    /// # Errors
    /// The collected field errors, in the order they were found.
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() { Ok(()) } else { Err(self.errors) }
    }

    /// `Ok(value)` when nothing failed and every required part was parsed.
    ///
    /// # Errors
    /// The collected field errors; a `None` with no error recorded is a
    /// programming error and reported against `"body"`.
    pub fn finish_with<T>(self, value: Option<T>) -> Result<T, Vec<FieldError>> {
        self.finish()?;
        value.ok_or_else(|| vec![FieldError::new("body", "is incomplete")])
    }
}

/// Failure of a storage adapter.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// A uniqueness constraint was violated; the payload names the constraint.
    #[error("unique constraint violated: {0}")]
    Conflict(String),
    /// The database could not be reached, or is too busy to answer now.
    #[error("database unavailable")]
    Unavailable(#[source] BoxError),
    /// Anything else.
    #[error("storage failure")]
    Other(#[source] BoxError),
}

/// The error of a port whose failures are all unexpected (queue, mailer,
/// hasher, file store): what failed, and why.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct InfraError {
    message: String,
    #[source]
    source: Option<BoxError>,
    busy: bool,
    permanent: bool,
}

impl InfraError {
    /// A failure described by `message` alone.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), source: None, busy: false, permanent: false }
    }

    /// The adapter is at capacity and refused the work at once (e.g. the
    /// password hasher's queue is full): retrying shortly may work.
    pub fn busy(message: impl Into<String>) -> Self {
        Self { busy: true, ..Self::new(message) }
    }

    /// The work can never succeed as it is (e.g. the SMTP server refused the
    /// message for good, with a 5xx answer): retrying it is pointless.
    pub fn permanent(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self { permanent: true, ..Self::caused_by(message, source) }
    }

    /// Whether this is a [`InfraError::permanent`] failure.
    pub fn is_permanent(&self) -> bool {
        self.permanent
    }

    /// Whether this is a [`InfraError::busy`] refusal.
    pub fn is_busy(&self) -> bool {
        self.busy
    }

    /// A failure described by `message`, caused by `source`.
    pub fn caused_by(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self { source: Some(source.into()), ..Self::new(message) }
    }

    /// What failed (without the cause).
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A failure the client cannot fix. Every use-case error embeds it; the
/// HTTP layer answers 503 for [`Unexpected::Unavailable`] and
/// [`Unexpected::Busy`] and 500 for the rest, logging the whole cause chain
/// and showing none of it.
#[derive(Debug, thiserror::Error)]
pub enum Unexpected {
    /// A dependency (database, queue) is unreachable or busy: retrying later may work.
    #[error("a dependency is unavailable")]
    Unavailable(#[source] BoxError),
    /// The server is at capacity for this kind of work (e.g. too many
    /// password hashes queued) and refused it at once: retrying shortly may work.
    #[error("the server is busy")]
    Busy(#[source] BoxError),
    /// Anything else.
    #[error("unexpected failure")]
    Failed(#[source] BoxError),
}

impl From<RepoError> for Unexpected {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::Unavailable(_) => Unexpected::Unavailable(Box::new(e)),
            RepoError::Conflict(_) | RepoError::Other(_) => Unexpected::Failed(Box::new(e)),
        }
    }
}

impl From<InfraError> for Unexpected {
    fn from(e: InfraError) -> Self {
        if e.is_busy() { Unexpected::Busy(Box::new(e)) } else { Unexpected::Failed(Box::new(e)) }
    }
}

/// `error` and its causes, outermost first, joined by `": "` (for logs and
/// for error texts stored for operators).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// Lets `?` turn the shared port errors into a use-case error through its
/// `Unexpected` variant: `unexpected_from!(CartError);`.
#[macro_export]
macro_rules! unexpected_from {
    ($($error:ty),+ $(,)?) => {$(
        impl From<$crate::error::RepoError> for $error {
            fn from(e: $crate::error::RepoError) -> Self {
                Self::from($crate::error::Unexpected::from(e))
            }
        }
        impl From<$crate::error::InfraError> for $error {
            fn from(e: $crate::error::InfraError) -> Self {
                Self::from($crate::error::Unexpected::from(e))
            }
        }
    )+};
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn an_unexpected_failure_keeps_its_whole_cause_chain() {
        let io = std::io::Error::other("connection reset by peer");
        let e = Unexpected::from(RepoError::Unavailable(Box::new(io)));
        assert!(matches!(e, Unexpected::Unavailable(_)));
        assert_eq!(error_chain(&e), "a dependency is unavailable: database unavailable: connection reset by peer");
    }

    #[test]
    fn infrastructure_failures_are_internal_and_keep_their_cause() {
        let e = Unexpected::from(InfraError::caused_by("redis push failed", "timed out"));
        assert!(matches!(e, Unexpected::Failed(_)));
        let infra = e.source().expect("the infra error");
        assert_eq!(infra.to_string(), "redis push failed");
        assert_eq!(infra.source().map(ToString::to_string).as_deref(), Some("timed out"));
    }

    #[test]
    fn a_busy_adapter_is_a_busy_failure_not_an_internal_one() {
        let e = Unexpected::from(InfraError::busy("password hashing queue is full"));
        assert!(matches!(e, Unexpected::Busy(_)), "{e:?}");
        assert_eq!(error_chain(&e), "the server is busy: password hashing queue is full");
        assert!(!InfraError::new("boom").is_busy());
    }
}
