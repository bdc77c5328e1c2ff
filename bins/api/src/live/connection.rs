//! One socket's life: frames in, deliveries out, pings, limits, and the
//! reasons it ends.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Data;
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Closed, ProtocolError, Session};
use coffee_app::Services;
use coffee_domain::access::Caller;
use coffee_domain::live::LiveEvent;
use coffee_domain::ratelimit::RatePolicy;
use coffee_domain::support::{ConversationStatus, HistoryWindow, SupportError};
use tokio::time::Instant;
use uuid::Uuid;

use super::frames::{ClientFrame, FrameError, ServerFrame};
use super::hub::{Delivery, Registration};
use crate::problem::IntoProblem;

/// Largest frame (and largest message assembled from continuation frames).
pub const MAX_FRAME_BYTES: usize = 16 * 1024;
/// How long a socket holds its slot without renewal (renewed with every ping).
pub const SLOT_LEASE: Duration = Duration::from_secs(90);
/// Message frames a connection may send: 10 per 10 s.
const MESSAGE_BUDGET: (u32, Duration) = (10, Duration::from_secs(10));
/// Other frames (resume, close, typing, and frames refused before they are
/// handled) a connection may send: 30 per 10 s.
const CONTROL_BUDGET: (u32, Duration) = (30, Duration::from_secs(10));
/// `typing` is passed on at most this often; more are dropped silently.
const TYPING_EVERY: Duration = Duration::from_secs(2);
/// Message ids acknowledged directly whose live copy is skipped.
const ACKED_MEMORY: usize = 32;
/// Conversations whose replay point is remembered.
const REPLAYED_MEMORY: usize = 256;

/// A socket about to run.
pub struct Socket {
    /// Everything the use cases need.
    pub services: Data<Services>,
    /// Who is connected.
    pub caller: Caller,
    /// This socket's id (its slot).
    pub id: Uuid,
    /// When the credential that opened it expires.
    pub expires_at: Instant,
    /// Its place in the hub.
    pub registration: Registration,
    /// Where frames go.
    pub session: Session,
}

/// What the loop remembers to avoid sending a frame twice.
#[derive(Default)]
struct Seen {
    /// Messages this socket acknowledged itself; their live copies are skipped.
    acked: VecDeque<Uuid>,
    /// Per resumed conversation, the last `seq` replayed; live copies up to it are skipped.
    replayed: HashMap<Uuid, i64>,
    /// The last conversation frame sent directly.
    conversation: Option<(Uuid, ConversationStatus)>,
    /// Until when unreadable frames past the budget go unanswered (one
    /// `rate_limited` said so).
    quiet_until: Option<Instant>,
}

fn close_reason(code: u16, reason: &str) -> Option<CloseReason> {
    Some(CloseReason { code: CloseCode::from(code), description: Some(reason.to_owned()) })
}

