//! WebSocket tickets in the memory of one process (embedded profile).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use coffee_domain::error::InfraError;
use coffee_domain::realtime::{Issued, TicketGrant, TicketStore};
use tokio::time::Instant;
use uuid::Uuid;

/// Outstanding tickets a [`MemoryTicketStore`] keeps at most by default.
pub const DEFAULT_MAX_TICKETS: usize = 10_000;

/// How often expired tickets are swept out, at most.
const PURGE_EVERY: Duration = Duration::from_secs(1);

/// Tickets in a map behind a mutex: redeeming removes the entry, so it is
/// atomic. Expired tickets are swept out at most once a second, and when the
/// map is full; a full map of live tickets refuses new ones (an error, rather
/// than silently dropping someone's valid ticket).
pub struct MemoryTicketStore {
    state: Mutex<State>,
    max_tickets: usize,
}

struct State {
    /// digest → (grant, expiry of the ticket)
    tickets: HashMap<String, (TicketGrant, Instant)>,
    /// user → expiries of the tickets issued to them that have not expired
    /// yet (redeemed or not), oldest first.
    issued: HashMap<Uuid, VecDeque<Instant>>,
    last_purge: Instant,
}

impl State {
    /// Forgets expired tickets and issues.
    fn purge(&mut self, now: Instant) {
        self.tickets.retain(|_, (_, expiry)| *expiry > now);
        self.issued.retain(|_, expiries| {
            expiries.retain(|expiry| *expiry > now);
            !expiries.is_empty()
        });
        self.last_purge = now;
    }
}

impl std::fmt::Debug for MemoryTicketStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryTicketStore").field("max_tickets", &self.max_tickets).finish_non_exhaustive()
    }
}

impl MemoryTicketStore {
    /// A store of at most [`DEFAULT_MAX_TICKETS`] outstanding tickets.
    pub fn new() -> Self {
        Self::with_max_tickets(DEFAULT_MAX_TICKETS)
    }

    /// A store of at most `max_tickets` outstanding tickets.
    pub fn with_max_tickets(max_tickets: usize) -> Self {
        let state = State { tickets: HashMap::new(), issued: HashMap::new(), last_purge: Instant::now() };
        Self { state: Mutex::new(state), max_tickets }
    }

