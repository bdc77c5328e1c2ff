//! A minimal SMTP server on 127.0.0.1 that records every message it accepts.
//!
//! It speaks just enough SMTP for lettre and similar clients: `EHLO`/`HELO`,
//! `AUTH PLAIN`/`AUTH LOGIN` (any credentials are accepted), `MAIL FROM`,
//! `RCPT TO`, `DATA` (with dot-unstuffing), `RSET`, `NOOP` and `QUIT`. It
//! offers neither STARTTLS nor any real authentication.
//!
//! For tests of what happens to a mail in flight, the sink can hold its reply
//! to a message's content ([`SmtpSink::delay_data`]): until the `250` reply a
//! message is not delivered, and a client that disconnects meanwhile (a killed
//! worker) leaves nothing behind but a count in [`SmtpSink::abandoned`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::message::ReceivedMail;

/// Longest command or message line the sink accepts (generous; RFC 5321 says 1000).
const MAX_LINE: usize = 64 * 1024;

/// An in-process SMTP server for tests. Stops when dropped.
pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

/// State shared by the sink handle and its connection tasks.
struct Shared {
    /// Every accepted message, in arrival order; `watch` lets waiters wake up.
    messages: watch::Sender<Vec<ReceivedMail>>,
    /// How many upcoming `DATA` commands answer 451.
    fail_next: AtomicUsize,
    /// How many upcoming `DATA` commands answer 550.
    reject_next: AtomicUsize,
    /// Milliseconds to wait between reading a message's content and accepting it.
    data_delay_ms: AtomicU64,
    /// Messages whose content was read completely (accepted or not).
    data_received: watch::Sender<usize>,
    /// Messages whose client went away while the sink held its reply.
    abandoned: AtomicUsize,
    /// `DATA` commands refused with 451 or 550 ([`SmtpSink::fail_next`],
    /// [`SmtpSink::reject_next`]).
    refused: AtomicUsize,
}

