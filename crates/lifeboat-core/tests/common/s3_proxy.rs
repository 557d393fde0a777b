//! A TCP proxy in front of the real S3 server. It records the head (request line and headers)
//! of every request passing through, so tests can see what reached the server; on demand it
//! stops passing the server's answers after a number of bytes (a network that stalls
//! mid-transfer), answers DELETEs of some keys (or every write) itself with 403 AccessDenied,
//! as a bucket with Object Lock or a read-only key does (the one answer that is not the real
//! server's: the test S3 server has a single key with every permission), or after some number
//! of requests drops every connection and takes no more, as a server that stopped. Every other
//! byte it passes comes from the real client or the real server.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Bytes the server may still send to clients; `None` is unlimited.
type Gate = Arc<watch::Sender<Option<u64>>>;
type Heads = Arc<Mutex<Vec<String>>>;
type ClientWriter = Arc<tokio::sync::Mutex<OwnedWriteHalf>>;

/// What the proxy does besides passing bytes on, shared by its connections.
#[derive(Default)]
struct Faults {
    refused: Mutex<Vec<String>>,
    /// Every PUT, POST and DELETE is refused.
    read_only: std::sync::atomic::AtomicBool,
    /// Requests still passed before the server "stops"; `None` is unlimited.
    requests_left: Mutex<Option<usize>>,
    down: std::sync::atomic::AtomicBool,
}

impl Faults {
    fn down(&self) -> bool {
        self.down.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Counts one request; false once the server has stopped.
    fn admit_request(&self) -> bool {
        let mut left = self.requests_left.lock().unwrap();
        match left.as_mut() {
            Some(0) => {
                self.down.store(true, std::sync::atomic::Ordering::SeqCst);
                false
            }
            Some(n) => {
                *n -= 1;
                true
            }
            None => !self.down(),
        }
    }
}

pub struct S3Proxy {
    pub endpoint: String,
    gate: Gate,
    heads: Heads,
    faults: Arc<Faults>,
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
        let faults = Arc::new(Faults::default());
        let (shared_gate, shared_heads, shared_faults) =
            (gate.clone(), heads.clone(), faults.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if shared_faults.down() {
                    continue;
                }
                tokio::spawn(relay(
                    client,
                    upstream.clone(),
                    shared_gate.clone(),
                    shared_heads.clone(),
                    shared_faults.clone(),
                ));
            }
        });
        Self {
            endpoint,
            gate,
            heads,
            faults,
        }
    }

    /// From now on DELETEs of keys containing `part` are answered 403 AccessDenied.
    pub fn refuse_deletes_of(&self, part: &str) {
        self.faults.refused.lock().unwrap().push(part.to_owned());
    }

    pub fn allow_deletes(&self) {
        self.faults.refused.lock().unwrap().clear();
    }

    /// From now on every write (PUT, POST, DELETE) is answered 403 AccessDenied, as for a key
    /// that may only list and read.
    pub fn read_only(&self) {
        self.faults
            .read_only
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// After `requests` more requests the server stops: every connection is dropped and new
    /// ones are closed at once.
    pub fn stop_after(&self, requests: usize) {
        *self.faults.requests_left.lock().unwrap() = Some(requests);
    }

    /// The server is back.
    pub fn restart(&self) {
        *self.faults.requests_left.lock().unwrap() = None;
        self.faults
            .down
            .store(false, std::sync::atomic::Ordering::SeqCst);
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

async fn relay(client: TcpStream, upstream: String, gate: Gate, heads: Heads, faults: Arc<Faults>) {
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
        faults.clone(),
        client_write.clone(),
    ));
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match server_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if faults.down() {
            break;
        }
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
    faults: Arc<Faults>,
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
                if !faults.admit_request() {
                    break 'reading;
                }
                body_left = content_length(&text);
                heads.lock().unwrap().push(text.clone());
                let request = std::mem::take(&mut head);
                let read_only = faults.read_only.load(std::sync::atomic::Ordering::SeqCst);
                let refused = &faults.refused;
                if (is_deletion(&text) && !refused.lock().unwrap().is_empty())
                    || (read_only && is_write(&text))
                {
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
                    let names_refused = faults.read_only.load(std::sync::atomic::Ordering::SeqCst)
                        || faults
                            .refused
                            .lock()
                            .unwrap()
                            .iter()
                            .any(|p| text.contains(p));
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

fn is_write(head: &str) -> bool {
    ["PUT ", "POST ", "DELETE "]
        .iter()
        .any(|method| head.starts_with(method))
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