    /// Outstanding tickets, including expired ones not swept out yet.
    pub fn len(&self) -> usize {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).tickets.len()
    }

    /// Whether no ticket is outstanding.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for MemoryTicketStore {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl TicketStore for MemoryTicketStore {
    async fn issue(
        &self,
        ticket_digest: &str,
        grant: TicketGrant,
        ttl: Duration,
        per_user: usize,
    ) -> Result<Issued, InfraError> {
        if ttl.is_zero() {
            return Err(InfraError::new("a ticket needs a lifetime above zero"));
        }
        let now = Instant::now();
        let expires_at = now.checked_add(ttl).ok_or_else(|| InfraError::new("ticket lifetime too long"))?;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.tickets.len() >= self.max_tickets || now.duration_since(state.last_purge) >= PURGE_EVERY {
            state.purge(now);
        }
        // Oldest first, so the front is the one that lapses next.
        let theirs = state.issued.entry(grant.user_id).or_default();
        theirs.retain(|expiry| *expiry > now);
        if theirs.len() >= per_user {
            return Ok(Issued::Busy(theirs.front().map_or(ttl, |oldest| oldest.duration_since(now))));
        }
        if state.tickets.len() >= self.max_tickets {
            return Err(InfraError::new(format!("too many outstanding tickets ({})", self.max_tickets)));
        }
        match state.tickets.get(ticket_digest) {
            Some((_, expiry)) if *expiry > now => Err(InfraError::new("ticket digest already issued")),
            _ => {
                state.tickets.insert(ticket_digest.to_owned(), (grant, expires_at));
                state.issued.entry(grant.user_id).or_default().push_back(expires_at);
                Ok(Issued::Stored)
            }
        }
    }

    async fn redeem(&self, ticket_digest: &str) -> Result<Option<TicketGrant>, InfraError> {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(state.tickets.remove(ticket_digest).and_then(|(user, expiry)| (expiry > now).then_some(user)))
    }

    async fn peek(&self, ticket_digest: &str) -> Result<Option<TicketGrant>, InfraError> {
        let now = Instant::now();
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(state.tickets.get(ticket_digest).and_then(|(user, expiry)| (*expiry > now).then_some(*user)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const TTL: Duration = Duration::from_secs(30);
    const MANY: usize = 100;

    fn grant() -> TicketGrant {
        TicketGrant { user_id: uuid::Uuid::new_v4(), session_id: uuid::Uuid::now_v7(), expires_at: chrono::Utc::now() }
    }

    #[tokio::test]
    async fn a_ticket_logs_its_user_in_once() {
        let store = MemoryTicketStore::new();
        let user = grant();
        store.issue("digest", user, TTL, MANY).await.expect("issued");
        assert_eq!(store.peek("digest").await.expect("read"), Some(user), "read without spending it");
        assert_eq!(store.redeem("digest").await.expect("redeemed"), Some(user));
        assert_eq!(store.redeem("digest").await.expect("redeemed"), None);
        assert_eq!(store.peek("digest").await.expect("read"), None);
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn an_unknown_ticket_is_none() {
        assert_eq!(MemoryTicketStore::new().redeem("never issued").await.expect("redeemed"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_ticket_expires_after_its_lifetime() {
        let store = MemoryTicketStore::new();
        let user = grant();
        store.issue("early", user, TTL, MANY).await.expect("issued");
        store.issue("late", user, TTL, MANY).await.expect("issued");
        tokio::time::advance(TTL - Duration::from_millis(1)).await;
        assert_eq!(store.redeem("early").await.expect("redeemed"), Some(user), "still valid just before expiry");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(store.peek("late").await.expect("read"), None, "expired at its lifetime");
        assert_eq!(store.redeem("late").await.expect("redeemed"), None, "expired at its lifetime");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn of_twenty_concurrent_redeems_exactly_one_wins() {
        let store = Arc::new(MemoryTicketStore::new());
        let user = grant();
        store.issue("contested", user, TTL, MANY).await.expect("issued");
        let start = Arc::new(tokio::sync::Barrier::new(20));
        let redeems: Vec<_> = (0..20)
            .map(|_| {
                let (store, start) = (store.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    store.redeem("contested").await.expect("redeemed")
                })
            })
            .collect();
        let mut winners = Vec::new();
        for redeem in redeems {
            winners.extend(redeem.await.expect("task finished"));
        }
        assert_eq!(winners, [user]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_store_sweeps_expired_tickets_and_refuses_when_all_are_live() {
        let store = MemoryTicketStore::with_max_tickets(2);
        let user = grant();
        store.issue("a", user, Duration::from_millis(100), MANY).await.expect("issued");
        store.issue("b", user, TTL, MANY).await.expect("issued");
        assert!(store.issue("c", user, TTL, MANY).await.is_err(), "full of live tickets");
        tokio::time::advance(Duration::from_millis(100)).await;
        store.issue("c", user, TTL, MANY).await.expect("the expired ticket made room");
        assert_eq!(store.len(), 2);
        assert_eq!(store.redeem("b").await.expect("redeemed"), Some(user));
        assert_eq!(store.redeem("c").await.expect("redeemed"), Some(user));
    }

    #[tokio::test(start_paused = true)]
    async fn a_user_gets_per_user_tickets_within_a_lifetime_redeemed_or_not() {
        let store = MemoryTicketStore::new();
        let (ann, bob) = (grant(), grant());
        assert_eq!(store.issue("a1", ann, TTL, 2).await.expect("issued"), Issued::Stored);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(store.issue("a2", ann, TTL, 2).await.expect("issued"), Issued::Stored);
        assert_eq!(store.redeem("a1").await.expect("redeemed"), Some(ann));
        let busy = store.issue("a3", ann, TTL, 2).await.expect("answered");
        assert_eq!(busy, Issued::Busy(Duration::from_secs(20)), "until the first issue lapses");
        assert_eq!(store.issue("b1", bob, TTL, 2).await.expect("issued"), Issued::Stored, "others are not held up");
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(store.issue("a3", ann, TTL, 2).await.expect("issued"), Issued::Stored);
    }

    #[tokio::test]
    async fn a_zero_lifetime_and_a_reused_digest_are_refused() {
        let store = MemoryTicketStore::new();
        let user = grant();
        assert!(store.issue("zero", user, Duration::ZERO, MANY).await.is_err());
        store.issue("twice", user, TTL, MANY).await.expect("issued");
        assert!(store.issue("twice", grant(), TTL, MANY).await.is_err());
        assert_eq!(store.redeem("twice").await.expect("redeemed"), Some(user), "the first holder keeps it");
    }
}
