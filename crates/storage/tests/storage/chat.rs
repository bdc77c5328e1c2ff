//! Conversations and messages on both backends: one open conversation per
//! customer, gap-free `seq` under concurrent senders, `client_id`
//! deduplication, closing, history paging and the list language.

use std::collections::BTreeSet;
use std::sync::Arc;

use coffee_domain::query::parse_list_query;
use coffee_domain::support::{
    Appended, Closing, ConversationRepository, ConversationResource, ConversationStatus, HistoryWindow, NewMessage,
    Thread,
};
use coffee_domain::user::Role;
use coffee_storage::SeaConversationRepository;
use uuid::Uuid;

use crate::support::{Env, backends, count_rows, secs, t0, user, warm_pool};

fn note(sender: Uuid, role: Role, body: &str, client_id: Option<&str>) -> NewMessage {
    NewMessage {
        id: Uuid::now_v7(),
        sender_id: sender,
        sender_role: role,
        body: body.to_owned(),
        client_id: client_id.map(str::to_owned),
        created_at: t0(),
    }
}

async fn customer(env: &Env, address: &str) -> Uuid {
    user(address).verified_at(t0()).create(&env.users).await.id
}

fn stored(appended: Appended) -> (coffee_domain::support::Conversation, coffee_domain::support::Message, bool) {
    match appended {
        Appended::Stored { conversation, message, opened } => (conversation, message, opened),
        other => panic!("expected a stored message, got {other:?}"),
    }
}

