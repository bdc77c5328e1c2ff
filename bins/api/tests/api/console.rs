//! The support console at `/support/console`: served with its own strict
//! policy, and used in a real browser (headless Chromium) by an agent who
//! talks to a customer on a test socket, watches the order board, and
//! loses the connection without losing a message.

use std::time::Duration;

use coffee_testkit::{Browser, Page};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::chat_replicas::{borrowed, customer, kill_subscribers, shared_redis};
use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, OWN_ORIGIN, PASSWORD, TestApp, around_the_clock, assert_problem, header, id_of,
    spawn_app, spawn_app_with, spawn_replica_of,
};
use crate::shopping::{Shop, shop_with};
use crate::ws::{Ws, connect};

/// How long something the page should show may take: an upper bound (the
/// wait ends as soon as it shows), generous because the full suite runs
/// these pages beside other tests on two cores, where 15 s once fell short.
pub(crate) const SHOWN_WITHIN: Duration = Duration::from_secs(30);

#[tokio::test]
async fn the_console_is_served_from_the_binary_with_a_policy_that_allows_only_itself() {
    let app = spawn_app().await;
    let resp = app.get("/support/console", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(resp.headers(), "content-type").unwrap(), "text/html; charset=utf-8");
    assert_eq!(header(resp.headers(), "cache-control").unwrap(), "no-cache");
    let csp = header(resp.headers(), "content-security-policy").unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.split(';').any(|d| d.trim() == directive), "{directive} missing from {csp}");
    }
    assert!(!csp.contains("unsafe") && !csp.contains("http") && !csp.contains("data:"), "{csp}");
    assert_eq!(header(resp.headers(), "x-frame-options").as_deref(), Some("DENY"));
    let html = resp.text().await.unwrap();
    assert!(
        !html.contains("http:") && !html.contains("https:") && !html.contains("//"),
        "an outside reference: {html}"
    );
    assert!(!html.contains("style="), "an inline style: {html}");
    for script in html.split("<script").skip(1) {
        let tag = script.split('>').next().unwrap();
        assert!(tag.contains("src=\"/support/console/"), "an inline script: <script{tag}>");
        assert!(script.split_once('>').unwrap().1.starts_with("</script>"), "a script with a body: {script}");
    }
    for (asset, kind) in [("/support/console/app.js", "text/javascript"), ("/support/console/app.css", "text/css")] {
        assert!(html.contains(asset), "the page does not use {asset}");
        let resp = app.get(asset, None).await;
        assert_eq!(resp.status(), StatusCode::OK, "{asset}");
        assert!(header(resp.headers(), "content-type").unwrap().starts_with(kind), "{asset}");
        assert!(header(resp.headers(), "cache-control").unwrap().contains("max-age"), "{asset}");
        assert!(header(resp.headers(), "content-security-policy").is_some(), "{asset}");
        let text = resp.text().await.unwrap();
        assert!(!text.contains("innerHTML") && !text.contains("insertAdjacentHTML"), "{asset} inserts markup");
        assert!(!text.contains("localStorage"), "{asset} keeps something in storage");
    }
    assert_eq!(app.get("/support/console/", None).await.status(), StatusCode::OK);
    assert_problem(app.get("/support/console/secret.js", None).await, 404, "not_found").await;
    assert_problem(app.get("/support/console/../app.js", None).await, 404, "not_found").await;
}

