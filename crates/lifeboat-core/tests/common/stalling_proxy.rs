//! A TCP proxy in front of the real S3 server that, on demand, stops passing the server's
//! answers after a number of bytes: a network that stalls mid-transfer. It stands in for a bad
//! network only; every byte it does pass comes from the real server.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Bytes the server may still send to clients; `None` is unlimited.
type Gate = Arc<watch::Sender<Option<u64>>>;

pub struct StallingProxy {
    pub endpoint: String,
    gate: Gate,
}

impl StallingProxy {
    pub async fn start(upstream_endpoint: &str) -> Self {
        let upstream = upstream_endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let gate: Gate = Arc::new(watch::channel(None).0);
        let shared = gate.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, upstream.clone(), shared.clone()));
            }
        });
        Self { endpoint, gate }
    }

    /// From now on the server's answers stop after `bytes` more bytes.
    pub fn stall_after(&self, bytes: u64) {
        self.gate.send_replace(Some(bytes));
    }

    pub fn release(&self) {
        self.gate.send_replace(None);
    }
}

async fn relay(client: TcpStream, upstream: String, gate: Gate) {
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
        let _ = server_write.shutdown().await;
    });
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
