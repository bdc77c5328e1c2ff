//! Measures Argon2id throughput with the OWASP parameters.
//!
//! Usage: `cargo run --release -p coffee-crypto --example argon2_rate -- [threads] [seconds]`
//! (threads default to the available parallelism, seconds to 3).
#![allow(clippy::print_stdout)] // printing the result is the point

use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use argon2::PasswordHasher as _;
use coffee_crypto::Argon2Params;

fn arg<T: std::str::FromStr>(n: usize) -> Option<T> {
    std::env::args().nth(n).and_then(|a| a.parse().ok())
}

fn main() -> ExitCode {
    let threads = arg::<usize>(1)
        .filter(|&n| n > 0)
        .unwrap_or_else(|| thread::available_parallelism().map_or(1, NonZeroUsize::get));
    let window = Duration::from_secs_f64(arg::<f64>(2).filter(|&s| s > 0.0).unwrap_or(3.0));
    let params = Argon2Params::OWASP;
    let argon2 = match params.argon2() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };

    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let argon2 = argon2.clone();
            thread::spawn(move || {
                let mut done = 0_u64;
                while start.elapsed() < window {
                    if argon2.hash_password(b"benchmark password").is_err() {
                        return None;
                    }
                    done += 1;
                }
                Some(done)
            })
        })
        .collect();
    let mut total = 0_u64;
    for worker in workers {
        match worker.join() {
            Ok(Some(n)) => total += n,
            _ => {
                eprintln!("argon2 hashing failed");
                return ExitCode::FAILURE;
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();

    #[allow(clippy::cast_precision_loss)] // a hash count far below 2^52
    let rate = total as f64 / elapsed;
    println!(
        "argon2id m={} t={} p={}: {threads} thread(s): {rate:.1} hashes/s",
        params.memory_kib, params.iterations, params.parallelism
    );
    ExitCode::SUCCESS
}
