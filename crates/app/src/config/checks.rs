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
            // Only what stands before a `=` can be a name: a line without
            // one (a password wrapped onto its own line) is all value.
            let name = line.split_once('=').map_or("", |(name, _)| name.trim().trim_start_matches("export ").trim());
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

/// Refuses a `RUST_LOG` that sets no level for everything and has a lone
/// word that is not a level: `EnvFilter` reads `warning` as "all from the
/// target `warning`", so the API would log nothing else, errors included.
/// With a level beside it (`info,coffee_api`) the word only adds a target;
/// on its own a target is written `coffee_api=trace`.
pub(super) fn check_log_filter(filter: &str) -> Result<(), String> {
    use tracing_subscriber::filter::LevelFilter;
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(filter) {
        return Err(format!("{filter:?} is not a filter such as info or info,sqlx=warn: {e}"));
    }
    // Split as `EnvFilter` splits: at every comma.
    let directives: Vec<&str> = filter.split(',').map(str::trim).filter(|d| !d.is_empty()).collect();
    let level = |d: &&str| d.parse::<LevelFilter>().is_ok();
    let lone_word = directives.iter().find(|d| !d.contains(['=', '[']) && !level(d));
    match lone_word {
        Some(word) if !directives.iter().any(level) => Err(format!(
            "{word:?} is not a level (trace, debug, info, warn, error, off), and nothing else would be logged; \
             one target on its own is written {word}=trace"
        )),
        _ => Ok(()),
    }
}
