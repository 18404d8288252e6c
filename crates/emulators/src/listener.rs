//! A loopback listener that counts accepted connections, so tests and benchmarks can prove
//! that clients reuse their connections across warm invocations.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};

/// How many TCP connections a server has accepted so far.
#[derive(Debug, Clone, Default)]
pub struct ConnectionCount(Arc<AtomicUsize>);

impl ConnectionCount {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// Binds `127.0.0.1` on an OS-assigned port.
pub async fn bind_loopback() -> std::io::Result<(CountingListener, ConnectionCount)> {
    bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// Binds `address` (port 0: an OS-assigned one).
pub async fn bind(
    address: std::net::SocketAddr,
) -> std::io::Result<(CountingListener, ConnectionCount)> {
    let inner = TcpListener::bind(address).await?;
    let count = ConnectionCount::default();
    Ok((
        CountingListener {
            inner,
            count: count.clone(),
        },
        count,
    ))
}

pub struct CountingListener {
    inner: TcpListener,
    count: ConnectionCount,
}

impl axum::serve::Listener for CountingListener {
    type Io = TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        self.count.0.fetch_add(1, Ordering::Relaxed);
        (io, addr)
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}
