//! A minimal Chrome DevTools Protocol client over one WebSocket.
//!
//! Commands are JSON objects `{id, method, params, sessionId?}`; the browser
//! answers each with `{id, result | error}` and sends events
//! `{method, params, sessionId?}` in between. One task owns the socket: it
//! writes queued commands, routes answers to their waiting callers, hands
//! every event to the [`Recorder`] (the session's observations) and
//! broadcasts it to whoever waits for one (a page load).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use super::BrowserError;
use super::observe::Recorder;

/// How long one command may take before the caller gives up.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// One event from the browser.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    /// The target session it came from; `None` for the browser itself.
    pub session: Option<String>,
    pub method: String,
    pub params: Value,
}

type Reply = Result<Value, BrowserError>;
type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Reply>>>>;

/// A live DevTools connection. Cheap to share behind an `Arc`.
pub(crate) struct Connection {
    out: mpsc::UnboundedSender<String>,
    pending: Pending,
    next_id: Arc<AtomicU64>,
    events: broadcast::Sender<Event>,
    task: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Connection {
    /// Connects to the browser's DevTools WebSocket at `ws_url`.
    pub(crate) async fn connect(ws_url: &str, recorder: Arc<Mutex<Recorder>>) -> Result<Self, BrowserError> {
        let (socket, _) = tokio::time::timeout(COMMAND_TIMEOUT, tokio_tungstenite::connect_async(ws_url))
            .await
            .map_err(|_| BrowserError::Timeout(format!("connecting to {ws_url}")))?
            .map_err(|e| BrowserError::Connection(format!("{ws_url}: {e}")))?;
        let (out, mut queued) = mpsc::unbounded_channel::<String>();
        let pending: Pending = Arc::default();
        let next_id = Arc::new(AtomicU64::new(1));
        let (events, _) = broadcast::channel(4096);
        let router = Router { pending: Arc::clone(&pending), events: events.clone(), recorder, out: out.clone() };
        let router_ids = Arc::clone(&next_id);
        let task = tokio::spawn(async move {
            let (mut sink, mut stream) = socket.split();
            loop {
                tokio::select! {
                    command = queued.recv() => match command {
                        Some(text) => if sink.send(Message::text(text)).await.is_err() { break },
                        None => break,
                    },
                    message = stream.next() => match message {
                        Some(Ok(Message::Text(text))) => router.route(text.as_str(), &router_ids),
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => break,
                    },
                }
            }
            router.close();
        });
        Ok(Connection { out, pending, next_id, events, task })
    }

    /// Sends `method` (to the target `session`, or to the browser) and waits
    /// for its result.
    pub(crate) async fn call(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value, BrowserError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        if self.out.send(command(id, session, method, params)).is_err() {
            lock(&self.pending).remove(&id);
            return Err(BrowserError::Closed);
        }
        match tokio::time::timeout(COMMAND_TIMEOUT, rx).await {
            Ok(Ok(reply)) => reply.map_err(|e| e.for_method(method)),
            Ok(Err(_)) => Err(BrowserError::Closed),
            Err(_) => {
                lock(&self.pending).remove(&id);
                Err(BrowserError::Timeout(format!("no answer to {method}")))
            }
        }
    }

    /// Sends `method` without waiting for its answer (used on drop).
    pub(crate) fn send(&self, session: Option<&str>, method: &str, params: Value) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let _ = self.out.send(command(id, session, method, params));
    }

    /// Every event from now on. Subscribe before the command that causes
    /// the awaited event, so it cannot slip past.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

/// What the socket task does with each incoming message.
struct Router {
    pending: Pending,
    events: broadcast::Sender<Event>,
    recorder: Arc<Mutex<Recorder>>,
    out: mpsc::UnboundedSender<String>,
}

impl Router {
    fn route(&self, text: &str, next_id: &AtomicU64) {
        let Ok(mut message) = serde_json::from_str::<Value>(text) else { return };
        if let Some(id) = message.get("id").and_then(Value::as_u64) {
            let reply = match message.get_mut("error") {
                Some(error) => Err(BrowserError::Protocol {
                    method: String::new(),
                    message: error.get("message").and_then(Value::as_str).unwrap_or("unknown error").to_owned(),
                }),
                None => Ok(message.get_mut("result").map(Value::take).unwrap_or(Value::Null)),
            };
            if let Some(waiter) = lock(&self.pending).remove(&id) {
                let _ = waiter.send(reply);
            }
            return;
        }
        let Some(method) = message.get("method").and_then(Value::as_str).map(str::to_owned) else { return };
        let session = message.get("sessionId").and_then(Value::as_str).map(str::to_owned);
        let params = message.get_mut("params").map(Value::take).unwrap_or(Value::Null);
        if method == "Target.attachedToTarget" && session.is_some() {
            self.watch_child(&params, next_id);
        }
        lock(&self.recorder).record(&method, &params);
        let _ = self.events.send(Event { session, method, params });
    }

    /// A frame or worker of a page got its own target (auto-attach): observe
    /// it too, then let it run (it waits for us, so nothing is missed).
    fn watch_child(&self, params: &Value, next_id: &AtomicU64) {
        let Some(child) = params.get("sessionId").and_then(Value::as_str) else { return };
        for (method, params) in super::page::observing_commands() {
            let id = next_id.fetch_add(1, Ordering::Relaxed);
            let _ = self.out.send(command(id, Some(child), method, params));
        }
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        let _ = self.out.send(command(id, Some(child), "Runtime.runIfWaitingForDebugger", json!({})));
    }

    /// The socket is gone: fail every waiting call.
    fn close(&self) {
        for (_, waiter) in lock(&self.pending).drain() {
            let _ = waiter.send(Err(BrowserError::Closed));
        }
    }
}

fn command(id: u64, session: Option<&str>, method: &str, params: Value) -> String {
    let mut command = json!({ "id": id, "method": method, "params": params });
    if let Some(session) = session {
        command["sessionId"] = Value::from(session);
    }
    command.to_string()
}

/// Locks a mutex; a panic elsewhere while holding it does not make the data
/// unusable here (plain maps and lists).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
