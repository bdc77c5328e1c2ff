//! The support chat over `/ws` and its REST history, on one replica: who
//! gets what, conversations opening and closing, `client_id`, `resume`,
//! live order frames.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::categories::{json_with, send};
use crate::chat_replicas::open_conversation;
use crate::helpers::{LoggedIn, TestApp, assert_problem, error_fields, id_of, spawn_app};
use crate::shopping::open_shop;
use crate::ws::{Ws, connect};

struct Desk {
    app: TestApp,
    admin: String,
    ann: LoggedIn,
}

async fn desk() -> Desk {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ann = app.logged_in("ann@example.com").await;
    Desk { app, admin, ann }
}

fn str_of<'a>(frame: &'a Value, field: &str) -> &'a str {
    frame[field].as_str().unwrap_or_else(|| panic!("{field} in {frame}"))
}

#[tokio::test]
async fn a_customer_and_an_agent_talk_and_the_history_keeps_it_all() {
    let d = desk().await;
    let mut agent = connect(&d.app, &d.admin).await;
    let mut ann = connect(&d.app, &d.ann.token).await;
    ann.say("Is the oat milk back? <3").await;
    let opened = ann.next().await;
    assert_eq!((opened["type"].as_str(), opened["status"].as_str()), (Some("conversation"), Some("open")));
    let ack = ann.next().await;
    assert_eq!((ack["type"].as_str(), ack["seq"].as_i64()), (Some("message"), Some(1)));
    assert_eq!((ack["body"].as_str(), ack["sender_role"].as_str()), (Some("Is the oat milk back? <3"), Some("user")));
    let conversation = str_of(&opened, "id").to_owned();
    assert_eq!(str_of(&ack, "conversation_id"), conversation);
    assert_eq!(str_of(&ack, "sender_id"), d.ann.id);

    assert_eq!(agent.next_of("conversation").await["id"], opened["id"], "agents see the conversation open");
    let seen = agent.next_of("message").await;
    assert_eq!(seen["id"], ack["id"]);
    agent.say_in(&conversation, "It is! 2 > 1").await;
    let reply = agent.next_of("message").await;
    assert_eq!((reply["seq"].as_i64(), reply["sender_role"].as_str()), (Some(2), Some("admin")));
    let received = ann.next_of("message").await;
    assert_eq!((received["id"].clone(), received["body"].as_str()), (reply["id"].clone(), Some("It is! 2 > 1")));
    ann.quiet_for(std::time::Duration::from_millis(300)).await;

    let history = json_with(
        send(&d.app, Method::GET, &format!("/support/conversations/{conversation}/messages"), Some(&d.ann.token), None)
            .await,
        StatusCode::OK,
    )
    .await;
    let bodies: Vec<&str> = history["items"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["Is the oat milk back? <3", "It is! 2 > 1"]);
    assert_eq!(history["has_more"], false);
    let own =
        json_with(send(&d.app, Method::GET, "/support/conversations", Some(&d.ann.token), None).await, StatusCode::OK)
            .await;
    assert_eq!((own["total"].as_i64(), own["items"][0]["last_seq"].as_i64()), (Some(1), Some(2)));
}

