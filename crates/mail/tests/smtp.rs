//! `SmtpMailer` against the in-process SMTP sink.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use coffee_domain::mail::{Mail, Mailer};
use coffee_mail::{MailConfigError, SmtpMailer};
use coffee_testkit::SmtpSink;

const FROM: &str = "Coffee Shop <no-reply@coffee.local>";
const WAIT: Duration = Duration::from_secs(5);

fn verification(to: &str) -> Mail {
    Mail::Verification {
        to: to.into(),
        code: "271828".into(),
        link: "http://localhost:8080/auth/verify?token=Zm9v_bar-1".into(),
        valid_minutes: 24 * 60,
    }
}

#[tokio::test]
async fn delivers_a_verification_mail_to_the_sink() {
    let sink = SmtpSink::start().await;
    let mailer = SmtpMailer::new(&sink.url(), FROM).unwrap();
    mailer.send(&verification("ann@example.com")).await.unwrap();

    let got = sink.wait_for(|m| m.to == ["ann@example.com"], WAIT).await.unwrap();
    assert_eq!(got.from, "no-reply@coffee.local");
    assert_eq!(got.subject().unwrap(), "Confirm your e-mail address for Coffee Shop");
    assert!(got.header("From").unwrap().contains("Coffee Shop"));
    assert!(got.header("Content-Type").unwrap().starts_with("multipart/alternative"));
    assert_eq!(got.verification_code().unwrap(), "271828");
    assert_eq!(got.verification_link().unwrap(), "http://localhost:8080/auth/verify?token=Zm9v_bar-1");
    assert!(got.text().unwrap().contains("valid for 24 hours"));
    assert!(got.html().unwrap().contains("271828"));
}

#[tokio::test]
async fn authenticates_when_the_url_has_credentials() {
    let sink = SmtpSink::start().await;
    let url = sink.url().replace("smtp://", "smtp://user:p%40ss@");
    let mailer = SmtpMailer::new(&url, FROM).unwrap();
    for to in ["a@example.com", "b@example.com", "c@example.com"] {
        mailer.send(&verification(to)).await.unwrap();
    }
    assert!(sink.wait_for(|m| m.to == ["c@example.com"], WAIT).await.is_some());
    assert_eq!(sink.messages().len(), 3);
}

#[tokio::test]
async fn a_transient_failure_is_an_error_and_the_next_send_works() {
    let sink = SmtpSink::start().await;
    let mailer = SmtpMailer::new(&sink.url(), FROM).unwrap();
    sink.fail_next(1);
    let err = mailer.send(&verification("ann@example.com")).await.unwrap_err();
    let chain = coffee_domain::error::error_chain(&err);
    assert!(chain.contains("451"), "{chain}");
    assert!(!err.is_permanent(), "a 4xx answer may pass: the mail is tried again");
    mailer.send(&verification("ann@example.com")).await.unwrap();
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn a_message_refused_for_good_is_a_permanent_failure() {
    let sink = SmtpSink::start().await;
    let mailer = SmtpMailer::new(&sink.url(), FROM).unwrap();
    sink.reject_next(1);
    let err = mailer.send(&verification("ann@example.com")).await.unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert!(coffee_domain::error::error_chain(&err).contains("550"));
    mailer.send(&verification("ann@example.com")).await.unwrap();
}

/// A server that answers each command in turn with the next of `replies`
/// (after its greeting), then `250` to whatever follows (the client's
/// `RSET` after a refusal).
async fn scripted_server(replies: Vec<String>) -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        write.write_all(b"220 scripted ESMTP\r\n").await.unwrap();
        for reply in replies {
            if lines.next_line().await.unwrap().is_none() {
                return;
            }
            write.write_all(format!("{reply}\r\n").as_bytes()).await.unwrap();
        }
        while let Ok(Some(_)) = lines.next_line().await {
            write.write_all(b"250 OK\r\n").await.unwrap();
        }
    });
    (url, task)
}

