//! One socket's life: frames in, deliveries out, pings, limits, and the
//! reasons it ends.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::{Bytes, Data};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Closed, ProtocolError, Session};
use coffee_app::Services;
use coffee_domain::access::{AccessError, Caller};
use coffee_domain::live::LiveEvent;
use coffee_domain::support::{ConversationStatus, HistoryWindow, SupportError};
use tokio::time::Instant;
use uuid::Uuid;

use super::frames::{ClientFrame, FrameError, ServerFrame};
use super::hub::{CREDENTIAL_EXPIRED, Delivery, Registration};
use crate::problem::IntoProblem;

/// Largest frame (and largest message assembled from continuation frames).
pub const MAX_FRAME_BYTES: usize = 16 * 1024;
/// How long a socket holds its slot without renewal (renewed with every
/// ping): 90 s, or three ping intervals if `WS_PING_INTERVAL` is longer than
/// 30 s, so that a live socket never loses its slot between two pings.
pub fn slot_lease(ping_interval: Duration) -> Duration {
    Duration::from_secs(90).max(ping_interval.saturating_mul(3))
}
/// How long one frame may wait to be handed to the connection. actix-ws
/// queues at most 32 frames and actix-http has no write timeout, so once a
/// client stops reading (its TCP window, the kernel's buffers and the
/// server's write buffer full) a send would wait forever, and with it the
/// pings, the expiry (4001), 1013 and 1001 the loop would otherwise get to.
/// A frame that waits this long ends the socket instead: its slot is
/// released and it leaves the hub. 5 s, or one ping interval if
/// `WS_PING_INTERVAL` is shorter, so that a stalled send delays the socket's
/// timers by at most one ping interval.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// The send bound of a socket pinging every `ping_interval` ([`SEND_TIMEOUT`]).
pub fn send_timeout(ping_interval: Duration) -> Duration {
    SEND_TIMEOUT.min(ping_interval)
}

/// Message frames a connection may send: 10 in any 10 s (SPEC §7).
const MESSAGE_BUDGET: Budget = (10, Duration::from_secs(10));
/// Other frames (resume, close, typing, and frames refused before they are
/// handled) a connection may send: 30 in any 10 s.
const CONTROL_BUDGET: Budget = (30, Duration::from_secs(10));
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

/// At most this many frames in any such period.
type Budget = (usize, Duration);

/// The frames a budget let through in its last period: a sliding window, so
/// "10 in 10 s" is never more, at any moment. (The HTTP limits' budget
/// refills evenly instead, which lets up to twice the limit through in one
/// period; SPEC §7 counts messages per 10 s on a socket.) Empty, it holds
/// no memory; at most the budget's count of instants otherwise.
#[derive(Default)]
struct Window(VecDeque<Instant>);

impl Window {
    /// Lets a frame through at `now`, or says how long until one may pass.
    fn admit(&mut self, (limit, period): Budget, now: Instant) -> Result<(), Duration> {
        while self.0.front().is_some_and(|at| now.saturating_duration_since(*at) >= period) {
            self.0.pop_front();
        }
        match self.0.front() {
            Some(oldest) if self.0.len() >= limit => Err(period.saturating_sub(now.saturating_duration_since(*oldest))),
            _ => {
                self.0.push_back(now);
                Ok(())
            }
        }
    }
}

/// The socket's budgets and throttles.
#[derive(Default)]
struct Limits {
    /// `message` frames ([`MESSAGE_BUDGET`]).
    messages: Window,
    /// Every other frame ([`CONTROL_BUDGET`]).
    control: Window,
    /// Until when unreadable frames past the control budget go unanswered
    /// (one `rate_limited` said so).
    quiet_until: Option<Instant>,
    /// When a `typing` frame was last passed on.
    typed: Option<Instant>,
}

/// Charges a frame to `window`: when it is full, the `rate_limited` error.
fn over_budget(window: &mut Window, budget: Budget, kind: &str, client_id: Option<&str>) -> Option<FrameError> {
    let wait = window.admit(budget, Instant::now()).err()?;
    let detail = format!(
        "At most {} {kind} frames in any {} s on one socket; retry in {} s.",
        budget.0,
        budget.1.as_secs(),
        crate::ratelimit::retry_after_secs(wait)
    );
    Some(FrameError { code: "rate_limited", detail, client_id: client_id.map(str::to_owned) })
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
}

