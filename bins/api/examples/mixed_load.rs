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
//! two `POST /orders` (one item, a fresh `Idempotency-Key` each, retried once
//! with the same key after a transport error), one `POST /auth/login`, one
//! `POST /auth/signup` (a fresh address). When the time is up no new
//! request starts and the ones in flight finish, so every request has an
//! answer. Prints one JSON object: counts per kind and status class,
//! failures (5xx and transport errors) and, apart from them, logins and
//! sign-ups shed with 503 `busy` (the server's bound on waiting password
//! hashes, by design under overload), latency percentiles, and the ids of the orders created
//! and the addresses signed up (for checks against the database and the
//! mail sink).

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

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
}

/// Stands for a 503 whose problem `code` is `busy` (see [`hashing_status`]).
fn busy() -> StatusCode {
    StatusCode::from_u16(599).unwrap()
}

/// The status of a hashing route's answer, [`busy`] for 503 `busy`.
async fn hashing_status(resp: reqwest::Response) -> Result<StatusCode, String> {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    Ok(if status == StatusCode::SERVICE_UNAVAILABLE && body["code"] == "busy" { busy() } else { status })
}

struct Shared {
    base: String,
    admin_email: String,
    admin_password: String,
    token: String,
    product: String,
    client: reqwest::Client,
    tally: Mutex<Tally>,
}

impl Shared {
    fn record(&self, kind: &'static str, outcome: Result<StatusCode, String>, started: Instant) {
        let mut tally = self.tally.lock().unwrap();
        tally.latencies_us.push(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
        let key = match &outcome {
            Ok(status) if *status == busy() => "503 busy".to_owned(),
            Ok(status) => status.as_u16().to_string(),
            Err(_) => "error".to_owned(),
        };
        match outcome {
            // Load shed on purpose: the password-hashing queue is full.
            Ok(status) if status == busy() => tally.shed += 1,
            Ok(status) if status.is_server_error() => tally.failures.push(format!("{kind}: {status}")),
            Err(e) => tally.failures.push(format!("{kind}: {e}")),
            Ok(_) => {}
        }
        *tally.counts.entry(kind).or_default().entry(key).or_default() += 1;
    }
}

async fn read(s: &Shared) -> Result<StatusCode, String> {
    let resp = s.client.get(format!("{}/products?page_size=20", s.base)).send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    resp.bytes().await.map_err(|e| e.to_string())?;
    Ok(status)
}

async fn login(s: &Shared) -> Result<StatusCode, String> {
    let body = json!({"email": s.admin_email, "password": s.admin_password});
    let resp = s.client.post(format!("{}/auth/login", s.base)).json(&body).send().await.map_err(|e| e.to_string())?;
    hashing_status(resp).await
}

async fn order(s: &Shared) -> Result<StatusCode, String> {
    let key = uuid::Uuid::new_v4().to_string();
    let body = json!({"items": [{"product_id": s.product, "quantity": 1}]});
    let mut last = String::new();
    // A transport error leaves the outcome unknown: the same key makes the
    // retry safe (the server answers the first attempt's order, or makes it).
    for _ in 0..2 {
        let sent = s
            .client
            .post(format!("{}/orders", s.base))
            .bearer_auth(&s.token)
            .header("idempotency-key", &key)
            .json(&body)
            .send()
            .await;
        match sent {
            Ok(resp) => {
                let status = resp.status();
                let value: Value = resp.json().await.unwrap_or(Value::Null);
                if status == StatusCode::CREATED {
                    let id = value["id"].as_str().unwrap_or_default().to_owned();
                    s.tally.lock().unwrap().orders.push(id);
                }
                return Ok(status);
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

async fn signup(s: &Shared) -> Result<StatusCode, String> {
    let email = format!("load-{}@cluster.example.com", uuid::Uuid::new_v4().simple());
    let body = json!({"email": email, "password": "correct horse battery"});
    let resp = s.client.post(format!("{}/auth/signup", s.base)).json(&body).send().await.map_err(|e| e.to_string())?;
    let status = hashing_status(resp).await?;
    if status == StatusCode::CREATED {
        s.tally.lock().unwrap().signups.push(email);
    }
    Ok(status)
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
        "failure_samples": tally.failures.iter().take(20).collect::<Vec<_>>(),
        "p50_ms": percentile(&tally.latencies_us, 50.0),
        "p99_ms": percentile(&tally.latencies_us, 99.0),
        "max_ms": percentile(&tally.latencies_us, 100.0),
        "orders": tally.orders,
        "signups": tally.signups,
    });
    println!("{report}");
}
