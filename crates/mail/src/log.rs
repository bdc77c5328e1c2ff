//! The embedded profile's mailer: the mail goes to the log instead of a server.

use async_trait::async_trait;
use coffee_domain::error::InfraError;
use coffee_domain::mail::{Mail, Mailer};

use crate::templates::render;

/// Logs every mail at INFO (recipient, subject and the plain-text body, so
/// codes and links can be copied from the console). Never fails.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogMailer;

impl LogMailer {
    /// A log mailer.
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, mail: &Mail) -> Result<(), InfraError> {
        let rendered = render(mail);
        tracing::info!(
            to = %mail.recipients().join(", "),
            subject = %rendered.subject,
            "mail not sent (no SMTP_URL configured); its text follows\n{}",
            rendered.text
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Collects everything the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn logs_recipient_subject_code_and_link() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let mail = Mail::Verification {
            to: "ann@example.com".into(),
            code: "314159".into(),
            link: "http://localhost:8080/auth/verify?token=tok".into(),
            valid_minutes: 60,
        };
        LogMailer::new().send(&mail).await.unwrap();

        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(log.contains("INFO"), "{log}");
        assert!(log.contains("ann@example.com"), "{log}");
        assert!(log.contains("Confirm your e-mail address"), "{log}");
        assert!(log.contains("314159"), "{log}");
        assert!(log.contains("http://localhost:8080/auth/verify?token=tok"), "{log}");
        assert!(log.contains("valid for 1 hour"), "{log}");
    }
}
