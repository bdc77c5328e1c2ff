//! Mailer adapters for the domain's [`Mailer`](coffee_domain::mail::Mailer) port.
//!
//! * [`SmtpMailer`] delivers over SMTP with lettre (distributed profile, `SMTP_URL` set).
//! * [`LogMailer`] writes the rendered mail to the log (embedded profile).
//! * [`templates`] turns a domain [`Mail`](coffee_domain::mail::Mail) into subject,
//!   plain text and HTML.

mod log;
mod smtp;
pub mod templates;

pub use log::LogMailer;
pub use smtp::{DEFAULT_SEND_TIMEOUT, MailConfigError, SmtpMailer, parse_mail_from};
pub use templates::{RenderedMail, render};
