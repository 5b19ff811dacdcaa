use super::*;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;

/// A local HTTP/1 upstream answering `200 ok` to every request; counts connections and
/// requests, and closes each connection after its first response when `close_after_one`
/// (without saying so: the way a server's keep-alive timeout ends a connection).
pub(crate) async fn counting_upstream(
    close_after_one: bool,
) -> (
    std::net::SocketAddr,
    Arc<std::sync::atomic::AtomicUsize>,
    Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let reqs = Arc::new(AtomicUsize::new(0));
    let (c, r) = (conns.clone(), reqs.clone());
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            let r = r.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        r.fetch_add(1, Ordering::SeqCst);
                        let ok = tcp
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                            .await
                            .is_ok();
                        if !ok || close_after_one {
                            return;
                        }
                    }
                    match tcp.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (addr, conns, reqs)
}

/// Lets the connection tasks run until `done` holds (no clock involved).
pub(crate) async fn settle(mut done: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the connection tasks did not get there");
}

async fn connect(addr: std::net::SocketAddr) -> SendRequest<Empty<Bytes>> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    tx
}

#[tokio::test]
async fn the_pool_keeps_at_most_its_cap() {
    let (addr, _, _) = counting_upstream(false).await;
    let pool = Http1Pool::new(2, IDLE_TIMEOUT);
    for _ in 0..4 {
        pool.put(connect(addr).await);
    }
    assert_eq!(pool.len(), 2);
}

#[tokio::test]
async fn a_busy_connection_is_not_handed_out_until_its_response_ended() {
    let (addr, _, _) = counting_upstream(false).await;
    let pool = Http1Pool::new(8, IDLE_TIMEOUT);
    let mut tx = connect(addr).await;
    let sent = tx.try_send_request(http::Request::new(Empty::new()));
    pool.put(tx);
    assert!(pool.checkout().is_none(), "busy until the response ends");
    let resp = sent.await.map_err(|e| e.into_error()).unwrap();
    drop(
        http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap(),
    );
    let mut again = None;
    settle(|| {
        again = pool.checkout();
        again.is_some()
    })
    .await;
    assert_eq!(pool.len(), 0, "taken out of the pool");
}

#[tokio::test]
async fn idle_connections_expire() {
    let (addr, _, _) = counting_upstream(false).await;
    let pool = Http1Pool::new(8, IDLE_TIMEOUT);
    pool.put(connect(addr).await);
    settle(|| pool.idle() == 1).await;
    let now = Instant::now();
    pool.sweep(now);
    assert_eq!(pool.len(), 1, "first seen idle");
    pool.sweep(now + IDLE_TIMEOUT / 2);
    assert_eq!(pool.len(), 1, "not idle long enough");
    pool.sweep(now + IDLE_TIMEOUT);
    assert!(pool.is_empty(), "idle for the whole timeout: closed");
}
