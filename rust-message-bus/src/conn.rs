//! One TCP connection: HTTP routing, then for /ws a WebSocket session.
//!
//! The session drives tungstenite's WebSocket state machine directly over the non-blocking tokio socket
//! (try_read/try_write + readiness) instead of tokio-tungstenite's Stream: that Stream ends for good on any read
//! error, but the protocol wants a text frame with invalid UTF-8 answered with `malformed` and the connection
//! kept. One task per connection both reads and writes, which keeps the idle footprint small.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, WebSocket};

use crate::config::Config;
use crate::http::{self, Head, HeadError, Method, Route};
use crate::hub::{Hub, Out, Queue, Registration, Tx};
use crate::metrics::{Code, InType, OutType};
use crate::proto::{self, Request};

/// Time a client gets to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// tungstenite writes its buffer out once it holds more than this; small so idle connections stay small.
const WRITE_BUFFER: usize = 4 * 1024;
/// Messages handled (or frames written) per wake-up before the task looks at its other duties.
const BATCH: usize = 64;
/// How long a closing handshake may take (size-limit close and shutdown).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// State shared by all connections.
pub struct Shared {
    pub hub: Hub,
    pub cfg: Config,
    next_conn: AtomicU64,
}

impl Shared {
    /// The shared state, and the planted delay line's receiver when --plant-delay-ms is set (the caller runs it with
    /// Hub::run_delay_line).
    pub fn new(cfg: Config) -> (Self, Option<tokio::sync::mpsc::UnboundedReceiver<crate::hub::Delayed>>) {
        let (hub, line) = Hub::with_plant(cfg.plant_delay_ms, cfg.plant_drop_every);
        (Shared { hub, cfg, next_conn: AtomicU64::new(1) }, line)
    }
}

/// Serves one accepted TCP connection until it closes or the bus shuts down.
pub async fn serve(tcp: TcpStream, sh: Arc<Shared>, shutdown: watch::Receiver<bool>) {
    // The HTTP phase runs in its own allocation, freed once the handshake is done, so an open WebSocket's task
    // only keeps the session's state.
    let Some((tcp, leftover)) = Box::pin(http_phase(tcp, &sh)).await else { return };
    // http_phase took a connection slot for us; it is released when the session ends.
    let _slot = Slot(&sh);
    let conn = sh.next_conn.fetch_add(1, Relaxed);
    session(tcp, leftover, &sh, conn, shutdown).await;
}

/// Answers a plain HTTP request, or accepts a WebSocket upgrade and returns the socket with the bytes the client
/// sent after its request (holding one connection slot).
async fn http_phase(tcp: TcpStream, sh: &Shared) -> Option<(TcpStream, Vec<u8>)> {
    const TEXT: &str = "text/plain; charset=utf-8";
    let head = match http::read_head(&tcp, HEAD_TIMEOUT).await {
        Ok(h) => h,
        Err(HeadError::Gone) => {
            sh.hub.metrics.rejected_no_request_head.fetch_add(1, Relaxed);
            return None;
        }
        Err(HeadError::Status(s)) => {
            sh.hub.metrics.rejected_no_request_head.fetch_add(1, Relaxed);
            http::respond(tcp, s, TEXT, "", http::reason(s).as_bytes(), false).await;
            return None;
        }
    };
    let head_only = head.method == Method::Head;
    let readable = matches!(head.method, Method::Get | Method::Head);
    match head.route {
        Route::Health | Route::Metrics if !readable => method_not_allowed(tcp, "GET, HEAD").await,
        Route::Health => {
            let body = format!("{{\"status\":\"ok\",\"connections\":{}}}", sh.hub.metrics.connections.load(Relaxed));
            http::respond(tcp, 200, "application/json", "", body.as_bytes(), head_only).await
        }
        Route::Metrics => {
            let body = sh.hub.metrics.render(sh.hub.registered_agents());
            let ctype = "text/plain; version=0.0.4; charset=utf-8";
            http::respond(tcp, 200, ctype, "", body.as_bytes(), head_only).await
        }
        Route::Ws if head.method != Method::Get => method_not_allowed(tcp, "GET").await,
        Route::Ws => return upgrade(tcp, head, sh).await,
        Route::Other => http::respond(tcp, 404, TEXT, "", b"404 page not found\n", head_only).await,
    }
    None
}

