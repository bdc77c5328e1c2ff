//! The socket's own rules: credentials, origins, tickets, bad frames,
//! size and rate limits, the per-user bound, pings, and why it closes.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::categories::{json_with, send};
use crate::chat_replicas::{borrowed, customer, shared_redis};
use crate::helpers::{ADMIN_EMAIL, PASSWORD, PUBLIC_BASE_URL, TestApp, spawn_app, spawn_app_with};
use crate::ws::{connect, ticket, try_connect};

#[tokio::test]
async fn a_socket_needs_a_credential_never_a_token_in_the_url_and_a_ticket_works_once() {
    let app = spawn_app().await;
    let ann = app.logged_in("ann@example.com").await;
    let refused = try_connect(&app, "/ws", &[]).await.err().unwrap();
    assert_eq!((refused.status, refused.body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("missing_token")));
    let in_url = try_connect(&app, &format!("/ws?access_token={}", ann.token), &[]).await.err().unwrap();
    assert_eq!((in_url.status, in_url.body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_token")));
    let forged = try_connect(&app, "/ws", &[("authorization", "Bearer not-a-token")]).await.err().unwrap();
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);

    let issued =
        json_with(send(&app, Method::POST, "/support/tickets", Some(&ann.token), None).await, StatusCode::CREATED)
            .await;
    let t = issued["ticket"].as_str().unwrap();
    assert!(issued["expires_at"].is_string());
    let mut ws =
        try_connect(&app, &format!("/ws/support?ticket={t}"), &[]).await.expect("a fresh ticket opens a socket");
    ws.say("via a ticket").await;
    assert_eq!(ws.next_of("message").await["sender_id"], ann.id.as_str());
    let reused = try_connect(&app, &format!("/ws?ticket={t}"), &[]).await.err().unwrap();
    assert_eq!((reused.status, reused.body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_token")));
    let anonymous = send(&app, Method::POST, "/support/tickets", None, None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let plain_get = send(&app, Method::GET, "/ws", Some(&ann.token), None).await;
    assert_eq!(plain_get.status(), StatusCode::BAD_REQUEST, "not an upgrade");
}

#[tokio::test]
async fn a_browser_origin_must_be_allowed() {
    let app = spawn_app_with(&[("CORS_ORIGINS", "https://console.coffee.example")]).await;
    let admin = app.admin_token().await;
    for origin in ["https://evil.example", "http://coffee.example"] {
        let t = ticket(&app, &admin).await;
        let refused = try_connect(&app, &format!("/ws?ticket={t}"), &[("origin", origin)]).await.err().unwrap();
        assert_eq!(
            (refused.status, refused.body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("forbidden")),
            "{origin}"
        );
    }
    for origin in ["https://console.coffee.example", PUBLIC_BASE_URL] {
        let t = ticket(&app, &admin).await;
        try_connect(&app, &format!("/ws?ticket={t}"), &[("origin", origin)]).await.expect("an allowed origin");
    }
    // Every Origin line is judged, as by the CSRF guard: an allowed one
    // does not carry a second.
    let t = ticket(&app, &admin).await;
    let lines = [("origin", "https://console.coffee.example"), ("origin", "https://evil.example")];
    let refused = try_connect(&app, &format!("/ws?ticket={t}"), &lines).await.err().unwrap();
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
}

#[tokio::test]
async fn every_bad_frame_gets_an_error_frame_and_the_socket_stays() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ann = app.logged_in("ann@example.com").await;
    let mut ws = connect(&app, &ann.token).await;
    let mut agent = connect(&app, &admin).await;
    for (frame, code) in [
        ("not json", "malformed_frame"),
        ("[1, 2]", "malformed_frame"),
        (r#"{"body":"no type"}"#, "malformed_frame"),
        (r#"{"type":"shout","body":"x"}"#, "unknown_frame_type"),
        (r#"{"type":"message","body":""}"#, "validation_failed"),
        (r#"{"type":"message","body":"<b>bold</b>"}"#, "validation_failed"),
        (r#"{"type":"message","body":"x","mood":"happy"}"#, "malformed_frame"),
        (r#"{"type":"message","body":"x","client_id":"has space"}"#, "validation_failed"),
        (r#"{"type":"resume","conversation_id":"00000000-0000-7000-8000-000000000000","after_seq":0}"#, "not_found"),
    ] {
        ws.send_text(frame).await;
        assert_eq!(ws.error_code().await, code, "{frame}");
    }
    ws.send_text(&json!({"type": "message", "body": "x".repeat(2001)}).to_string()).await;
    assert_eq!(ws.error_code().await, "validation_failed", "2001 characters");
    ws.send_binary(vec![1, 2, 3]).await;
    assert_eq!(ws.error_code().await, "malformed_frame");
    agent.say("who am I talking to?").await;
    assert_eq!(agent.error_code().await, "validation_failed", "staff must name the conversation");
    ws.say(&"é".repeat(2000)).await;
    assert_eq!(ws.next_of("message").await["seq"], 1, "after all that, the socket still works");
}

#[tokio::test]
async fn markup_is_refused_but_angle_brackets_as_text_arrive_as_typed() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ann = app.logged_in("ann@example.com").await;
    let mut agent = connect(&app, &admin).await;
    let mut ws = connect(&app, &ann.token).await;
    ws.send(json!({"type": "message", "body": "<img src=x onerror=alert(1)>", "client_id": "c1"})).await;
    let refused = ws.next().await;
    assert_eq!((refused["code"].as_str(), refused["client_id"].as_str()), (Some("validation_failed"), Some("c1")));
    assert!(refused["detail"].as_str().unwrap().contains("markup"), "{refused}");
    ws.say("<3 and 2 > 1 and a < b").await;
    assert_eq!(agent.next_of("message").await["body"], "<3 and 2 > 1 and a < b");
}

#[tokio::test]
async fn a_frame_over_16_kib_closes_the_socket_with_1009() {
    let app = spawn_app().await;
    let ann = app.logged_in("ann@example.com").await;
    let mut ws = connect(&app, &ann.token).await;
    ws.send_text(&json!({"type": "message", "body": "x".repeat(17 * 1024)}).to_string()).await;
    assert_eq!(ws.closed().await.0, 1009);
}

/// A socket opened over raw TCP with `token`, for frames no WebSocket
/// client library would send.
async fn raw_socket(app: &TestApp, token: &str) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = app.address.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(host).await.unwrap();
    let upgrade = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    tcp.write_all(upgrade.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tcp.read_u8().await.unwrap());
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    tcp
}

/// The code of the close frame the server sends next (within 5 s).
async fn close_code(tcp: &mut tokio::net::TcpStream) -> u16 {
    use tokio::io::AsyncReadExt;
    let read = async {
        let mut head = [0; 4];
        tcp.read_exact(&mut head).await.unwrap();
        assert_eq!(head[0], 0x88, "a close frame: {head:?}");
        u16::from_be_bytes([head[2], head[3]])
    };
    tokio::time::timeout(Duration::from_secs(5), read).await.expect("a close frame within 5 s")
}

#[tokio::test]
async fn frames_and_messages_over_16_kib_close_with_1009_and_broken_text_with_1007() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app().await;
    let ann = app.logged_in("ann@example.com").await;
    // A text frame declaring 1 GiB, then 64 KiB of it: closed without waiting for (or keeping) the rest.
    let mut tcp = raw_socket(&app, &ann.token).await;
    let header = [&[0x81, 0x80 | 127][..], &(1u64 << 30).to_be_bytes(), &[1, 2, 3, 4]].concat();
    tcp.write_all(&header).await.unwrap();
    tcp.write_all(&vec![b'a'; 64 * 1024]).await.unwrap();
    assert_eq!(close_code(&mut tcp).await, 1009);
    // A message in three 8 KiB pieces, each under the limit, 24 KiB together.
    let mut tcp = raw_socket(&app, &ann.token).await;
    for first_byte in [0x01, 0x00, 0x80] {
        // text or continuation, FIN on the last; masked with zeros
        let header = [first_byte, 0x80 | 126, 0x20, 0x00, 0, 0, 0, 0];
        tcp.write_all(&[&header[..], &[b'a'; 8192]].concat()).await.unwrap();
    }
    assert_eq!(close_code(&mut tcp).await, 1009);
    // A text frame that is not UTF-8 (0xff 0xfe, masked with zeros).
    let mut tcp = raw_socket(&app, &ann.token).await;
    tcp.write_all(&[0x81, 0x80 | 2, 0, 0, 0, 0, 0xff, 0xfe]).await.unwrap();
    assert_eq!(close_code(&mut tcp).await, 1007);
}

#[tokio::test]
async fn eleven_messages_in_ten_seconds_are_one_too_many() {
    let app = spawn_app().await;
    let ann = app.logged_in("ann@example.com").await;
    let mut ws = connect(&app, &ann.token).await;
    for n in 1..=10 {
        ws.say(&format!("m{n}")).await;
        assert_eq!(ws.next_of("message").await["seq"], n);
    }
    ws.send(json!({"type": "message", "body": "m11", "client_id": "eleven"})).await;
    let limited = ws.next().await;
    assert_eq!((limited["code"].as_str(), limited["client_id"].as_str()), (Some("rate_limited"), Some("eleven")));
    let mut other = connect(&app, &ann.token).await;
    other.say("another socket has its own budget").await;
    assert_eq!(other.next_of("message").await["seq"], 11);
}

#[tokio::test]
async fn unreadable_frames_spend_the_control_budget_and_leave_the_message_budget() {
    let app = spawn_app().await;
    let ann = app.logged_in("ann@example.com").await;
    let mut ws = connect(&app, &ann.token).await;
    for n in 0..30 {
        if n % 2 == 0 {
            ws.send_text("not json").await;
        } else {
            ws.send_binary(vec![0xff]).await;
        }
        assert_eq!(ws.error_code().await, "malformed_frame", "frame {n}");
    }
    ws.send_text("not json").await;
    assert_eq!(ws.error_code().await, "rate_limited", "the 31st unreadable frame in 10 s");
    // The rest of the flood goes unanswered: the next frame is the typing refusal.
    ws.send_binary(vec![0xff]).await;
    ws.send(json!({"type": "message", "body": ""})).await;
    ws.send(json!({"type": "typing"})).await;
    assert_eq!(ws.error_code().await, "rate_limited", "the budget is the one typing and resume spend");
    ws.say("messages have their own budget").await;
    assert_eq!(ws.next_of("message").await["seq"], 1);
}

#[tokio::test]
async fn a_user_holds_at_most_five_sockets() {
    let app = spawn_app().await;
    let ann = app.logged_in("ann@example.com").await;
    let mut open = Vec::new();
    for _ in 0..5 {
        open.push(connect(&app, &ann.token).await);
    }
    let sixth = try_connect(&app, "/ws", &[("authorization", &format!("Bearer {}", ann.token))]).await.err().unwrap();
    assert_eq!((sixth.status, sixth.body["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("too_many_sockets")));
    // A ticket refused for the bound is not spent: it works once a socket is closed.
    let t = ticket(&app, &ann.token).await;
    let with_ticket = format!("/ws?ticket={t}");
    let refused = try_connect(&app, &with_ticket, &[]).await.err().unwrap();
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let detail = refused.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("close one first") && detail.contains("stays good"), "{detail}");
    open.pop().unwrap().leave().await;
    let mut again = None;
    for _ in 0..50 {
        match try_connect(&app, &with_ticket, &[]).await {
            Ok(ws) => {
                again = Some(ws);
                break;
            }
            Err(refused) => assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", refused.body),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "a closed socket frees its slot, and the refused ticket opens the next");
    let reused = try_connect(&app, &with_ticket, &[]).await.err().unwrap();
    assert_eq!((reused.status, reused.body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_token")));
}

#[tokio::test]
async fn the_socket_closes_with_4001_when_its_token_expires() {
    let app = spawn_app_with(&[("ACCESS_TOKEN_TTL", "2s")]).await;
    let ann = app.logged_in("ann@example.com").await;
    let t = ticket(&app, &ann.token).await;
    let mut by_header = connect(&app, &ann.token).await;
    let mut by_ticket = try_connect(&app, &format!("/ws?ticket={t}"), &[]).await.unwrap();
    assert_eq!(by_header.closed().await.0, 4001);
    assert_eq!(by_ticket.closed().await.0, 4001, "a ticket's socket ends with the token behind the ticket");
}

#[tokio::test]
async fn changing_or_deleting_an_account_closes_its_sockets() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ann = app.logged_in("ann@example.com").await;
    let bob = app.logged_in("bob@example.com").await;
    let mut ann_ws = connect(&app, &ann.token).await;
    let mut bob_ws = connect(&app, &bob.token).await;
    let promote =
        send(&app, Method::PATCH, &format!("/users/{}", ann.id), Some(&admin), Some(&json!({"role": "admin"}))).await;
    assert_eq!(promote.status(), StatusCode::OK);
    assert_eq!(ann_ws.closed().await.0, 4001);
    let deleted = send(&app, Method::DELETE, &format!("/users/{}", bob.id), Some(&admin), None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(bob_ws.closed().await.0, 4001);
}

#[tokio::test]
async fn a_logout_closes_the_sockets_of_that_login_and_spends_its_tickets() {
    let app = spawn_app().await;
    app.verified_user("ann@example.com").await;
    let phone = app.login("ann@example.com", PASSWORD).await;
    let laptop = app.login("ann@example.com", PASSWORD).await;
    let unused = ticket(&app, &phone.access).await;
    let mut phone_ws = connect(&app, &phone.access).await;
    let mut laptop_ws = connect(&app, &laptop.access).await;

    let resp = app.post_json("/auth/logout", &json!({"refresh_token": phone.refresh})).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(phone_ws.closed().await.0, 4001, "the logged-out login's socket closes");
    let refused = try_connect(&app, &format!("/ws?ticket={unused}"), &[]).await.err().expect("the ticket is refused");
    assert_eq!((refused.status, refused.body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_token")));
    // The account's other login keeps its socket.
    laptop_ws.say("still here").await;
    assert_eq!(laptop_ws.next_of("message").await["seq"], 1);
}

#[tokio::test]
async fn a_client_that_never_stops_sending_still_loses_its_socket_at_logout() {
    let app = spawn_app().await;
    app.verified_user("ann@example.com").await;
    let login = app.login("ann@example.com", PASSWORD).await;
    let ws = connect(&app, &login.access).await;
    // Past the first ten, every message is answered with `rate_limited`:
    // the server is kept busy reading and answering for as long as it lasts.
    let flood = json!({"type": "message", "body": "let me in"});
    let flooding = tokio::spawn(async move { ws.flood_until_closed(flood, Duration::from_secs(10)).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let resp = app.post_json("/auth/logout", &json!({"refresh_token": login.refresh})).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let closed = flooding.await.unwrap();
    assert_eq!(closed, Some(4001), "the logout closes the socket however busy its client keeps it");
}

#[tokio::test]
async fn the_server_pings_and_drops_a_client_that_stays_silent() {
    let app = spawn_app_with(&[("WS_PING_INTERVAL", "300ms"), ("WS_IDLE_TIMEOUT", "1s")]).await;
    let ann = app.logged_in("ann@example.com").await;
    // A client that reads (the library answers pings) stays past the timeout.
    let mut lively = connect(&app, &ann.token).await;
    lively.quiet_for(Duration::from_secs(2)).await;
    lively.say("still here").await;
    assert_eq!(lively.next_of("message").await["seq"], 1);
    // One that reads nothing answers no ping and is dropped.
    let silent = connect(&app, &ann.token).await;
    let frames = silent.raw_frames_until_closed().await;
    assert!(frames.iter().any(|(op, _)| *op == 0x9), "the server pinged: {frames:?}");
    let (_, close) = frames.iter().find(|(op, _)| *op == 0x8).expect("a close frame");
    assert_eq!(u16::from_be_bytes([close[0], close[1]]), 1000);
}

#[tokio::test]
async fn a_silent_client_is_dropped_when_its_silence_reaches_the_timeout_not_at_a_later_ping() {
    // Checked only at pings, silence would be noticed at the second ping (8 s).
    let app = spawn_app_with(&[("WS_PING_INTERVAL", "4s"), ("WS_IDLE_TIMEOUT", "5s")]).await;
    let ann = app.logged_in("ann@example.com").await;
    let silent = connect(&app, &ann.token).await;
    let connected = std::time::Instant::now();
    let frames = silent.raw_frames_until_closed().await;
    let silent_for = connected.elapsed();
    assert!(frames.iter().any(|(op, _)| *op == 0x8), "a close frame: {frames:?}");
    assert!(
        (Duration::from_millis(4500)..Duration::from_millis(7000)).contains(&silent_for),
        "dropped after {silent_for:?} of silence, the timeout being 5 s"
    );
}

/// The app with `vars`, and in the distributed profile (socket slots and
/// live delivery in Redis) when `TEST_REDIS_URL` is set.
async fn spawn_app_also_on_redis(vars: &[(&str, &str)]) -> TestApp {
    let redis = coffee_testkit::test_redis_url().map(|url| shared_redis(&url)).unwrap_or_default();
    let mut vars = vars.to_vec();
    vars.extend(borrowed(&redis));
    spawn_app_with(&vars).await
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_frees_its_slot() {
    // A frame may wait one ping interval to be sent here (5 s by default).
    let app = spawn_app_also_on_redis(&[("WS_PING_INTERVAL", "1s"), ("WS_IDLE_TIMEOUT", "60s")]).await;
    let admin = app.admin_token().await;
    let ann = customer(&app, &admin, "ann@example.com").await;
    let bearer = format!("Bearer {}", ann.token);
    // Ann holds all five of her sockets. Each writes 10 messages of 2000
    // four-byte characters (8 KB a frame), and every socket reads them all.
    let mut open = Vec::new();
    for _ in 0..5 {
        open.push(connect(&app, &ann.token).await);
    }
    let body = "\u{1f369}".repeat(2000);
    let mut conversation = String::new();
    for writer in 0..open.len() {
        for _ in 0..10 {
            open[writer].say(&body).await;
        }
        for ws in &mut open {
            for _ in 0..10 {
                conversation = ws.next_of("message").await["conversation_id"].as_str().unwrap().to_owned();
            }
        }
    }
    let sixth = try_connect(&app, "/ws", &[("authorization", &bearer)]).await.err().unwrap();
    assert_eq!(sixth.status, StatusCode::TOO_MANY_REQUESTS);

    // One socket asks for the 50 messages (400 KB) 30 times and reads none
    // of it: far more than its TCP window, the kernel's buffers and the
    // server's queue hold, so the server's sends wait for a reader.
    let mut stalled = open.remove(0);
    for _ in 0..30 {
        stalled.send(json!({"type": "resume", "conversation_id": conversation, "after_seq": 0})).await;
    }
    let started = tokio::time::Instant::now();
    let mut again = None;
    while again.is_none() && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        again = try_connect(&app, "/ws", &[("authorization", &bearer)]).await.ok();
    }
    assert!(again.is_some(), "the socket that stopped reading still holds its slot after 20 s");
    assert!(started.elapsed() < Duration::from_secs(10), "dropped after {:?}", started.elapsed());
    drop(stalled);
}

#[tokio::test]
async fn an_admin_demoted_without_an_access_event_loses_the_socket_within_a_ping_interval() {
    let app = spawn_app_also_on_redis(&[("WS_PING_INTERVAL", "500ms"), ("WS_IDLE_TIMEOUT", "5s")]).await;
    let admin = app.admin_token().await;
    let mut agent = connect(&app, &admin).await;
    // Pings come and go, and an unchanged account keeps its socket.
    agent.quiet_for(Duration::from_millis(700)).await;
    // Demoted in the database, behind the use cases' back: no
    // `AccessChanged` is published, as when its publish fails.
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(app.database_url()).await.unwrap();
    let demote = format!("UPDATE users SET role = 'user' WHERE email = '{ADMIN_EMAIL}'");
    assert_eq!(db.execute_unprepared(&demote).await.unwrap().rows_affected(), 1);
    // (`closed` alone would wait forever: each ping restarts its wait.)
    let closed = tokio::time::timeout(Duration::from_secs(3), agent.closed()).await;
    assert_eq!(closed.expect("closed within 3 s (six ping intervals)").0, 4001);
}

#[tokio::test]
async fn a_demoted_admins_open_socket_can_no_longer_read_close_or_answer_a_conversation() {
    // Pings far apart and no access event (the demotion is made behind the
    // use cases' back): only the frame itself can notice.
    let app = spawn_app_with(&[("WS_PING_INTERVAL", "60s"), ("WS_IDLE_TIMEOUT", "120s")]).await;
    let admin = app.admin_token().await;
    let ann = app.logged_in("ann@example.com").await;
    let mut ann_ws = connect(&app, &ann.token).await;
    ann_ws.say("my card was charged twice").await;
    let conversation = ann_ws.next_of("conversation").await["id"].as_str().unwrap().to_owned();
    ann_ws.next_of("message").await;
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(app.database_url()).await.unwrap();
    let set_role = |role: &str| format!("UPDATE users SET role = '{role}' WHERE email = '{ADMIN_EMAIL}'");
    let frames = [
        json!({"type": "resume", "conversation_id": conversation, "after_seq": 0}),
        json!({"type": "close", "conversation_id": conversation}),
        json!({"type": "message", "conversation_id": conversation, "body": "answered after the demotion"}),
    ];
    for frame in frames {
        assert_eq!(db.execute_unprepared(&set_role("admin")).await.unwrap().rows_affected(), 1);
        let mut agent = connect(&app, &admin).await;
        agent.send(json!({"type": "resume", "conversation_id": conversation, "after_seq": 0})).await;
        assert_eq!(agent.next_of("message").await["seq"], 1, "an admin reads the conversation");
        assert_eq!(db.execute_unprepared(&set_role("user")).await.unwrap().rows_affected(), 1);
        agent.send(frame.clone()).await;
        let (texts, code, _) = agent.texts_until_closed().await;
        assert_eq!((texts, code), (vec![], 4001), "after {frame}");
    }
    // Nothing was closed or answered: the customer's conversation is as it was.
    ann_ws.quiet_for(Duration::from_millis(300)).await;
    let history = json_with(
        send(&app, Method::GET, &format!("/support/conversations/{conversation}/messages"), Some(&ann.token), None)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(history["items"].as_array().unwrap().len(), 1, "{history}");
}
