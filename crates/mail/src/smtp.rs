//! Delivery over SMTP with lettre's pooled async transport.
//!
//! `SMTP_URL` forms (lettre's `from_url`):
//!
//! | URL | connection |
//! |---|---|
//! | `smtp://host:1025` | plain TCP, no TLS (local sink, mailpit, MailHog); default port 25 |
//! | `smtp://host:587?tls=required` | STARTTLS, fails if the server doesn't offer it; default port 587 |
//! | `smtp://host:587?tls=opportunistic` | STARTTLS when offered, else plain |
//! | `smtps://host:465` | implicit TLS; default port 465 |
//!
//! `user:pass@` (percent-encoded) adds credentials (AUTH PLAIN or LOGIN), also
//! over plain `smtp://` — the server must then advertise AUTH, otherwise
//! sending fails. A user name without a password is ignored. A path
//! (`smtp://host/mail.example.com`) sets the EHLO name.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use coffee_domain::error::InfraError;
use coffee_domain::mail::{Mail, Mailer};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::templates::render;

/// How long one delivery may take by default, connection included.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(15);

/// The accepted `SMTP_URL` shapes, for error messages.
const URL_FORMS: &str =
    "smtp://[user:pass@]host[:port][?tls=required|opportunistic] or smtps://[user:pass@]host[:port]";

/// Why an [`SmtpMailer`] could not be configured; the text names the variable.
#[derive(Debug, thiserror::Error)]
pub enum MailConfigError {
    /// `SMTP_URL` is not a usable SMTP URL.
    #[error("SMTP_URL: {0}")]
    SmtpUrl(String),
    /// `MAIL_FROM` is not a mailbox such as `Coffee Shop <no-reply@coffee.local>`.
    #[error("MAIL_FROM: {0}")]
    MailFrom(String),
    /// The mailer was created outside a Tokio runtime (lettre's pool spawns a task).
    #[error("the SMTP mailer must be created inside a Tokio runtime")]
    NoRuntime,
}

/// Reads a `MAIL_FROM` value: a mailbox such as `Coffee Shop <no-reply@coffee.local>`.
///
/// # Errors
/// [`MailConfigError::MailFrom`] saying why it is not one.
pub fn parse_mail_from(mail_from: &str) -> Result<Mailbox, MailConfigError> {
    mail_from.trim().parse().map_err(|e| {
        MailConfigError::MailFrom(format!(
            "not a valid mailbox ({e}); expected e.g. `Coffee Shop <no-reply@coffee.local>`"
        ))
    })
}

/// Sends mail through an SMTP server, reusing connections.
pub struct SmtpMailer {
    /// Kept to build a fresh pool after a timed-out delivery.
    builder: AsyncSmtpTransportBuilder,
    transport: Mutex<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    timeout: Duration,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The transport holds credentials; show only what is harmless.
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for `smtp_url` (see the module docs for the accepted forms)
    /// sending as `mail_from`, with [`DEFAULT_SEND_TIMEOUT`]. Nothing is
    /// connected yet; the first send opens the first connection.
    ///
    /// # Errors
    /// [`MailConfigError::SmtpUrl`] or [`MailConfigError::MailFrom`] when a
    /// value does not parse (the message never repeats the URL, which may hold
    /// a password); [`MailConfigError::NoRuntime`] outside a Tokio runtime.
    pub fn new(smtp_url: &str, mail_from: &str) -> Result<Self, MailConfigError> {
        let from = parse_mail_from(mail_from)?;
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url.trim())
            .map_err(|e| {
                let reason = e.to_string();
                let reason = reason.strip_prefix("Connection error: ").unwrap_or(&reason);
                MailConfigError::SmtpUrl(format!("{reason}; expected {URL_FORMS}"))
            })?
            .timeout(Some(DEFAULT_SEND_TIMEOUT));
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(MailConfigError::NoRuntime);
        }
        Ok(SmtpMailer { transport: Mutex::new(builder.clone().build()), builder, from, timeout: DEFAULT_SEND_TIMEOUT })
    }

    /// Limits one delivery (connect, greeting, authentication, transaction) to `timeout`.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        // lettre applies its own timeout to connecting only; `send` bounds the rest.
        self.builder = self.builder.timeout(Some(timeout));
        self.timeout = timeout;
        self.reset_pool();
        self
    }

    fn message(&self, mail: &Mail) -> Result<Message, InfraError> {
        let rendered = render(mail);
        let mut builder = Message::builder().from(self.from.clone());
        for to in mail.recipients() {
            let to: Mailbox = to.parse().map_err(|e| InfraError::permanent("invalid recipient address", e))?;
            builder = builder.to(to);
        }
        builder
            .subject(rendered.subject)
            .multipart(MultiPart::alternative_plain_html(rendered.text, rendered.html))
            .map_err(|e| InfraError::permanent("could not build the message", e))
    }

    fn transport(&self) -> AsyncSmtpTransport<Tokio1Executor> {
        self.transport.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Replaces the connection pool with a new, empty one.
    fn reset_pool(&self) {
        let fresh = self.builder.clone().build();
        *self.transport.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
    }
}

/// Whether the server refused this message for good: a 5xx answer whose
/// enhanced status code (RFC 3463, the reply's first word) blames the
/// message itself: its address (5.1.x: no such mailbox, a bad domain or
/// syntax), its content (5.6.x) or its size (5.3.4). Other 5xx answers (the
/// SMTP login, 5.7.8; a sender or relaying the server refuses, 5.7.1; a
/// quota, 5.4.5 or 5.2.x; a blocked address) are the configuration's or
/// pass with time, and one without an enhanced code says too little: those
/// are retried like a server that is down.
fn refused_for_good(e: &lettre::transport::smtp::Error) -> bool {
    if !e.is_permanent() {
        return false;
    }
    let Some(reply) = std::error::Error::source(e).map(ToString::to_string) else { return false };
    let enhanced: Vec<&str> = reply.split_whitespace().next().unwrap_or_default().split('.').collect();
    matches!(enhanced.as_slice(), ["5", "1" | "6", _] | ["5", "3", "4"])
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &Mail) -> Result<(), InfraError> {
        let message = self.message(mail)?;
        let transport = self.transport();
        match tokio::time::timeout(self.timeout, transport.send(message)).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(e)) if refused_for_good(&e) => Err(InfraError::permanent("SMTP delivery failed", e)),
            Ok(Err(e)) => Err(InfraError::caused_by("SMTP delivery failed", e)),
            Err(_elapsed) => {
                // Abandoning lettre mid-dialogue hands the connection back to its
                // pool with a reply still unread; start over with a new pool so that
                // connection is never reused (the old pool closes it when dropped).
                self.reset_pool();
                Err(InfraError::new(format!("SMTP delivery timed out after {:?}", self.timeout)))
            }
        }
    }
}