/// Polls `js` (a boolean expression) until it is true; panics with the
/// page's status line and error after [`SHOWN_WITHIN`].
pub(crate) async fn until(page: &Page, what: &str, js: &str) {
    let deadline = tokio::time::Instant::now() + SHOWN_WITHIN;
    loop {
        if page.eval(js).await.unwrap() == Value::Bool(true) {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            let seen = page
                .eval("['status', 'chat-error', 'login-error', 'conversations', 'orders'].map(id => document.getElementById(id)?.textContent)")
                .await
                .unwrap();
            panic!(
                "the page did not show {what} within {SHOWN_WITHIN:?}; status, chat error, login error, \
                 conversations, orders: {seen}"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The bodies of the shown conversation's stored messages, by `seq`.
pub(crate) async fn shown_messages(page: &Page) -> Vec<(i64, String)> {
    let items = page
        .eval("[...document.querySelectorAll('#messages li[data-seq]')].map(li => [Number(li.dataset.seq), li.querySelector('.body').textContent])")
        .await
        .unwrap();
    serde_json::from_value(items).unwrap()
}

pub(crate) fn js_str(s: &str) -> String {
    Value::from(s).to_string()
}

/// The customer's next stored message (skipping typing, order and
/// conversation frames). Some are sent by the page, after a reconnection
/// at worst, so they get as long as the page has to show something.
pub(crate) async fn next_message(ws: &mut Ws) -> Value {
    ws.next_of_within("message", SHOWN_WITHIN).await
}

/// A shop open around the clock, its origin, and its console in a page (not logged in yet).
pub(crate) async fn console_of_a_shop(browser: &Browser) -> (Shop, String, Page) {
    let shop = shop_with(&around_the_clock(), &[("PUBLIC_BASE_URL", OWN_ORIGIN)]).await;
    let origin = shop.app.address.clone();
    let page = browser.open(&format!("{origin}/support/console")).await.unwrap();
    (shop, origin, page)
}

/// Records the sockets the page opens, every frame they receive
/// (`__frames`) and send (`__sent`), and lets the test drop a received frame
/// (`__dropIn`) or a sent one (`__dropOut`), each a predicate on the parsed
/// frame used once, or keep received frames from the page for as long as
/// `__blockIn` says so.
pub(crate) const SOCKET_SPY: &str = "(() => {
  const Native = window.WebSocket; window.__sockets = []; window.__frames = []; window.__sent = [];
  window.__dropIn = null; window.__dropOut = null; window.__blockIn = null;
  const once = (name, frame) => {
    const drop = window[name];
    if (drop && drop(frame)) { window[name] = null; return true; }
    return false;
  };
  window.WebSocket = class extends Native {
    constructor(...args) { super(...args); window.__sockets.push(this); }
    addEventListener(type, listener, ...rest) {
      if (type !== 'message') return super.addEventListener(type, listener, ...rest);
      return super.addEventListener(type, (event) => {
        const frame = JSON.parse(event.data);
        window.__frames.push(frame);
        const blocked = window.__blockIn && window.__blockIn(frame);
        if (!blocked && !once('__dropIn', frame)) listener(event);
      }, ...rest);
    }
    send(data) {
      const frame = JSON.parse(data);
      window.__sent.push(frame);
      if (!once('__dropOut', frame)) super.send(data);
    }
  };
  return true; })()";

/// Logs the bootstrap admin in and waits for the connected desk.
pub(crate) async fn log_in(page: &coffee_testkit::Page) {
    page.type_into("#login-email", ADMIN_EMAIL).await.unwrap();
    page.type_into("#login-password", &format!("{ADMIN_PASSWORD}\n")).await.unwrap();
    until(page, "the connected desk", "document.querySelector('#status.online') !== null").await;
}

#[tokio::test]
async fn an_agent_answers_watches_orders_and_loses_nothing_when_the_connection_drops() {
    let Some(browser) = Browser::launch_or_skip().await else { return };
    let scenario = async {
        let (shop, origin, page) = console_of_a_shop(&browser).await;
        // Remember every socket the page opens (the page itself exposes none).
        page.eval(SOCKET_SPY).await.unwrap();

        log_in(&page).await;
        assert_eq!(page.text("#who").await.unwrap(), ADMIN_EMAIL);

        // A customer writes; the conversation and the message appear.
        let mut ann = connect(&shop.app, &shop.ann.token).await;
        ann.say("Is the oat milk back? <3").await;
        let conversation = ann.next_of("conversation").await["id"].as_str().unwrap().to_owned();
        next_message(&mut ann).await;
        let item = format!("#conversations li[data-conversation-id={}]", js_str(&conversation));
        until(
            &page,
            "the conversation, named by the customer's e-mail",
            &format!("document.querySelector({})?.textContent.includes('ann@example.com') === true", js_str(&item)),
        )
        .await;
        page.click(&item).await.unwrap();
        until(&page, "the first message", "document.querySelector('#messages li[data-seq=\"1\"]') !== null").await;
        assert_eq!(shown_messages(&page).await, [(1, "Is the oat milk back? <3".to_owned())]);

        // The agent answers from the page; the customer's socket receives it.
        page.type_into("#reply", "It is! 2 > 1\n").await.unwrap();
        let reply = next_message(&mut ann).await;
        assert_eq!((reply["body"].as_str(), reply["sender_role"].as_str()), (Some("It is! 2 > 1"), Some("admin")));
        assert_eq!(reply["seq"], 2);
        until(&page, "the acknowledged reply", "document.querySelector('#messages li[data-seq=\"2\"]') !== null").await;
        assert_eq!(page.eval("document.getElementById('reply').value").await.unwrap(), "");

        // An order placed by the customer reaches the live board, and so does its next status.
        let order = shop.one_latte().await;
        let row = format!("#orders tr[data-number=\"{}\"]", order["number"]);
        let status_of_row = |status: &str| {
            format!("document.querySelector({})?.children[1].textContent === {}", js_str(&row), js_str(status))
        };
        until(&page, "the new order on the board", &status_of_row("pending")).await;
        shop.moved(&order, "confirmed").await;
        until(&page, "the order's new status on the board", &status_of_row("confirmed")).await;
        // A deleted order leaves the board.
        let gone = shop.call(Method::DELETE, &format!("/orders/{}", id_of(&order)), &shop.admin, None).await;
        assert_eq!(gone.status(), StatusCode::NO_CONTENT);
        until(&page, "the deleted order off the board", &format!("document.querySelector({}) === null", js_str(&row)))
            .await;

        // The page's socket drops; an order on the board is cancelled, the
        // customer writes meanwhile, and so does the agent.
        let second = shop.one_latte().await;
        let second_row = format!("#orders tr[data-number=\"{}\"]", second["number"]);
        until(
            &page,
            "the second order on the board",
            &format!("document.querySelector({}) !== null", js_str(&second_row)),
        )
        .await;
        page.eval("window.__sockets.at(-1).close(); true").await.unwrap();
        shop.moved(&second, "cancelled").await;
        let cancelled_offline = page.eval("window.__sockets.length").await.unwrap() == 1;
        ann.say("Are you still there?").await;
        assert_eq!(next_message(&mut ann).await["seq"], 3);
        page.type_into("#reply", "One moment\n").await.unwrap();
        let early = page
            .eval(
                "[window.__sockets.length,
                  document.querySelectorAll('#messages li[data-seq]').length,
                  document.querySelectorAll('#messages li.pending').length]",
            )
            .await
            .unwrap();
        // Unless the page reconnected already (it waits a second), it holds the reply back.
        if early[0] == 1 {
            assert_eq!((&early[1], &early[2]), (&Value::from(2), &Value::from(1)), "offline, the reply waits: {early}");
        }
        let held = next_message(&mut ann).await;
        assert_eq!((held["body"].as_str(), held["seq"].as_i64()), (Some("One moment"), Some(4)));
        until(
            &page,
            "what happened while disconnected",
            "document.querySelector('#messages li[data-seq=\"4\"]') !== null",
        )
        .await;
        until(&page, "the connected desk again", "document.querySelector('#status.online') !== null").await;
        // Cancelled while the page was away (unless it was back already and
        // was told live): the catch-up takes it off the board of open orders.
        if cancelled_offline {
            until(
                &page,
                "the order cancelled offline off the board",
                &format!("document.querySelector({}) === null", js_str(&second_row)),
            )
            .await;
        }
        let urls = page.eval("window.__sockets.map(s => s.url)").await.unwrap();
        let urls: Vec<String> = serde_json::from_value(urls).unwrap();
        assert_eq!(urls.len(), 2, "one reconnection: {urls:?}");
        assert_ne!(urls[0], urls[1], "a fresh ticket: {urls:?}");
        for url in &urls {
            assert!(url.starts_with(&origin.replacen("http://", "ws://", 1)), "{url}");
            assert!(url.contains("/ws?ticket=") && !url.contains(&shop.admin), "{url}");
        }
        let expected: Vec<(i64, String)> =
            [(1, "Is the oat milk back? <3"), (2, "It is! 2 > 1"), (3, "Are you still there?"), (4, "One moment")]
                .map(|(seq, body)| (seq, body.to_owned()))
                .to_vec();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(shown_messages(&page).await, expected, "every message once, in order");
        assert_eq!(page.eval("document.querySelectorAll('#messages li.pending').length").await.unwrap(), 0);
        ann.quiet_for(Duration::from_millis(300)).await;

        // Live delivery goes on over the new socket, both ways.
        ann.say("Good, one more thing").await;
        next_message(&mut ann).await;
        until(
            &page,
            "a live message after reconnecting",
            "document.querySelector('#messages li[data-seq=\"5\"]') !== null",
        )
        .await;
        page.type_into("#reply", "Go ahead\n").await.unwrap();
        let reply = next_message(&mut ann).await;
        assert_eq!((reply["body"].as_str(), reply["seq"].as_i64()), (Some("Go ahead"), Some(6)));

        // The agent closes the conversation; the customer is told.
        page.click("#close-conversation").await.unwrap();
        let closed = ann.next_of_within("conversation", SHOWN_WITHIN).await;
        assert_eq!((closed["id"].as_str(), closed["status"].as_str()), (Some(conversation.as_str()), Some("closed")));
        until(
            &page,
            "the closed conversation",
            "document.getElementById('chat-title').textContent.endsWith('(closed)')",
        )
        .await;
        assert_eq!(page.eval("document.getElementById('reply-form').hidden").await.unwrap(), true);

        let stored = page.eval("sessionStorage.length + localStorage.length + document.cookie.length").await.unwrap();
        assert_eq!(stored, 0, "tokens stay in memory");

        browser.observations().await.assert_clean(&origin);
    };
    tokio::time::timeout(Duration::from_secs(120), scenario).await.expect("the scenario finishes within 120 s");
}

/// What the socket tells while the page reads its lists is newer than the
/// lists: a conversation opened and an order placed meanwhile stay shown
/// when the (older) lists arrive.
#[tokio::test]
async fn news_that_arrives_while_the_lists_are_read_is_kept() {
    let Some(browser) = Browser::launch_or_skip().await else { return };
    let scenario = async {
        let (shop, origin, page) = console_of_a_shop(&browser).await;
        // The lists the page reads on connecting are answered at once but
        // handed to the page only when the test says so.
        page.eval(
            "(() => { const native = window.fetch; window.__listsRead = 0; let release;
               window.__released = new Promise((resolve) => { release = resolve; });
               window.__release = () => release();
               window.fetch = async (url, init) => {
                 const resp = await native(url, init);
                 if (/^\\/(support\\/conversations|orders)\\?/.test(String(url))) {
                   window.__listsRead += 1;
                   await window.__released;
                   window.__listsHanded = (window.__listsHanded || 0) + 1;
                 }
                 return resp; };
               return true; })()",
        )
        .await
        .unwrap();
        page.type_into("#login-email", ADMIN_EMAIL).await.unwrap();
        page.type_into("#login-password", &format!("{ADMIN_PASSWORD}\n")).await.unwrap();
        until(&page, "both lists read by the server", "window.__listsRead === 2").await;

        let mut ann = connect(&shop.app, &shop.ann.token).await;
        ann.say("Hello?").await;
        let conversation = ann.next_of("conversation").await["id"].as_str().unwrap().to_owned();
        let order = shop.one_latte().await;
        let item = format!("#conversations li[data-conversation-id={}]", js_str(&conversation));
        let row = format!("#orders tr[data-number=\"{}\"]", order["number"]);
        let both_shown = format!(
            "document.querySelector({}) !== null && document.querySelector({}) !== null",
            js_str(&item),
            js_str(&row)
        );
        until(&page, "the live conversation and order", &both_shown).await;

        page.eval("window.__release(); true").await.unwrap();
        until(&page, "the lists handed to the page", "window.__listsHanded === 2").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(page.eval(&both_shown).await.unwrap(), true, "the older lists hid what the socket told");
        until(
            &page,
            "the conversation, named by the customer's e-mail",
            &format!("document.querySelector({})?.textContent.includes('ann@example.com') === true", js_str(&item)),
        )
        .await;
        browser.observations().await.assert_clean(&origin);
    };
    tokio::time::timeout(Duration::from_secs(90), scenario).await.expect("the scenario finishes within 90 s");
}

