//! The SMTP sink, driven by hand over TCP and by lettre.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use coffee_testkit::SmtpSink;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// A hand-driven SMTP client.
struct Client {
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
}

impl Client {
    async fn connect(sink: &SmtpSink) -> Client {
        let (read, write) = TcpStream::connect(sink.addr()).await.unwrap().into_split();
        let mut client = Client { read: BufReader::new(read), write };
        assert!(client.reply().await.starts_with("220"));
        client
    }

    /// The whole (possibly multi-line) reply.
    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            self.read.read_line(&mut line).await.unwrap();
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.write.write_all(format!("{line}\r\n").as_bytes()).await.unwrap();
        self.reply().await
    }
}

#[tokio::test]
async fn records_a_dialogue_and_unstuffs_dots() {
    let sink = SmtpSink::start().await;
    let mut c = Client::connect(&sink).await;
    let ehlo = c.cmd("EHLO test").await;
    assert!(ehlo.starts_with("250-"), "{ehlo}");
    assert!(!ehlo.contains("STARTTLS"));
    assert!(c.cmd("MAIL FROM:<a@x.test> BODY=8BITMIME").await.starts_with("250"));
    assert!(c.cmd("RCPT TO:<b@y.test>").await.starts_with("250"));
    assert!(c.cmd("rcpt to:<c@y.test>").await.starts_with("250"));
    assert!(c.cmd("DATA").await.starts_with("354"));
    assert!(c.cmd("Subject: hi\r\n\r\n..starts with a dot\r\nend\r\n.").await.starts_with("250"));
    assert!(c.cmd("NOOP").await.starts_with("250"));
    assert!(c.cmd("QUIT").await.starts_with("221"));

    let msgs = sink.messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].from, "a@x.test");
    assert_eq!(msgs[0].to, ["b@y.test", "c@y.test"]);
    assert_eq!(msgs[0].data, "Subject: hi\r\n\r\n.starts with a dot\r\nend\r\n");
    assert_eq!(msgs[0].text().unwrap(), ".starts with a dot\nend\n");
}

#[tokio::test]
async fn enforces_command_order_and_rset() {
    let sink = SmtpSink::start().await;
    let mut c = Client::connect(&sink).await;
    c.cmd("HELO test").await;
    assert!(c.cmd("RCPT TO:<b@y.test>").await.starts_with("503"));
    assert!(c.cmd("MAIL FROM:<a@x.test>").await.starts_with("250"));
    assert!(c.cmd("DATA").await.starts_with("503"));
    assert!(c.cmd("RCPT TO:<b@y.test>").await.starts_with("250"));
    assert!(c.cmd("RSET").await.starts_with("250"));
    assert!(c.cmd("DATA").await.starts_with("503"));
    assert!(c.cmd("VRFY someone").await.starts_with("502"));
}

#[tokio::test]
async fn fail_next_answers_451_to_data_n_times() {
    let sink = SmtpSink::start().await;
    sink.fail_next(2);
    let mut c = Client::connect(&sink).await;
    c.cmd("EHLO test").await;
    for expected in ["451", "451", "354"] {
        c.cmd("MAIL FROM:<a@x.test>").await;
        c.cmd("RCPT TO:<b@y.test>").await;
        assert!(c.cmd("DATA").await.starts_with(expected));
    }
    assert!(c.cmd("body\r\n.").await.starts_with("250"));
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn accepts_any_auth_plain_or_login() {
    let sink = SmtpSink::start().await;
    let mut c = Client::connect(&sink).await;
    c.cmd("EHLO test").await;
    assert!(c.cmd("AUTH PLAIN AHVzZXIAcGFzcw==").await.starts_with("235"));
    assert!(c.cmd("AUTH PLAIN").await.starts_with("334"));
    assert!(c.cmd("AHVzZXIAcGFzcw==").await.starts_with("235"));
    assert!(c.cmd("AUTH LOGIN").await.starts_with("334 VXNlcm5hbWU6"));
    assert!(c.cmd("dXNlcg==").await.starts_with("334 UGFzc3dvcmQ6"));
    assert!(c.cmd("cGFzcw==").await.starts_with("235"));
}

#[tokio::test]
async fn wait_for_sees_later_messages_and_times_out() {
    let sink = SmtpSink::start().await;
    let none = sink.wait_for(|_| true, Duration::from_millis(50)).await;
    assert!(none.is_none());

    let addr = sink.addr();
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let transport =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string()).port(addr.port()).build();
        for to in ["one@y.test", "two@y.test"] {
            let msg = Message::builder()
                .from("a@x.test".parse::<Mailbox>().unwrap())
                .to(to.parse::<Mailbox>().unwrap())
                .body(String::from("hello"))
                .unwrap();
            transport.send(msg).await.unwrap();
        }
    });
    let got = sink.wait_for(|m| m.to == ["two@y.test"], Duration::from_secs(5)).await.unwrap();
    assert_eq!(got.to, ["two@y.test"]);
    sender.await.unwrap();
    assert_eq!(sink.messages().len(), 2);
}

#[tokio::test]
async fn decodes_what_lettre_encodes() {
    let sink = SmtpSink::start().await;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&sink.url()).unwrap().build();
    // Mostly Cyrillic text makes lettre pick base64; mostly ASCII with a few
    // accents and a long line makes it pick quoted-printable.
    let cyrillic = "Здравствуйте! Ваш код: 123456\nСсылка: http://localhost:8080/auth/verify?token=ab12\n";
    let accented = format!("Café — code 654321, {}\nhttps://shop.test/auth/verify?token=xyz\n", "long ".repeat(40));
    let msg = Message::builder()
        .from("a@x.test".parse::<Mailbox>().unwrap())
        .to("b@y.test".parse::<Mailbox>().unwrap())
        .subject("Подтвердите адрес — Coffee Shop")
        .multipart(MultiPart::alternative_plain_html(cyrillic.to_owned(), accented.clone()))
        .unwrap();
    transport.send(msg).await.unwrap();

    let got = sink.wait_for(|_| true, Duration::from_secs(5)).await.unwrap();
    assert!(got.data.contains("Content-Transfer-Encoding: base64"), "{}", got.data);
    assert!(got.data.contains("Content-Transfer-Encoding: quoted-printable"), "{}", got.data);
    assert_eq!(got.subject().unwrap(), "Подтвердите адрес — Coffee Shop");
    assert_eq!(got.text().unwrap(), cyrillic);
    assert_eq!(got.html().unwrap(), accented);
    assert_eq!(got.verification_code().unwrap(), "123456");
    assert_eq!(got.verification_link().unwrap(), "http://localhost:8080/auth/verify?token=ab12");
}

#[tokio::test]
async fn stops_listening_when_dropped() {
    let sink = SmtpSink::start().await;
    let addr = sink.addr();
    drop(sink);
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the sink still accepts connections after being dropped");
}
