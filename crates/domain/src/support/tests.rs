#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use chrono::TimeDelta;
use uuid::Uuid;

use super::fakes::{InMemoryConversations, InMemoryTickets};
use super::{
    ClientId, ConversationStatus, HistoryWindow, MessageBody, OutgoingMessage, SupportError, SupportPorts,
    SupportService,
};
use crate::access::{AccessError, Caller};
use crate::auth::fakes::SequentialSecrets;
use crate::live::fakes::RecordingFanOut;
use crate::live::{LiveEvent, LiveFeed};
use crate::testing::{FixedClock, run, verified_user};
use crate::user::Role;

struct Setup {
    service: SupportService,
    store: Arc<InMemoryConversations>,
    fan_out: Arc<RecordingFanOut>,
    tickets: Arc<InMemoryTickets>,
    clock: Arc<FixedClock>,
    ann: Caller,
    bob: Caller,
    boss: Caller,
}

fn setup() -> Setup {
    let (store, fan_out, tickets) = (Arc::default(), Arc::new(RecordingFanOut::default()), Arc::default());
    let clock = Arc::new(FixedClock::default());
    let service = SupportService::new(SupportPorts {
        conversations: Arc::clone(&store) as _,
        live: LiveFeed::new(fan_out.clone()),
        tickets: Arc::clone(&tickets) as _,
        secrets: Arc::new(SequentialSecrets::default()),
        clock: clock.clone(),
    });
    let now = clock_now(&clock);
    Setup {
        service,
        store,
        fan_out,
        tickets,
        clock,
        ann: Caller::for_tests(verified_user("ann@example.com", Role::User, now)),
        bob: Caller::for_tests(verified_user("bob@example.com", Role::User, now)),
        boss: Caller::for_tests(verified_user("boss@example.com", Role::Admin, now)),
    }
}

fn clock_now(clock: &FixedClock) -> chrono::DateTime<chrono::Utc> {
    use crate::clock::Clock;
    clock.now()
}

fn say(body: &str) -> OutgoingMessage {
    OutgoingMessage { body: MessageBody::parse(body).unwrap(), conversation_id: None, client_id: None }
}

fn say_in(conversation: Uuid, body: &str) -> OutgoingMessage {
    OutgoingMessage { conversation_id: Some(conversation), ..say(body) }
}

#[test]
fn a_customers_first_message_opens_a_conversation_and_later_ones_join_it() {
    let s = setup();
    let first = run(s.service.send(&s.ann, say("Is the oat milk back?"))).unwrap();
    let second = run(s.service.send(&s.ann, say("<3 your cortado"))).unwrap();
    assert_eq!(first.conversation.id, second.conversation.id);
    assert_eq!(first.conversation.customer_id, s.ann.id());
    assert_eq!((first.message.seq, second.message.seq), (1, 2));
    assert_eq!(second.message.body, "<3 your cortado");
    assert_eq!(second.conversation.last_seq, 2);
    let events = s.fan_out.events();
    assert!(matches!(&events[0], LiveEvent::Conversation(c) if c.status == ConversationStatus::Open));
    assert!(matches!(&events[1], LiveEvent::Message { message, .. } if message.seq == 1));
    assert!(
        matches!(&events[2], LiveEvent::Message { customer_id, message } if message.seq == 2 && *customer_id == s.ann.id())
    );
    assert_eq!(events.len(), 3, "the conversation is announced once, when opened");
}

#[test]
fn every_customer_has_their_own_conversation_and_cannot_write_into_anothers() {
    let s = setup();
    let ann = run(s.service.send(&s.ann, say("hi"))).unwrap().conversation;
    let bob = run(s.service.send(&s.bob, say("hello"))).unwrap().conversation;
    assert_ne!(ann.id, bob.id);
    let err = run(s.service.send(&s.bob, say_in(ann.id, "sneaky"))).unwrap_err();
    assert!(matches!(err, SupportError::Access(AccessError::NotFound)));
    assert!(matches!(run(s.service.typing(&s.bob, Some(ann.id))), Err(SupportError::Access(AccessError::NotFound))));
    assert!(matches!(run(s.service.get(&s.bob, ann.id)), Err(SupportError::Access(AccessError::NotFound))));
    assert_eq!(run(s.service.send(&s.ann, say_in(ann.id, "mine"))).unwrap().message.seq, 2, "naming one's own is fine");
}