/// What a fresh look at the socket's account and session found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// The account exists with the role the socket was opened with, and
    /// the login it was opened in has not ended.
    Unchanged,
    /// The role changed, the account is gone, or the login ended.
    Changed,
    /// The check itself failed (the database is unavailable).
    Unknown,
}

/// Why the loop stops at a client's frame.
enum Stop {
    /// The client is gone (a frame could not be handed over).
    Gone,
    /// The socket is to close with this reason.
    Close(CloseReason),
}

impl From<Closed> for Stop {
    fn from(_: Closed) -> Self {
        Self::Gone
    }
}

/// 4001: the socket's account or login no longer has the rights it was opened with.
fn access_changed() -> Stop {
    Stop::Close(reason(CREDENTIAL_EXPIRED.code, CREDENTIAL_EXPIRED.reason))
}

/// A frame for the client; every one goes through [`Socket::emit`].
enum Outgoing {
    Text(String),
    Ping,
    Pong(Bytes),
    Close(CloseReason),
}

fn reason(code: u16, text: &str) -> CloseReason {
    CloseReason { code: CloseCode::from(code), description: Some(text.to_owned()) }
}

fn close_reason(code: u16, text: &str) -> Option<CloseReason> {
    Some(reason(code, text))
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
        // Set lazily: a frame only moves `heard`, and the alarm, once it
        // rings, either drops the client or is set again from `heard`.
        let silence = tokio::time::sleep_until(heard + idle_limit);
        tokio::pin!(silence);
        let mut seen = Seen::default();
        let mut limits = Limits::default();
        let close = loop {
            // Biased, in this order: the socket's own duties (closing, expiry,
            // access changes, pings) come before what the client sends (the
            // silence check alone comes after it), so a
            // client that never stops sending cannot hold them off; frames
            // from the hub and the ping tick are few, and the client's next
            // frame is read as soon as they are done.
            tokio::select! {
                biased;
                reason = closing.closed() => break close_reason(reason.code, reason.reason),
                () = &mut expiry => break close_reason(4001, "credential expired"),
                Some(delivery) = self.registration.rx.recv() => {
                    // The account's access changed (a demotion, a deletion, a
                    // logout), or live delivery was interrupted and such a
                    // change may have been lost with it: the socket keeps its
                    // rights only if its account and session still have them.
                    // A check that fails counts as a change here: the client
                    // connects again and is checked as any new socket is.
                    let recheck = matches!(delivery.event, None | Some(LiveEvent::AccessChanged { .. }));
                    if recheck && Box::pin(self.access()).await != Access::Unchanged {
                        break close_reason(CREDENTIAL_EXPIRED.code, CREDENTIAL_EXPIRED.reason);
                    }
                    if wanted(&delivery, &mut seen, self.caller.id()) && self.emit(Outgoing::Text(delivery.text.clone())).await.is_err() {
                        break None;
                    }
                }
                _ = ping.tick() => {
                    // The same check at every ping, for an access change whose
                    // event never came (its publish failed: publishing never
                    // fails a use case): a demoted admin or an ended login
                    // loses the socket within one ping interval. A check that
                    // fails is made again at the next ping rather than closing
                    // every socket of the replica while its database is away.
                    if Box::pin(self.access()).await == Access::Changed {
                        break close_reason(CREDENTIAL_EXPIRED.code, CREDENTIAL_EXPIRED.reason);
                    }
                    if self.emit(Outgoing::Ping).await.is_err() {
                        break None;
                    }
                    let slots = &self.services.live.slots;
                    if let Err(e) = slots.renew(self.caller.id(), self.id, slot_lease(ping_every)).await {
                        tracing::debug!(error = %coffee_domain::error::error_chain(&e), "socket slot not renewed");
                    }
                }
                incoming = stream.recv() => {
                    let handled = match incoming {
                        None => break None,
                        Some(Err(e)) => break too_large_or_broken(&e),
                        Some(Ok(AggregatedMessage::Close(_))) => break Some(CloseReason::from(CloseCode::Normal)),
                        Some(Ok(AggregatedMessage::Ping(bytes))) => {
                            heard = Instant::now();
                            self.emit(Outgoing::Pong(bytes)).await.map_err(Stop::from)
                        }
                        Some(Ok(AggregatedMessage::Pong(_))) => {
                            heard = Instant::now();
                            Ok(())
                        }
                        Some(Ok(AggregatedMessage::Binary(_))) => {
                            heard = Instant::now();
                            let e = FrameError { code: "malformed_frame", detail: "Frames are JSON text, not binary.".to_owned(), client_id: None };
                            self.refuse_unreadable(e, &mut limits).await.map_err(Stop::from)
                        }
                        Some(Ok(AggregatedMessage::Text(text))) => {
                            heard = Instant::now();
                            // Boxed: the use cases' futures are large, and inline they
                            // would sit in every idle socket's task (bench/README.md).
                            Box::pin(self.on_text(&text, &mut seen, &mut limits)).await
                        }
                    };
                    match handled {
                        Ok(()) => {}
                        Err(Stop::Gone) => break None,
                        Err(Stop::Close(reason)) => break Some(reason),
                    }
                }
                // Last: a frame that came in time is read first (and moves
                // `heard`), and a client that keeps sending is not silent.
                () = &mut silence => {
                    if heard.elapsed() >= idle_limit {
                        break close_reason(1000, "silent too long");
                    }
                    silence.as_mut().reset(heard + idle_limit);
                }
            }
        };
        if let Some(reason) = close {
            let _ = self.emit(Outgoing::Close(reason)).await;
        }
        if let Err(e) = self.services.live.slots.release(self.caller.id(), self.id).await {
            tracing::debug!(error = %coffee_domain::error::error_chain(&e), "socket slot not released; its lease ends it");
        }
    }

    /// Whether the account still exists with the role the socket was opened
    /// with, and the session it was opened in is not revoked (one
    /// primary-key read).
    async fn access(&self) -> Access {
        let role = self.caller.user().role;
        match self.services.access.caller(self.caller.actor()).await {
            Ok(now) if now.user().role == role => Access::Unchanged,
            Err(AccessError::Unexpected(e)) => {
                tracing::debug!(error = %coffee_domain::error::error_chain(&e), "socket access not checked");
                Access::Unknown
            }
            _ => Access::Changed,
        }
    }

    /// Hands one frame to the connection, waiting at most [`send_timeout`]:
    /// past it the client has stopped reading, and the frame counts as not
    /// sent (`Closed`), which ends the socket without a close frame (there
    /// is no room for one). The frames already buffered still reach the
    /// client if it reads again; then the connection ends.
    async fn emit(&mut self, frame: Outgoing) -> Result<(), Closed> {
        let limit = send_timeout(self.services.config.ws_ping_interval);
        let session = &mut self.session;
        let sent = tokio::time::timeout(limit, async move {
            match frame {
                Outgoing::Text(text) => session.text(text).await,
                Outgoing::Ping => session.ping(b"").await,
                Outgoing::Pong(bytes) => session.pong(&bytes).await,
                Outgoing::Close(reason) => session.clone().close(Some(reason)).await,
            }
        })
        .await;
        sent.unwrap_or_else(|_| {
            tracing::info!(user_id = %self.caller.id(), ?limit, "a socket's client stopped reading; dropping it");
            Err(Closed)
        })
    }

    async fn send(&mut self, frame: &ServerFrame) -> Result<(), Closed> {
        self.emit(Outgoing::Text(frame.text())).await
    }

    async fn refuse(&mut self, problem: crate::problem::ApiError, client_id: Option<String>) -> Result<(), Closed> {
        let e = FrameError { code: problem.code(), detail: problem.describe(), client_id };
        self.send(&ServerFrame::error(e)).await
    }

    /// Answers a frame refused before it is handled (not JSON, an unknown
    /// type, invalid fields, binary). It is charged to the control budget
    /// like any other non-message frame; past it, one `rate_limited` says so
    /// and the rest of a flood goes unanswered for the budget's period (as
    /// surplus `typing` frames do): at most 30 answers and one
    /// `rate_limited` in any 10 s, whatever a client sends.
    async fn refuse_unreadable(&mut self, error: FrameError, limits: &mut Limits) -> Result<(), Closed> {
        let Some(limited) = over_budget(&mut limits.control, CONTROL_BUDGET, "control", error.client_id.as_deref())
        else {
            return self.send(&ServerFrame::error(error)).await;
        };
        let now = Instant::now();
        if limits.quiet_until.is_some_and(|until| now < until) {
            return Ok(());
        }
        limits.quiet_until = Some(now + CONTROL_BUDGET.1);
        self.send(&ServerFrame::error(limited)).await
    }

    async fn on_text(&mut self, text: &str, seen: &mut Seen, limits: &mut Limits) -> Result<(), Stop> {
        let frame = match ClientFrame::parse(text) {
            Ok(frame) => frame,
            Err(e) => return Ok(self.refuse_unreadable(e, limits).await?),
        };
        let (client_id, limited) = match &frame {
            ClientFrame::Message(m) => {
                let client_id = m.client_id.as_ref().map(|c| c.as_str().to_owned());
                let limited = over_budget(&mut limits.messages, MESSAGE_BUDGET, "message", client_id.as_deref());
                (client_id, limited)
            }
            _ => (None, over_budget(&mut limits.control, CONTROL_BUDGET, "control", None)),
        };
        if let Some(limited) = limited {
            return Ok(self.send(&ServerFrame::error(limited)).await?);
        }
        if matches!(frame, ClientFrame::Typing { .. }) && limits.typed.is_some_and(|at| at.elapsed() < TYPING_EVERY) {
            return Ok(());
        }
        // Every frame that acts is judged by the account's rights now, not
        // by those it had when the socket opened: a demoted admin's socket
        // can no longer read, close or answer conversations from the moment
        // of the demotion, whether or not its event arrived (one primary-key
        // read, at most 40 in any 10 s by the budgets above). What reaches
        // the socket from the hub is cut at the event or the next ping.
        if !self.still_allowed(client_id.clone()).await? {
            return Ok(());
        }
        let support = self.services.support.clone();
        Ok(match frame {
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
            ClientFrame::Typing { conversation_id } => match support.typing(&self.caller, conversation_id).await {
                Ok(()) => {
                    limits.typed = Some(Instant::now());
                    Ok(())
                }
                Err(e) => self.refuse(e.into_problem(), None).await,
            },
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
            ClientFrame::Resume { conversation_id, after_seq } => {
                return self.resume(conversation_id, after_seq, seen, limits).await;
            }
        }?)
    }

    /// Whether the socket's account and login still have the rights it was
    /// opened with: if not, the socket closes with 4001; if the check
    /// fails, the frame is refused (`service_unavailable`: send it again)
    /// and the answer is `false`.
    async fn still_allowed(&mut self, client_id: Option<String>) -> Result<bool, Stop> {
        match Box::pin(self.access()).await {
            Access::Unchanged => Ok(true),
            Access::Changed => Err(access_changed()),
            Access::Unknown => {
                let problem = crate::problem::ApiError::with_detail(
                    crate::problem::catalogue::SERVICE_UNAVAILABLE,
                    "Your access could not be checked just now; send the frame again in a few seconds.",
                );
                self.refuse(problem, client_id).await?;
                Ok(false)
            }
        }
    }

    /// Replays every stored message after `after_seq`, in order; live copies
    /// of what was replayed are skipped afterwards. A replay stops between
    /// pages once the socket is to close (shutdown, an expired credential):
    /// the loop then closes it as it would have, and the client resumes
    /// from the last `seq` it got. Every page after the first is charged to
    /// the control budget and judged by the account's rights again, so one
    /// frame cannot make the socket read a long conversation in one go
    /// while its deliveries wait: past the budget, `rate_limited` says from
    /// where to resume.
    async fn resume(
        &mut self,
        conversation_id: Uuid,
        after_seq: i64,
        seen: &mut Seen,
        limits: &mut Limits,
    ) -> Result<(), Stop> {
        let support = self.services.support.clone();
        let mut after = after_seq;
        let mut replayed = None;
        for page_number in 0.. {
            if self.registration.closing.is_closing() || Instant::now() >= self.expires_at {
                break;
            }
            if page_number > 0 {
                // Each further page of 100 is one more control frame.
                if let Some(mut limited) = over_budget(&mut limits.control, CONTROL_BUDGET, "control", None) {
                    limited.detail =
                        format!("The replay stopped after seq {after}; resume from there. {}", limited.detail);
                    self.send(&ServerFrame::error(limited)).await?;
                    break;
                }
                if !self.still_allowed(None).await? {
                    break;
                }
            }
            let window = HistoryWindow { after_seq: Some(after), before_seq: None, limit: 100 };
            let page = match support.history(&self.caller, conversation_id, window).await {
                Ok(page) => page,
                Err(e) => {
                    // What earlier pages replayed is still recorded below.
                    self.refuse(e.into_problem(), None).await?;
                    break;
                }
            };
            for message in page.items {
                after = message.seq;
                replayed = Some(message.seq);
                self.send(&ServerFrame::message(message)).await?;
            }
            if !page.has_more {
                break;
            }
        }
        // Only what was replayed: a client that says it holds more than
        // exists (`after_seq` past the last message) still gets the live
        // messages that follow.
        let Some(replayed) = replayed else { return Ok(()) };
        if seen.replayed.len() >= REPLAYED_MEMORY && !seen.replayed.contains_key(&conversation_id) {
            seen.replayed.clear();
        }
        let upto = seen.replayed.entry(conversation_id).or_insert(replayed);
        *upto = (*upto).max(replayed);
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
        // Checked above; there is no frame to send.
        Some(LiveEvent::AccessChanged { .. }) => false,
        _ => true,
    }
}

