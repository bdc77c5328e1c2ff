//! Spawns the real application on a random port with its own database and
//! SMTP sink, and offers the calls most tests need.

use std::collections::HashMap;
use std::net::TcpListener;
use std::time::Duration;

use actix_web::web::Data;
use coffee_testkit::{ReceivedMail, SmtpSink, TestDatabase};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

/// The bootstrap admin every app starts with.
pub const ADMIN_EMAIL: &str = "admin@coffee.test";
/// Its password.
pub const ADMIN_PASSWORD: &str = "admin-password-123";
/// A password that satisfies the policy.
pub const PASSWORD: &str = "correct horse battery";
/// Where verification links point (deliberately not the test server).
pub const PUBLIC_BASE_URL: &str = "https://coffee.example";
/// As the value of `PUBLIC_BASE_URL` in overrides: the app's own address
/// (`http://127.0.0.1:PORT`), so that pages it serves may call it from a
/// browser (their `Origin` is the API's own).
pub const OWN_ORIGIN: &str = "<the app's own address>";
/// How long to wait for a mail that should arrive.
const MAIL_TIMEOUT: Duration = Duration::from_secs(10);

/// A running application.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// A client without cookies, redirects or compression.
    pub client: reqwest::Client,
    /// Receives every mail the app sends.
    pub mail: SmtpSink,
    /// Holds `MEDIA_DIR` of this app, its subdirectory `media` (unless overridden).
    pub media: tempfile::TempDir,
    /// The OpenAPI document the app serves, with what it saw the app answer.
    doc: Data<coffee_api::openapi::OpenApiDoc>,
    /// Files the app reads while it runs (e.g. its shop file).
    files: Vec<tempfile::NamedTempFile>,
    /// Kept alive for the app's lifetime (a SQLite file is deleted on drop).
    _db: TestDatabase,
}

/// Every test checks, when its app goes away, that each problem the app
/// answered with is one the OpenAPI document lists for that operation.
impl Drop for TestApp {
    fn drop(&mut self) {
        let undocumented = self.doc.conformance.undocumented();
        if !std::thread::panicking() {
            assert!(undocumented.is_empty(), "problems the OpenAPI document does not list: {undocumented:#?}");
        }
    }
}

/// Access and refresh token of one login.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

/// A verified user with a live access token.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    pub id: String,
    pub token: String,
}

/// A shop file (currency EUR, Europe/Berlin) with these `[[opening_hours]]`
/// tables, or `opening_hours = []` (always closed) when empty.
pub fn shop_file(hours: &str) -> tempfile::NamedTempFile {
    shop_file_in("Europe/Berlin", hours)
}

/// [`shop_file`] in another time zone.
pub fn shop_file_in(timezone: &str, hours: &str) -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().expect("a temporary shop file");
    let hours = if hours.is_empty() { "opening_hours = []\n" } else { hours };
    write!(
        file,
        r#"name = "Night Owl Coffee"
address = "1 Test Street, Tashkent"
phone = "+998 71 123 45 67"
email = "owl@coffee.example"
currency = "EUR"
timezone = "{timezone}"
location = {{ lat = 52.52, lng = 13.405 }}
{hours}"#
    )
    .expect("the shop file is written");
    file
}

/// Opening hours of a shop that never closes.
pub fn around_the_clock() -> String {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .map(|day| format!("[[opening_hours]]\nday = \"{day}\"\nopen = \"00:00\"\nclose = \"00:00\"\n"))
        .concat()
}

/// Starts the app with a shop in UTC open with these hours (see [`shop_file`]).
pub async fn spawn_shop_app(hours: &str, overrides: &[(&str, &str)]) -> TestApp {
    let file = shop_file_in("UTC", hours);
    let path = file.path().to_str().expect("a UTF-8 temporary path").to_owned();
    let mut vars = vec![("SHOP_INFO_FILE", path.as_str())];
    vars.extend_from_slice(overrides);
    let mut app = spawn_app_with(&vars).await;
    app.keep(file);
    app
}