#[tokio::test]
async fn a_5xx_about_the_configuration_or_a_passing_limit_is_retried_like_a_server_that_is_down() {
    // 5xx answers, but about the session's credentials, a sender or relay
    // the server refuses, or a quota: every mail gets them until the
    // configuration is fixed or the day ends, so none is given up on; nor
    // is one that says too little to tell.
    for reply in [
        "535 5.7.8 authentication required",
        "554 5.7.1 Relay access denied",
        "550 5.4.5 Daily sending quota exceeded",
        "550 Requested action not taken",
    ] {
        let err = refusal(reply).await;
        assert!(coffee_domain::error::error_chain(&err).contains(&reply[..3]), "{reply}: {err:?}");
        assert!(!err.is_permanent(), "{reply}: {err:?}");
    }
    // Refusals of the message itself are final: its address, its size.
    for reply in ["550 5.1.1 No such user", "552 5.3.4 Message too big"] {
        assert!(refusal(reply).await.is_permanent(), "{reply}");
    }
}

/// What sending a mail gives against a server that answers `DATA` with `reply`.
async fn refusal(reply: &str) -> coffee_domain::error::InfraError {
    let replies = ["250 scripted", "250 OK", "250 OK", reply].map(str::to_owned).to_vec();
    let (url, server) = scripted_server(replies).await;
    let err = SmtpMailer::new(&url, FROM).unwrap().send(&verification("ann@example.com")).await.unwrap_err();
    server.abort();
    err
}

#[tokio::test]
async fn a_silent_server_times_out() {
    // Accepts connections but never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let mailer = SmtpMailer::new(&url, FROM).unwrap().with_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let err = mailer.send(&verification("ann@example.com")).await.unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // The mailer starts over with a fresh pool and stays usable.
    let err = mailer.send(&verification("ann@example.com")).await.unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
    hold.abort();
}

#[tokio::test]
async fn an_unreachable_server_is_an_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mailer = SmtpMailer::new(&format!("smtp://127.0.0.1:{port}"), FROM).unwrap();
    assert!(mailer.send(&verification("ann@example.com")).await.is_err());
}

#[tokio::test]
async fn bad_configuration_names_the_variable_and_hides_the_password() {
    for url in ["", "not a url", "http://host:25", "smtp://host?tls=maybe", "smtp:///nohost"] {
        let err = SmtpMailer::new(url, FROM).unwrap_err();
        assert!(matches!(err, MailConfigError::SmtpUrl(_)), "{url}: {err:?}");
        assert!(err.to_string().starts_with("SMTP_URL: "), "{err}");
    }
    let err = SmtpMailer::new("smtp://user:s3cret@host:bad-port", FROM).unwrap_err();
    assert!(err.to_string().starts_with("SMTP_URL: "), "{err}");
    assert!(!err.to_string().contains("s3cret"), "{err}");

    for from in ["", "no-at-sign", "Coffee Shop <broken"] {
        let err = SmtpMailer::new("smtp://localhost:1025", from).unwrap_err();
        assert!(err.to_string().starts_with("MAIL_FROM: "), "{from}: {err}");
    }
}

#[test]
fn outside_a_runtime_is_an_error_not_a_panic() {
    let err = SmtpMailer::new("smtp://localhost:1025", FROM).unwrap_err();
    assert!(matches!(err, MailConfigError::NoRuntime), "{err:?}");
}

#[tokio::test]
async fn accepted_url_forms() {
    for url in [
        "smtp://localhost",
        "smtp://localhost:1025",
        "smtp://user:pass@localhost:1025",
        "smtp://localhost:587?tls=required",
        "smtp://localhost:587?tls=opportunistic",
        "smtps://user:pass@smtp.example.com",
        "smtps://smtp.example.com:465",
    ] {
        assert!(SmtpMailer::new(url, FROM).is_ok(), "{url}");
    }
}
