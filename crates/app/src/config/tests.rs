//! The settings as `Config::from_vars` reads them.

#![allow(clippy::unwrap_used)]
use super::*;

fn vars(pairs: &[(&str, &str)]) -> Vars {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn defaults_give_the_embedded_profile() {
    let c = Config::from_vars(vars(&[])).unwrap();
    assert_eq!(c.database_url, "sqlite://coffee.db?mode=rwc");
    assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 8080));
    assert!(c.redis_url.is_none() && c.smtp_url.is_none());
    assert!(c.jwt_secret_generated && c.jwt_secret.len() == 32);
    assert_eq!(c.access_token_ttl, TimeDelta::minutes(15));
    assert_eq!(c.refresh_token_ttl, TimeDelta::days(30));
    assert_eq!(c.verification_resend_cooldown, TimeDelta::seconds(60));
    assert_eq!((c.order_min_lead_time, c.idempotency_key_ttl), (TimeDelta::minutes(10), TimeDelta::hours(24)));
    assert!(c.admin_notify_emails.is_empty());
    assert_eq!(c.password_hash_queue, 64);
    // SPEC §7: a ping every 20 s, a client silent for 60 s dropped.
    assert_eq!((c.ws_ping_interval, c.ws_idle_timeout), (Duration::from_secs(20), Duration::from_secs(60)));
    assert_eq!(c.send_timeout, Some(Duration::from_secs(60)));
    assert_eq!(Config::from_vars(vars(&[("SEND_TIMEOUT", "0s")])).unwrap().send_timeout, None);
    assert_eq!(Config::from_vars(vars(&[("PASSWORD_HASH_QUEUE", "0")])).unwrap().password_hash_queue, 0);
    assert_eq!(c.auth_rate_limit.map(|p| p.to_string()).as_deref(), Some("10/min"));
    assert!(c.trusted_proxies.is_empty());
    assert!(Config::from_vars(vars(&[("AUTH_RATE_LIMIT", "off")])).unwrap().auth_rate_limit.is_none());
    let listed = Config::from_vars(vars(&[("ADMIN_NOTIFY_EMAILS", " Kitchen@Coffee.example, boss@coffee.example ")]));
    let listed: Vec<String> = listed.unwrap().admin_notify_emails.iter().map(ToString::to_string).collect();
    assert_eq!(listed, ["kitchen@coffee.example", "boss@coffee.example"]);
    let twice = Config::from_vars(vars(&[("ADMIN_NOTIFY_EMAILS", "a@x.example, b@x.example,A@X.EXAMPLE")]));
    let twice: Vec<String> = twice.unwrap().admin_notify_emails.iter().map(ToString::to_string).collect();
    assert_eq!(twice, ["a@x.example", "b@x.example"], "one mail per mailbox");
    let c = Config::from_vars(vars(&[("ORDER_MIN_LEAD_TIME", "6d"), ("IDEMPOTENCY_KEY_TTL", "30s")])).unwrap();
    assert_eq!((c.order_min_lead_time, c.idempotency_key_ttl), (TimeDelta::days(6), TimeDelta::seconds(30)));
}

#[test]
fn production_requires_a_long_jwt_secret() {
    let e = Config::from_vars(vars(&[("APP_ENV", "production")])).unwrap_err();
    assert_eq!(e.variable, "JWT_SECRET");
    let e = Config::from_vars(vars(&[("JWT_SECRET", "short")])).unwrap_err();
    assert_eq!(e.to_string(), "JWT_SECRET: must be at least 32 bytes");
    let ok = Config::from_vars(vars(&[("APP_ENV", "production"), ("JWT_SECRET", &"x".repeat(32))])).unwrap();
    assert!(!ok.jwt_secret_generated);
}