/// Starts the app with the default test configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts the app with the default test configuration plus `overrides`.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    spawn_on(TestDatabase::fresh().await, overrides).await
}

/// Another replica of `app`: the same database, its own process state
/// (pass the same `REDIS_URL` and `JOBS_QUEUE` to both to share Redis).
/// Keep `app` alive as long as the replica.
pub async fn spawn_replica_of(app: &TestApp, overrides: &[(&str, &str)]) -> TestApp {
    spawn_on(app._db.shared(), overrides).await
}

/// Starts the app on `db` (keeps it alive as long as the app); `overrides`
/// may still replace its `DATABASE_URL`, e.g. with a proxy in front of it.
/// The `JWT_SECRET` of every test app (tests that forge tokens sign with it).
pub const JWT_SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";

pub async fn spawn_on(db: TestDatabase, overrides: &[(&str, &str)]) -> TestApp {
    let mail = SmtpSink::start().await;
    let media = tempfile::tempdir().expect("a temporary media directory");
    let media_dir = media.path().join("media").to_str().expect("a UTF-8 temporary path").to_owned();
    let mut vars: HashMap<String, String> = [
        ("DATABASE_URL", db.url.as_str()),
        ("SMTP_URL", mail.url().as_str()),
        ("JWT_SECRET", JWT_SECRET),
        ("ADMIN_EMAIL", ADMIN_EMAIL),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("PUBLIC_BASE_URL", PUBLIC_BASE_URL),
        ("DATABASE_MAX_CONNECTIONS", "4"),
        // Tests make more auth calls per minute than a person would.
        ("AUTH_RATE_LIMIT", "off"),
        ("MEDIA_DIR", media_dir.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a random port");
    let address = format!("http://{}", listener.local_addr().expect("bound address"));
    for (k, v) in overrides {
        let v = if *v == OWN_ORIGIN { address.as_str() } else { v };
        vars.insert((*k).to_owned(), v.to_owned());
    }
    if std::env::var_os("TEST_LOG").is_some() {
        coffee_app::init_logging("info", coffee_app::LogFormat::Pretty);
    }
    let config = coffee_app::Config::from_vars(vars).expect("test configuration is valid");
    let services = coffee_app::Services::start(config, coffee_app::Process::Api).await.expect("the app starts");
    services.spawn_api_background().await;
    let doc = Data::new(coffee_api::openapi::build());
    let services = Data::new(services);
    let server = coffee_api::serve(services.clone(), doc.clone(), listener).expect("the server starts");
    tokio::spawn(server);
    // Events from other replicas arrive once the app listens for them (when
    // its Redis answers at all: some tests configure one that is down).
    if services.readiness().await.redis == Some(true) {
        tokio::time::timeout(Duration::from_secs(10), services.live.wait_subscribed())
            .await
            .expect("the live subscription is in place within 10 s");
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a reqwest client");
    TestApp { address, client, mail, media, doc, files: Vec::new(), _db: db }
}

impl TestApp {
    /// Waits until the app has sent (or given up on) every mail it queued,
    /// so a test that then finds no second mail knows that none is still
    /// on its way (a fixed pause was shorter than a relay round on a busy
    /// machine). Fails after 10 s.
    pub async fn settle(&self) {
        use sea_orm::ConnectionTrait;
        let db = sea_orm::Database::connect(self.database_url()).await.unwrap();
        let sql = "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND parked_at IS NULL";
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let stmt = sea_orm::Statement::from_string(db.get_database_backend(), sql);
            let row = db.query_one_raw(stmt).await.unwrap().unwrap();
            let left = row.try_get_by_index::<i64>(0).unwrap();
            if left == 0 {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{left} queued mails still unsent after 10 s");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The app's database URL (tests that reach past the API).
    pub fn database_url(&self) -> &str {
        &self._db.url
    }

    /// Which database engine the app runs on.
    pub fn backend(&self) -> coffee_testkit::Backend {
        self._db.backend
    }

    /// A client whose connections come from `ip` (any 127.0.0.0/8 address
    /// reaches the app on loopback): another client, as far as the app can tell.
    pub fn client_from(&self, ip: &str) -> reqwest::Client {
        reqwest::Client::builder()
            .local_address(ip.parse::<std::net::IpAddr>().expect("an IP address"))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a reqwest client")
    }

    /// Keeps `file` until the app goes away.
    pub fn keep(&mut self, file: tempfile::NamedTempFile) {
        self.files.push(file);
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A request to `path`, with a bearer token when given.
    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let req = self.client.request(method, self.url(path));
        match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// `GET path` with an optional token.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token).send().await.expect("request sent")
    }

    /// `GET /users` with these query pairs (properly URL-encoded).
    pub async fn list_users(&self, token: &str, query: &[(&str, &str)]) -> Response {
        self.request(Method::GET, "/users", Some(token)).query(query).send().await.expect("request sent")
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.send_json(Method::POST, path, None, body).await
    }

    /// Any method with a JSON body and an optional token.
    pub async fn send_json(&self, method: Method, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.request(method, path, token).json(body).send().await.expect("request sent")
    }

    /// `POST path` with a raw body and content type.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: impl Into<reqwest::Body>) -> Response {
        self.client
            .post(self.url(path))
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    /// `POST /auth/signup`, whatever the outcome.
    pub async fn try_signup(&self, body: &Value) -> Response {
        self.post_json("/auth/signup", body).await
    }

    /// Signs up `email`; asserts 201 and returns the user.
    pub async fn signup(&self, email: &str, password: &str) -> Value {
        self.signup_with(&json!({"email": email, "password": password})).await
    }

    /// Signs up with a full body; asserts 201 and returns the user.
    pub async fn signup_with(&self, body: &Value) -> Value {
        let resp = self.try_signup(body).await;
        assert_eq!(resp.status(), StatusCode::CREATED, "signup of {body} failed");
        resp.json().await.expect("a JSON user")
    }

    /// Every mail sent to `email` so far.
    pub fn mails_to(&self, email: &str) -> Vec<ReceivedMail> {
        self.mail.messages().into_iter().filter(|m| m.to.iter().any(|t| t == email)).collect()
    }

    /// Waits until `email` has received `n` mails and returns the `n`-th.
    pub async fn nth_mail_to(&self, email: &str, n: usize) -> ReceivedMail {
        let deadline = tokio::time::Instant::now() + MAIL_TIMEOUT;
        loop {
            let mails = self.mails_to(email);
            if mails.len() >= n {
                return mails[n - 1].clone();
            }
            assert!(tokio::time::Instant::now() < deadline, "mail #{n} to {email} did not arrive");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the first mail to `email`.
    pub async fn mail_to(&self, email: &str) -> ReceivedMail {
        let to = email.to_owned();
        self.mail
            .wait_for(move |m| m.to.contains(&to), MAIL_TIMEOUT)
            .await
            .unwrap_or_else(|| panic!("no mail to {email} arrived"))
    }

    /// The code of the first verification mail to `email`.
    pub async fn code_for(&self, email: &str) -> String {
        self.mail_to(email).await.verification_code().expect("a 6-digit code in the mail")
    }

    /// Verifies `email` with the code from its mail; asserts 200.
    pub async fn verify_from_mail(&self, email: &str) -> Value {
        let code = self.code_for(email).await;
        let resp = self.post_json("/auth/verify", &json!({"email": email, "code": code})).await;
        assert_eq!(resp.status(), StatusCode::OK, "verification of {email} failed");
        resp.json().await.expect("a JSON user")
    }

    /// Signs up and verifies `email`; returns the user.
    pub async fn verified_user(&self, email: &str) -> Value {
        self.signup(email, PASSWORD).await;
        self.verify_from_mail(email).await
    }

    /// `POST /auth/login` with JSON, whatever the outcome.
    pub async fn try_login(&self, email: &str, password: &str) -> Response {
        self.post_json("/auth/login", &json!({"email": email, "password": password})).await
    }

    /// Logs in; asserts 200 and returns the tokens.
    pub async fn login(&self, email: &str, password: &str) -> Tokens {
        let resp = self.try_login(email, password).await;
        assert_eq!(resp.status(), StatusCode::OK, "login of {email} failed");
        tokens(resp).await
    }

    /// An access token of the bootstrap admin.
    pub async fn admin_token(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.access
    }

    /// Signs up, verifies and logs in `email` (password [`PASSWORD`]).
    pub async fn logged_in(&self, email: &str) -> LoggedIn {
        let user = self.verified_user(email).await;
        let token = self.login(email, PASSWORD).await.access;
        LoggedIn { id: id_of(&user), token }
    }

    /// `POST /auth/refresh`.
    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json("/auth/refresh", &json!({"refresh_token": refresh_token})).await
    }
}

/// The tokens of a 200 login or refresh response.
pub async fn tokens(resp: Response) -> Tokens {
    let body: Value = resp.json().await.expect("a JSON token pair");
    Tokens {
        access: body["access_token"].as_str().expect("access_token").to_owned(),
        refresh: body["refresh_token"].as_str().expect("refresh_token").to_owned(),
    }
}

/// The `id` of a user body.
pub fn id_of(user: &Value) -> String {
    user["id"].as_str().expect("a user id").to_owned()
}

/// A header as text.
pub fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).map(|v| v.to_str().expect("a printable header").to_owned())
}

/// Asserts an RFC 9457 problem with this status and code whose `request_id`
/// equals the `X-Request-Id` header; returns the body.
pub async fn assert_problem(resp: Response, status: u16, code: &str) -> Value {
    let headers = resp.headers().clone();
    let actual = resp.status().as_u16();
    let text = resp.text().await.expect("a body");
    assert_eq!(actual, status, "expected {status} {code}, got {actual}: {text}");
    assert_eq!(header(&headers, "content-type").as_deref(), Some("application/problem+json"), "content type of {text}");
    let body: Value = serde_json::from_str(&text).expect("a JSON problem");
    assert_eq!(body["code"], code, "problem code of {text}");
    assert_eq!(body["status"], status, "problem status of {text}");
    for key in ["type", "title", "detail"] {
        assert!(body[key].as_str().is_some_and(|s| !s.is_empty()), "problem without {key}: {text}");
    }
    let request_id = header(&headers, "x-request-id").expect("an X-Request-Id header");
    assert_eq!(body["request_id"], request_id.as_str(), "request_id of {text}");
    body
}

/// The `field`s named in a problem's `errors`.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Asserts a 401 carrying `WWW-Authenticate: Bearer…` with this code.
pub async fn assert_unauthorized(resp: Response, code: &str) -> Value {
    let challenge = header(resp.headers(), "www-authenticate").unwrap_or_default();
    assert!(challenge.starts_with("Bearer"), "401 without a Bearer challenge: {challenge:?}");
    assert_problem(resp, 401, code).await
}

/// `bytes` compressed in `coding` (`gzip`, or `deflate`: zlib, RFC 9110 §8.4.1.2).
pub fn compressed(coding: &str, bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let level = flate2::Compression::default();
    let mut out = Vec::new();
    match coding {
        "gzip" => {
            let mut encoder = flate2::write::GzEncoder::new(&mut out, level);
            encoder.write_all(bytes).unwrap();
            encoder.finish().unwrap();
        }
        "deflate" => {
            let mut encoder = flate2::write::ZlibEncoder::new(&mut out, level);
            encoder.write_all(bytes).unwrap();
            encoder.finish().unwrap();
        }
        other => panic!("no encoder for {other}"),
    }
    out
}
