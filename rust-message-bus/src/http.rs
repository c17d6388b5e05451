//! The little HTTP/1.1 the bus speaks on its one port: read a request head, answer /health and /metrics, refuse
//! or accept WebSocket upgrades (RFC 6455 section 4.2). Every response closes the connection.

use std::io;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

/// Largest request head accepted.
const MAX_HEAD: usize = 8 * 1024;
const MAX_HEADERS: usize = 48;
/// A closing connection whose peer sends nothing for this long is dropped.
const LINGER_IDLE: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Ws,
    Health,
    Metrics,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Other,
}

/// What the bus needs from a request head; the raw buffer is gone by the time a WebSocket session starts.
#[derive(Debug)]
pub struct Head {
    pub method: Method,
    pub route: Route,
    /// `Upgrade: websocket` and `Connection: upgrade` present.
    pub upgrade: bool,
    pub version_13: bool,
    pub key: Option<String>,
    /// Bytes the client sent after the head (already WebSocket frames).
    pub leftover: Vec<u8>,
}

#[derive(Debug)]
pub enum HeadError {
    /// Connection closed, failed or timed out: nothing to answer.
    Gone,
    /// Answer with this status.
    Status(u16),
}

/// Reads one request head, waiting at most `limit`.
pub async fn read_head(tcp: &TcpStream, limit: Duration) -> Result<Head, HeadError> {
    match timeout(limit, read_head_inner(tcp)).await {
        Ok(r) => r,
        Err(_) => Err(HeadError::Gone),
    }
}

async fn read_head_inner(tcp: &TcpStream) -> Result<Head, HeadError> {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    loop {
        tcp.readable().await.map_err(|_| HeadError::Gone)?;
        let old = buf.len();
        if old == buf.capacity() {
            if old >= MAX_HEAD {
                return Err(HeadError::Status(431));
            }
            buf.reserve(old);
        }
        buf.resize(buf.capacity().min(MAX_HEAD), 0);
        match tcp.try_read(&mut buf[old..]) {
            Ok(0) => return Err(HeadError::Gone),
            Ok(n) => buf.truncate(old + n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                buf.truncate(old);
                continue;
            }
            Err(_) => return Err(HeadError::Gone),
        }
        if let Some(head) = parse(&buf)? {
            return Ok(head);
        }
    }
}

/// Parses a complete head from buf, or None if more bytes are needed.
fn parse(buf: &[u8]) -> Result<Option<Head>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let n = match req.parse(buf) {
        Ok(httparse::Status::Partial) => return Ok(None),
        Ok(httparse::Status::Complete(n)) => n,
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::Status(431)),
        Err(_) => return Err(HeadError::Status(400)),
    };
    let method = match req.method {
        Some("GET") => Method::Get,
        Some("HEAD") => Method::Head,
        _ => Method::Other,
    };
    let path = req.path.unwrap_or("");
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let route = match path {
        "/ws" => Route::Ws,
        "/health" => Route::Health,
        "/metrics" => Route::Metrics,
        _ => Route::Other,
    };
    let (mut up_ws, mut conn_up, mut version_13, mut key) = (false, false, false, None);
    for h in req.headers.iter() {
        let Ok(v) = std::str::from_utf8(h.value) else { continue };
        let has_token = |t: &str| v.split(',').any(|x| x.trim().eq_ignore_ascii_case(t));
        if h.name.eq_ignore_ascii_case("upgrade") {
            up_ws |= has_token("websocket");
        } else if h.name.eq_ignore_ascii_case("connection") {
            conn_up |= has_token("upgrade");
        } else if h.name.eq_ignore_ascii_case("sec-websocket-version") {
            version_13 = v.trim() == "13";
        } else if h.name.eq_ignore_ascii_case("sec-websocket-key") && !v.trim().is_empty() {
            key = Some(v.trim().to_string());
        }
    }
    Ok(Some(Head { method, route, upgrade: up_ws && conn_up, version_13, key, leftover: buf[n..].to_vec() }))
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Writes a complete response and closes the connection. With `head_only` the body is left out (HEAD).
pub async fn respond(
    mut tcp: TcpStream,
    status: u16,
    content_type: &str,
    extra_headers: &str,
    body: &[u8],
    head_only: bool,
) {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra_headers}Connection: close\r\n\r\n",
        reason(status),
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    if tokio::time::timeout_at(deadline, tcp.write_all(&out)).await.is_err() {
        return;
    }
    linger_close(&mut tcp, deadline).await;
}

/// Half-closes and reads until the peer closes, goes quiet for LINGER_IDLE, or the deadline passes, so unread
/// bytes from the client do not turn the close into a reset that could destroy the response (or close frame)
/// still in flight to it.
pub async fn linger_close(tcp: &mut TcpStream, deadline: Instant) {
    let _ = tokio::time::timeout_at(deadline, tcp.shutdown()).await;
    let mut scratch = vec![0u8; 2048];
    loop {
        let until = deadline.min(Instant::now() + LINGER_IDLE);
        match tokio::time::timeout_at(until, tcp.readable()).await {
            Ok(Ok(())) => {}
            _ => return,
        }
        match tcp.try_read(&mut scratch) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

/// The 101 response accepting a WebSocket upgrade with Sec-WebSocket-Key `key`.
pub fn switching_protocols(key: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upgrade() {
        let req = b"GET /ws?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n\x81";
        let h = parse(req).unwrap().unwrap();
        assert_eq!((h.method, h.route, h.upgrade, h.version_13), (Method::Get, Route::Ws, true, true));
        assert_eq!(h.leftover, b"\x81");
        // RFC 6455's example.
        assert!(switching_protocols(h.key.as_deref().unwrap()).contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        assert!(parse(b"GET /health HTTP/1.1\r\nHost: a\r\n").unwrap().is_none());
        let h = parse(b"POST /nope HTTP/1.1\r\n\r\n").unwrap().unwrap();
        assert_eq!((h.method, h.route, h.upgrade), (Method::Other, Route::Other, false));
        assert!(matches!(parse(b"\x00\x01 garbage\r\n\r\n"), Err(HeadError::Status(400))));
    }
}