impl Socket {
    /// Runs until the client leaves or the socket is closed.
    pub async fn run(mut self, stream: actix_ws::MessageStream) {
        let config = &self.services.config;
        let (ping_every, idle_limit) = (config.ws_ping_interval, config.ws_idle_timeout);
        let mut stream =
            stream.max_frame_size(MAX_FRAME_BYTES).aggregate_continuations().max_continuation_size(MAX_FRAME_BYTES);
        let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        let expiry = tokio::time::sleep_until(self.expires_at);
        tokio::pin!(expiry);
        let closing = self.registration.closing.clone();
        let mut heard = Instant::now();
        let mut seen = Seen::default();
        let mut typed: Option<Instant> = None;
        let close = loop {
            tokio::select! {
                biased;
                reason = closing.closed() => break close_reason(reason.code, reason.reason),
                () = &mut expiry => break close_reason(4001, "credential expired"),
                incoming = stream.recv() => {
                    let handled = match incoming {
                        None => break None,
                        Some(Err(e)) => break too_large_or_broken(&e),
                        Some(Ok(AggregatedMessage::Close(_))) => break Some(CloseReason::from(CloseCode::Normal)),
                        Some(Ok(AggregatedMessage::Ping(bytes))) => {
                            heard = Instant::now();
                            self.session.pong(&bytes).await
                        }
                        Some(Ok(AggregatedMessage::Pong(_))) => {
                            heard = Instant::now();
                            Ok(())
                        }
                        Some(Ok(AggregatedMessage::Binary(_))) => {
                            heard = Instant::now();
                            let e = FrameError { code: "malformed_frame", detail: "Frames are JSON text, not binary.".to_owned(), client_id: None };
                            self.refuse_unreadable(e, &mut seen).await
                        }
                        Some(Ok(AggregatedMessage::Text(text))) => {
                            heard = Instant::now();
                            // Boxed: the use cases' futures are large, and inline they
                            // would sit in every idle socket's task (bench/README.md).
                            Box::pin(self.on_text(&text, &mut seen, &mut typed)).await
                        }
                    };
                    if handled.is_err() {
                        break None;
                    }
                }
                Some(delivery) = self.registration.rx.recv() => {
                    if wanted(&delivery, &mut seen, self.caller.id()) && self.session.text(delivery.text.clone()).await.is_err() {
                        break None;
                    }
                }
                _ = ping.tick() => {
                    if heard.elapsed() >= idle_limit {
                        break close_reason(1000, "silent too long");
                    }
                    if self.session.ping(b"").await.is_err() {
                        break None;
                    }
                    let slots = &self.services.live.slots;
                    if let Err(e) = slots.renew(self.caller.id(), self.id, SLOT_LEASE).await {
                        tracing::debug!(error = %coffee_domain::error::error_chain(&e), "socket slot not renewed");
                    }
                }
            }
        };
        if let Some(reason) = close {
            let _ = self.session.close(Some(reason)).await;
        }
        if let Err(e) = self.services.live.slots.release(self.caller.id(), self.id).await {
            tracing::debug!(error = %coffee_domain::error::error_chain(&e), "socket slot not released; its lease ends it");
        }
    }

    async fn send(&mut self, frame: &ServerFrame) -> Result<(), Closed> {
        self.session.text(frame.text()).await
    }

    async fn refuse(&mut self, problem: crate::problem::ApiError, client_id: Option<String>) -> Result<(), Closed> {
        let e = FrameError { code: problem.code(), detail: problem.describe(), client_id };
        self.send(&ServerFrame::error(e)).await
    }

    async fn within_budget(&self, kind: &str, (limit, period): (u32, Duration)) -> Option<Duration> {
        let policy = RatePolicy::new(limit, period).ok()?;
        let decision = self.services.socket_limiter.check(&format!("ws:{}:{kind}", self.id), &policy).await;
        if decision.allowed { None } else { Some(decision.retry_after.unwrap_or(period)) }
    }

    /// Charges a frame to its budget: when the socket has spent it, the
    /// `rate_limited` error and how long until the budget is back.
    async fn over_budget(
        &self,
        kind: &str,
        budget: (u32, Duration),
        client_id: Option<&str>,
    ) -> Option<(FrameError, Duration)> {
        let wait = self.within_budget(kind, budget).await?;
        let detail = format!(
            "At most {} {kind} frames per {} s on one socket; retry in {} s.",
            budget.0,
            budget.1.as_secs(),
            wait.as_secs().max(1)
        );
        Some((FrameError { code: "rate_limited", detail, client_id: client_id.map(str::to_owned) }, wait))
    }

    /// Answers a frame refused before it is handled (not JSON, an unknown
    /// type, invalid fields, binary). It is charged to the control budget
    /// like any other non-message frame; past it, one `rate_limited` says so
    /// and the rest of a flood goes unanswered until the budget is back (as
    /// surplus `typing` frames do), so garbage stops buying an answer each.
    async fn refuse_unreadable(&mut self, error: FrameError, seen: &mut Seen) -> Result<(), Closed> {
        let Some((limited, wait)) = self.over_budget("control", CONTROL_BUDGET, error.client_id.as_deref()).await
        else {
            return self.send(&ServerFrame::error(error)).await;
        };
        if seen.quiet_until.is_some_and(|until| Instant::now() < until) {
            return Ok(());
        }
        seen.quiet_until = Some(Instant::now() + wait);
        self.send(&ServerFrame::error(limited)).await
    }

