//! Mixed load with exact accounting, for `scripts/fault-tests.sh` and
//! `bench/soak.sh`: menu reads, logins, checkouts and sign-ups against one
//! base URL (the cluster's nginx), each request's outcome recorded.
//!
//! ```text
//! mixed_load <base url> <admin e-mail> <admin password> <seconds> <connections>
//! ```
//!
//! It logs in as the admin, creates a product, then runs `connections`
//! clients in a loop for `seconds`: per ten requests six `GET /products`,
//! two `POST /orders` (one item, a fresh `Idempotency-Key` each), one
//! `POST /auth/login`, one `POST /auth/signup` (a fresh address). An order
//! is retried with the same key, as a careful client does, after a transport
//! error, a 503 or a 409 `idempotency_in_flight` (for up to
//! [`ORDER_RETRY_FOR`]), so its outcome is known. When the time is up no new
//! request starts and the ones in flight finish, so every request has an
//! answer. Prints one JSON object: counts per kind and status, failures
//! (5xx and transport errors) and, apart from them, logins and sign-ups shed
//! with 503 `busy` (the server's bound on waiting password hashes, by design
//! under overload) and, with `UNAVAILABLE_OK=1` (a fault test took a
//! dependency away on purpose), 503 `service_unavailable` answers; latency
//! percentiles, and the ids of the orders created and the addresses signed
//! up (for checks against the database and the mail sink).

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

/// How long an order keeps being retried with its key: past the server's
/// 30 s lease on a key whose request died with the database connection.
const ORDER_RETRY_FOR: Duration = Duration::from_secs(40);

#[derive(Default)]
struct Tally {
    /// kind → status (or "error") → count
    counts: BTreeMap<&'static str, BTreeMap<String, u64>>,
    latencies_us: Vec<u64>,
    orders: Vec<String>,
    signups: Vec<String>,
    failures: Vec<String>,
    /// Logins and sign-ups refused with 503 `busy` (the hashing queue is full).
    shed: u64,
    /// 503 `service_unavailable` while `UNAVAILABLE_OK` is set.
    unavailable: u64,
}

/// What one request ended with.
enum Outcome {
    /// An answer, with its problem `code` when it is a problem document.
    Answer(StatusCode, Option<String>),
    /// No answer: connection refused or reset, timeout.
    Transport(String),
}

impl Outcome {
    async fn of(sent: Result<reqwest::Response, reqwest::Error>) -> (Outcome, Value) {
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) => return (Outcome::Transport(e.to_string()), Value::Null),
        };
        let status = resp.status();
        match resp.bytes().await {
            Ok(bytes) => {
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let code = body["code"].as_str().map(str::to_owned);
                (Outcome::Answer(status, code), body)
            }
            Err(e) => (Outcome::Transport(e.to_string()), Value::Null),
        }
    }

    fn is(&self, status: StatusCode, code: &str) -> bool {
        matches!(self, Outcome::Answer(s, Some(c)) if *s == status && c == code)
    }
}

struct Shared {
    base: String,
    admin_email: String,
    admin_password: String,
    token: String,
    product: String,
    client: reqwest::Client,
    unavailable_ok: bool,
    tally: Mutex<Tally>,
}