async fn method_not_allowed(tcp: TcpStream, allow: &str) {
    let extra = format!("Allow: {allow}\r\n");
    http::respond(tcp, 405, "text/plain; charset=utf-8", &extra, b"method not allowed\n", false).await
}

/// A held WebSocket connection slot; released on drop.
struct Slot<'a>(&'a Shared);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.hub.metrics.connections.fetch_sub(1, Relaxed);
    }
}

async fn upgrade(tcp: TcpStream, head: Head, sh: &Shared) -> Option<(TcpStream, Vec<u8>)> {
    let m = &sh.hub.metrics;
    let max = sh.cfg.max_connections;
    // The capacity check comes before any handshake validation, as for the Go bus.
    if m.connections.fetch_update(Relaxed, Relaxed, |c| (c < max).then_some(c + 1)).is_err() {
        m.rejected_max_connections.fetch_add(1, Relaxed);
        http::respond(tcp, 503, "text/plain; charset=utf-8", "", b"too many connections\n", false).await;
        return None;
    }
    let slot = Slot(sh);
    let key = match (&head.key, head.upgrade, head.version_13) {
        (Some(k), true, true) => k,
        (_, _, version_13) => {
            let extra = if version_13 { "" } else { "Sec-WebSocket-Version: 13\r\n" };
            let body = b"not a WebSocket handshake (RFC 6455)\n";
            drop(slot);
            http::respond(tcp, 400, "text/plain; charset=utf-8", extra, body, false).await;
            return None;
        }
    };
    let response = http::switching_protocols(key);
    write_all_now(&tcp, response.as_bytes()).await.ok()?;
    m.accepted.fetch_add(1, Relaxed);
    // serve takes the slot over.
    std::mem::forget(slot);
    Some((tcp, head.leftover))
}