#[test]
fn malformed_values_name_their_variable() {
    for (name, value) in [
        ("PORT", "http"),
        ("ACCESS_TOKEN_TTL", "soon"),
        ("DATABASE_URL", "mysql://x"),
        ("REDIS_URL", "not a url"),
        ("RUN_MIGRATIONS", "maybe"),
        ("LOG_FORMAT", "xml"),
        ("DATABASE_MAX_CONNECTIONS", "0"),
        ("CLEANUP_SCHEDULE", "0 * * * *"),
        // The 31st of February: valid cron that never fires.
        ("CLEANUP_SCHEDULE", "0 0 0 31 2 *"),
        ("WORKER_CONCURRENCY", "0"),
        ("JOB_MAX_ATTEMPTS", "26"),
        ("PASSWORD_HASH_QUEUE", "-1"),
        ("SHOP_INFO_FILE", "/nonexistent/shop-info.toml"),
        ("ADMIN_NOTIFY_EMAILS", "boss@example.com, not-an-address"),
        ("ORDER_MIN_LEAD_TIME", "soonish"),
        ("IDEMPOTENCY_KEY_TTL", "0s"),
        // Shorter than a request's hold on its key: a repeat would place a second order.
        ("IDEMPOTENCY_KEY_TTL", "29s"),
        // No pickup could ever be booked (at most 7 days ahead).
        ("ORDER_MIN_LEAD_TIME", "7d"),
        // Would overflow a date when added to "now" (a panic at login, not here).
        ("REFRESH_TOKEN_TTL", "1000000y"),
        ("UNVERIFIED_USER_TTL", "101y"),
        ("AUTH_RATE_LIMIT", "10 per minute"),
        ("TRUSTED_PROXIES", "10.0.0.0/33"),
        ("METRICS_PORT", "0"),
        ("METRICS_PORT", "metrics"),
        ("HOST", "not-an-ip"),
        ("MAIL_FROM", "not an address"),
        ("WS_IDLE_TIMEOUT", "20s"),
        ("SEND_TIMEOUT", "500ms"),
        ("RUST_LOG", "info,[[["),
        // A misspelt level would read as a target name and silence the rest.
        ("RUST_LOG", "warning"),
        ("RUST_LOG", "sqlx=warn,inof"),
        ("PUBLIC_BASE_URL", "https://shop.example/?utm=x"),
        ("PUBLIC_BASE_URL", "https://shop.example#top"),
        ("PUBLIC_BASE_URL", "https://deploy:secret@shop.example"),
        ("SEND_TIMEOUT", "a minute"),
        ("METRICS_TOKEN", "two words"),
    ] {
        let e = Config::from_vars(vars(&[(name, value)])).unwrap_err();
        assert_eq!(e.variable, name);
        assert!(!e.to_string().contains('\n'), "one line: {e}");
    }
    assert_eq!(Config::from_vars(vars(&[("ADMIN_EMAIL", "a@b.co")])).unwrap_err().variable, "ADMIN_PASSWORD");
    // The bootstrap admin is checked as signup would check it, before anything is created.
    let admin = |email: &str, password: &str| {
        Config::from_vars(vars(&[("ADMIN_EMAIL", email), ("ADMIN_PASSWORD", password)])).map(|c| c.admin)
    };
    assert_eq!(admin("not-an-address", "long enough").unwrap_err().variable, "ADMIN_EMAIL");
    assert_eq!(admin("boss@example.com", "short").unwrap_err().variable, "ADMIN_PASSWORD");
    let ok = admin(" Boss@Example.com ", "long enough").unwrap();
    assert_eq!(ok, Some(("boss@example.com".to_owned(), "long enough".to_owned())));
}

#[test]
fn public_base_url_defaults_to_where_the_server_listens() {
    let base = |v: &[(&str, &str)]| Config::from_vars(vars(v)).unwrap().public_base_url;
    assert_eq!(base(&[]), "http://localhost:8080");
    assert_eq!(base(&[("PORT", "18200")]), "http://localhost:18200");
    assert_eq!(base(&[("HOST", "0.0.0.0"), ("PORT", "18200")]), "http://localhost:18200");
    assert_eq!(base(&[("HOST", "::"), ("PORT", "9000")]), "http://localhost:9000");
    assert_eq!(base(&[("HOST", "192.168.1.20"), ("PORT", "9000")]), "http://192.168.1.20:9000");
    assert_eq!(base(&[("HOST", "fd00::7")]), "http://[fd00::7]:8080");
    // An IPv6 address may come in brackets, as in a URL.
    assert_eq!(base(&[("HOST", "[::1]"), ("PORT", "9000")]), "http://localhost:9000");
    assert_eq!(base(&[("PORT", "18200"), ("PUBLIC_BASE_URL", "https://shop.example/")]), "https://shop.example");
    // Behind a proxy that serves the API under a path.
    assert_eq!(base(&[("PUBLIC_BASE_URL", "https://shop.example/api/")]), "https://shop.example/api");
}

#[test]
fn a_public_base_url_on_this_machine_but_another_port_is_warned_about() {
    let warning = |v: &[(&str, &str)]| Config::from_vars(vars(v)).unwrap().public_base_url_warning();
    assert!(warning(&[("PORT", "18200"), ("PUBLIC_BASE_URL", "http://localhost:8080")]).is_some());
    assert!(warning(&[("PORT", "18200"), ("PUBLIC_BASE_URL", "http://127.0.0.1")]).is_some());
    assert!(warning(&[("PORT", "18200")]).is_none(), "the derived default matches");
    assert!(warning(&[("PORT", "8080"), ("PUBLIC_BASE_URL", "http://localhost:8080/")]).is_none());
    assert!(warning(&[("PORT", "8080"), ("PUBLIC_BASE_URL", "https://shop.example")]).is_none(), "behind a proxy");
}

