//! A TCP proxy in front of the real S3 server. It records the head (request line and headers)
//! of every request passing through, so tests can see what reached the server; on demand it
//! stops passing the server's answers after a number of bytes (a network that stalls
//! mid-transfer), or answers DELETEs of some keys itself with 403 AccessDenied, as a bucket
//! with Object Lock or a key without delete permission does (the one answer that is not the
//! real server's). Every other byte it passes comes from the real client or the real server.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Bytes the server may still send to clients; `None` is unlimited.
type Gate = Arc<watch::Sender<Option<u64>>>;
type Heads = Arc<Mutex<Vec<String>>>;
/// Request paths containing any of these are refused when they are DELETEs.
type Refused = Arc<Mutex<Vec<String>>>;
type ClientWriter = Arc<tokio::sync::Mutex<OwnedWriteHalf>>;

pub struct S3Proxy {
    pub endpoint: String,
    gate: Gate,
    heads: Heads,
    refused: Refused,
}

impl S3Proxy {
    pub async fn start(upstream_endpoint: &str) -> Self {
        let upstream = upstream_endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let gate: Gate = Arc::new(watch::channel(None).0);
        let heads = Heads::default();
        let refused = Refused::default();
        let (shared_gate, shared_heads, shared_refused) =
            (gate.clone(), heads.clone(), refused.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(
                    client,
                    upstream.clone(),
                    shared_gate.clone(),
                    shared_heads.clone(),
                    shared_refused.clone(),
                ));
            }
        });
        Self {
            endpoint,
            gate,
            heads,
            refused,
        }
    }

    /// From now on DELETEs of keys containing `part` are answered 403 AccessDenied.
    pub fn refuse_deletes_of(&self, part: &str) {
        self.refused.lock().unwrap().push(part.to_owned());
    }

    pub fn allow_deletes(&self) {
        self.refused.lock().unwrap().clear();
    }

    /// From now on the server's answers stop after `bytes` more bytes.
    pub fn stall_after(&self, bytes: u64) {
        self.gate.send_replace(Some(bytes));
    }

    pub fn release(&self) {
        self.gate.send_replace(None);
    }

    /// The heads of the requests sent so far, in the order they were sent.
    pub fn request_heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

async fn relay(client: TcpStream, upstream: String, gate: Gate, heads: Heads, refused: Refused) {
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let client_write: ClientWriter = Arc::new(tokio::sync::Mutex::new(client_write));
    let (mut server_read, server_write) = server.into_split();
    tokio::spawn(forward_requests(
        client_read,
        server_write,
        heads,
        refused,
        client_write.clone(),
    ));
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match server_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut sent = 0;
        while sent < n {
            let allowed = admit(&gate, n - sent).await;
            if client_write
                .lock()
                .await
                .write_all(&buf[sent..sent + allowed])
                .await
                .is_err()
            {
                return;
            }
            sent += allowed;
        }
    }
    let _ = client_write.lock().await.shutdown().await;
}

/// Passes the client's bytes on, noting each request head. A deletion (DELETE, or the POST
/// `?delete` of DeleteObjects, which names its keys in the body) is held until it is whole, then
/// either passed on or, when it names a refused key, answered here. Bodies are passed by their
/// Content-Length, which is how the S3 client sends them.
async fn forward_requests(
    mut client: OwnedReadHalf,
    mut server: OwnedWriteHalf,
    heads: Heads,
    refused: Refused,
    client_write: ClientWriter,
) {
    let mut head = Vec::new();
    let mut body_left = 0usize;
    // A deletion being held: its head and the body read so far.
    let mut held: Option<(Vec<u8>, Vec<u8>)> = None;
    let mut buf = vec![0u8; 64 * 1024];
    'reading: loop {
        let n = match client.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut at = 0;
        while at < n {
            if body_left > 0 {
                let passed = body_left.min(n - at);
                let chunk = &buf[at..at + passed];
                body_left -= passed;
                at += passed;
                match &mut held {
                    Some((_, body)) => body.extend_from_slice(chunk),
                    None => {
                        if server.write_all(chunk).await.is_err() {
                            break 'reading;
                        }
                    }
                }
            } else {
                head.push(buf[at]);
                at += 1;
                if !head.ends_with(b"\r\n\r\n") {
                    continue;
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                body_left = content_length(&text);
                heads.lock().unwrap().push(text.clone());
                let request = std::mem::take(&mut head);
                if is_deletion(&text) && !refused.lock().unwrap().is_empty() {
                    held = Some((request, Vec::new()));
                } else if server.write_all(&request).await.is_err() {
                    break 'reading;
                }
            }
            if body_left == 0 {
                if let Some((request, body)) = held.take() {
                    let text = format!(
                        "{}{}",
                        String::from_utf8_lossy(&request),
                        String::from_utf8_lossy(&body)
                    );
                    let names_refused = refused.lock().unwrap().iter().any(|p| text.contains(p));
                    let sent = if names_refused {
                        client_write
                            .lock()
                            .await
                            .write_all(ACCESS_DENIED.as_bytes())
                            .await
                    } else {
                        match server.write_all(&request).await {
                            Ok(()) => server.write_all(&body).await,
                            Err(e) => Err(e),
                        }
                    };
                    if sent.is_err() {
                        break 'reading;
                    }
                }
            }
        }
    }
    let _ = server.shutdown().await;
}

fn is_deletion(head: &str) -> bool {
    let line = head.lines().next().unwrap_or_default();
    line.starts_with("DELETE ") || (line.starts_with("POST ") && line.contains("?delete"))
}

const ACCESS_DENIED: &str = "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: 112\r\n\r\n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>\n";

fn content_length(head: &str) -> usize {
    header(head, "content-length")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

/// What a request head says of a header, if it has it.
pub fn header(head: &str, name: &str) -> Option<String> {
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.trim().to_owned())
}

/// Waits until the gate lets at least one byte through; returns how many of `want` it lets.
async fn admit(gate: &Gate, want: usize) -> usize {
    let mut changes = gate.subscribe();
    loop {
        let mut granted = 0;
        gate.send_if_modified(|budget| match budget {
            None => {
                granted = want;
                false
            }
            Some(0) => false,
            Some(left) => {
                granted = want.min(usize::try_from(*left).unwrap_or(usize::MAX));
                *left -= granted as u64;
                true
            }
        });
        if granted > 0 {
            return granted;
        }
        if changes.changed().await.is_err() {
            return want;
        }
    }
}