impl Shared {
    fn record(&self, kind: &'static str, outcome: Outcome, started: Instant) {
        let mut tally = self.tally.lock().unwrap();
        tally.latencies_us.push(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
        let key = match &outcome {
            Outcome::Answer(status, Some(code)) if status.is_server_error() => format!("{} {code}", status.as_u16()),
            Outcome::Answer(status, _) => status.as_u16().to_string(),
            Outcome::Transport(_) => "error".to_owned(),
        };
        if outcome.is(StatusCode::SERVICE_UNAVAILABLE, "busy") {
            // Load shed on purpose: the password-hashing queue is full.
            tally.shed += 1;
        } else if self.unavailable_ok && outcome.is(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable") {
            tally.unavailable += 1;
        } else {
            match outcome {
                Outcome::Answer(status, _) if status.is_server_error() => {
                    tally.failures.push(format!("{kind}: {key}"));
                }
                Outcome::Transport(e) => tally.failures.push(format!("{kind}: {e}")),
                Outcome::Answer(..) => {}
            }
        }
        *tally.counts.entry(kind).or_default().entry(key).or_default() += 1;
    }
}

async fn read(s: &Shared) -> Outcome {
    Outcome::of(s.client.get(format!("{}/products?page_size=20", s.base)).send().await).await.0
}

async fn login(s: &Shared) -> Outcome {
    let body = json!({"email": s.admin_email, "password": s.admin_password});
    Outcome::of(s.client.post(format!("{}/auth/login", s.base)).json(&body).send().await).await.0
}

async fn order(s: &Shared) -> Outcome {
    let key = uuid::Uuid::new_v4().to_string();
    let body = json!({"items": [{"product_id": s.product, "quantity": 1}]});
    let give_up = Instant::now() + ORDER_RETRY_FOR;
    loop {
        let sent = s
            .client
            .post(format!("{}/orders", s.base))
            .bearer_auth(&s.token)
            .header("idempotency-key", &key)
            .json(&body)
            .send()
            .await;
        let retry_after = sent
            .as_ref()
            .ok()
            .and_then(|resp| resp.headers().get("retry-after")?.to_str().ok()?.parse::<u64>().ok())
            .map_or(Duration::from_millis(500), |s| Duration::from_secs(s.clamp(1, 5)));
        let (outcome, value) = Outcome::of(sent).await;
        // Unknown or not yet decided: the same key makes the retry safe (the
        // server answers the first attempt's order, or makes it).
        let retry = match &outcome {
            Outcome::Transport(_) => true,
            Outcome::Answer(status, code) => {
                *status == StatusCode::SERVICE_UNAVAILABLE
                    || (*status == StatusCode::CONFLICT && code.as_deref() == Some("idempotency_in_flight"))
            }
        };
        if retry && Instant::now() < give_up {
            tokio::time::sleep(retry_after).await;
            continue;
        }
        if let Outcome::Answer(StatusCode::CREATED, _) = outcome {
            let id = value["id"].as_str().unwrap_or_default().to_owned();
            s.tally.lock().unwrap().orders.push(id);
        }
        return outcome;
    }
}

async fn signup(s: &Shared) -> Outcome {
    let email = format!("load-{}@cluster.example.com", uuid::Uuid::new_v4().simple());
    let body = json!({"email": email, "password": "correct horse battery"});
    let outcome = Outcome::of(s.client.post(format!("{}/auth/signup", s.base)).json(&body).send().await).await.0;
    if let Outcome::Answer(StatusCode::CREATED, _) = outcome {
        s.tally.lock().unwrap().signups.push(email);
    }
    outcome
}

async fn client_loop(s: Arc<Shared>, deadline: Instant, offset: usize) {
    let mut i = offset;
    while Instant::now() < deadline {
        let started = Instant::now();
        let (kind, outcome) = match i % 10 {
            0 | 5 => ("order", order(&s).await),
            3 => ("login", login(&s).await),
            8 => ("signup", signup(&s).await),
            _ => ("read", read(&s).await),
        };
        s.record(kind, outcome, started);
        i += 1;
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, admin_email, admin_password, seconds, connections] = args.as_slice() else {
        eprintln!("usage: mixed_load <base url> <admin e-mail> <admin password> <seconds> <connections>");
        std::process::exit(2);
    };
    let (seconds, connections): (u64, usize) = (seconds.parse().unwrap(), connections.parse().unwrap());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(connections)
        .build()
        .unwrap();
    let login = client
        .post(format!("{base}/auth/login"))
        .json(&json!({"email": admin_email, "password": admin_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK, "the admin logs in");
    let token = login.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let product = client
        .post(format!("{base}/products"))
        .bearer_auth(&token)
        .json(&json!({"name": format!("Load Latte {}", uuid::Uuid::new_v4().simple()), "price": 350}))
        .send()
        .await
        .unwrap();
    assert_eq!(product.status(), StatusCode::CREATED, "the product is created");
    let product = product.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let shared = Arc::new(Shared {
        base: base.clone(),
        admin_email: admin_email.clone(),
        admin_password: admin_password.clone(),
        token,
        product,
        client,
        unavailable_ok: std::env::var("UNAVAILABLE_OK").is_ok_and(|v| v == "1"),
        tally: Mutex::new(Tally::default()),
    });
    eprintln!("mixed_load: {connections} clients for {seconds} s against {base}");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let clients: Vec<_> =
        (0..connections).map(|n| tokio::spawn(client_loop(Arc::clone(&shared), deadline, n * 7))).collect();
    for client in clients {
        client.await.unwrap();
    }
    let mut tally = std::mem::take(&mut *shared.tally.lock().unwrap());
    tally.latencies_us.sort_unstable();
    let requests: u64 = tally.counts.values().flat_map(|m| m.values()).sum();
    let report = json!({
        "requests": requests,
        "rps": requests as f64 / seconds as f64,
        "counts": tally.counts,
        "failures": tally.failures.len(),
        "shed_busy": tally.shed,
        "unavailable": tally.unavailable,
        "failure_samples": tally.failures.iter().take(20).collect::<Vec<_>>(),
        "p50_ms": percentile(&tally.latencies_us, 50.0),
        "p99_ms": percentile(&tally.latencies_us, 99.0),
        "max_ms": percentile(&tally.latencies_us, 100.0),
        "orders": tally.orders,
        "signups": tally.signups,
    });
    println!("{report}");
}