async fn write_all_now(tcp: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !data.is_empty() {
        match tokio::time::timeout_at(deadline, tcp.writable()).await {
            Ok(r) => r?,
            Err(_) => return Err(io::ErrorKind::TimedOut.into()),
        }
        match tcp.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Blocking-style Read/Write over the non-blocking socket: WouldBlock tells tungstenite to come back later.
struct Io(TcpStream);

impl Read for Io {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for Io {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

type Ws = WebSocket<Io>;

fn would_block(e: &WsError) -> bool {
    matches!(e, WsError::Io(io) if io.kind() == io::ErrorKind::WouldBlock)
}

/// What reading left the session in.
enum Flow {
    /// Go on; `more` when a whole batch was handled and the socket may hold more.
    Open { more: bool },
    /// The peer sent a close frame: our reply is queued.
    PeerClosed,
    /// A message over the size limit.
    TooLarge,
    /// A frame that breaks RFC 6455 (unmasked, reserved bits or opcode, bad fragmentation or control frame, bad
    /// close body): close 1002, as the Go bus does.
    ProtocolError,
    /// The connection failed.
    Broken,
}

/// One registered-or-not WebSocket client. Dropping it releases its registration.
struct Client<'a> {
    sh: &'a Shared,
    conn: u64,
    tx: Tx,
    reg: Option<Registration>,
    /// After a fragment with invalid UTF-8 tungstenite forgets the message; its remaining fragments are skipped.
    skip_fragments: bool,
}

impl Drop for Client<'_> {
    fn drop(&mut self) {
        self.release();
    }
}

impl Client<'_> {
    fn release(&mut self) {
        if let Some(reg) = self.reg.take() {
            self.sh.hub.unregister(self.conn, &reg);
        }
    }

    fn reply(&self, frame: String, kind: OutType) {
        self.sh.hub.push(&self.tx, Out::Own(frame), kind);
    }

    fn error(&self, code: Code, seq: Option<&str>, message: &str) {
        self.sh.hub.metrics.error(code);
        self.reply(proto::error(code, seq, message), OutType::Error);
    }

    fn on_text(&mut self, text: &str) {
        let hub = &self.sh.hub;
        hub.metrics.bytes_in.fetch_add(text.len() as u64, Relaxed);
        let (in_type, parsed) = proto::parse(text);
        hub.metrics.message_in(in_type);
        let req = match parsed {
            Ok(r) => r,
            Err(rej) => return self.error(rej.code, rej.seq, &rej.message),
        };
        match req {
            Request::Ping { carry } => self.reply(proto::pong(&carry), OutType::Pong),
            Request::Register { id, groups, seq } => {
                if let Some(r) = &self.reg {
                    let msg = format!("already registered as {}", r.id_json);
                    return self.error(Code::AlreadyRegistered, seq, &msg);
                }
                match hub.register(self.conn, &self.tx, id, groups) {
                    Some(r) => {
                        self.reply(proto::registered(&r.id_json), OutType::Registered);
                        self.reg = Some(r);
                    }
                    None => self.error(Code::DuplicateId, seq, "id is held by another connection"),
                }
            }
            Request::Send { to, carry } => {
                let Some(reg) = &self.reg else { return self.error(Code::NotRegistered, carry.seq, "register first") };
                if !hub.send(reg, &to, &carry) {
                    self.error(Code::UnknownTarget, carry.seq, &format!("no agent with id {}", proto::quote(&to)));
                }
            }
            Request::Broadcast { carry } => {
                let Some(reg) = &self.reg else { return self.error(Code::NotRegistered, carry.seq, "register first") };
                hub.broadcast(self.conn, reg, &carry);
            }
            Request::Group { group, carry } => {
                let Some(reg) = &self.reg else { return self.error(Code::NotRegistered, carry.seq, "register first") };
                if !hub.group(self.conn, reg, &group, &carry) {
                    let msg = format!("no member of group {} other than the sender", proto::quote(&group));
                    self.error(Code::UnknownGroup, carry.seq, &msg);
                }
            }
        }
    }

    /// Handles what the socket has, up to a batch of messages.
    fn read_batch(&mut self, ws: &mut Ws) -> Flow {
        for _ in 0..BATCH {
            match ws.read() {
                Ok(Message::Text(t)) => {
                    self.skip_fragments = false;
                    self.on_text(&t);
                }
                Ok(Message::Binary(_)) => {
                    self.skip_fragments = false;
                    self.sh.hub.metrics.message_in(InType::Invalid);
                    self.error(Code::Malformed, None, "binary frames are not supported");
                }
                Ok(Message::Close(_)) => {
                    // Release the id before our close reply can reach the client.
                    self.release();
                    return Flow::PeerClosed;
                }
                Ok(_) => {} // ping (tungstenite queues the pong), pong
                Err(e) if would_block(&e) => return Flow::Open { more: false },
                Err(WsError::Utf8) => {
                    self.skip_fragments = true;
                    self.sh.hub.metrics.message_in(InType::Invalid);
                    self.error(Code::Malformed, None, "text frame is not valid UTF-8");
                }
                Err(WsError::Protocol(ProtocolError::UnexpectedContinueFrame)) if self.skip_fragments => {}
                Err(WsError::Capacity(_)) => return Flow::TooLarge,
                Err(WsError::Protocol(_)) => return Flow::ProtocolError,
                Err(_) => return Flow::Broken,
            }
        }
        Flow::Open { more: true }
    }
}

fn ws_config(cfg: &Config) -> WebSocketConfig {
    WebSocketConfig {
        max_message_size: Some(cfg.max_message_bytes),
        max_frame_size: Some(cfg.max_message_bytes),
        write_buffer_size: WRITE_BUFFER,
        max_write_buffer_size: usize::MAX,
        ..Default::default()
    }
}

async fn session(tcp: TcpStream, leftover: Vec<u8>, sh: &Shared, conn: u64, mut shutdown: watch::Receiver<bool>) {
    let mut ws = WebSocket::from_partially_read(Io(tcp), leftover, Role::Server, Some(ws_config(&sh.cfg)));
    let queue = Queue::new(sh.cfg.queue_len);
    let mut client = Client { sh, conn, tx: queue.clone(), reg: None, skip_fragments: false };
    // A connection accepted while shutdown began must not miss it: changed() only reports later changes.
    if *shutdown.borrow_and_update() {
        drop(client);
        return Box::pin(close(ws, CloseCode::Away)).await;
    }
    // tungstenite holds output the socket would not take: wait for writability, stop taking queued frames.
    let mut blocked = false;
    loop {
        let busy = match client.read_batch(&mut ws) {
            Flow::Open { more } => more,
            Flow::PeerClosed => {
                drop(client);
                return Box::pin(finish_peer_close(ws)).await;
            }
            Flow::TooLarge => {
                drop(client);
                sh.hub.metrics.error(Code::TooLarge);
                return Box::pin(close_and_linger(ws, CloseCode::Size)).await;
            }
            Flow::ProtocolError => {
                drop(client);
                return Box::pin(close_and_linger(ws, CloseCode::Protocol)).await;
            }
            Flow::Broken => return,
        };
        let mut n = 0;
        while !blocked && n < BATCH {
            let Some(out) = queue.try_pop() else { break };
            n += 1;
            match ws.write(Message::Text(out.into_string())) {
                Ok(()) => {}
                Err(e) if would_block(&e) => blocked = true, // the frame is buffered
                Err(_) => return,
            }
        }
        blocked = match ws.flush() {
            Ok(()) => false,
            Err(e) if would_block(&e) => true,
            Err(_) => return,
        };
        if busy || (!blocked && n == BATCH) {
            // More work is waiting: let other connections run first (try_read/try_write never yield by themselves).
            tokio::task::yield_now().await;
            if shutdown.has_changed().unwrap_or(true) {
                drop(client);
                return Box::pin(close(ws, CloseCode::Away)).await;
            }
            continue;
        }
        let interest = if blocked { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
        tokio::select! {
            biased;
            _ = shutdown.changed() => {
                drop(client);
                return Box::pin(close(ws, CloseCode::Away)).await;
            }
            r = ws.get_ref().0.ready(interest) => if r.is_err() { return },
            _ = queue.notified(), if !blocked => {}
        }
    }
}

/// Waits until the socket is ready for `interest` or the deadline passes; false on deadline or error.
async fn wait(ws: &Ws, interest: Interest, deadline: Instant) -> bool {
    matches!(tokio::time::timeout_at(deadline, ws.get_ref().0.ready(interest)).await, Ok(Ok(_)))
}

/// The client sent a close frame: send tungstenite's reply, then drop the connection.
async fn finish_peer_close(mut ws: Ws) {
    let deadline = Instant::now() + CLOSE_TIMEOUT;
    loop {
        match ws.flush() {
            Err(e) if would_block(&e) => {
                if !wait(&ws, Interest::WRITABLE, deadline).await {
                    return;
                }
            }
            // Ok cannot normally happen after a close; ConnectionClosed is the end of the handshake.
            _ => return,
        }
    }
}

/// Starts the closing handshake with `code` and waits (bounded) for the client's close.
async fn close(mut ws: Ws, code: CloseCode) {
    let deadline = Instant::now() + CLOSE_TIMEOUT;
    let mut blocked = match ws.close(Some(CloseFrame { code, reason: "".into() })) {
        Ok(()) => false,
        Err(e) if would_block(&e) => true,
        Err(_) => return,
    };
    loop {
        if blocked {
            blocked = match ws.flush() {
                Ok(()) => false,
                Err(e) if would_block(&e) => true,
                Err(_) => return,
            };
        }
        loop {
            match ws.read() {
                Ok(_) => {} // messages still in flight are ignored
                Err(e) if would_block(&e) => break,
                Err(_) => return, // ConnectionClosed: handshake done
            }
        }
        let interest = if blocked { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
        if !wait(&ws, interest, deadline).await {
            return;
        }
    }
}

/// Close `code` (1009 for a message over the limit, 1002 for a protocol error). The rest of the input cannot be
/// parsed past the offending frame, so after the close frame the socket is half-closed and drained raw until the
/// client closes.
async fn close_and_linger(mut ws: Ws, code: CloseCode) {
    let deadline = Instant::now() + CLOSE_TIMEOUT;
    let mut pending = match ws.close(Some(CloseFrame { code, reason: "".into() })) {
        Ok(()) => false,
        Err(e) if would_block(&e) => true,
        Err(_) => return,
    };
    while pending {
        if !wait(&ws, Interest::WRITABLE, deadline).await {
            return;
        }
        pending = match ws.flush() {
            Ok(()) => false,
            Err(e) if would_block(&e) => true,
            Err(_) => return,
        };
    }
    http::linger_close(&mut ws.get_mut().0, deadline).await;
}
