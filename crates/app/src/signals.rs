//! Stop signals, shared by `coffee-api` and `coffee-worker`.

/// SIGINT (Ctrl-C) and SIGTERM (containers, systemd), listened for from the
/// moment this is made: a signal before the first `wait` is kept. (Tokio
/// keeps its handler once one listener was made, so a signal that comes
/// while no listener lives is lost, not fatal: make one before the start
/// and keep it.)
pub struct Signals {
    #[cfg(unix)]
    listening: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    /// Starts listening now.
    pub fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::interrupt()).and_then(|int| Ok((int, signal(SignalKind::terminate())?))) {
                Ok(listening) => Self { listening: Some(listening) },
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGINT and SIGTERM; falling back to Ctrl-C alone");
                    Self { listening: None }
                }
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Until the first of them.
    pub async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut int, mut term)) = self.listening {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