#[tokio::test]
async fn a_customer_cannot_use_the_console() {
    let Some(browser) = Browser::launch_or_skip().await else { return };
    let scenario = async {
        let app = spawn_app_with(&[("PUBLIC_BASE_URL", OWN_ORIGIN)]).await;
        app.verified_user("ann@example.com").await;
        let page = browser.open(&format!("{}/support/console", app.address)).await.unwrap();
        page.type_into("#login-email", "ann@example.com").await.unwrap();
        page.type_into("#login-password", &format!("{PASSWORD}\n")).await.unwrap();
        until(&page, "the refusal", "document.getElementById('login-error').textContent !== ''").await;
        assert_eq!(page.text("#login-error").await.unwrap(), "This console is for staff accounts.");
        assert_eq!(page.eval("document.getElementById('desk-view').hidden").await.unwrap(), true);
        assert_eq!(page.text("#status").await.unwrap(), "signed out");
        let requests = browser.observations().await.requests;
        assert!(!requests.iter().any(|r| r.contains("/support/") && !r.contains("/support/console")), "{requests:?}");
        browser.observations().await.assert_clean(&app.address);
    };
    tokio::time::timeout(Duration::from_secs(60), scenario).await.expect("the scenario finishes within 60 s");
}

/// Ann, with a fresh token (they live 3 s here), says `body` on a new socket; the stored message.
pub(crate) async fn ann_says(app: &TestApp, body: &str) -> Value {
    let token = app.login("ann@example.com", PASSWORD).await.access;
    let mut ws = connect(app, &token).await;
    ws.say(body).await;
    next_message(&mut ws).await
}