#[tokio::test]
async fn the_first_message_opens_a_conversation_and_closing_makes_room_for_the_next() {
    for env in backends().await {
        let repo = SeaConversationRepository::new(env.pools.clone());
        let ann = customer(&env, "ann@example.com").await;
        let boss = user("boss@example.com").admin().verified_at(t0()).create(&env.users).await.id;
        let (first, m1, opened) =
            stored(repo.append(Thread::OpenOf(ann), &note(ann, Role::User, "hi", None)).await.unwrap());
        assert!(opened);
        assert_eq!((first.customer_id, first.status, first.last_seq, m1.seq), (ann, ConversationStatus::Open, 1, 1));
        assert_eq!(repo.open_of(ann).await.unwrap(), Some(first.clone()));
        let (_, m2, opened) =
            stored(repo.append(Thread::Existing(first.id), &note(boss, Role::Admin, "<3 2 > 1", None)).await.unwrap());
        assert!(!opened);
        assert_eq!((m2.seq, m2.sender_id, m2.sender_role, m2.body.as_str()), (2, Some(boss), Role::Admin, "<3 2 > 1"));

        let closed = repo.close(first.id, t0() + secs(5)).await.unwrap();
        assert!(matches!(&closed, Closing::Closed(c) if c.status == ConversationStatus::Closed && c.last_seq == 2));
        assert!(matches!(repo.close(first.id, t0()).await.unwrap(), Closing::AlreadyClosed(_)));
        assert_eq!(repo.close(Uuid::now_v7(), t0()).await.unwrap(), Closing::Missing);
        assert_eq!(repo.open_of(ann).await.unwrap(), None);
        let refused = repo.append(Thread::Existing(first.id), &note(boss, Role::Admin, "late", None)).await.unwrap();
        assert!(matches!(refused, Appended::Closed(c) if c.id == first.id));
        assert_eq!(
            repo.append(Thread::Existing(Uuid::now_v7()), &note(boss, Role::Admin, "?", None)).await.unwrap(),
            Appended::Missing
        );
        assert_eq!(count_rows(&env.db, "messages").await, 2, "refused messages are not stored");

        let (second, m, opened) =
            stored(repo.append(Thread::OpenOf(ann), &note(ann, Role::User, "again", None)).await.unwrap());
        assert!(opened && second.id != first.id && m.seq == 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_senders_number_messages_without_gaps_and_share_one_open_conversation() {
    for env in backends().await {
        warm_pool(&env).await;
        let repo = Arc::new(SeaConversationRepository::new(env.pools.clone()));
        let ann = customer(&env, "ann@example.com").await;
        let boss = user("boss@example.com").admin().verified_at(t0()).create(&env.users).await.id;
        // Ten first messages at once: one conversation, seq 1..=10.
        let firsts: Vec<_> = (0..10)
            .map(|n| {
                let repo = repo.clone();
                tokio::spawn(async move {
                    stored(
                        repo.append(Thread::OpenOf(ann), &note(ann, Role::User, &format!("c{n}"), None)).await.unwrap(),
                    )
                })
            })
            .collect();
        let mut conversations = BTreeSet::new();
        let mut opened = 0;
        for first in firsts {
            let (c, _, o) = first.await.unwrap();
            conversations.insert(c.id);
            opened += usize::from(o);
        }
        assert_eq!((conversations.len(), opened), (1, 1), "{:?}: one open conversation", env.backend);
        let id = *conversations.first().unwrap();
        // Then customer and admin together, 30 more.
        let more: Vec<_> = (0..30)
            .map(|n| {
                let repo = repo.clone();
                tokio::spawn(async move {
                    let (thread, sender, role) = if n % 2 == 0 {
                        (Thread::OpenOf(ann), ann, Role::User)
                    } else {
                        (Thread::Existing(id), boss, Role::Admin)
                    };
                    stored(repo.append(thread, &note(sender, role, &format!("m{n}"), None)).await.unwrap()).1.seq
                })
            })
            .collect();
        for task in more {
            task.await.unwrap();
        }
        let all = repo.history(id, &HistoryWindow::new(Some(0), None, Some(100)).unwrap()).await.unwrap();
        let seqs: Vec<i64> = all.items.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (1..=40).collect::<Vec<_>>(), "{:?}: 1, 2, 3 … without gaps", env.backend);
        assert_eq!(repo.find(id).await.unwrap().unwrap().last_seq, 40);
    }
}

/// An agent closes the conversation as the customer writes: the message
/// lands in the closing conversation (before the close) or opens the next
/// one, and is never lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_sent_as_the_conversation_closes_is_stored_in_it_or_in_the_next() {
    for env in backends().await {
        warm_pool(&env).await;
        let repo = SeaConversationRepository::new(env.pools.clone());
        let ann = customer(&env, "ann@example.com").await;
        for round in 0..40 {
            let (open, ..) =
                stored(repo.append(Thread::OpenOf(ann), &note(ann, Role::User, "open", None)).await.unwrap());
            let closing = {
                let repo = repo.clone();
                tokio::spawn(async move { repo.close(open.id, t0()).await.unwrap() })
            };
            let sent = repo.append(Thread::OpenOf(ann), &note(ann, Role::User, &format!("r{round}"), None)).await;
            let (conversation, message, opened) = stored(sent.unwrap_or_else(|e| panic!("{:?}: {e}", env.backend)));
            assert!(matches!(closing.await.unwrap(), Closing::Closed(_)), "{:?}", env.backend);
            if opened {
                assert_ne!(conversation.id, open.id);
                assert_eq!(message.seq, 1);
                repo.close(conversation.id, t0()).await.unwrap();
            } else {
                assert_eq!((conversation.id, message.seq), (open.id, 2), "{:?}", env.backend);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repeated_client_id_is_stored_once_even_when_sent_concurrently() {
    for env in backends().await {
        warm_pool(&env).await;
        let repo = Arc::new(SeaConversationRepository::new(env.pools.clone()));
        let ann = customer(&env, "ann@example.com").await;
        let (c, first, _) =
            stored(repo.append(Thread::OpenOf(ann), &note(ann, Role::User, "one latte", Some("k-1"))).await.unwrap());
        let again = repo.append(Thread::OpenOf(ann), &note(ann, Role::User, "one latte", Some("k-1"))).await.unwrap();
        assert!(
            matches!(&again, Appended::Duplicate { message, conversation } if *message == first && conversation.last_seq == 1)
        );
        let racers: Vec<_> = (0..8)
            .map(|_| {
                let repo = repo.clone();
                tokio::spawn(async move {
                    repo.append(Thread::Existing(c.id), &note(ann, Role::User, "a muffin", Some("k-2"))).await.unwrap()
                })
            })
            .collect();
        let mut new = 0;
        for racer in racers {
            new += usize::from(matches!(racer.await.unwrap(), Appended::Stored { .. }));
        }
        assert_eq!(new, 1, "{:?}: one of eight is stored", env.backend);
        let c = repo.find(c.id).await.unwrap().unwrap();
        assert_eq!(c.last_seq, 2, "{:?}: duplicates take no seq", env.backend);
        assert_eq!(count_rows(&env.db, "messages").await, 2);
        // A client_id is its sender's own: staff numbering their messages
        // like the customer does are not taken for a repeat of theirs.
        let boss = user("boss@example.com").admin().verified_at(t0()).create(&env.users).await.id;
        let (_, answer, _) = stored(
            repo.append(Thread::Existing(c.id), &note(boss, Role::Admin, "coming up", Some("k-1"))).await.unwrap(),
        );
        assert_eq!((answer.seq, answer.sender_id, answer.body.as_str()), (3, Some(boss), "coming up"));
        let again =
            repo.append(Thread::Existing(c.id), &note(boss, Role::Admin, "coming up", Some("k-1"))).await.unwrap();
        assert!(matches!(&again, Appended::Duplicate { message, .. } if *message == answer), "{again:?}");
    }
}

#[tokio::test]
async fn a_retry_after_the_conversation_closed_gets_the_stored_message_back() {
    for env in backends().await {
        let repo = SeaConversationRepository::new(env.pools.clone());
        let ann = customer(&env, "ann@example.com").await;
        let boss = user("boss@example.com").admin().verified_at(t0()).create(&env.users).await.id;
        let (c, _, _) = stored(repo.append(Thread::OpenOf(ann), &note(ann, Role::User, "hi", None)).await.unwrap());
        // The agent's answer is stored, its acknowledgement lost with the
        // connection; another agent closes the conversation; the console
        // sends the answer again under its client_id.
        let reply = note(boss, Role::Admin, "on its way", Some("r-1"));
        let (_, answer, _) = stored(repo.append(Thread::Existing(c.id), &reply).await.unwrap());
        assert!(matches!(repo.close(c.id, t0() + secs(5)).await.unwrap(), Closing::Closed(_)));
        let again = repo.append(Thread::Existing(c.id), &reply).await.unwrap();
        assert!(
            matches!(&again, Appended::Duplicate { message, conversation }
                if *message == answer && conversation.status == ConversationStatus::Closed),
            "{:?}: {again:?}",
            env.backend
        );
        // Anything else, or the same client_id from another sender, is refused.
        let other = note(boss, Role::Admin, "one more", Some("r-2"));
        assert!(matches!(repo.append(Thread::Existing(c.id), &other).await.unwrap(), Appended::Closed(_)));
        let customers = note(ann, Role::User, "thanks", Some("r-1"));
        assert!(matches!(repo.append(Thread::Existing(c.id), &customers).await.unwrap(), Appended::Closed(_)));
        assert_eq!(count_rows(&env.db, "messages").await, 2);
    }
}

#[tokio::test]
async fn history_pages_forward_and_backward_in_seq_order() {
    for env in backends().await {
        let repo = SeaConversationRepository::new(env.pools.clone());
        let ann = customer(&env, "ann@example.com").await;
        let mut id = Uuid::nil();
        for n in 1..=7 {
            id =
                stored(repo.append(Thread::OpenOf(ann), &note(ann, Role::User, &format!("m{n}"), None)).await.unwrap())
                    .0
                    .id;
        }
        let page = |a, b, l| {
            let repo = &repo;
            async move {
                let h = repo.history(id, &HistoryWindow::new(a, b, Some(l)).unwrap()).await.unwrap();
                (h.items.iter().map(|m| m.seq).collect::<Vec<_>>(), h.has_more)
            }
        };
        assert_eq!(page(Some(0), None, 3).await, (vec![1, 2, 3], true));
        assert_eq!(page(Some(3), None, 10).await, (vec![4, 5, 6, 7], false));
        assert_eq!(page(Some(2), Some(6), 10).await, (vec![3, 4, 5], false));
        assert_eq!(page(None, None, 2).await, (vec![6, 7], true));
        assert_eq!(page(None, Some(3), 5).await, (vec![1, 2], false));
        assert_eq!(page(Some(7), None, 5).await, (vec![], false));
    }
}

#[tokio::test]
async fn conversations_list_by_customer_status_and_latest_message() {
    for env in backends().await {
        let repo = SeaConversationRepository::new(env.pools.clone());
        let ann = customer(&env, "ann@example.com").await;
        let bob = customer(&env, "bob@example.com").await;
        let ann_c = stored(repo.append(Thread::OpenOf(ann), &note(ann, Role::User, "a", None)).await.unwrap()).0;
        repo.close(ann_c.id, t0()).await.unwrap();
        let mut later = note(bob, Role::User, "b", None);
        later.created_at = t0() + secs(60);
        let bob_c = stored(repo.append(Thread::OpenOf(bob), &later).await.unwrap()).0;
        let list = |params: &[(&str, &str)], customer: Option<Uuid>| {
            let params: Vec<(String, String)> =
                params.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            let query = parse_list_query::<ConversationResource>(&params).unwrap();
            let repo = &repo;
            async move { repo.list(&query, customer).await.unwrap().items.into_iter().map(|c| c.id).collect::<Vec<_>>() }
        };
        assert_eq!(list(&[("status", "open")], None).await, [bob_c.id]);
        assert_eq!(list(&[("sort", "-last_message_at")], None).await, [bob_c.id, ann_c.id]);
        assert_eq!(list(&[("customer_id", &ann.to_string())], None).await, [ann_c.id]);
        assert_eq!(list(&[], Some(ann)).await, [ann_c.id], "a customer sees only their own");
        let cutoff = (t0() + secs(30)).to_rfc3339();
        assert_eq!(list(&[("last_message_at__gt", cutoff.as_str())], None).await, [bob_c.id]);
    }
}

#[tokio::test]
async fn deleting_a_customer_deletes_their_conversations_and_an_authors_messages_stay_unsigned() {
    for env in backends().await {
        use coffee_domain::user::UserRepository;
        let repo = SeaConversationRepository::new(env.pools.clone());
        let ann = customer(&env, "ann@example.com").await;
        let bob = customer(&env, "bob@example.com").await;
        let boss = user("boss@example.com").admin().verified_at(t0()).create(&env.users).await.id;
        let _keeper = user("keeper@example.com").admin().verified_at(t0()).create(&env.users).await;
        let ann_c = stored(repo.append(Thread::OpenOf(ann), &note(ann, Role::User, "a", None)).await.unwrap()).0;
        let bob_c = stored(repo.append(Thread::OpenOf(bob), &note(bob, Role::User, "b", None)).await.unwrap()).0;
        repo.append(Thread::Existing(bob_c.id), &note(boss, Role::Admin, "hello Bob", None)).await.unwrap();
        env.users.delete(ann).await.unwrap();
        env.users.delete(boss).await.unwrap();
        assert_eq!(repo.find(ann_c.id).await.unwrap(), None);
        let history = repo.history(bob_c.id, &HistoryWindow::new(None, None, None).unwrap()).await.unwrap();
        assert_eq!(history.items[1].sender_id, None, "the deleted admin's reply stays, unsigned");
        assert_eq!(history.items[1].sender_role, Role::Admin);
    }
}
