//! The checks that keep a mistyped setting from going unnoticed, and the
//! redactions that keep a secret in a setting out of the logs.

/// `scheme://host/...` with any credentials removed, for logs: the
/// user-info part, and the value of every query parameter whose name says
/// it holds a secret (`?password=…`, which the PostgreSQL driver accepts).
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if !u.username().is_empty() || u.password().is_some() {
                let _ = u.set_username("***");
                let _ = u.set_password(None);
            }
            let secret = |name: &str| {
                let name = name.to_ascii_lowercase();
                ["pass", "secret", "token"].iter().any(|word| name.contains(word))
            };
            if u.query_pairs().any(|(name, _)| secret(&name)) {
                let pairs: Vec<(String, String)> = u
                    .query_pairs()
                    .map(|(name, value)| {
                        let value = if secret(&name) { "***".to_owned() } else { value.into_owned() };
                        (name.into_owned(), value)
                    })
                    .collect();
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            u.to_string()
        }
        Err(_) => "<unparsable url>".to_owned(),
    }
}

/// A `.env` error fit for a log: a line that does not parse is named by its
/// variable, never shown, since its value may be a secret.
pub(super) fn describe_dotenv_error(e: &dotenvy::Error) -> String {
    match e {
        dotenvy::Error::LineParse(line, at) => {
            let name = line.split('=').next().unwrap_or_default().trim().trim_start_matches("export ").trim();
            let named = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
            if named {
                format!("the line setting {name} does not parse (at character {at}; the line is not shown)")
            } else {
                format!("a line does not parse (at character {at}; the line is not shown)")
            }
        }
        other => other.to_string(),
    }
}

/// Refuses a `RUST_LOG` directive that is one word but not a level:
/// `EnvFilter` reads `warning` as "everything from the target `warning`",
/// which silently turns every other log line off. A target on its own is
/// still written out as `target=trace`.
pub(super) fn check_log_filter(filter: &str) -> Result<(), String> {
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(filter) {
        return Err(format!("{filter:?} is not a filter such as info or info,sqlx=warn: {e}"));
    }
    // Split as `EnvFilter` splits: at every comma.
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let bare = !directive.contains(['=', '[']);
        if bare && directive.parse::<tracing_subscriber::filter::LevelFilter>().is_err() {
            return Err(format!(
                "{directive:?} is not a level (trace, debug, info, warn, error, off); \
                 a target on its own is written {directive}=trace"
            ));
        }
    }
    Ok(())
}
