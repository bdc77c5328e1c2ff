//! Outgoing e-mail: what is sent (the adapters decide how it looks).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::InfraError;

/// One e-mail the system sends. Rendering is the mail adapter's business.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mail {
    /// Asks a new user to confirm their address.
    Verification {
        /// Recipient address (normalised).
        to: String,
        /// The 6-digit code.
        code: String,
        /// The link that verifies without typing the code.
        link: String,
        /// How long the code and link stay valid, in minutes.
        valid_minutes: i64,
    },
}

impl Mail {
    /// The recipient of this mail.
    pub fn recipient(&self) -> &str {
        match self {
            Mail::Verification { to, .. } => to,
        }
    }
}

/// Delivers mail (SMTP, or the log in the embedded profile).
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `mail` now.
    ///
    /// # Errors
    /// The transport failed; the caller decides whether to retry.
    async fn send(&self, mail: &Mail) -> Result<(), InfraError>;
}