#[tokio::test]
async fn the_console_renews_its_token_and_reconnects_when_the_socket_closes_with_it() {
    let Some(browser) = Browser::launch_or_skip().await else { return };
    let scenario = async {
        // Long enough that a loaded CI machine shows the first message before
        // the first token runs out (with 3 s it once did not, in a full run on
        // two cores); short enough that the renewal happens within the test.
        let app = spawn_app_with(&[("PUBLIC_BASE_URL", OWN_ORIGIN), ("ACCESS_TOKEN_TTL", "6s")]).await;
        app.verified_user("ann@example.com").await;
        let page = browser.open(&format!("{}/support/console", app.address)).await.unwrap();
        page.eval(SOCKET_SPY).await.unwrap();
        log_in(&page).await;

        let first = ann_says(&app, "first").await;
        let item =
            format!("#conversations li[data-conversation-id={}]", js_str(first["conversation_id"].as_str().unwrap()));
        page.click(&item).await.unwrap();
        until(&page, "the first message", "document.querySelector('#messages li[data-seq=\"1\"]') !== null").await;

        // The socket closes (4001) when the token behind its ticket expires; the page renews both.
        until(
            &page,
            "a socket opened after the token expired",
            "window.__sockets.length >= 2 && document.querySelector('#status.online') !== null",
        )
        .await;
        let closes = page.eval("window.__sockets.slice(0, -1).every(s => s.readyState === WebSocket.CLOSED)").await;
        assert_eq!(closes.unwrap(), true);
        ann_says(&app, "second").await;
        until(&page, "a message after the renewal", "document.querySelector('#messages li[data-seq=\"2\"]') !== null")
            .await;
        page.type_into("#reply", "Still here\n").await.unwrap();
        until(&page, "the acknowledged reply", "document.querySelector('#messages li[data-seq=\"3\"]') !== null").await;
        let expected: Vec<(i64, String)> =
            [(1, "first"), (2, "second"), (3, "Still here")].map(|(seq, body)| (seq, body.to_owned())).to_vec();
        assert_eq!(shown_messages(&page).await, expected);
        assert_eq!(page.text("#who").await.unwrap(), ADMIN_EMAIL, "still logged in");
        // No 401 on the way: the token is renewed before it runs out.
        browser.observations().await.assert_clean(&app.address);
    };
    tokio::time::timeout(Duration::from_secs(90), scenario).await.expect("the scenario finishes within 90 s");
}

