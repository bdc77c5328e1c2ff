//! A WebSocket client for the chat tests: connects with a bearer token or a
//! ticket, sends JSON frames, and reads the server's frames with deadlines.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::TestApp;

/// How long a frame that should come may take.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// A connected socket.
pub struct Ws {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What [`Ws::poll`] saw.
#[derive(Debug)]
pub enum Polled {
    /// A text frame, as JSON.
    Frame(Value),
    /// Nothing within the wait.
    Quiet,
    /// The socket ended (closed by either side, or broken): connect again.
    Closed,
}

/// Why a connection attempt failed: the HTTP answer to the upgrade.
#[derive(Debug)]
pub struct Refused {
    pub status: StatusCode,
    pub body: Value,
}

/// `ws://…/ws` of `app` with `query`.
pub fn ws_url(app: &TestApp, path_and_query: &str) -> String {
    format!("{}{path_and_query}", app.address.replacen("http://", "ws://", 1))
}

/// Connects to `path_and_query` with these extra headers.
pub async fn try_connect(app: &TestApp, path_and_query: &str, headers: &[(&str, &str)]) -> Result<Ws, Refused> {
    let mut request = ws_url(app, path_and_query).into_client_request().unwrap();
    for (name, value) in headers {
        let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap();
        // Appended: a name given twice is sent as two header lines.
        request.headers_mut().append(name, HeaderValue::from_str(value).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((stream, _)) => Ok(Ws { stream }),
        Err(Error::Http(response)) => {
            let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
            let body = response.body().as_deref().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or(Value::Null);
            Err(Refused { status, body })
        }
        Err(e) => panic!("the WebSocket connection failed: {e}"),
    }
}

/// Connects with `Authorization: Bearer <token>`.
pub async fn connect(app: &TestApp, token: &str) -> Ws {
    try_connect(app, "/ws", &[("authorization", &format!("Bearer {token}"))]).await.expect("the socket opens")
}

/// A ticket from `POST /support/tickets`.
pub async fn ticket(app: &TestApp, token: &str) -> String {
    let resp = app.request(reqwest::Method::POST, "/support/tickets", Some(token)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json::<Value>().await.unwrap()["ticket"].as_str().unwrap().to_owned()
}

impl Ws {
    /// Sends a JSON frame.
    pub async fn send(&mut self, frame: Value) {
        self.stream.send(Message::text(frame.to_string())).await.expect("the frame is sent");
    }

    /// Sends a raw text frame.
    pub async fn send_text(&mut self, text: &str) {
        self.stream.send(Message::text(text.to_owned())).await.expect("the frame is sent");
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.stream.send(Message::binary(bytes)).await.expect("the frame is sent");
    }

    /// Sends a chat message.
    pub async fn say(&mut self, body: &str) {
        self.send(json!({"type": "message", "body": body})).await;
    }

    /// Sends a chat message into a named conversation.
    pub async fn say_in(&mut self, conversation: &str, body: &str) {
        self.send(json!({"type": "message", "body": body, "conversation_id": conversation})).await;
    }

    /// The next text frame as JSON (pings are answered by the client library).
    pub async fn next(&mut self) -> Value {
        self.next_within(FRAME_TIMEOUT).await
    }

    /// The next text frame as JSON, waiting at most `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .unwrap_or_else(|_| panic!("a frame within {wait:?}"))
                .expect("the socket is open")
                .expect("a readable frame");
            match message {
                Message::Text(text) => return serde_json::from_str(&text).expect("frames are JSON"),
                Message::Close(close) => panic!("the socket closed: {close:?}"),
                _ => {}
            }
        }
    }

    /// The next text frame within `wait`, without panicking when the socket
    /// ends: for clients that reconnect. Poll no more after [`Polled::Closed`].
    pub async fn poll(&mut self, wait: Duration) -> Polled {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return Polled::Quiet,
                Ok(Some(Ok(Message::Text(text)))) => {
                    return Polled::Frame(serde_json::from_str(&text).expect("frames are JSON"));
                }
                Ok(Some(Ok(Message::Close(_))) | Some(Err(_)) | None) => return Polled::Closed,
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// The next frame of `kind`, skipping typing, order and conversation frames.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        self.next_of_within(kind, FRAME_TIMEOUT).await
    }

    /// The next frame of `kind` within `wait` (for frames that wait on a
    /// browser page, which the loaded test machine may slow down).
    pub async fn next_of_within(&mut self, kind: &str, wait: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = self.next_within(deadline.saturating_duration_since(tokio::time::Instant::now())).await;
            if frame["type"] == kind {
                return frame;
            }
            assert!(
                matches!(frame["type"].as_str(), Some("typing" | "order" | "conversation")),
                "expected a {kind} frame, got {frame}"
            );
        }
    }