impl std::fmt::Debug for SmtpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSink").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl SmtpSink {
    /// Starts listening on `127.0.0.1` on a free port.
    ///
    /// # Panics
    /// When no local port can be bound (a broken test machine).
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address of a bound listener");
        let shared = Arc::new(Shared {
            messages: watch::Sender::new(Vec::new()),
            fail_next: AtomicUsize::new(0),
            reject_next: AtomicUsize::new(0),
            data_delay_ms: AtomicU64::new(0),
            data_received: watch::Sender::new(0),
            abandoned: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        SmtpSink { addr, shared, task }
    }

    /// The address the sink listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// An `SMTP_URL` for this sink, e.g. `smtp://127.0.0.1:40123` (plain, no TLS).
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.shared.messages.borrow().clone()
    }

    /// Makes the next `n` `DATA` commands fail with `451` (a transient error).
    pub fn fail_next(&self, n: usize) {
        self.shared.fail_next.store(n, Ordering::SeqCst);
    }

    /// Makes the next `n` `DATA` commands fail with `550 5.1.1` (a permanent
    /// error: the mailbox does not exist, the server will never take the
    /// message).
    pub fn reject_next(&self, n: usize) {
        self.shared.reject_next.store(n, Ordering::SeqCst);
    }

    /// From now on, after reading a message's content the sink waits `delay`
    /// before it accepts the message and answers `250`, so a test can act
    /// while a delivery is provably in flight (see [`Self::wait_data_received`]).
    /// A client that disconnects during the wait has not delivered the
    /// message: it is not recorded, only counted in [`Self::abandoned`].
    /// `Duration::ZERO` switches the delay off (the default).
    pub fn delay_data(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.shared.data_delay_ms.store(ms, Ordering::SeqCst);
    }

    /// How many messages' content the sink has read so far, including those
    /// it is still holding ([`Self::delay_data`]) and those abandoned.
    pub fn data_received(&self) -> usize {
        *self.shared.data_received.borrow()
    }

    /// Waits until the content of at least `n` messages has been read (see
    /// [`Self::data_received`]); `false` after `timeout`.
    pub async fn wait_data_received(&self, n: usize, timeout: Duration) -> bool {
        let mut rx = self.shared.data_received.subscribe();
        matches!(tokio::time::timeout(timeout, rx.wait_for(|received| *received >= n)).await, Ok(Ok(_)))
    }

    /// How many deliveries [`Self::fail_next`] and [`Self::reject_next`] have
    /// refused so far: a test
    /// that refuses every mail sees attempts that leave no message.
    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// Messages whose client disconnected while the sink held the reply to
    /// their content ([`Self::delay_data`]); none of them was recorded.
    pub fn abandoned(&self) -> usize {
        self.shared.abandoned.load(Ordering::SeqCst)
    }

    /// Waits until a message matching `pred` has arrived (or already had) and
    /// returns the first such message, or `None` after `timeout`.
    pub async fn wait_for(&self, pred: impl Fn(&ReceivedMail) -> bool, timeout: Duration) -> Option<ReceivedMail> {
        let mut rx = self.shared.messages.subscribe();
        let found = tokio::time::timeout(timeout, rx.wait_for(|msgs| msgs.iter().any(&pred))).await;
        match found {
            Ok(Ok(msgs)) => msgs.iter().find(|m| pred(m)).cloned(),
            _ => None,
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        // Dropping the accept task drops its JoinSet, which aborts every connection.
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    connections.spawn(serve(stream, Arc::clone(&shared)));
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// The envelope of the transaction in progress.
#[derive(Default)]
struct Transaction {
    from: Option<String>,
    to: Vec<String>,
}

/// Serves one client connection until `QUIT`, EOF or an I/O error.
async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    if let Err(e) = dialogue(stream, &shared).await {
        tracing::debug!(error = %e, "smtp sink connection ended");
    }
}

async fn dialogue(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = Lines { reader: BufReader::new(read) };
    let mut tx = Transaction::default();

    write.write_all(b"220 coffee-testkit ESMTP sink ready\r\n").await?;
    while let Some(line) = lines.next().await? {
        let upper = line.to_ascii_uppercase();
        let verb = upper.split_whitespace().next().unwrap_or("");
        let reply: &[u8] = match verb {
            "EHLO" => b"250-coffee-testkit\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 AUTH PLAIN LOGIN\r\n",
            "HELO" => b"250 coffee-testkit\r\n",
            "AUTH" => {
                authenticate(&upper, &mut lines, &mut write).await?;
                b"235 2.7.0 Authentication succeeded\r\n"
            }
            "MAIL" => match path_arg(&line, "MAIL FROM:") {
                Some(from) => {
                    tx = Transaction { from: Some(from), to: Vec::new() };
                    b"250 2.1.0 OK\r\n"
                }
                None => b"501 5.5.4 Syntax: MAIL FROM:<address>\r\n",
            },
            "RCPT" => match (tx.from.is_some(), path_arg(&line, "RCPT TO:")) {
                (false, _) => b"503 5.5.1 MAIL first\r\n",
                (true, Some(to)) => {
                    tx.to.push(to);
                    b"250 2.1.5 OK\r\n"
                }
                (true, None) => b"501 5.5.4 Syntax: RCPT TO:<address>\r\n",
            },
            "DATA" if tx.to.is_empty() => b"503 5.5.1 RCPT first\r\n",
            "DATA" if take_failure(&shared.fail_next) => {
                shared.refused.fetch_add(1, Ordering::SeqCst);
                tx = Transaction::default();
                b"451 4.3.0 Temporary failure (testkit fail_next)\r\n"
            }
            "DATA" if take_failure(&shared.reject_next) => {
                shared.refused.fetch_add(1, Ordering::SeqCst);
                tx = Transaction::default();
                b"550 5.1.1 Mailbox unavailable (testkit reject_next)\r\n"
            }
            "DATA" => {
                write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let data = lines.read_data().await?;
                shared.data_received.send_modify(|n| *n += 1);
                let delay = Duration::from_millis(shared.data_delay_ms.load(Ordering::SeqCst));
                if !delay.is_zero() && !lines.stays_open(delay).await {
                    // No 250 was sent, so nothing was delivered.
                    shared.abandoned.fetch_add(1, Ordering::SeqCst);
                    return Ok(());
                }
                let tx = std::mem::take(&mut tx);
                let mail = ReceivedMail { from: tx.from.unwrap_or_default(), to: tx.to, data };
                shared.messages.send_modify(|msgs| msgs.push(mail));
                b"250 2.0.0 OK: queued\r\n"
            }
            "RSET" => {
                tx = Transaction::default();
                b"250 2.0.0 OK\r\n"
            }
            "NOOP" => b"250 2.0.0 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 5.5.2 Command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
    Ok(())
}

/// Runs the challenge rounds of `AUTH PLAIN` / `AUTH LOGIN`; accepts anything.
async fn authenticate(
    upper: &str,
    lines: &mut Lines,
    write: &mut tokio::net::tcp::OwnedWriteHalf,
) -> std::io::Result<()> {
    let mut words = upper.split_whitespace().skip(1);
    let mechanism = words.next().unwrap_or("");
    let has_initial_response = words.next().is_some();
    let prompts: &[&[u8]] = match (mechanism, has_initial_response) {
        ("PLAIN", false) => &[b"334 \r\n"],
        // "Username:" and "Password:", base64-encoded.
        ("LOGIN", false) => &[b"334 VXNlcm5hbWU6\r\n", b"334 UGFzc3dvcmQ6\r\n"],
        ("LOGIN", true) => &[b"334 UGFzc3dvcmQ6\r\n"],
        _ => &[],
    };
    for prompt in prompts {
        write.write_all(prompt).await?;
        lines.next().await?;
    }
    Ok(())
}

/// Consumes one pending `fail_next` failure, if any.
fn take_failure(counter: &AtomicUsize) -> bool {
    counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}

/// The address in `MAIL FROM:<a@b> PARAMS` / `RCPT TO:<a@b>` (prefix matched case-insensitively).
fn path_arg(line: &str, prefix: &str) -> Option<String> {
    let head = line.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = line[prefix.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_owned())
}

/// Reads CRLF- (or LF-) terminated lines.
struct Lines {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
}

impl Lines {
    /// The next line without its terminator; `None` at EOF.
    async fn next(&mut self) -> std::io::Result<Option<String>> {
        let mut buf = Vec::new();
        let n = (&mut self.reader).take(MAX_LINE as u64).read_until(b'\n', &mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            buf.pop();
        }
        Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
    }

    /// Waits `delay`; `false` if the client closes the connection (or it
    /// fails) first. Anything the client sends meanwhile stays unread.
    async fn stays_open(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        tokio::select! {
            () = &mut sleep => true,
            peeked = self.reader.fill_buf() => {
                let open = matches!(peeked, Ok(buf) if !buf.is_empty());
                if open {
                    sleep.await;
                }
                open
            }
        }
    }

    /// The message after `DATA` up to the lone `.` line, dot-unstuffed, CRLF line ends.
    async fn read_data(&mut self) -> std::io::Result<String> {
        let mut data = String::new();
        loop {
            let Some(line) = self.next().await? else {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            };
            if line == "." {
                return Ok(data);
            }
            data.push_str(line.strip_prefix('.').unwrap_or(&line));
            data.push_str("\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Connects, sends one message up to its final `.` and returns the stream
    /// with the reply to the content still unread.
    async fn send_content(sink: &SmtpSink) -> BufReader<TcpStream> {
        let mut stream = BufReader::new(TcpStream::connect(sink.addr()).await.unwrap());
        let mut line = String::new();
        stream.read_line(&mut line).await.unwrap();
        for cmd in ["HELO t", "MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>", "DATA"] {
            stream.get_mut().write_all(format!("{cmd}\r\n").as_bytes()).await.unwrap();
            line.clear();
            stream.read_line(&mut line).await.unwrap();
        }
        assert!(line.starts_with("354"), "{line}");
        stream.get_mut().write_all(b"Subject: s\r\n\r\nbody\r\n.\r\n").await.unwrap();
        stream
    }

    #[tokio::test]
    async fn a_delayed_message_counts_as_delivered_only_after_the_reply() {
        let sink = SmtpSink::start().await;
        sink.delay_data(Duration::from_millis(300));
        let mut stream = send_content(&sink).await;
        assert!(sink.wait_data_received(1, Duration::from_secs(5)).await);
        assert!(sink.messages().is_empty(), "recorded before the reply");
        let mut reply = String::new();
        stream.read_line(&mut reply).await.unwrap();
        assert!(reply.starts_with("250"), "{reply}");
        assert_eq!((sink.messages().len(), sink.abandoned()), (1, 0));
    }

    #[tokio::test]
    async fn a_client_that_leaves_during_the_delay_delivers_nothing() {
        let sink = SmtpSink::start().await;
        sink.delay_data(Duration::from_secs(30));
        let stream = send_content(&sink).await;
        assert!(sink.wait_data_received(1, Duration::from_secs(5)).await);
        drop(stream);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while sink.abandoned() == 0 {
            assert!(tokio::time::Instant::now() < deadline, "the closed connection went unnoticed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(sink.messages().is_empty());
        assert_eq!(sink.data_received(), 1);
    }
}