#[test]
fn an_admin_must_name_the_conversation_and_may_answer_any_open_one() {
    let s = setup();
    let ann = run(s.service.send(&s.ann, say("hi"))).unwrap().conversation;
    assert!(matches!(run(s.service.send(&s.boss, say("hello?"))), Err(SupportError::ConversationRequired)));
    assert!(matches!(run(s.service.typing(&s.boss, None)), Err(SupportError::ConversationRequired)));
    let reply = run(s.service.send(&s.boss, say_in(ann.id, "How can I help?"))).unwrap();
    assert_eq!(reply.message.seq, 2);
    assert_eq!(reply.message.sender_role, Role::Admin);
    assert_eq!(reply.message.sender_id, Some(s.boss.id()));
    let unknown = run(s.service.send(&s.boss, say_in(Uuid::now_v7(), "anyone?"))).unwrap_err();
    assert!(matches!(unknown, SupportError::Access(AccessError::NotFound)));
}

#[test]
fn closing_ends_a_conversation_and_the_customers_next_message_opens_a_new_one() {
    let s = setup();
    let first = run(s.service.send(&s.ann, say("hi"))).unwrap().conversation;
    let admin = s.boss.require_admin().unwrap();
    let closed = run(s.service.close(admin, first.id)).unwrap();
    assert_eq!(closed.status, ConversationStatus::Closed);
    assert!(
        matches!(s.fan_out.events().last(), Some(LiveEvent::Conversation(c)) if c.status == ConversationStatus::Closed)
    );
    let published = s.fan_out.events().len();
    assert_eq!(run(s.service.close(admin, first.id)).unwrap(), closed, "closing twice changes nothing");
    assert_eq!(s.fan_out.events().len(), published, "and announces nothing");
    assert!(matches!(run(s.service.send(&s.boss, say_in(first.id, "bye"))), Err(SupportError::ConversationClosed)));
    assert!(matches!(run(s.service.send(&s.ann, say_in(first.id, "wait"))), Err(SupportError::ConversationClosed)));
    let next = run(s.service.send(&s.ann, say("one more thing"))).unwrap();
    assert_ne!(next.conversation.id, first.id);
    assert_eq!(next.message.seq, 1, "a new conversation counts from 1");
}

#[test]
fn only_admins_change_a_status_and_only_to_closed() {
    let s = setup();
    let c = run(s.service.send(&s.ann, say("hi"))).unwrap().conversation;
    let err = run(s.service.set_status(&s.ann, c.id, ConversationStatus::Closed)).unwrap_err();
    assert!(matches!(err, SupportError::Access(AccessError::Forbidden)));
    assert!(matches!(
        run(s.service.set_status(&s.bob, c.id, ConversationStatus::Closed)),
        Err(SupportError::Access(AccessError::NotFound))
    ));
    assert_eq!(
        run(s.service.set_status(&s.boss, c.id, ConversationStatus::Open)).unwrap().status,
        ConversationStatus::Open
    );
    run(s.service.set_status(&s.boss, c.id, ConversationStatus::Closed)).unwrap();
    assert!(matches!(
        run(s.service.set_status(&s.boss, c.id, ConversationStatus::Open)),
        Err(SupportError::CannotReopen)
    ));
}

#[test]
fn a_repeated_client_id_returns_the_first_message_and_stores_nothing() {
    let s = setup();
    let with_id = |body: &str| OutgoingMessage { client_id: Some(ClientId::parse("c-1").unwrap()), ..say(body) };
    let first = run(s.service.send(&s.ann, with_id("two flat whites"))).unwrap();
    let again = run(s.service.send(&s.ann, with_id("two flat whites"))).unwrap();
    assert!(!first.duplicate && again.duplicate);
    assert_eq!(again.message, first.message);
    assert_eq!(s.store.messages().len(), 1);
    assert_eq!(s.fan_out.events().len(), 2, "the repeat is not published again");
    let other = OutgoingMessage { client_id: Some(ClientId::parse("c-2").unwrap()), ..say("and a muffin") };
    assert_eq!(run(s.service.send(&s.ann, other)).unwrap().message.seq, 2);
}

#[test]
fn a_message_is_stored_even_when_live_delivery_fails() {
    let s = setup();
    s.fan_out.fail();
    let posted = run(s.service.send(&s.ann, say("hello"))).unwrap();
    assert_eq!(s.store.messages(), [posted.message]);
}

#[test]
fn typing_is_published_for_the_conversation_and_is_a_no_op_without_one() {
    let s = setup();
    run(s.service.typing(&s.ann, None)).unwrap();
    assert!(s.fan_out.events().is_empty());
    let c = run(s.service.send(&s.ann, say("hi"))).unwrap().conversation;
    run(s.service.typing(&s.boss, Some(c.id))).unwrap();
    assert!(matches!(
        s.fan_out.events().last(),
        Some(LiveEvent::Typing { conversation_id, customer_id, sender_role: Role::Admin, .. })
            if *conversation_id == c.id && *customer_id == s.ann.id()
    ));
}