    /// The next `error` frame's code (no other frame may come first).
    pub async fn error_code(&mut self) -> String {
        let frame = self.next().await;
        assert_eq!(frame["type"], "error", "expected an error frame, got {frame}");
        frame["code"].as_str().unwrap().to_owned()
    }

    /// Waits for the server to close the socket; its close code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        let (_, code, reason) = self.texts_until_closed().await;
        (code, reason)
    }

    /// The text frames that arrive until the server closes the socket, then
    /// its close code and reason.
    pub async fn texts_until_closed(&mut self) -> (Vec<Value>, u16, String) {
        let mut texts = Vec::new();
        loop {
            match tokio::time::timeout(FRAME_TIMEOUT, self.stream.next()).await.expect("closed within the deadline") {
                Some(Ok(Message::Text(text))) => texts.push(serde_json::from_str(&text).expect("a JSON frame")),
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (texts, u16::from(frame.code), frame.reason.to_string());
                }
                Some(Ok(Message::Close(None))) | None => return (texts, u16::from(CloseCode::Status), String::new()),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("the socket failed instead of closing: {e}"),
            }
        }
    }

    /// Asserts that no text frame but `resync` arrives within `wait`, and
    /// the socket stays: after an outage, each replica whose publish failed
    /// announces it, so a socket may be told to resync more than once.
    pub async fn quiet_but_resyncs(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match self.poll(deadline.saturating_duration_since(tokio::time::Instant::now())).await {
                Polled::Quiet => return,
                Polled::Frame(frame) => assert_eq!(frame["code"], "resync", "expected silence, got {frame}"),
                Polled::Closed => panic!("the socket ended"),
            }
        }
    }

    /// Asserts that no text frame arrives within `wait`.
    pub async fn quiet_for(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Text(text)))) => panic!("expected silence, got {text}"),
                Ok(Some(Ok(_))) => {}
                Ok(other) => panic!("the socket ended: {other:?}"),
            }
        }
    }

    /// Sends `frame` over and over, as fast as the server takes it, while
    /// reading whatever comes back, until the server closes the socket (its
    /// close code) or `within` passes (`None`).
    pub async fn flood_until_closed(self, frame: Value, within: Duration) -> Option<u16> {
        let (mut sink, mut frames) = self.stream.split();
        let text = frame.to_string();
        let flood = tokio::spawn(async move { while sink.send(Message::text(text.clone())).await.is_ok() {} });
        let closed = tokio::time::timeout(within, async {
            loop {
                match frames.next().await {
                    Some(Ok(Message::Close(close))) => return close.map(|c| u16::from(c.code)),
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return None,
                }
            }
        })
        .await;
        flood.abort();
        closed.ok().flatten()
    }

    /// Closes from the client side.
    pub async fn leave(mut self) {
        let _ = self.stream.close(None).await;
    }

    /// The frames the server sent while this client read nothing (so
    /// answered no ping), read from the raw TCP stream until the server
    /// closes it: `(opcode, payload)` pairs (0x9 ping, 0x8 close, …).
    pub async fn raw_frames_until_closed(self) -> Vec<(u8, Vec<u8>)> {
        use tokio::io::AsyncReadExt;
        let MaybeTlsStream::Plain(mut tcp) = self.stream.into_inner() else { panic!("a plain TCP socket") };
        let mut bytes = Vec::new();
        tokio::time::timeout(FRAME_TIMEOUT, tcp.read_to_end(&mut bytes))
            .await
            .expect("the server closes the connection")
            .expect("readable");
        let mut frames = Vec::new();
        let mut rest = bytes.as_slice();
        // Server frames are unmasked; these are all shorter than 126 bytes.
        while rest.len() >= 2 {
            let (opcode, len) = (rest[0] & 0x0f, usize::from(rest[1] & 0x7f));
            assert!(len < 126 && rest.len() >= 2 + len, "a short control frame");
            frames.push((opcode, rest[2..2 + len].to_vec()));
            rest = &rest[2 + len..];
        }
        frames
    }
}
