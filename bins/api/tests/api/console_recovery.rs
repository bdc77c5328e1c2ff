//! The support console when things go wrong between the page and the
//! server: a token renewal that fails for a while, replies past the
//! socket's budget, a message and the resume that should fetch it both
//! lost, orders finished or deleted while the board watches, and frames of
//! an order that arrive late. In a real browser.

use std::time::Duration;

use coffee_testkit::Browser;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::console::{SOCKET_SPY, ann_says, console_of_a_shop, js_str, log_in, next_message, shown_messages, until};
use crate::helpers::{ADMIN_EMAIL, OWN_ORIGIN, spawn_app_with};
use crate::ws::connect;

#[tokio::test]
async fn a_renewal_that_fails_for_a_while_keeps_the_agent_signed_in_and_what_they_typed() {
    let Some(browser) = Browser::launch_or_skip().await else { return };
    let scenario = async {
        // The socket closes (4001) when the token behind its ticket expires.
        let app = spawn_app_with(&[("PUBLIC_BASE_URL", OWN_ORIGIN), ("ACCESS_TOKEN_TTL", "6s")]).await;
        app.verified_user("ann@example.com").await;
        let page = browser.open(&format!("{}/support/console", app.address)).await.unwrap();
        page.eval(SOCKET_SPY).await.unwrap();
        // The next renewals are answered 503, as by a server whose database is away.
        page.eval(
            "(() => { const native = window.fetch; window.__failRenewals = 0; window.__failedRenewals = 0;
               window.fetch = async (url, init) => {
                 if (String(url) === '/auth/refresh' && window.__failRenewals > 0) {
                   window.__failRenewals -= 1; window.__failedRenewals += 1;
                   return new Response(JSON.stringify({ status: 503, code: 'service_unavailable' }),
                     { status: 503, headers: { 'content-type': 'application/problem+json' } });
                 }
                 return native(url, init); };
               return true; })()",
        )
        .await
        .unwrap();
        log_in(&page).await;
        let first = ann_says(&app, "first").await;
        let conversation = first["conversation_id"].as_str().unwrap().to_owned();
        page.click(&format!("#conversations li[data-conversation-id={}]", js_str(&conversation))).await.unwrap();
        until(&page, "the first message", "document.querySelector('#messages li[data-seq=\"1\"]') !== null").await;

        page.eval("window.__failRenewals = 3; true").await.unwrap();
        until(&page, "the socket closed with the expired token", "window.__sockets[0].readyState === WebSocket.CLOSED")
            .await;
        page.type_into("#reply", "typed while the server was away\n").await.unwrap();
        until(
            &page,
            "a socket opened again",
            "window.__sockets.length >= 2 && document.querySelector('#status.online') !== null",
        )
        .await;

        assert_eq!(page.eval("window.__failedRenewals").await.unwrap(), 3, "every failing renewal was tried");
        assert_eq!(page.text("#who").await.unwrap(), ADMIN_EMAIL, "still signed in");
        assert_eq!(page.eval("document.getElementById('login-view').hidden").await.unwrap(), true);
        until(
            &page,
            "the reply typed meanwhile, stored",
            "document.querySelector('#messages li[data-seq=\"2\"]') !== null",
        )
        .await;
        let expected = [(1, "first".to_owned()), (2, "typed while the server was away".to_owned())];
        assert_eq!(shown_messages(&page).await, expected);
        // (The page met 401s on the way, for the expired token: not a clean session by design.)
    };
    tokio::time::timeout(Duration::from_secs(90), scenario).await.expect("the scenario finishes within 90 s");
}

