//! The little HTTP/1.1 the bus speaks on its one port: parse a request head, answer /health and /metrics, refuse
//! or accept WebSocket upgrades (RFC 6455 section 4.2). Every plain response closes the connection.

use sha1::{Digest, Sha1};

/// Largest request head accepted.
pub const MAX_HEAD: usize = 8 * 1024;
const MAX_HEADERS: usize = 48;

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

#[derive(Debug)]
pub struct Head {
    pub method: Method,
    pub route: Route,
    /// `Upgrade: websocket` and `Connection: upgrade` present.
    pub upgrade: bool,
    pub version_13: bool,
    pub key: Option<String>,
    /// Length of the head; bytes after it are already WebSocket frames.
    pub len: usize,
}

/// Parses a complete head from buf: Ok(None) when more bytes are needed, Err(status) for a bad one.
pub fn parse(buf: &[u8]) -> Result<Option<Head>, u16> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let n = match req.parse(buf) {
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => return Err(431),
        Ok(httparse::Status::Partial) => return Ok(None),
        Ok(httparse::Status::Complete(n)) => n,
        Err(httparse::Error::TooManyHeaders) => return Err(431),
        Err(_) => return Err(400),
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
    Ok(Some(Head { method, route, upgrade: up_ws && conn_up, version_13, key, len: n }))
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

/// A complete response that closes the connection. With `head_only` the body is left out (HEAD).
pub fn response(status: u16, content_type: &str, extra_headers: &str, body: &[u8], head_only: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra_headers}Connection: close\r\n\r\n",
        reason(status),
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

/// The 101 response accepting a WebSocket upgrade with Sec-WebSocket-Key `key`.
pub fn switching_protocols(key: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key)
    )
    .into_bytes()
}

/// Sec-WebSocket-Accept: base64(SHA-1(key + GUID)).
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64(&h.finalize())
}

fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for k in 0..4 {
            if k <= c.len() {
                s.push(A[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upgrade() {
        let req = b"GET /ws?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n\x81";
        let h = parse(req).unwrap().unwrap();
        assert_eq!((h.method, h.route, h.upgrade, h.version_13), (Method::Get, Route::Ws, true, true));
        assert_eq!(h.len, req.len() - 1);
        // RFC 6455's example.
        assert_eq!(accept_key(h.key.as_deref().unwrap()), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert!(parse(b"GET /health HTTP/1.1\r\nHost: a\r\n").unwrap().is_none());
        let h = parse(b"POST /nope HTTP/1.1\r\n\r\n").unwrap().unwrap();
        assert_eq!((h.method, h.route, h.upgrade), (Method::Other, Route::Other, false));
        assert_eq!(parse(b"\x00\x01 garbage\r\n\r\n").unwrap_err(), 400);
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"a"), "YQ==");
    }
}