#[tokio::test]
async fn a_customer_sees_only_their_own_conversations_and_only_their_own_frames() {
    let d = desk().await;
    let bob = d.app.logged_in("bob@example.com").await;
    let mut ann = connect(&d.app, &d.ann.token).await;
    let mut bob_ws = connect(&d.app, &bob.token).await;
    ann.say("hello").await;
    let conversation = str_of(&ann.next_of("conversation").await, "id").to_owned();
    ann.next_of("message").await;
    bob_ws.quiet_for(std::time::Duration::from_millis(400)).await;
    bob_ws.say_in(&conversation, "sneaky").await;
    assert_eq!(bob_ws.error_code().await, "not_found");
    bob_ws.send(json!({"type": "resume", "conversation_id": conversation, "after_seq": 0})).await;
    assert_eq!(bob_ws.error_code().await, "not_found");
    for path in
        [format!("/support/conversations/{conversation}"), format!("/support/conversations/{conversation}/messages")]
    {
        assert_problem(send(&d.app, Method::GET, &path, Some(&bob.token), None).await, 404, "not_found").await;
    }
    let all = json_with(
        send(&d.app, Method::GET, "/support/conversations?status=open", Some(&d.admin), None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(all["total"], 1);
    let none =
        json_with(send(&d.app, Method::GET, "/support/conversations", Some(&bob.token), None).await, StatusCode::OK)
            .await;
    assert_eq!(none["total"], 0);
}

#[tokio::test]
async fn closing_a_conversation_tells_both_sides_and_the_next_message_opens_a_new_one() {
    let d = desk().await;
    let mut agent = connect(&d.app, &d.admin).await;
    let mut ann = connect(&d.app, &d.ann.token).await;
    ann.say("first").await;
    let first = str_of(&ann.next_of("conversation").await, "id").to_owned();
    ann.next_of("message").await;
    assert_eq!(agent.next_of("conversation").await["status"], "open");
    agent.next_of("message").await;
    ann.send(json!({"type": "close", "conversation_id": first})).await;
    assert_eq!(ann.error_code().await, "forbidden", "customers do not close");
    agent.send(json!({"type": "close", "conversation_id": first})).await;
    let closed = agent.next_of("conversation").await;
    assert_eq!((closed["id"].as_str(), closed["status"].as_str()), (Some(first.as_str()), Some("closed")));
    let told = ann.next_of("conversation").await;
    assert_eq!(told["status"], "closed");
    agent.say_in(&first, "too late").await;
    assert_eq!(agent.error_code().await, "conversation_closed");

    ann.say("one more thing").await;
    let second = ann.next_of("conversation").await;
    assert_ne!(second["id"], first.as_str());
    assert_eq!(ann.next_of("message").await["seq"], 1, "a new conversation counts from 1");

    // REST closes too; reopening is refused.
    let path = format!("/support/conversations/{}", str_of(&second, "id"));
    let forbidden = send(&d.app, Method::PATCH, &path, Some(&d.ann.token), Some(&json!({"status": "closed"}))).await;
    assert_problem(forbidden, 403, "forbidden").await;
    let done = json_with(
        send(&d.app, Method::PATCH, &path, Some(&d.admin), Some(&json!({"status": "closed"}))).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(done["status"], "closed");
    assert_eq!(ann.next_of("conversation").await["status"], "closed");
    let reopen = send(&d.app, Method::PATCH, &path, Some(&d.admin), Some(&json!({"status": "open"}))).await;
    assert_problem(reopen, 409, "conversation_closed").await;
}

#[tokio::test]
async fn a_repeated_client_id_is_stored_once_and_echoed_again() {
    let d = desk().await;
    let mut ann = connect(&d.app, &d.ann.token).await;
    let message = json!({"type": "message", "body": "two flat whites", "client_id": "web-1"});
    ann.send(message.clone()).await;
    let first = ann.next_of("message").await;
    ann.send(message).await;
    let again = ann.next_of("message").await;
    assert_eq!(
        (again["id"].clone(), again["seq"].clone(), again["client_id"].as_str()),
        (first["id"].clone(), json!(1), Some("web-1"))
    );
    let conversation = str_of(&first, "conversation_id");
    let history = json_with(
        send(&d.app, Method::GET, &format!("/support/conversations/{conversation}/messages"), Some(&d.admin), None)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(history["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn resume_replays_what_was_missed_in_order_then_live_delivery_goes_on_without_duplicates() {
    let d = desk().await;
    let mut agent = connect(&d.app, &d.admin).await;
    let mut ann = connect(&d.app, &d.ann.token).await;
    ann.say("hi").await;
    let conversation = str_of(&ann.next_of("conversation").await, "id").to_owned();
    ann.next_of("message").await;
    ann.leave().await;
    for n in 1..=3 {
        agent.say_in(&conversation, &format!("while you were away {n}")).await;
    }
    // All three stored before Ann is back (the agent sees its own echoes):
    // otherwise one may reach her new socket live before she asks to resume,
    // and the resume, which replays everything after seq 1, repeats it.
    while agent.next_of("message").await["seq"] != 4 {}
    let mut ann = connect(&d.app, &d.ann.token).await;
    ann.send(json!({"type": "resume", "conversation_id": conversation, "after_seq": 1})).await;
    let replayed: Vec<i64> =
        [ann.next().await, ann.next().await, ann.next().await].iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(replayed, [2, 3, 4]);
    agent.say_in(&conversation, "and now live").await;
    assert_eq!(ann.next_of("message").await["seq"], 5);
    ann.quiet_for(std::time::Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_resume_past_the_last_message_replays_nothing_and_drops_no_later_message() {
    let d = desk().await;
    let mut agent = connect(&d.app, &d.admin).await;
    let mut ann = connect(&d.app, &d.ann.token).await;
    let conversation = open_conversation(&mut ann, &mut agent).await;
    // A client that claims more than exists (seq 1 is the last) …
    agent.send(json!({"type": "resume", "conversation_id": conversation, "after_seq": 1000})).await;
    // Frames are handled in order: once its answer's echo is back, the resume is done.
    agent.say_in(&conversation, "looking into it").await;
    assert_eq!(agent.next_of("message").await["seq"], 2, "the echo; nothing was replayed");
    ann.say("still there?").await;
    // … still gets what comes next, live: seq 3 is not taken for replayed.
    assert_eq!(agent.next_of("message").await["seq"], 3);
}

#[tokio::test]
async fn history_pages_by_seq_and_bounds_its_parameters() {
    let d = desk().await;
    let mut ann = connect(&d.app, &d.ann.token).await;
    for n in 1..=5 {
        ann.say(&format!("m{n}")).await;
        ann.next_of("message").await;
    }
    let list =
        json_with(send(&d.app, Method::GET, "/support/conversations", Some(&d.ann.token), None).await, StatusCode::OK)
            .await;
    let path = format!("/support/conversations/{}/messages", id_of(&list["items"][0]));
    let page = |query: &str| {
        let url = format!("{path}?{query}");
        let app = &d.app;
        let token = d.ann.token.clone();
        async move { send(app, Method::GET, &url, Some(&token), None).await }
    };
    let seqs =
        |v: &Value| v["items"].as_array().unwrap().iter().map(|m| m["seq"].as_i64().unwrap()).collect::<Vec<_>>();
    let forward = json_with(page("after_seq=1&limit=2").await, StatusCode::OK).await;
    assert_eq!((seqs(&forward), forward["has_more"].as_bool()), (vec![2, 3], Some(true)));
    let latest = json_with(page("limit=2").await, StatusCode::OK).await;
    assert_eq!(seqs(&latest), [4, 5]);
    let before = json_with(page("before_seq=3").await, StatusCode::OK).await;
    assert_eq!((seqs(&before), before["has_more"].as_bool()), (vec![1, 2], Some(false)));
    assert_problem(page("limit=101").await, 422, "validation_failed").await;
    for (query, field) in [("after_seq=abc", "after_seq"), ("limit=", "limit"), ("limit=1.5", "limit")] {
        let problem = assert_problem(page(query).await, 400, "invalid_query").await;
        assert_eq!(error_fields(&problem), [field], "{query}: the problem names the parameter");
    }
    assert_problem(page("colour=blue").await, 400, "invalid_query").await;
}

#[tokio::test]
async fn orders_are_announced_live_to_their_owner_and_every_agent() {
    let shop = open_shop().await;
    let bob = shop.app.logged_in("bob@example.com").await;
    let mut agent = connect(&shop.app, &shop.admin).await;
    let mut ann = connect(&shop.app, &shop.ann.token).await;
    let mut bob_ws = connect(&shop.app, &bob.token).await;
    let order = shop.one_latte().await;
    for ws in [&mut ann, &mut agent] {
        let frame = ws.next_of("order").await;
        assert_eq!(
            (frame["id"].clone(), frame["number"].clone(), frame["status"].as_str()),
            (order["id"].clone(), order["number"].clone(), Some("pending"))
        );
    }
    // An edit by the owner, and a replacement of the items, are changes too.
    let comment = json!({"comment": "extra hot"});
    assert_eq!(shop.patch(&shop.ann.token, &order, &comment).await.status(), StatusCode::OK);
    let items = json!({"items": [{"product_id": shop.latte, "quantity": 2}]});
    let path = format!("/orders/{}", id_of(&order));
    assert_eq!(shop.call(Method::PUT, &path, &shop.ann.token, Some(&items)).await.status(), StatusCode::OK);
    // Each frame carries the order's version after the change (frames of
    // one order may arrive out of order: the highest is the latest).
    let placed = order["version"].as_i64().unwrap();
    for ws in [&mut ann, &mut agent] {
        for version in [placed + 1, placed + 2] {
            let frame = ws.next_of("order").await;
            assert_eq!((frame["id"].clone(), frame.get("deleted")), (order["id"].clone(), None), "{frame}");
            assert_eq!(frame["version"].as_i64(), Some(version), "{frame}");
        }
    }
    shop.moved(&order, "confirmed").await;
    for ws in [&mut ann, &mut agent] {
        let frame = ws.next_of("order").await;
        assert_eq!((frame["status"].as_str(), frame["version"].as_i64()), (Some("confirmed"), Some(placed + 3)));
    }
    // A deletion takes it off the board.
    assert_eq!(shop.call(Method::DELETE, &path, &shop.admin, None).await.status(), StatusCode::NO_CONTENT);
    for ws in [&mut ann, &mut agent] {
        let frame = ws.next_of("order").await;
        assert_eq!((frame["id"].clone(), frame["deleted"].as_bool()), (order["id"].clone(), Some(true)), "{frame}");
    }
    bob_ws.quiet_for(std::time::Duration::from_millis(300)).await;
}

#[tokio::test]
async fn deleting_a_customer_takes_their_orders_and_open_conversation_off_every_agents_screen() {
    let shop = open_shop().await;
    let bob = shop.app.logged_in("bob@example.com").await;
    let mut agent = connect(&shop.app, &shop.admin).await;
    let mut ann = connect(&shop.app, &shop.ann.token).await;
    let (first, second) = (shop.one_latte().await, shop.one_latte().await);
    shop.moved(&second, "confirmed").await;
    ann.say("where is my latte?").await;
    let conversation = ann.next_of("conversation").await["id"].clone();
    for _ in 0..3 {
        agent.next_of("order").await;
    }
    agent.next_of("message").await;
    let bobs = shop.ordered(&bob.token, &json!({"items": [{"product_id": shop.latte, "quantity": 1}]})).await;
    agent.next_of("order").await;

    let path = format!("/users/{}", shop.ann.id);
    assert_eq!(shop.call(Method::DELETE, &path, &shop.admin, None).await.status(), StatusCode::NO_CONTENT);
    let mut gone = Vec::new();
    for _ in 0..2 {
        let frame = agent.next_of("order").await;
        assert_eq!(frame["deleted"].as_bool(), Some(true), "{frame}");
        gone.push((frame["id"].clone(), frame["status"].clone()));
    }
    gone.sort_by_key(|(id, _)| id.to_string());
    assert_eq!(gone, [(first["id"].clone(), json!("pending")), (second["id"].clone(), json!("confirmed"))]);
    let closed = agent.next_of("conversation").await;
    assert_eq!((closed["id"].clone(), closed["status"].as_str()), (conversation, Some("closed")));
    // Bob's order stays on the board.
    assert_eq!(
        shop.call(Method::GET, &format!("/orders/{}", id_of(&bobs)), &shop.admin, None).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn typing_reaches_the_other_side_not_the_typist() {
    let d = desk().await;
    let mut agent = connect(&d.app, &d.admin).await;
    let mut ann = connect(&d.app, &d.ann.token).await;
    ann.say("hi").await;
    let conversation = str_of(&ann.next_of("conversation").await, "id").to_owned();
    ann.next_of("message").await;
    agent.next_of("message").await;
    agent.send(json!({"type": "typing"})).await;
    assert_eq!(agent.error_code().await, "validation_failed", "staff name the conversation");
    ann.send(json!({"type": "typing"})).await;
    let typing = agent.next().await;
    assert_eq!(
        (typing["type"].as_str(), typing["conversation_id"].as_str()),
        (Some("typing"), Some(conversation.as_str()))
    );
    assert_eq!(typing["sender_id"], d.ann.id.as_str());
    agent.send(json!({"type": "typing", "conversation_id": conversation})).await;
    assert_eq!(ann.next().await["sender_role"], "admin");
    ann.quiet_for(std::time::Duration::from_millis(300)).await;
}

/// The socket of a customer who is not connected yet still gets what
/// happened before they connected by `resume`, never by live delivery.
#[tokio::test]
async fn a_socket_receives_nothing_from_before_it_connected() {
    let d = desk().await;
    let mut ann = connect(&d.app, &d.ann.token).await;
    ann.say("hello").await;
    ann.next_of("message").await;
    let mut late_agent: Ws = connect(&d.app, &d.admin).await;
    late_agent.quiet_for(std::time::Duration::from_millis(300)).await;
}

#[tokio::test]
async fn one_user_gets_ten_tickets_in_thirty_seconds_and_others_are_not_held_up() {
    let d = desk().await;
    let ann = d.ann.token.as_str();
    for _ in 0..10 {
        json_with(send(&d.app, Method::POST, "/support/tickets", Some(ann), None).await, StatusCode::CREATED).await;
    }
    let refused = send(&d.app, Method::POST, "/support/tickets", Some(ann), None).await;
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry_after), "Retry-After: {retry_after}");
    assert_problem(refused, 429, "too_many_tickets").await;
    let admins = send(&d.app, Method::POST, "/support/tickets", Some(&d.admin), None).await;
    json_with(admins, StatusCode::CREATED).await;
}