    async fn on_text(&mut self, text: &str, seen: &mut Seen, typed: &mut Option<Instant>) -> Result<(), Closed> {
        let frame = match ClientFrame::parse(text) {
            Ok(frame) => frame,
            Err(e) => return self.refuse_unreadable(e, seen).await,
        };
        let (kind, budget, client_id) = match &frame {
            ClientFrame::Message(m) => ("message", MESSAGE_BUDGET, m.client_id.as_ref().map(|c| c.as_str().to_owned())),
            _ => ("control", CONTROL_BUDGET, None),
        };
        if let Some((limited, _)) = self.over_budget(kind, budget, client_id.as_deref()).await {
            return self.send(&ServerFrame::error(limited)).await;
        }
        let support = self.services.support.clone();
        match frame {
            ClientFrame::Message(outgoing) => match support.send(&self.caller, outgoing).await {
                Ok(posted) => {
                    if posted.opened {
                        seen.conversation = Some((posted.conversation.id, posted.conversation.status));
                        self.send(&ServerFrame::conversation(posted.conversation)).await?;
                    }
                    if seen.acked.len() == ACKED_MEMORY {
                        seen.acked.pop_front();
                    }
                    seen.acked.push_back(posted.message.id);
                    self.send(&ServerFrame::message(posted.message)).await
                }
                Err(e) => self.refuse(e.into_problem(), client_id).await,
            },
            ClientFrame::Typing { conversation_id } => {
                if typed.is_some_and(|at| at.elapsed() < TYPING_EVERY) {
                    return Ok(());
                }
                match support.typing(&self.caller, conversation_id).await {
                    Ok(()) => {
                        *typed = Some(Instant::now());
                        Ok(())
                    }
                    Err(e) => self.refuse(e.into_problem(), None).await,
                }
            }
            ClientFrame::Close { conversation_id } => {
                let closed = match self.caller.require_admin() {
                    Ok(admin) => support.close(admin, conversation_id).await,
                    Err(e) => Err(SupportError::from(e)),
                };
                match closed {
                    Ok(conversation) => {
                        seen.conversation = Some((conversation.id, conversation.status));
                        self.send(&ServerFrame::conversation(conversation)).await
                    }
                    Err(e) => self.refuse(e.into_problem(), None).await,
                }
            }
            ClientFrame::Resume { conversation_id, after_seq } => self.resume(conversation_id, after_seq, seen).await,
        }
    }

    /// Replays every stored message after `after_seq`, in order; live copies
    /// of what was replayed are skipped afterwards.
    async fn resume(&mut self, conversation_id: Uuid, after_seq: i64, seen: &mut Seen) -> Result<(), Closed> {
        let support = self.services.support.clone();
        let mut after = after_seq;
        loop {
            let window = HistoryWindow { after_seq: Some(after), before_seq: None, limit: 100 };
            let page = match support.history(&self.caller, conversation_id, window).await {
                Ok(page) => page,
                Err(e) => return self.refuse(e.into_problem(), None).await,
            };
            for message in page.items {
                after = message.seq;
                self.send(&ServerFrame::message(message)).await?;
            }
            if !page.has_more {
                break;
            }
        }
        if seen.replayed.len() >= REPLAYED_MEMORY && !seen.replayed.contains_key(&conversation_id) {
            seen.replayed.clear();
        }
        let upto = seen.replayed.entry(conversation_id).or_insert(after);
        *upto = (*upto).max(after);
        Ok(())
    }
}

/// Whether a delivery is news to this socket.
fn wanted(delivery: &Arc<Delivery>, seen: &mut Seen, me: Uuid) -> bool {
    match &delivery.event {
        Some(LiveEvent::Message { message, .. }) => {
            !seen.acked.contains(&message.id)
                && seen.replayed.get(&message.conversation_id).is_none_or(|upto| message.seq > *upto)
        }
        Some(LiveEvent::Typing { sender_id, .. }) => *sender_id != me,
        Some(LiveEvent::Conversation(c)) => {
            let duplicate = seen.conversation == Some((c.id, c.status));
            if duplicate {
                seen.conversation = None;
            }
            !duplicate
        }
        _ => true,
    }
}

/// 1009 for a frame over the limit, 1002 for anything else the protocol refuses.
fn too_large_or_broken(e: &ProtocolError) -> Option<CloseReason> {
    let too_large = matches!(e, ProtocolError::Overflow)
        || matches!(e, ProtocolError::Io(io) if io.to_string().contains("continuation size"));
    if too_large { close_reason(1009, "frame too large (max 16 KiB)") } else { close_reason(1002, "protocol error") }
}
