//! A TCP proxy standing for the network between an agent and its manager, which a test can
//! cut (connections refused), stall (accepted but silent) and heal.
//!
//! Agents talk to the proxy's address; the proxy forwards to the manager. Cutting the link
//! also drops every connection in flight, as a real outage does to long-polls.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How the link behaves right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Bytes flow both ways.
    Up,
    /// New connections are closed at once and open ones are dropped.
    Down,
    /// Connections are accepted but nothing is forwarded: the peer sees a hang.
    Stalled,
}

impl LinkState {
    fn to_u8(self) -> u8 {
        match self {
            LinkState::Up => 0,
            LinkState::Down => 1,
            LinkState::Stalled => 2,
        }
    }
    fn from_u8(v: u8) -> Self {
        match v {
            0 => LinkState::Up,
            1 => LinkState::Down,
            _ => LinkState::Stalled,
        }
    }
}

/// A running proxy. Dropping it stops the proxy and closes every connection.
pub struct Link {
    addr: SocketAddr,
    state: Arc<AtomicU8>,
    changes: watch::Sender<LinkState>,
    task: tokio::task::JoinHandle<()>,
}

impl Link {
    /// Listens on a free loopback port and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Link> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(AtomicU8::new(LinkState::Up.to_u8()));
        let (changes, _) = watch::channel(LinkState::Up);
        let task = tokio::spawn(accept_loop(
            listener,
            upstream,
            state.clone(),
            changes.clone(),
        ));
        Ok(Link {
            addr,
            state,
            changes,
            task,
        })
    }

    /// The address agents should use in place of the manager's.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, for clients that want a URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Changes the link's behaviour; connections in flight follow at once.
    pub fn set(&self, state: LinkState) {
        self.state.store(state.to_u8(), Ordering::SeqCst);
        self.changes.send_replace(state);
    }

    /// The current behaviour.
    pub fn state(&self) -> LinkState {
        LinkState::from_u8(self.state.load(Ordering::SeqCst))
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
        self.changes.send_replace(LinkState::Down);
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    state: Arc<AtomicU8>,
    changes: watch::Sender<LinkState>,
) {
    while let Ok((inbound, _)) = listener.accept().await {
        match LinkState::from_u8(state.load(Ordering::SeqCst)) {
            // Closing at once is what a refused or reset connection looks like to a client.
            LinkState::Down => drop(inbound),
            _ => {
                tokio::spawn(serve(inbound, upstream, changes.subscribe()));
            }
        }
    }
}

async fn serve(
    mut inbound: TcpStream,
    upstream: SocketAddr,
    mut changes: watch::Receiver<LinkState>,
) {
    // A stalled link holds the connection open without a byte until the link changes.
    while *changes.borrow_and_update() == LinkState::Stalled {
        if changes.changed().await.is_err() {
            return;
        }
    }
    if *changes.borrow() == LinkState::Down {
        return;
    }
    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
        return;
    };
    loop {
        tokio::select! {
            _ = copy_bidirectional(&mut inbound, &mut outbound) => return,
            changed = changes.changed() => {
                if changed.is_err() || *changes.borrow() != LinkState::Up {
                    // Down or stalled mid-connection: drop it, as a cut cable would.
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn roundtrip(addr: SocketAddr) -> std::io::Result<Vec<u8>> {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        tokio::time::timeout(
            std::time::Duration::from_millis(500),
            s.read_exact(&mut buf),
        )
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer"))??;
        Ok(buf.to_vec())
    }

    #[tokio::test]
    async fn forwards_cuts_stalls_and_heals() {
        let link = Link::start(echo_server().await).await.unwrap();
        assert_eq!(roundtrip(link.addr()).await.unwrap(), b"ping");

        link.set(LinkState::Down);
        assert!(
            roundtrip(link.addr()).await.is_err(),
            "a cut link answers nothing"
        );

        link.set(LinkState::Stalled);
        let err = roundtrip(link.addr()).await.unwrap_err();
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::TimedOut,
            "a stalled link hangs"
        );

        link.set(LinkState::Up);
        assert_eq!(roundtrip(link.addr()).await.unwrap(), b"ping");
    }

    #[tokio::test]
    async fn cutting_drops_connections_in_flight() {
        let link = Link::start(echo_server().await).await.unwrap();
        let mut s = TcpStream::connect(link.addr()).await.unwrap();
        s.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.unwrap();
        link.set(LinkState::Down);
        let mut rest = Vec::new();
        let n = tokio::time::timeout(std::time::Duration::from_secs(2), s.read_to_end(&mut rest))
            .await
            .expect("the proxy closes the connection")
            .unwrap_or(0);
        assert_eq!(n, 0);
    }
}
