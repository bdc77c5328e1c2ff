//! Load generator of `bench/chat.sh`: WebSocket clients for the chat
//! benchmarks (run by hand, never by CI).
//!
//! ```text
//! chat_load fanout <sender ws url> <receiver ws url> <customer tokens file> <agent tokens file> <msg/s> <seconds>
//! chat_load idle <ws url> <tokens file> <sockets> <hold seconds>
//! ```
//!
//! `fanout`: one socket per customer token on the sender replica sends
//! messages at an even total rate (each customer at most 1/s, under the
//! per-socket budget of 10 per 10 s); one socket per agent token on the
//! receiver replica receives every message. Each body carries the send time
//! (µs since the run began, one clock: the same process), so every agent
//! measures the end-to-end latency of every message. Prints sent, received,
//! throughput and latency percentiles.
//!
//! `idle`: opens `sockets` authenticated sockets (each token used up to 5
//! times, the per-user bound), keeps reading (so pings are answered), prints
//! when all are open, and holds them.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(url: &str, token: &str) -> Socket {
    let mut request = format!("{url}/ws").into_client_request().unwrap();
    request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
    for attempt in 0.. {
        match tokio_tungstenite::connect_async(request.clone()).await {
            Ok((socket, _)) => return socket,
            Err(e) if attempt < 20 => {
                eprintln!("connect failed ({e}); retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("cannot connect to {url}: {e}"),
        }
    }
    unreachable!()
}

fn tokens(path: &str) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank] as f64 / 1000.0
}

async fn fanout(args: &[String]) {
    let (sender_url, receiver_url) = (&args[0], &args[1]);
    let (customers, agents) = (tokens(&args[2]), tokens(&args[3]));
    let rate: f64 = args[4].parse().unwrap();
    let seconds: f64 = args[5].parse().unwrap();
    // A socket's message budget is 10 in any 10 s (a sliding window): a
    // customer paced at exactly 1/s has its 11th message refused whenever
    // timer jitter brings it in a hair early. At most 0.8/s each stays clear.
    let senders_needed = (rate * 1.25).ceil() as usize;
    assert!(
        senders_needed <= customers.len(),
        "each customer sends at most 0.8 message/s: need {senders_needed} customers"
    );
    let start = Instant::now();
    let latencies = Arc::new(Mutex::new(Vec::<u64>::new()));
    let received = Arc::new(AtomicU64::new(0));
    let expected = (rate * seconds).round() as u64;

    let mut agent_tasks = Vec::new();
    for token in &agents {
        let mut socket = open(receiver_url, token).await;
        let (latencies, received) = (latencies.clone(), received.clone());
        agent_tasks.push(tokio::spawn(async move {
            let mut mine = Vec::with_capacity(expected as usize);
            let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(seconds + 10.0);
            while mine.len() < expected as usize {
                let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, socket.next()).await else { break };
                let Message::Text(text) = message else { continue };
                let frame: serde_json::Value = serde_json::from_str(&text).unwrap();
                if frame["type"] != "message" {
                    continue;
                }
                let sent: u64 = frame["body"].as_str().unwrap().trim_start_matches("t=").parse().unwrap();
                let now = start.elapsed().as_micros() as u64;
                mine.push(now.saturating_sub(sent));
                received.fetch_add(1, Ordering::Relaxed);
            }
            latencies.lock().await.extend(mine);
        }));
    }
    let mut senders = Vec::new();
    for token in customers.iter().take(senders_needed) {
        senders.push(open(sender_url, token).await);
    }
    // Each customer's acknowledgements are read (and dropped) by its own task.
    let (tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut writers = Vec::new();
    for socket in senders {
        let (write, mut read) = socket.split();
        let mut stop = tx.subscribe();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.recv() => break,
                    m = read.next() => if m.is_none() { break },
                }
            }
        });
        writers.push(write);
    }
    println!("connected: {} agents on the receiver, {} customers on the sender", agents.len(), writers.len());
    let interval = Duration::from_secs_f64(1.0 / rate);
    let t0 = tokio::time::Instant::now();
    for n in 0..expected {
        tokio::time::sleep_until(t0 + interval.mul_f64(n as f64)).await;
        let count = writers.len();
        let writer = &mut writers[n as usize % count];
        let body = format!("t={}", start.elapsed().as_micros());
        writer.send(Message::text(serde_json::json!({"type": "message", "body": body}).to_string())).await.unwrap();
    }
    let send_secs = t0.elapsed().as_secs_f64();
    for task in agent_tasks {
        task.await.unwrap();
    }
    let _ = tx.send(());
    let mut all = latencies.lock().await.clone();
    all.sort_unstable();
    let got = received.load(Ordering::Relaxed);
    println!(
        "sent {expected} in {send_secs:.1} s ({:.0} msg/s); deliveries {got} of {} ({} agents); \
         latency ms p50 {:.2} p90 {:.2} p99 {:.2} max {:.2}",
        expected as f64 / send_secs,
        expected * agents.len() as u64,
        agents.len(),
        percentile(&all, 50.0),
        percentile(&all, 90.0),
        percentile(&all, 99.0),
        percentile(&all, 100.0),
    );
}

async fn idle(args: &[String]) {
    let url = &args[0];
    let tokens = tokens(&args[1]);
    let sockets: usize = args[2].parse().unwrap();
    let hold: u64 = args[3].parse().unwrap();
    assert!(sockets <= tokens.len() * 5, "at most 5 sockets per user: need {} tokens", sockets.div_ceil(5));
    let open_count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(sockets);
    for n in 0..sockets {
        let (url, token, open_count) = (url.clone(), tokens[n / 5].clone(), open_count.clone());
        tasks.push(tokio::spawn(async move {
            let mut socket = open(&url, &token).await;
            open_count.fetch_add(1, Ordering::Relaxed);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(hold + 120);
            // Reading answers the server's pings.
            while let Ok(Some(Ok(_))) = tokio::time::timeout_at(deadline, socket.next()).await {}
        }));
        if n % 200 == 199 {
            // Spread the handshakes a little: this measures holding, not accepting.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    while open_count.load(Ordering::Relaxed) < sockets as u64 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("open: {sockets} sockets in {:.1} s", started.elapsed().as_secs_f64());
    tokio::time::sleep(Duration::from_secs(hold)).await;
    println!("held for {hold} s");
    std::process::exit(0);
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("fanout") if args.len() == 7 => fanout(&args[1..]).await,
        Some("idle") if args.len() == 5 => idle(&args[1..]).await,
        _ => {
            eprintln!("usage: chat_load fanout <sender> <receiver> <customers> <agents> <msg/s> <seconds>");
            eprintln!("       chat_load idle <url> <tokens> <sockets> <hold seconds>");
            std::process::exit(2);
        }
    }
}