#[test]
fn history_pages_forward_from_after_seq_and_backward_from_the_latest() {
    let s = setup();
    let mut id = None;
    for n in 1..=7 {
        id = Some(run(s.service.send(&s.ann, say(&format!("m{n}")))).unwrap().conversation.id);
    }
    let id = id.unwrap();
    let seqs = |h: super::History| (h.items.iter().map(|m| m.seq).collect::<Vec<_>>(), h.has_more);
    let window = |a, b, l| HistoryWindow::new(a, b, l).unwrap();
    assert_eq!(
        seqs(run(s.service.history(&s.ann, id, window(Some(2), None, Some(3)))).unwrap()),
        (vec![3, 4, 5], true)
    );
    assert_eq!(seqs(run(s.service.history(&s.ann, id, window(Some(5), None, Some(3)))).unwrap()), (vec![6, 7], false));
    assert_eq!(seqs(run(s.service.history(&s.boss, id, window(None, None, Some(3)))).unwrap()), (vec![5, 6, 7], true));
    assert_eq!(seqs(run(s.service.history(&s.ann, id, window(None, Some(3), None))).unwrap()), (vec![1, 2], false));
    assert!(matches!(
        run(s.service.history(&s.bob, id, window(None, None, None))),
        Err(SupportError::Access(AccessError::NotFound))
    ));
}

#[test]
fn history_windows_are_bounded() {
    assert!(HistoryWindow::new(None, None, Some(100)).is_ok());
    let errors = HistoryWindow::new(Some(-1), Some(-2), Some(101)).unwrap_err();
    let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["after_seq", "before_seq", "limit"]);
    assert!(HistoryWindow::new(None, None, Some(0)).is_err());
}

#[test]
fn customers_list_their_own_conversations_and_admins_all() {
    let s = setup();
    run(s.service.send(&s.ann, say("a"))).unwrap();
    run(s.service.send(&s.bob, say("b"))).unwrap();
    let query = crate::query::parse_list_query::<super::ConversationResource>(&[]).unwrap();
    assert_eq!(run(s.service.list(&s.ann, &query)).unwrap().total, 1);
    assert_eq!(run(s.service.list(&s.boss, &query)).unwrap().total, 2);
}

#[test]
fn a_ticket_is_stored_as_a_digest_and_logs_its_user_in_once() {
    let s = setup();
    let token_expiry = clock_now(&s.clock) + TimeDelta::minutes(15);
    let ticket = run(s.service.issue_ticket(&s.ann, token_expiry)).unwrap();
    assert_eq!(ticket.expires_at, clock_now(&s.clock) + TimeDelta::seconds(30));
    assert!(!s.tickets.digests().contains(&ticket.ticket), "the store never sees the ticket itself");
    let peeked = run(s.service.peek_ticket(&ticket.ticket)).unwrap();
    let grant = run(s.service.redeem_ticket(&ticket.ticket)).unwrap().unwrap();
    assert_eq!((grant.user_id, grant.expires_at), (s.ann.id(), token_expiry));
    assert_eq!(peeked, Some(grant), "read before, without spending it");
    assert_eq!(run(s.service.redeem_ticket(&ticket.ticket)).unwrap(), None);
    assert_eq!(run(s.service.peek_ticket(&ticket.ticket)).unwrap(), None);
}

#[test]
fn one_user_gets_at_most_tickets_per_user_tickets_and_others_are_not_held_up() {
    let s = setup();
    let token_expiry = clock_now(&s.clock) + TimeDelta::minutes(15);
    for _ in 0..super::TICKETS_PER_USER {
        run(s.service.issue_ticket(&s.ann, token_expiry)).unwrap();
    }
    let refused = run(s.service.issue_ticket(&s.ann, token_expiry));
    assert!(matches!(refused, Err(SupportError::TooManyTickets { .. })), "{refused:?}");
    run(s.service.issue_ticket(&s.boss, token_expiry)).expect("another user's ticket");
}

#[test]
fn message_bodies_follow_the_chat_text_policy() {
    assert_eq!(MessageBody::parse("2 > 1 <3").unwrap().as_str(), "2 > 1 <3");
    assert!(MessageBody::parse("<b>bold</b>").is_err());
    assert!(MessageBody::parse("").is_err());
    assert!(MessageBody::parse(&"x".repeat(2001)).is_err());
    assert!(ClientId::parse("").is_err());
    assert!(ClientId::parse("has space").is_err());
    assert!(ClientId::parse("<img/src=x/onerror=alert(1)>").is_err(), "no markup reaches the agents");
    for ok in ["c-1", "0192b3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b", "web:tab_2.17"] {
        assert!(ClientId::parse(ok).is_ok(), "{ok}");
    }
    assert!(ClientId::parse(&"x".repeat(65)).is_err());
    assert_eq!(ClientId::parse("web-01J9").unwrap().as_str(), "web-01J9");
}
