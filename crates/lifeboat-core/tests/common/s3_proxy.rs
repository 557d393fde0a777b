//! A TCP proxy in front of the real S3 server. It records the head (request line and headers)
//! of every request passing through, so tests can see what reached the server; and on demand
//! it stops passing the server's answers after a number of bytes: a network that stalls
//! mid-transfer. Every byte it passes comes from the real client or the real server.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Bytes the server may still send to clients; `None` is unlimited.
type Gate = Arc<watch::Sender<Option<u64>>>;
type Heads = Arc<Mutex<Vec<String>>>;

pub struct S3Proxy {
    pub endpoint: String,
    gate: Gate,
    heads: Heads,
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
        let (shared_gate, shared_heads) = (gate.clone(), heads.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(
                    client,
                    upstream.clone(),
                    shared_gate.clone(),
                    shared_heads.clone(),
                ));
            }
        });
        Self {
            endpoint,
            gate,
            heads,
        }
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

async fn relay(client: TcpStream, upstream: String, gate: Gate, heads: Heads) {
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let (client_read, mut client_write) = client.into_split();
    let (mut server_read, server_write) = server.into_split();
    tokio::spawn(forward_requests(client_read, server_write, heads));
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
                .write_all(&buf[sent..sent + allowed])
                .await
                .is_err()
            {
                return;
            }
            sent += allowed;
        }
    }
    let _ = client_write.shutdown().await;
}

/// Passes the client's bytes on, noting each request head. Bodies are skipped by their
/// Content-Length, which is how the S3 client sends them.
async fn forward_requests(mut client: OwnedReadHalf, mut server: OwnedWriteHalf, heads: Heads) {
    let mut head = Vec::new();
    let mut body_left = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match client.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if server.write_all(&buf[..n]).await.is_err() {
            break;
        }
        let mut at = 0;
        while at < n {
            if body_left > 0 {
                let skipped = body_left.min(n - at);
                body_left -= skipped;
                at += skipped;
                continue;
            }
            head.push(buf[at]);
            at += 1;
            if head.ends_with(b"\r\n\r\n") {
                let text = String::from_utf8_lossy(&head).into_owned();
                body_left = content_length(&text);
                heads.lock().unwrap().push(text);
                head.clear();
            }
        }
    }
    let _ = server.shutdown().await;
}

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
