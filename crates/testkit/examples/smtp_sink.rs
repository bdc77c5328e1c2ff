//! The test SMTP sink as a process, for `scripts/cluster.sh`: accepts every
//! mail on 127.0.0.1 and writes each one to `<dir>/<n>.eml` (`n` from 1 in
//! arrival order); the port it listens on goes to `<dir>/port`. Runs until
//! killed.
//!
//! ```sh
//! cargo run -p coffee-testkit --example smtp_sink -- /tmp/mail
//! ```

#![allow(clippy::print_stderr, reason = "a command-line tool reports on stderr")]

use std::path::PathBuf;
use std::time::Duration;

use coffee_testkit::SmtpSink;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: smtp_sink <directory>");
        std::process::exit(2);
    };
    std::fs::create_dir_all(&dir)?;
    let sink = SmtpSink::start().await;
    let port_file = dir.join("port");
    std::fs::write(dir.join("port.tmp"), sink.addr().port().to_string())?;
    std::fs::rename(dir.join("port.tmp"), &port_file)?;
    eprintln!("smtp_sink: listening on {}, writing to {}", sink.addr(), dir.display());
    let mut written = 0;
    loop {
        let messages = sink.messages();
        for message in &messages[written..] {
            written += 1;
            let tmp = dir.join(format!("{written}.eml.tmp"));
            std::fs::write(&tmp, &message.data)?;
            std::fs::rename(&tmp, dir.join(format!("{written}.eml")))?;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