#[tokio::test]
async fn the_console_on_one_replica_serves_a_customer_on_another_and_recovers_when_redis_drops_it() {
    if coffee_testkit::test_redis_url().is_none() {
        eprintln!("note: skipped: needs TEST_REDIS_URL (and redis-server for a private Redis)");
        return;
    }
    let Some(browser) = Browser::launch_or_skip().await else { return };
    let scenario = async {
        let redis = coffee_testkit::RedisServer::start().await;
        let mut settings = shared_redis(&redis.url());
        settings.push(("PUBLIC_BASE_URL", OWN_ORIGIN.to_owned()));
        let a = spawn_app_with(&borrowed(&settings)).await;
        let b = spawn_replica_of(&a, &borrowed(&settings[..2])).await;
        let admin = a.admin_token().await;
        let ann = customer(&b, &admin, "ann@example.com").await;

        let page = browser.open(&format!("{}/support/console", a.address)).await.unwrap();
        log_in(&page).await;

        let mut ann_ws = connect(&b, &ann.token).await;
        ann_ws.say("hello from replica B").await;
        let conversation = ann_ws.next_of("conversation").await["id"].as_str().unwrap().to_owned();
        next_message(&mut ann_ws).await;
        page.click(&format!("#conversations li[data-conversation-id={}]", js_str(&conversation))).await.unwrap();
        until(
            &page,
            "the message from the other replica",
            "document.querySelector('#messages li[data-seq=\"1\"]') !== null",
        )
        .await;
        page.type_into("#reply", "hello from replica A\n").await.unwrap();
        assert_eq!(next_message(&mut ann_ws).await["body"], "hello from replica A");

        // Redis drops every subscriber: sockets are told to resync, the page catches up.
        kill_subscribers(&redis.url()).await;
        assert_eq!(ann_ws.error_code().await, "resync");
        ann_ws.say("during the outage").await;
        next_message(&mut ann_ws).await;
        until(
            &page,
            "the message sent around the outage",
            "document.querySelector('#messages li[data-seq=\"3\"]') !== null",
        )
        .await;
        ann_ws.say("after the outage").await;
        next_message(&mut ann_ws).await;
        until(&page, "live delivery again", "document.querySelector('#messages li[data-seq=\"4\"]') !== null").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let seqs: Vec<i64> = shown_messages(&page).await.into_iter().map(|(seq, _)| seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4], "every message once");
        assert_eq!(page.text("#chat-error").await.unwrap_or_default(), "", "a resync is no error for the agent");
        browser.observations().await.assert_clean(&a.address);
    };
    tokio::time::timeout(Duration::from_secs(90), scenario).await.expect("the scenario finishes within 90 s");
}
