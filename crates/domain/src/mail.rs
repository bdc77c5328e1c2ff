//! Outgoing e-mail: what is sent (the adapters decide how it looks).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::InfraError;

/// One e-mail the system sends. Rendering is the mail adapter's business.
/// Mails are stored in the outbox and queued as JSON, so variants only
/// grow. During a rolling deploy an older relay or worker meets a newer
/// variant: it leaves it for a newer one (`coffee_storage`'s `claim_due`,
/// `coffee_jobs::Work`), for up to `outbox::GIVE_UP_AFTER`.
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
    /// Tells the staff about a new order.
    NewOrder {
        /// One admin (or one address of `ADMIN_NOTIFY_EMAILS`): each gets
        /// their own mail. A list, since entries recorded by earlier releases
        /// name every recipient in one mail, and they still decode.
        to: Vec<String>,
        /// The order.
        order: OrderSummary,
    },
    /// Tells a customer that an admin marked their order ready or cancelled it.
    OrderStatus {
        /// The customer.
        to: String,
        /// The order.
        order: OrderSummary,
        /// `ready` or `cancelled`.
        status: String,
    },
}

/// An order as a mail shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSummary {
    /// The number the barista calls out.
    pub number: i64,
    /// Who ordered: name and address.
    pub customer: String,
    /// The lines.
    pub items: Vec<OrderSummaryLine>,
    /// Total in minor units of `currency`.
    pub total: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// The pickup time in the shop's local time (`"Fri 6 Mar 2026, 20:15"`),
    /// or `None` for as soon as possible.
    pub pickup: Option<String>,
    /// The customer's note.
    pub comment: Option<String>,
}

/// One line of an [`OrderSummary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSummaryLine {
    /// Product name when ordered.
    pub name: String,
    /// How many.
    pub quantity: u32,
    /// Line total in minor units.
    pub line_total: i64,
}

impl Mail {
    /// Every recipient of this mail.
    pub fn recipients(&self) -> Vec<&str> {
        match self {
            Mail::Verification { to, .. } | Mail::OrderStatus { to, .. } => vec![to.as_str()],
            Mail::NewOrder { to, .. } => to.iter().map(String::as_str).collect(),
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