#[test]
fn cors_origins_are_origins_or_stop_the_start() {
    let origins = |list: &str| Config::from_vars(vars(&[("CORS_ORIGINS", list)])).map(|c| c.cors_origins);
    assert_eq!(
        origins(" https://shop.example/ , http://localhost:5173,").unwrap(),
        ["https://shop.example", "http://localhost:5173"]
    );
    assert_eq!(origins("https://SHOP.example:443").unwrap(), ["https://shop.example"], "as browsers send it");
    for bad in [
        "*",
        "notaurl",
        "shop.example",
        "ftp://shop.example",
        "https://shop.example/app",
        "https://*.example",
        "https://:pw@shop.example",
    ] {
        let line = origins(bad).unwrap_err().to_string();
        assert!(line.starts_with("CORS_ORIGINS: "), "{bad}: {line}");
    }
}

#[test]
fn log_filters_with_levels_targets_and_spans_are_accepted() {
    for filter in [
        "info",
        "WARN",
        "off",
        "3",
        "info,sqlx=warn",
        "coffee_api=trace",
        "info,[request{path=/me}]=debug",
        // Beside a level, a lone target only adds to it.
        "info,coffee_api",
        "warn,coffee_api::live",
    ] {
        let c = Config::from_vars(vars(&[("RUST_LOG", filter)])).unwrap_or_else(|e| panic!("{filter}: {e}"));
        assert_eq!(c.log_filter, filter);
    }
    let e = Config::from_vars(vars(&[("RUST_LOG", "warning")])).unwrap_err().to_string();
    assert!(e.contains("\"warning\" is not a level") && e.contains("warning=trace"), "{e}");
}

#[test]
fn secrets_in_urls_are_redacted_wherever_the_url_carries_them() {
    assert_eq!(super::redact_url("postgres://app:hunter2@db/coffee"), "postgres://***@db/coffee");
    let shown = super::redact_url("postgres://db/coffee?user=app&password=hunter2&sslmode=require");
    assert_eq!(shown, "postgres://db/coffee?user=app&password=***&sslmode=require");
    let shown = super::redact_url("smtp://relay:587?tls=required&auth_token=t0ken&sslpassword=k3y");
    assert!(!shown.contains("t0ken") && !shown.contains("k3y") && shown.contains("tls=required"), "{shown}");
}

#[test]
fn a_dotenv_line_that_does_not_parse_is_named_not_shown() {
    let e = dotenvy::Error::LineParse("ADMIN_PASSWORD=correct horse".to_owned(), 23);
    let shown = super::describe_dotenv_error(&e);
    assert!(shown.contains("ADMIN_PASSWORD") && !shown.contains("horse"), "{shown}");
    for line in ["'s3cr3t", "hunter2", "correct horse battery"] {
        let e = dotenvy::Error::LineParse(line.to_owned(), 0);
        assert!(!super::describe_dotenv_error(&e).contains(line.trim_start_matches('\'')), "{line}");
    }
}

#[test]
fn a_placeholder_jwt_secret_is_warned_about_in_production_only() {
    let with = |env: &str, secret: &str| {
        Config::from_vars(vars(&[("APP_ENV", env), ("JWT_SECRET", secret)])).unwrap().jwt_secret_warning()
    };
    let compose = "insecure-dev-secret-CHANGE-ME-0123456789abcdef";
    assert!(with("production", compose).is_some_and(|w| w.contains("JWT_SECRET")));
    assert!(with("production", "Change-Me-To-32-Random-Bytes-Or-More!").is_some());
    assert_eq!(with("production", &"a1b2".repeat(16)), None);
    assert_eq!(with("development", compose), None);
}

#[test]
fn credentials_never_reach_debug_output() {
    let c = Config::from_vars(vars(&[
        ("DATABASE_URL", "postgres://app:hunter2@db/coffee"),
        ("METRICS_TOKEN", "scrape-secret-42"),
        ("METRICS_PORT", "9464"),
    ]))
    .unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("hunter2") && !shown.contains("scrape-secret-42"), "{shown}");
    assert_eq!((c.metrics_token.as_deref(), c.metrics_port), (Some("scrape-secret-42"), Some(9464)));
}

#[test]
fn shop_info_defaults_to_the_sample_and_a_bad_file_stops_the_start() {
    let c = Config::from_vars(vars(&[])).unwrap();
    assert_eq!((c.shop.info.currency.as_str(), c.shop.info.timezone.as_str()), ("UZS", "Asia/Tashkent"));
    let path = std::env::temp_dir().join(format!("coffee-shop-info-{}.toml", std::process::id()));
    std::fs::write(&path, crate::SAMPLE_SHOP_INFO.replace("\"07:00\"", "\"25:00\"")).unwrap();
    let e = Config::from_vars(vars(&[("SHOP_INFO_FILE", path.to_str().unwrap())])).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    let line = e.to_string();
    assert!(line.starts_with(&format!("SHOP_INFO_FILE: {}: opening_hours[0].open", path.display())), "{line}");
    assert!(!line.contains('\n'), "{line}");
}