/// 1009 for a frame over the limit (refused at its header, or pieces of a
/// message adding up to more), 1007 for a text frame that is not UTF-8,
/// 1002 for anything else the protocol refuses.
fn too_large_or_broken(e: &ProtocolError) -> Option<CloseReason> {
    const TOO_LARGE: &str = "frame too large (max 16 KiB)";
    let io = match e {
        ProtocolError::Overflow => return close_reason(1009, TOO_LARGE),
        ProtocolError::Io(io) => io,
        _ => return close_reason(1002, "protocol error"),
    };
    if super::frame_limit::is_refusal(io) || io.to_string().contains("continuation size") {
        close_reason(1009, TOO_LARGE)
    } else if io.kind() == std::io::ErrorKind::InvalidData {
        close_reason(1007, "text frames must be UTF-8")
    } else {
        close_reason(1002, "protocol error")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_lease_outlasts_three_ping_intervals() {
        assert_eq!(slot_lease(Duration::from_secs(20)), Duration::from_secs(90), "the default");
        assert_eq!(slot_lease(Duration::from_secs(100)), Duration::from_secs(300), "a long ping interval");
    }

    #[test]
    fn a_window_lets_at_most_its_count_through_in_any_period() {
        let budget: Budget = (10, Duration::from_secs(10));
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut window = Window::default();
        // One frame every half second for 10 s: the first 10 pass, then none
        // until the first is 10 s old (a refilling budget would pass 19).
        let passed = (0..20).filter(|i| window.admit(budget, at(i * 500)).is_ok()).count();
        assert_eq!(passed, 10);
        assert_eq!(window.admit(budget, at(9_999)), Err(Duration::from_millis(1)));
        assert_eq!(window.admit(budget, at(10_000)), Ok(()), "the first frame is 10 s old");
        assert!(window.admit(budget, at(10_001)).is_err(), "the second is not yet");
        // Quiet for a period: the whole budget again.
        let passed = (0..11).filter(|_| window.admit(budget, at(30_000)).is_ok()).count();
        assert_eq!(passed, 10);
    }
}
