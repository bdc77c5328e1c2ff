//! `coffee-worker dead …`: the operator's view of the jobs the worker gave
//! up on after `JOB_MAX_ATTEMPTS` deliveries (e.g. a mail the SMTP server
//! kept refusing). They stay in the queue's dead set until re-queued here.
//!
//! ```text
//! coffee-worker dead list          every parked job: id, attempts, when, last error, payload
//! coffee-worker dead retry ID      put one back on the queue (attempts reset)
//! coffee-worker dead retry-all     put every one back
//! ```
//!
//! Exit codes: 0 done, 1 Redis failed or no such job, 2 usage or configuration.
#![allow(clippy::print_stdout, reason = "an operator command: its output is the answer")]

use std::process::ExitCode;

use coffee_app::{Config, DeadJobs};
use coffee_domain::error::{InfraError, error_chain};

/// `println!` that does not panic when standard output is closed early
/// (`coffee-worker dead list | head`).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}
pub(crate) use say;

pub const USAGE: &str = "usage: coffee-worker                      run the worker
       coffee-worker dead list            list the jobs parked after JOB_MAX_ATTEMPTS deliveries
       coffee-worker dead retry ID        re-queue one of them (its attempts start again)
       coffee-worker dead retry-all       re-queue all of them
REDIS_URL and JOBS_QUEUE name the queue, as for the worker itself.";

/// An operator command (`None` from [`Command::parse`] = run the worker).
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// `dead list`
    List,
    /// `dead retry ID`
    Retry(String),
    /// `dead retry-all`
    RetryAll,
}

/// Why the arguments name no command: the usage was asked for (`--help`,
/// `-h`, `help`: printed on standard output, exit 0), or they are wrong.
#[derive(Debug, PartialEq, Eq)]
pub enum Usage {
    /// `--help`.
    Asked,
    /// Anything else.
    Wrong,
}

impl Command {
    /// The command the arguments name, `None` for none (run the worker), or
    /// why [`USAGE`] is to be printed instead.
    pub fn parse(args: &[String]) -> Result<Option<Command>, Usage> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match args.as_slice() {
            [] => Ok(None),
            ["dead", "list"] => Ok(Some(Command::List)),
            ["dead", "retry", id] => Ok(Some(Command::Retry((*id).to_owned()))),
            ["dead", "retry-all"] => Ok(Some(Command::RetryAll)),
            ["--help" | "-h" | "help"] => Err(Usage::Asked),
            _ => Err(Usage::Wrong),
        }
    }
}

/// Runs `command` against the queue `config` names.
pub async fn run(command: Command, config: &Config) -> ExitCode {
    let Some(url) = config.redis_url.as_deref() else {
        eprintln!("coffee-worker: REDIS_URL: is required (the dead set lives in Redis)");
        return ExitCode::from(2);
    };
    let dead = match DeadJobs::connect(url, &config.jobs_queue).await {
        Ok(dead) => dead,
        Err(e) => return failed(&e),
    };
    match command {
        Command::List => match dead.list().await {
            Ok(jobs) => {
                for job in &jobs {
                    let parked = job
                        .parked_at
                        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                        .map_or_else(|| "?".to_owned(), |t| t.to_rfc3339());
                    let attempts = job.attempts.map_or_else(|| "?".to_owned(), |a| a.to_string());
                    say!("{}\tattempts={attempts}\tparked_at={parked}", job.id);
                    say!("  last error: {}", job.last_error.as_deref().unwrap_or("?"));
                    say!("  job: {}", job.payload.as_deref().unwrap_or("(payload missing)"));
                }
                eprintln!("{} dead job(s) in {}", jobs.len(), config.jobs_queue);
                ExitCode::SUCCESS
            }
            Err(e) => failed(&e),
        },
        Command::Retry(id) => match dead.retry(&id).await {
            Ok(true) => {
                say!("re-queued {id}");
                ExitCode::SUCCESS
            }
            Ok(false) => {
                eprintln!("coffee-worker: no dead job {id} in {}", config.jobs_queue);
                ExitCode::from(1)
            }
            Err(e) => failed(&e),
        },
        Command::RetryAll => match dead.retry_all().await {
            Ok(n) => {
                say!("re-queued {n} job(s)");
                ExitCode::SUCCESS
            }
            Err(e) => failed(&e),
        },
    }
}

fn failed(e: &InfraError) -> ExitCode {
    eprintln!("coffee-worker: {}", error_chain(e));
    ExitCode::from(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Command>, Usage> {
        Command::parse(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn the_documented_commands_parse_and_anything_else_is_usage() {
        assert_eq!(parse(&[]), Ok(None));
        assert_eq!(parse(&["dead", "list"]), Ok(Some(Command::List)));
        assert_eq!(parse(&["dead", "retry", "01J"]), Ok(Some(Command::Retry("01J".to_owned()))));
        assert_eq!(parse(&["dead", "retry-all"]), Ok(Some(Command::RetryAll)));
        for help in ["--help", "-h", "help"] {
            assert_eq!(parse(&[help]), Err(Usage::Asked));
        }
        for bad in [&["dead"][..], &["dead", "retry"], &["dead", "purge"], &["--help", "x"], &["dead", "list", "x"]] {
            assert_eq!(parse(bad), Err(Usage::Wrong), "{bad:?}");
        }
    }
}
