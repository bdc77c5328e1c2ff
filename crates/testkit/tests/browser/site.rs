//! A tiny static web site on 127.0.0.1 for the browser tests: fixed
//! responses by path (anything else is a 404), one request per connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One fixed response.
struct Resource {
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    body: String,
}

/// A site being put together; [`SiteBuilder::start`] serves it.
#[derive(Default)]
pub struct SiteBuilder {
    resources: HashMap<&'static str, Resource>,
}

impl SiteBuilder {
    /// Serves `body` at `path` as `content_type`.
    pub fn file(mut self, path: &'static str, content_type: &'static str, body: &str) -> Self {
        self.resources.insert(path, Resource { content_type, headers: Vec::new(), body: body.to_owned() });
        self
    }

    /// Serves an HTML page at `path`.
    pub fn html(self, path: &'static str, body: &str) -> Self {
        self.file(path, "text/html; charset=utf-8", body)
    }

    /// Adds a response header to the resource at `path` (added before).
    pub fn header(mut self, path: &'static str, name: &'static str, value: &str) -> Self {
        if let Some(resource) = self.resources.get_mut(path) {
            resource.headers.push((name, value.to_owned()));
        }
        self
    }

    /// Starts serving on a free port of 127.0.0.1.
    pub async fn start(self) -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let resources = Arc::new(self.resources);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let resources = Arc::clone(&resources);
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    let mut request_line = String::new();
                    if stream.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut header = String::new();
                        if stream.read_line(&mut header).await.unwrap_or(0) == 0 || header == "\r\n" {
                            break;
                        }
                    }
                    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
                    let path = target.split(['?', '#']).next().unwrap_or("/");
                    let response = match resources.get(path) {
                        Some(r) => response("200 OK", r.content_type, &r.headers, &r.body),
                        None => response("404 Not Found", "text/plain", &[], "not found"),
                    };
                    let _ = stream.get_mut().write_all(response.as_bytes()).await;
                    let _ = stream.get_mut().shutdown().await;
                });
            }
        });
        Site { addr, task }
    }
}

fn response(status: &str, content_type: &str, headers: &[(&'static str, String)], body: &str) -> String {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    format!("{head}\r\n{body}")
}

/// A running site; stops when dropped.
pub struct Site {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Site {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Site {
    /// Starts describing a site.
    pub fn builder() -> SiteBuilder {
        SiteBuilder::default()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }
}