#[tokio::test]
async fn replies_past_the_sockets_budget_are_sent_again_and_lost_messages_are_asked_for_until_they_come() {
    let Some(browser) = Browser::launch_or_skip().await else { return };
    let scenario = async {
        let (shop, origin, page) = console_of_a_shop(&browser).await;
        page.eval(SOCKET_SPY).await.unwrap();
        log_in(&page).await;
        let mut ann = connect(&shop.app, &shop.ann.token).await;
        ann.say("one").await;
        let conversation = ann.next_of("conversation").await["id"].as_str().unwrap().to_owned();
        next_message(&mut ann).await;
        page.click(&format!("#conversations li[data-conversation-id={}]", js_str(&conversation))).await.unwrap();
        until(&page, "the first message", "document.querySelector('#messages li[data-seq=\"1\"]') !== null").await;

        // Twelve replies at once: the socket takes ten in any 10 s and refuses the rest.
        page.eval(
            "(() => { const reply = document.getElementById('reply');
               for (let n = 1; n <= 12; n += 1) {
                 reply.value = `reply ${n}`; document.getElementById('reply-form').requestSubmit(); }
               return true; })()",
        )
        .await
        .unwrap();
        let mut bodies = Vec::new();
        for _ in 0..12 {
            bodies.push(next_message(&mut ann).await["body"].as_str().unwrap().to_owned());
        }
        bodies.sort_by_key(|b| b[6..].parse::<u32>().unwrap());
        assert_eq!(bodies, (1..=12).map(|n| format!("reply {n}")).collect::<Vec<_>>());
        let refused = page.eval("window.__frames.filter(f => f.code === 'rate_limited' && f.client_id).length").await;
        assert!(refused.unwrap().as_u64().unwrap() >= 2, "the budget refused some: the test tested nothing");
        until(&page, "no reply left pending", "document.querySelectorAll('#messages li.pending').length === 0").await;
        assert_eq!(shown_messages(&page).await.len(), 13);

        // Message 15 never reaches the page, nor does the resume its
        // successor's gap sends; the next reconnection asks for it again.
        page.eval("window.__dropIn = (f) => f.type === 'message' && f.seq === 15; true").await.unwrap();
        page.eval("window.__dropOut = (f) => f.type === 'resume'; true").await.unwrap();
        for body in ["fourteen", "fifteen", "sixteen"] {
            ann.say(body).await;
            next_message(&mut ann).await;
        }
        until(&page, "message 16", "document.querySelector('#messages li[data-seq=\"16\"]') !== null").await;
        let dropped = page.eval("window.__dropIn === null && window.__dropOut === null").await.unwrap();
        assert_eq!(dropped, Value::Bool(true), "both the message and its resume were lost");
        page.eval("window.__sockets.at(-1).close(); true").await.unwrap();
        until(&page, "the lost message", "document.querySelector('#messages li[data-seq=\"15\"]') !== null").await;
        let seqs: Vec<i64> = shown_messages(&page).await.into_iter().map(|(seq, _)| seq).collect();
        assert_eq!(seqs, (1..=16).collect::<Vec<_>>(), "every message once, in order");

        // Five messages the page never sees, then one it does: it asks for the
        // gap once, and the replay (each message of which but the last
        // leaves a gap open) does not make it ask again and again.
        page.eval("window.__blockIn = (f) => f.type === 'message' && f.seq >= 17 && f.seq <= 21; true").await.unwrap();
        for n in 17..=21 {
            ann.say(&format!("unseen {n}")).await;
            next_message(&mut ann).await;
        }
        until(&page, "the unseen messages kept from the page", "window.__frames.some(f => f.seq === 21)").await;
        let before = page.eval("window.__blockIn = null; window.__sent.length").await.unwrap();
        ann.say("seen 22").await;
        next_message(&mut ann).await;
        until(&page, "the gap filled", "document.querySelectorAll('#messages li[data-seq]').length === 22").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let resumes =
            page.eval(&format!("window.__sent.slice({before}).filter(f => f.type === 'resume').length")).await.unwrap();
        assert_eq!(resumes, 1, "one resume for one gap");

        // An order finished while the board watches leaves it.
        let order = shop.one_latte().await;
        let row = format!("#orders tr[data-number=\"{}\"]", order["number"]);
        until(&page, "the order on the board", &format!("document.querySelector({}) !== null", js_str(&row))).await;
        shop.moved(&order, "cancelled").await;
        until(
            &page,
            "the cancelled order off the board",
            &format!("document.querySelector({}) === null", js_str(&row)),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(page.eval(&format!("document.querySelector({}) === null", js_str(&row))).await.unwrap() == true);

        // Markup in a message (as a server that let it through would send
        // it) is shown as text: no element is made of it, nothing runs.
        let markup = r#"<img src=x onerror="window.__ran = true"><b>bold</b>"#;
        let frame = serde_json::json!({
            "type": "message", "id": "0193a7d4-0000-7000-8000-000000000023", "conversation_id": conversation,
            "seq": 23, "sender_id": shop.ann.id, "sender_role": "user", "body": markup,
            "created_at": "2026-01-01T10:00:00.123456Z",
        });
        // As if the server had sent `frame` on the page's socket.
        let dispatch = |frame: Value| {
            format!(
                "window.__sockets.at(-1).dispatchEvent(new MessageEvent('message', {{ data: {} }})); true",
                js_str(&frame.to_string())
            )
        };
        page.eval(&dispatch(frame)).await.unwrap();
        until(&page, "the message with markup", "document.querySelector('#messages li[data-seq=\"23\"]') !== null")
            .await;
        let shown = page
            .eval(
                "[document.querySelector('#messages li[data-seq=\"23\"] .body').textContent,
                    document.querySelectorAll('#messages img, #messages b').length, window.__ran === undefined]",
            )
            .await
            .unwrap();
        assert_eq!(shown, serde_json::json!([markup, 0, true]), "markup shown as text");

        // Frames of one order that arrive late (from another replica, with
        // a clock ahead): the highest version is the latest, and a deletion
        // is final.
        let order = shop.one_latte().await;
        let row = format!("#orders tr[data-number=\"{}\"]", order["number"]);
        let confirmed = shop.moved(&order, "confirmed").await;
        let shows = |status: &str| format!("document.querySelector({})?.className === 'order-{status}'", js_str(&row));
        until(&page, "the confirmed order on the board", &shows("confirmed")).await;
        let stale = |version: &Value, status: &str| {
            serde_json::json!({
                "type": "order", "id": order["id"], "number": order["number"], "status": status,
                "updated_at": "2099-01-01T00:00:00Z", "version": version,
            })
        };
        page.eval(&dispatch(stale(&order["version"], "pending"))).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let kept = page.eval(&shows("confirmed")).await.unwrap();
        assert_eq!(kept, true, "an older version put the order back to pending");
        let path = format!("/orders/{}", order["id"].as_str().unwrap());
        assert_eq!(shop.call(Method::DELETE, &path, &shop.admin, None).await.status(), StatusCode::NO_CONTENT);
        let off = format!("document.querySelector({}) === null", js_str(&row));
        until(&page, "the deleted order off the board", &off).await;
        page.eval(&dispatch(stale(&confirmed["version"], "confirmed"))).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(page.eval(&off).await.unwrap(), true, "a late frame brought a deleted order back");
        browser.observations().await.assert_clean(&origin);
    };
    tokio::time::timeout(Duration::from_secs(120), scenario).await.expect("the scenario finishes within 120 s");
}
