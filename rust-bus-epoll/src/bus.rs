//! The bus: one thread, one edge-triggered epoll loop over the listener, a signalfd and every connection.
//!
//! Why one thread: bus-load gives a bus one core (its cpuset), and gobus's netpoll transport then runs one poller
//! too; a single loop needs no lock, no atomic and no cross-thread wake-up on the routing path, which is what the
//! first Rust bus's profile paid for besides the kernel. The costs removed, by its profile (README.md):
//! - one write per frame (sendto ~59 % of its CPU): frames routed during one epoll batch are appended straight
//!   into the recipient's write buffer, already framed, and every recipient gets one write() per batch;
//! - serde_json (~12 %) and the String per delivered frame: the envelope scanner (envelope.rs) records the fields
//!   as slices of the frame, and a delivery is a few extend_from_slice calls into that buffer;
//! - tungstenite's copies and per-connection 4 KiB read chunk: a read takes up to 64 KiB of one socket into the
//!   loop's one read buffer, every complete frame in it is unmasked and handled in place, and only an incomplete
//!   frame's bytes are kept per connection (from a small pool).
//!
//! An idle registered connection holds its Conn (~200 bytes), its id twice, and its emptied write buffer.
//!
//! Queue semantics (docs/protocol.md, slow consumers) as gobus netpoll: `qn` counts the frames appended since the
//! last write began; a write takes all of them at once (they are then the socket's, as gobus's write batch), and
//! while that write is blocked on a full socket the next queue_len frames wait and further ones are dropped.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::IntoRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::envelope::{self, Envelope, MsgType, StrField};
use crate::frame::{self, OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT};
use crate::http::{self, Method, Route};
use crate::metrics::{Code, Metrics, Mode, OutType};

/// Writes a line to stderr, ignoring failure: eprintln! panics when stderr is gone (a closed pipe), and losing a
/// log line must not take the bus down.
macro_rules! log {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// The loop's read buffer: one read takes up to this much of one connection's input.
const READ_BUF: usize = 64 << 10;
/// Reads of one connection per event, so a flooding client does not starve the others; a connection with input
/// left is read again after the batch.
const READS_PER_EVENT: usize = 4;
const EVENTS: usize = 256;
/// A write buffer larger than this is freed once drained (a burst's memory is not kept by an idle connection).
const KEEP_OUT: usize = 16 << 10;
/// Beyond this many unwritten bytes, pongs to a socket that does not drain are dropped.
const MAX_CTRL_BACKLOG: usize = 1 << 20;
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing connection (close frame sent, or HTTP response written) may take to go away.
const LINGER: Duration = Duration::from_secs(2);
/// The bus exits this long after SIGTERM/SIGINT at the latest (the protocol allows 5 s).
const SHUTDOWN_GRACE: Duration = Duration::from_millis(4000);
/// How long the listener rests after accept ran out of descriptors or memory.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// The planted delay line holds at most this many deliveries; beyond it a delivery is dropped as planted (a planted
/// delay must not grow memory without bound).
const PLANT_LINE_LEN: usize = 1 << 16;

const TOKEN_LISTENER: u64 = u64::MAX;
const TOKEN_SIGNAL: u64 = u64::MAX - 1;

/// FxHash (rustc's): ids are short and the map is ours; SipHash's cost per lookup is not needed here.
#[derive(Default)]
struct Fx(u64);
impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517cc1b727220a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(c.try_into().unwrap())).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(K);
        }
    }
}
type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Reading the request head.
    Http,
    /// A WebSocket session.
    Ws,
    /// Going away: what is queued (a close frame or an HTTP response) is written, then the write side is shut;
    /// input is read and dropped until the peer closes or LINGER passes.
    Linger,
}

struct Reg {
    id: Box<[u8]>,
    id_json: Rc<[u8]>,
    groups: Vec<Box<[u8]>>,
    /// Index in Bus::all.
    all_idx: u32,
}

struct Conn {
    fd: i32,
    phase: Phase,
    /// epoll reported the peer's close or reset: read to the end.
    hup: bool,
    /// Bytes of a request head (Http) or of an incomplete frame (Ws).
    partial: Vec<u8>,
    /// A fragmented text message's payload so far.
    frag: Vec<u8>,
    /// Opcode of the fragmented message being received; OP_CONT when none.
    frag_op: u8,
    frag_len: usize,
    /// Framed bytes: out[off..taken] are being written, out[taken..] are queued (qn frames).
    out: Vec<u8>,
    off: usize,
    taken: usize,
    qn: u32,
    /// The socket refused bytes: wait for EPOLLOUT.
    blocked: bool,
    /// In Bus::woke.
    woken: bool,
    close_sent: bool,
    /// Shut the write side once out is written (Linger).
    shut_after_flush: bool,
    reg: Option<Box<Reg>>,
}

struct Group {
    name_json: Rc<[u8]>,
    /// Connection indices in registration order.
    members: Vec<u32>,
    cursor: usize,
}

/// Planted faults (Config::plant_*): test knobs for the lab's calibration, never tuning. They make this bus measurably
/// worse on purpose (issue 23) and touch msg deliveries only, never registered/pong/error frames.
#[derive(Default)]
struct Plant {
    /// Either knob is set: the routing path's one extra branch.
    on: bool,
    every: u64,
    /// msg deliveries seen, for the drop.
    n: u64,
    delay: Duration,
    /// The delay line: with one constant delay, arrival order is due order.
    line: VecDeque<Delayed>,
}

/// A msg delivery held by the planted delay: the frame, already framed, for connection idx of generation gen.
struct Delayed {
    due: Instant,
    idx: u32,
    gen: u32,
    frame: Vec<u8>,
    /// The frame's payload bytes (bus_bytes_out_total counts those).
    len: usize,
    mode: Mode,
}

/// What parsing a connection's input ended in.
enum End {
    /// Tear down now.
    Gone,
    /// A close frame is queued: unregister, write it, shut the write side, drop further input.
    Linger,
}

pub struct Bus {
    cfg: Config,
    epfd: i32,
    lfd: i32,
    sfd: i32,
    conns: Vec<Option<Box<Conn>>>,
    gens: Vec<u32>,
    free: Vec<u32>,
    agents: FxMap<Box<[u8]>, u32>,
    all: Vec<u32>,
    groups: FxMap<Box<[u8]>, Group>,
    pub m: Metrics,
    woke: Vec<u32>,
    again: Vec<u32>,
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    rbuf: Vec<u8>,
    scratch: Vec<u8>,
    pool: Vec<Vec<u8>>,
    stopping: Option<Instant>,
    /// accept failed for want of resources: the listener is out of the epoll set until then.
    accept_paused: Option<Instant>,
    plant: Plant,
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Runs the bus until SIGTERM/SIGINT; the process exit code.
pub fn main(cfg: Config) -> i32 {
    let (lfd, local) = match bind(&cfg.addr) {
        Ok(l) => l,
        Err(e) => {
            log!("rust-bus-epoll: listen on {}: {e}", cfg.addr);
            return 1;
        }
    };
    let mut bus = match Bus::new(cfg, lfd) {
        Ok(b) => b,
        Err(e) => {
            log!("rust-bus-epoll: {e}");
            return 1;
        }
    };
    log!(
        "rust-bus-epoll listening on {local} (max-message-bytes={} queue-len={} max-connections={})",
        bus.cfg.max_message_bytes, bus.cfg.queue_len, bus.cfg.max_connections
    );
    if bus.plant.on {
        log!(
            "rust-bus-epoll: PLANTED FAULTS (calibration, not tuning): delay {} ms per msg, drop every {}",
            bus.cfg.plant_delay_ms, bus.cfg.plant_drop_every
        );
    }
    bus.run();
    log!("rust-bus-epoll: shut down");
    0
}

/// Listens on a Go-style address: ":port" (all interfaces, dual-stack when IPv6 exists), "ip:port", "[v6]:port"
/// or "host:port". Returns the non-blocking listening socket and its address (port 0 resolved).
fn bind(addr: &str) -> io::Result<(i32, SocketAddr)> {
    let bad = || io::Error::new(io::ErrorKind::InvalidInput, format!("bad address {addr:?}: want host:port"));
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let candidates: Vec<SocketAddr> = if host.is_empty() {
        vec![(std::net::Ipv6Addr::UNSPECIFIED, port).into(), (std::net::Ipv4Addr::UNSPECIFIED, port).into()]
    } else {
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        (host, port).to_socket_addrs()?.collect()
    };
    let mut first_err = None;
    for a in candidates {
        match std::net::TcpListener::bind(a) {
            Ok(l) => {
                l.set_nonblocking(true)?;
                let local = l.local_addr()?;
                let fd = l.into_raw_fd();
                // std listens with a backlog of 128; a ramp of thousands of agents needs more.
                // SAFETY: fd is a listening socket we own.
                unsafe { libc::listen(fd, 4096) };
                return Ok((fd, local));
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(bad))
}

impl Bus {
    fn new(cfg: Config, lfd: i32) -> io::Result<Bus> {
        // SAFETY: plain system calls on descriptors we own; the sigset is initialised by sigemptyset.
        unsafe {
            let epfd = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            if epfd < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            let sfd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
            if sfd < 0 {
                return Err(io::Error::last_os_error());
            }
            let plant = Plant {
                on: cfg.plant_delay_ms > 0 || cfg.plant_drop_every > 0,
                every: cfg.plant_drop_every,
                delay: Duration::from_millis(cfg.plant_delay_ms),
                ..Plant::default()
            };
            let bus = Bus {
                cfg,
                plant,
                epfd,
                lfd,
                sfd,
                conns: Vec::new(),
                gens: Vec::new(),
                free: Vec::new(),
                agents: FxMap::default(),
                all: Vec::new(),
                groups: FxMap::default(),
                m: Metrics::default(),
                woke: Vec::new(),
                again: Vec::new(),
                timers: BinaryHeap::new(),
                rbuf: vec![0; READ_BUF],
                scratch: Vec::with_capacity(4096),
                pool: Vec::new(),
                stopping: None,
                accept_paused: None,
            };
            bus.ctl(libc::EPOLL_CTL_ADD, lfd, libc::EPOLLIN as u32, TOKEN_LISTENER)?;
            bus.ctl(libc::EPOLL_CTL_ADD, sfd, libc::EPOLLIN as u32, TOKEN_SIGNAL)?;
            Ok(bus)
        }
    }

    fn ctl(&self, op: i32, fd: i32, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: ev lives across the call.
        if unsafe { libc::epoll_ctl(self.epfd, op, fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn run(&mut self) {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS];
        loop {
            let timeout = self.timeout();
            // SAFETY: events has EVENTS entries.
            let n = unsafe { libc::epoll_wait(self.epfd, events.as_mut_ptr(), EVENTS as i32, timeout) };
            if n < 0 && errno() != libc::EINTR {
                log!("rust-bus-epoll: epoll_wait: {}", io::Error::last_os_error());
                std::thread::sleep(Duration::from_millis(10));
            }
            for ev in &events[..n.max(0) as usize] {
                let (token, bits) = (ev.u64, ev.events);
                match token {
                    TOKEN_LISTENER => self.accept_all(),
                    TOKEN_SIGNAL => self.on_signal(),
                    _ => {
                        let (idx, gen) = (token as u32, (token >> 32) as u32);
                        if !self.alive(idx, gen) {
                            continue;
                        }
                        if bits & libc::EPOLLOUT as u32 != 0 && self.conn(idx).blocked {
                            self.conn(idx).blocked = false;
                            self.flush(idx);
                        }
                        let rd = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
                        if bits & rd != 0 && self.alive(idx, gen) {
                            let hup = bits & (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0;
                            self.readable(idx, hup);
                        }
                    }
                }
            }
            if !self.again.is_empty() {
                let again = std::mem::take(&mut self.again);
                for &idx in &again {
                    if self.conns[idx as usize].is_some() {
                        self.readable(idx, false);
                    }
                }
            }
            if !self.plant.line.is_empty() {
                self.release_delayed();
            }
            self.flush_woken();
            self.fire_timers();
            if let Some(deadline) = self.stopping {
                if self.m.connections == 0 || Instant::now() >= deadline {
                    return;
                }
            }
        }
    }

    fn timeout(&self) -> i32 {
        if !self.again.is_empty() {
            return 0;
        }
        let next = self.timers.peek().map(|Reverse((t, _, _))| *t);
        let held = self.plant.line.front().map(|d| d.due);
        let next = [next, self.stopping, self.accept_paused, held].into_iter().flatten().min();
        match next {
            None => -1,
            Some(t) => t.saturating_duration_since(Instant::now()).as_millis().min(60_000) as i32 + 1,
        }
    }

    fn fire_timers(&mut self) {
        if let Some(t) = self.accept_paused {
            if Instant::now() >= t && self.lfd >= 0 {
                self.accept_paused = None;
                let _ = self.ctl(libc::EPOLL_CTL_ADD, self.lfd, libc::EPOLLIN as u32, TOKEN_LISTENER);
            }
        }
        if self.timers.is_empty() {
            return;
        }
        let now = Instant::now();
        while let Some(&Reverse((t, idx, gen))) = self.timers.peek() {
            if t > now {
                break;
            }
            self.timers.pop();
            if self.alive(idx, gen) && self.conn(idx).phase != Phase::Ws {
                self.teardown(idx);
            }
        }
    }

    fn alive(&self, idx: u32, gen: u32) -> bool {
        self.conns.get(idx as usize).is_some_and(Option::is_some) && self.gens[idx as usize] == gen
    }

    #[inline]
    fn conn(&mut self, idx: u32) -> &mut Conn {
        self.conns[idx as usize].as_mut().expect("live connection")
    }

    fn token(&self, idx: u32) -> u64 {
        (self.gens[idx as usize] as u64) << 32 | idx as u64
    }

    fn on_signal(&mut self) {
        let mut info = [0u8; 128];
        // SAFETY: reads at most 128 bytes (one signalfd_siginfo) into info.
        while unsafe { libc::read(self.sfd, info.as_mut_ptr().cast(), info.len()) } > 0 {}
        if self.stopping.is_some() {
            return;
        }
        log!("rust-bus-epoll: shutting down");
        self.stopping = Some(Instant::now() + SHUTDOWN_GRACE);
        // SAFETY: our listening socket; closing it also leaves the epoll set.
        unsafe { libc::close(self.lfd) };
        self.lfd = -1;
        for idx in 0..self.conns.len() as u32 {
            let Some(c) = self.conns[idx as usize].as_ref() else { continue };
            if c.phase == Phase::Ws {
                // Close 1001 after what is queued; the session ends when the peer answers (or at the deadline).
                self.send_control(idx, OP_CLOSE, &1001u16.to_be_bytes());
            } else {
                self.teardown(idx);
            }
        }
    }

    fn accept_all(&mut self) {
        loop {
            // SAFETY: accept4 with null address pointers.
            let fd = unsafe {
                libc::accept4(self.lfd, std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
            };
            if fd < 0 {
                match errno() {
                    libc::EINTR | libc::ECONNABORTED => continue,
                    libc::EAGAIN => return,
                    // Out of descriptors or memory: the level-triggered listener would report the same pending
                    // connection at once, for ever. Leave it out of the set for a moment instead of spinning.
                    _ => {
                        let _ = self.ctl(libc::EPOLL_CTL_DEL, self.lfd, 0, TOKEN_LISTENER);
                        self.accept_paused = Some(Instant::now() + ACCEPT_BACKOFF);
                        return;
                    }
                }
            }
            let one: libc::c_int = 1;
            // SAFETY: fd is the socket just accepted; one outlives the call.
            unsafe {
                libc::setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, (&one as *const libc::c_int).cast(), 4);
            }
            let c = Box::new(Conn {
                fd,
                phase: Phase::Http,
                hup: false,
                partial: Vec::new(),
                frag: Vec::new(),
                frag_op: OP_CONT,
                frag_len: 0,
                out: Vec::new(),
                off: 0,
                taken: 0,
                qn: 0,
                blocked: false,
                woken: false,
                close_sent: false,
                shut_after_flush: false,
                reg: None,
            });
            let idx = match self.free.pop() {
                Some(i) => {
                    self.conns[i as usize] = Some(c);
                    i
                }
                None => {
                    self.conns.push(Some(c));
                    self.gens.push(0);
                    (self.conns.len() - 1) as u32
                }
            };
            let ev = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
            if self.ctl(libc::EPOLL_CTL_ADD, fd, ev, self.token(idx)).is_err() {
                self.teardown(idx);
                continue;
            }
            self.timers.push(Reverse((Instant::now() + HEAD_TIMEOUT, idx, self.gens[idx as usize])));
        }
    }

    /// Releases everything the connection holds and closes its socket.
    fn teardown(&mut self, idx: u32) {
        self.unregister(idx);
        let Some(c) = self.conns[idx as usize].take() else { return };
        match c.phase {
            Phase::Ws => self.m.connections -= 1,
            // Closed (by the client, an error or HEAD_TIMEOUT) before a request head was complete.
            Phase::Http => self.m.rejected_no_request_head += 1,
            Phase::Linger => {}
        }
        // SAFETY: the connection's own socket; closing it also leaves the epoll set.
        unsafe { libc::close(c.fd) };
        let c = *c;
        for b in [c.partial, c.frag] {
            self.recycle(b);
        }
        self.gens[idx as usize] = self.gens[idx as usize].wrapping_add(1);
        self.free.push(idx);
    }

    fn recycle(&mut self, mut b: Vec<u8>) {
        if b.capacity() > 0 && b.capacity() <= 2 * READ_BUF && self.pool.len() < 64 {
            b.clear();
            self.pool.push(b);
        }
    }

    fn pooled(&mut self) -> Vec<u8> {
        self.pool.pop().unwrap_or_default()
    }

    // ---- reading ----

    fn readable(&mut self, idx: u32, hup: bool) {
        let c = self.conn(idx);
        c.hup |= hup;
        match c.phase {
            Phase::Http => self.read_head(idx),
            Phase::Ws => self.read_ws(idx),
            Phase::Linger => self.read_discard(idx),
        }
    }

    /// Reads into the loop's buffer: Ok(n > 0), Ok(0) for nothing now (EAGAIN), Err for EOF or a failure.
    fn read_into(fd: i32, buf: &mut [u8]) -> Result<usize, ()> {
        loop {
            // SAFETY: buf is valid for writes of its length.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                return Ok(n as usize);
            }
            if n == 0 {
                return Err(());
            }
            match errno() {
                libc::EINTR => continue,
                libc::EAGAIN => return Ok(0),
                _ => return Err(()),
            }
        }
    }

    fn read_discard(&mut self, idx: u32) {
        let fd = self.conn(idx).fd;
        let mut buf = std::mem::take(&mut self.rbuf);
        let r = loop {
            match Self::read_into(fd, &mut buf) {
                Ok(0) => break Ok(()),
                Ok(_) => {}
                Err(()) => break Err(()),
            }
        };
        self.rbuf = buf;
        if r.is_err() {
            // What is still queued (a response, a close frame) goes out before the socket closes, best effort.
            self.flush(idx);
            self.teardown(idx);
        }
    }

    fn read_head(&mut self, idx: u32) {
        let c = self.conn(idx);
        let fd = c.fd;
        let mut head = std::mem::take(&mut c.partial);
        loop {
            if head.capacity() - head.len() < 1024 {
                head.reserve(2048.min(http::MAX_HEAD + 1 - head.len()).max(1));
            }
            let len = head.len();
            head.resize(head.capacity().min(http::MAX_HEAD + 1), 0);
            match Self::read_into(fd, &mut head[len..]) {
                Ok(n) => head.truncate(len + n),
                Err(()) => {
                    self.teardown(idx);
                    return;
                }
            }
            if head.len() == len {
                break; // EAGAIN
            }
            if head.len() > http::MAX_HEAD {
                break;
            }
        }
        match http::parse(&head) {
            Ok(None) if head.len() <= http::MAX_HEAD => self.conn(idx).partial = head,
            Ok(None) => {
                self.m.rejected_no_request_head += 1;
                self.respond(idx, 431, "", http::reason(431).as_bytes(), false)
            }
            Err(status) => {
                self.m.rejected_no_request_head += 1;
                self.respond(idx, status, "", http::reason(status).as_bytes(), false)
            }
            Ok(Some(h)) => self.on_request(idx, h, head),
        }
    }

    fn on_request(&mut self, idx: u32, h: http::Head, buf: Vec<u8>) {
        let head_only = h.method == Method::Head;
        let readable = matches!(h.method, Method::Get | Method::Head);
        match h.route {
            Route::Health | Route::Metrics if !readable => self.method_not_allowed(idx, "GET, HEAD"),
            Route::Health => {
                let body = format!("{{\"status\":\"ok\",\"connections\":{}}}", self.m.connections);
                self.respond_typed(idx, 200, "application/json", "", body.as_bytes(), head_only)
            }
            Route::Metrics => {
                let body = self.m.render(self.agents.len());
                self.respond_typed(idx, 200, "text/plain; version=0.0.4; charset=utf-8", "", body.as_bytes(), head_only)
            }
            Route::Ws if h.method != Method::Get => self.method_not_allowed(idx, "GET"),
            Route::Ws => self.upgrade(idx, h, buf),
            Route::Other => self.respond(idx, 404, "", b"404 page not found\n", head_only),
        }
    }

    fn method_not_allowed(&mut self, idx: u32, allow: &str) {
        let extra = format!("Allow: {allow}\r\n");
        self.respond(idx, 405, &extra, b"method not allowed\n", false)
    }

    fn respond(&mut self, idx: u32, status: u16, extra: &str, body: &[u8], head_only: bool) {
        self.respond_typed(idx, status, "text/plain; charset=utf-8", extra, body, head_only)
    }

    /// Writes a complete response, then lingers: write side shut, input dropped until the client closes.
    fn respond_typed(&mut self, idx: u32, status: u16, ctype: &str, extra: &str, body: &[u8], head_only: bool) {
        let r = http::response(status, ctype, extra, body, head_only);
        let c = self.conn(idx);
        c.partial = Vec::new();
        c.out.extend_from_slice(&r);
        c.taken = c.out.len();
        self.linger(idx);
    }

    fn linger(&mut self, idx: u32) {
        let gen = self.gens[idx as usize];
        let c = self.conn(idx);
        c.phase = Phase::Linger;
        c.shut_after_flush = true;
        self.timers.push(Reverse((Instant::now() + LINGER, idx, gen)));
        self.wake(idx);
        // Input already buffered is dropped now (edge-triggered: it would not be reported again).
        self.again.push(idx);
    }

    fn upgrade(&mut self, idx: u32, h: http::Head, buf: Vec<u8>) {
        // The capacity check comes before any handshake validation, as for the Go bus.
        if self.m.connections as usize >= self.cfg.max_connections {
            self.m.rejected_max_connections += 1;
            return self.respond(idx, 503, "", b"too many connections\n", false);
        }
        let key = match (&h.key, h.upgrade, h.version_13) {
            (Some(k), true, true) => k,
            (_, _, version_13) => {
                let extra = if version_13 { "" } else { "Sec-WebSocket-Version: 13\r\n" };
                return self.respond(idx, 400, extra, b"not a WebSocket handshake (RFC 6455)\n", false);
            }
        };
        let resp = http::switching_protocols(key);
        self.m.connections += 1;
        self.m.accepted += 1;
        let c = self.conn(idx);
        c.phase = Phase::Ws;
        c.out.extend_from_slice(&resp);
        c.taken = c.out.len();
        // The head's buffer is not kept: an idle session holds no read buffer.
        let leftover = buf[h.len..].to_vec();
        drop(buf);
        self.wake(idx);
        if !leftover.is_empty() {
            self.conn(idx).partial = leftover;
            let mut data = std::mem::take(&mut self.conn(idx).partial);
            let len = data.len();
            if !self.ws_input(idx, &mut data, len, true) {
                return;
            }
        }
        if self.conn(idx).hup {
            self.again.push(idx);
        }
    }

    fn read_ws(&mut self, idx: u32) {
        for _ in 0..READS_PER_EVENT {
            let c = self.conn(idx);
            let fd = c.fd;
            let hup = c.hup;
            let plen = c.partial.len();
            let (mut data, own, len, full) = if plen > READ_BUF / 2 {
                // A large message in pieces: read after it, into its own buffer (not zeroed first).
                let mut p = std::mem::take(&mut c.partial);
                p.reserve(32 << 10);
                let spare = p.capacity() - plen;
                // SAFETY: reads into the vector's spare capacity, then exposes only the bytes read.
                let r = Self::read_into(fd, unsafe { std::slice::from_raw_parts_mut(p.as_mut_ptr().add(plen), spare) });
                match r {
                    Ok(0) => {
                        self.conn(idx).partial = p;
                        return;
                    }
                    Ok(n) => {
                        // SAFETY: n bytes after plen were written by read.
                        unsafe { p.set_len(plen + n) };
                        (p, true, plen + n, n == spare)
                    }
                    Err(()) => {
                        self.recycle(p);
                        return self.teardown(idx);
                    }
                }
            } else {
                // The usual case: an incomplete frame's few bytes go first into the loop's buffer, the read after.
                let mut b = std::mem::take(&mut self.rbuf);
                let c = self.conns[idx as usize].as_mut().expect("live connection");
                b[..plen].copy_from_slice(&c.partial);
                match Self::read_into(fd, &mut b[plen..]) {
                    Ok(0) => {
                        self.rbuf = b;
                        return;
                    }
                    Ok(n) => {
                        let p = std::mem::take(&mut c.partial);
                        self.recycle(p);
                        (b, false, plen + n, n == READ_BUF - plen)
                    }
                    Err(()) => {
                        self.rbuf = b;
                        return self.teardown(idx);
                    }
                }
            };
            let ok = self.ws_input(idx, &mut data, len, own);
            if !own {
                self.rbuf = data;
            }
            if !ok {
                return;
            }
            if !full && !hup {
                return; // drained: edge-triggered epoll reports new input
            }
        }
        self.again.push(idx);
    }

    /// Handles the complete frames in data[..len]; the rest is kept as the connection's partial frame. own: data
    /// is the connection's partial buffer (handed back or recycled here). False when the session ended.
    fn ws_input(&mut self, idx: u32, data: &mut Vec<u8>, len: usize, own: bool) -> bool {
        let (used, end) = self.parse(idx, &mut data[..len]);
        if let Some(end) = end {
            if own {
                self.recycle(std::mem::take(data));
            }
            match end {
                End::Gone => self.teardown(idx),
                End::Linger => {
                    self.unregister(idx);
                    self.m.connections -= 1;
                    self.linger(idx);
                }
            }
            return false;
        }
        let rest = len - used;
        if rest == 0 {
            if own {
                let b = std::mem::take(data);
                self.recycle(b);
            }
        } else if own {
            data.copy_within(used..len, 0);
            data.truncate(rest);
            self.conn(idx).partial = std::mem::take(data);
        } else {
            let mut p = self.pooled();
            p.extend_from_slice(&data[used..len]);
            self.conn(idx).partial = p;
        }
        true
    }

    /// Handles the complete frames at the start of b (unmasking them in place): the bytes they took, and how the
    /// session ended if it did (any close frame it calls for is queued).
    fn parse(&mut self, idx: u32, b: &mut [u8]) -> (usize, Option<End>) {
        let mut off = 0;
        loop {
            let h = match frame::header(&b[off..]) {
                Ok(Some(h)) => h,
                Ok(None) => return (off, None),
                Err(why) => return (off, Some(self.protocol_error(idx, why))),
            };
            let c = self.conn(idx);
            match h.op {
                OP_CONT if c.frag_op == OP_CONT => {
                    return (off, Some(self.protocol_error(idx, "continuation after final message frame")))
                }
                OP_TEXT | OP_BINARY if c.frag_op != OP_CONT => {
                    return (off, Some(self.protocol_error(idx, "message start before final message frame")))
                }
                _ => {}
            }
            if h.op < 0x8 {
                let total = h.len + if h.op == OP_CONT { c.frag_len as u64 } else { 0 };
                if total > self.cfg.max_message_bytes as u64 {
                    // Close 1009 as soon as the header says so; nothing of the message is handled.
                    self.m.errors[Code::TooLarge as usize] += 1;
                    self.send_control(idx, OP_CLOSE, &1009u16.to_be_bytes());
                    return (off, Some(End::Linger));
                }
            }
            let end = off as u64 + h.hl as u64 + h.len;
            if (b.len() as u64) < end {
                return (off, None);
            }
            let end = end as usize;
            let payload = &mut b[off + h.hl..end];
            frame::unmask(payload, h.mask);
            off = end;
            let payload = &*payload;
            let c = self.conn(idx);
            if c.close_sent {
                // After our close frame (shutdown) only the peer's close matters.
                if h.op == OP_CLOSE {
                    return (off, Some(End::Gone));
                }
                continue;
            }
            match h.op {
                OP_TEXT | OP_BINARY if h.fin => {
                    if h.op == OP_TEXT {
                        self.on_text(idx, payload);
                    } else {
                        self.malformed(idx, None, "binary frames are not part of the protocol");
                    }
                }
                OP_TEXT | OP_BINARY => {
                    c.frag_op = h.op;
                    c.frag_len = payload.len();
                    if h.op == OP_TEXT {
                        let mut f = self.pooled();
                        f.extend_from_slice(payload);
                        self.conn(idx).frag = f;
                    }
                }
                OP_CONT => {
                    c.frag_len += payload.len();
                    if c.frag_op == OP_TEXT {
                        c.frag.extend_from_slice(payload);
                    }
                    if h.fin {
                        let op = c.frag_op;
                        c.frag_op = OP_CONT;
                        c.frag_len = 0;
                        let f = std::mem::take(&mut c.frag);
                        if op == OP_TEXT {
                            self.on_text(idx, &f);
                        } else {
                            self.malformed(idx, None, "binary frames are not part of the protocol");
                        }
                        self.recycle(f);
                    }
                }
                OP_PING => self.send_control(idx, OP_PONG, payload),
                OP_PONG => {}
                _ => return (off, Some(self.on_close(idx, payload))), // OP_CLOSE
            }
        }
    }

    /// Answers a close frame as gobus does: the peer's code echoed (none for none); invalid payloads are
    /// protocol errors (1002).
    fn on_close(&mut self, idx: u32, payload: &[u8]) -> End {
        match payload.len() {
            0 => self.send_control(idx, OP_CLOSE, &[]),
            1 => return self.protocol_error(idx, "invalid close frame"),
            _ => {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                if !frame::valid_close_code(code) {
                    return self.protocol_error(idx, "invalid close code");
                }
                if std::str::from_utf8(&payload[2..]).is_err() {
                    return self.protocol_error(idx, "invalid utf8 payload in close frame");
                }
                self.send_control(idx, OP_CLOSE, &payload[..2]);
            }
        }
        End::Linger
    }

    fn protocol_error(&mut self, idx: u32, why: &str) -> End {
        let mut p = 1002u16.to_be_bytes().to_vec();
        p.extend_from_slice(&why.as_bytes()[..why.len().min(frame::MAX_CONTROL - 2)]);
        self.send_control(idx, OP_CLOSE, &p);
        End::Linger
    }

    // ---- writing ----

    fn wake(&mut self, idx: u32) {
        let c = self.conn(idx);
        if !c.woken && !c.blocked {
            c.woken = true;
            self.woke.push(idx);
        }
    }

    fn flush_woken(&mut self) {
        // Flushing never wakes anyone, so the list cannot grow while it is walked.
        let woke = std::mem::take(&mut self.woke);
        for &idx in &woke {
            if let Some(c) = self.conns[idx as usize].as_mut() {
                c.woken = false;
                if !c.blocked {
                    self.flush(idx);
                }
            }
        }
        let mut woke = woke;
        woke.clear();
        if self.woke.is_empty() && woke.capacity() <= 65536 {
            self.woke = woke;
        }
    }

    /// Writes what the socket takes: the bytes being written, then everything queued, one write() each.
    fn flush(&mut self, idx: u32) {
        let c = self.conn(idx);
        loop {
            if c.off == c.taken {
                if c.taken == c.out.len() {
                    // Everything written.
                    if c.out.capacity() > KEEP_OUT {
                        c.out = Vec::new();
                    } else {
                        c.out.clear();
                    }
                    c.off = 0;
                    c.taken = 0;
                    if c.shut_after_flush {
                        c.shut_after_flush = false;
                        // SAFETY: the connection's own socket.
                        unsafe { libc::shutdown(c.fd, libc::SHUT_WR) };
                    }
                    return;
                }
                // Take every queued frame for this write: they are the socket's from here on.
                c.taken = c.out.len();
                c.qn = 0;
            }
            // SAFETY: out[off..taken] is initialised memory.
            let n = unsafe { libc::write(c.fd, c.out.as_ptr().add(c.off).cast(), c.taken - c.off) };
            if n >= 0 {
                c.off += n as usize;
                continue;
            }
            match errno() {
                libc::EINTR => continue,
                libc::EAGAIN => {
                    c.blocked = true;
                    if c.off >= 64 << 10 {
                        // Keep a blocked buffer from holding what is already written.
                        c.out.drain(..c.off);
                        c.taken -= c.off;
                        c.off = 0;
                    }
                    return;
                }
                _ => {
                    // The peer is gone: the read side sees it and tears down.
                    c.out = Vec::new();
                    c.off = 0;
                    c.taken = 0;
                    c.qn = 0;
                    // SAFETY: the connection's own socket.
                    unsafe { libc::shutdown(c.fd, libc::SHUT_RDWR) };
                    self.again.push(idx);
                    return;
                }
            }
        }
    }

    /// Queues a control frame after what is queued (not counted against queue_len); nothing after a close.
    fn send_control(&mut self, idx: u32, op: u8, payload: &[u8]) {
        let c = self.conn(idx);
        if c.close_sent {
            return;
        }
        if op == OP_PONG && c.out.len() - c.off > MAX_CTRL_BACKLOG {
            self.m.dropped_pong += 1;
            return;
        }
        if op == OP_CLOSE {
            c.close_sent = true;
        }
        frame::append_header(&mut c.out, op, payload.len());
        c.out.extend_from_slice(payload);
        self.wake(idx);
    }

    /// Queues one text frame made of parts to connection j, or drops it (counted) when its queue is full.
    #[inline]
    fn enqueue(&mut self, j: u32, parts: &[&[u8]], kind: OutType) -> bool {
        self.push_out(j, kind, |out| append_text_frame(out, parts))
    }

    /// The queueing of enqueue and enqueue_framed: write appends the frame to the connection's write buffer and
    /// returns its length; nothing after a close frame, and a full queue drops the frame (counted).
    #[inline]
    fn push_out(&mut self, j: u32, kind: OutType, write: impl FnOnce(&mut Vec<u8>) -> usize) -> bool {
        let qlen = self.cfg.queue_len as u32;
        let c = self.conns[j as usize].as_mut().expect("live connection");
        if c.close_sent || c.phase != Phase::Ws {
            return false;
        }
        if c.qn >= qlen {
            self.m.dropped_slow_consumer += 1;
            return false;
        }
        let len = write(&mut c.out);
        c.qn += 1;
        if !c.woken && !c.blocked {
            c.woken = true;
            self.woke.push(j);
        }
        self.m.messages_out[kind as usize] += 1;
        self.m.bytes_out += len as u64;
        true
    }

    /// Queues one msg delivery to connection j, counted by mode, unless a planted fault takes it (dropped, or held
    /// on the delay line and queued, and counted, when due).
    #[inline]
    fn deliver(&mut self, j: u32, parts: &[&[u8]], mode: Mode) {
        if self.plant.on {
            return self.deliver_planted(j, parts, mode);
        }
        if self.enqueue(j, parts, OutType::Msg) {
            self.m.deliveries[mode as usize] += 1;
        }
    }

    #[cold]
    fn deliver_planted(&mut self, j: u32, parts: &[&[u8]], mode: Mode) {
        self.plant.n += 1;
        let (every, delay) = (self.plant.every, self.plant.delay);
        if (every > 0 && self.plant.n.is_multiple_of(every)) || self.plant.line.len() >= PLANT_LINE_LEN {
            self.m.dropped_planted += 1;
            return;
        }
        if delay.is_zero() {
            if self.enqueue(j, parts, OutType::Msg) {
                self.m.deliveries[mode as usize] += 1;
            }
            return;
        }
        let mut frame = Vec::new();
        let len = append_text_frame(&mut frame, parts);
        let (due, gen) = (Instant::now() + delay, self.gens[j as usize]);
        self.plant.line.push_back(Delayed { due, idx: j, gen, frame, len, mode });
    }

    /// Queues the delay line's deliveries that are due, in order, to the connections still there.
    fn release_delayed(&mut self) {
        let now = Instant::now();
        while self.plant.line.front().is_some_and(|d| d.due <= now) {
            let d = self.plant.line.pop_front().expect("front");
            if self.alive(d.idx, d.gen) && self.enqueue_framed(d.idx, &d.frame, d.len) {
                self.m.deliveries[d.mode as usize] += 1;
            }
        }
    }

    /// enqueue for a frame already framed (the delay line's).
    fn enqueue_framed(&mut self, j: u32, frame: &[u8], len: usize) -> bool {
        self.push_out(j, OutType::Msg, |out| {
            out.extend_from_slice(frame);
            len
        })
    }

    // ---- routing ----

    fn on_text(&mut self, i: u32, data: &[u8]) {
        self.m.bytes_in += data.len() as u64;
        if std::str::from_utf8(data).is_err() {
            return self.malformed(i, None, "frame is not valid UTF-8");
        }
        let mut env = Envelope::default();
        if !envelope::parse(data, &mut env) {
            return self.malformed(i, None, "frame is not one JSON object");
        }
        if !envelope::seq_ok(env.seq) {
            return self.malformed(i, None, "seq must be an integer >= 0");
        }
        if !envelope::ts_ok(env.ts) {
            return self.malformed(i, env.seq, "ts must be an integer (Unix nanoseconds)");
        }
        let t = env.msg_type();
        match t {
            MsgType::Invalid => {
                self.malformed(i, env.seq, r#"type must be one of "register", "send", "broadcast", "group", "ping""#)
            }
            MsgType::Ping => {
                self.m.message_in(t);
                let (s, tsv) = carry_parts(&env);
                self.enqueue(i, &[b"{\"type\":\"pong\"", s.0, s.1, tsv.0, tsv.1, b"}"], OutType::Pong);
            }
            MsgType::Register => self.on_register(i, &env),
            _ => {
                if self.conn(i).reg.is_none() {
                    self.m.message_in(t);
                    return self.error(i, Code::NotRegistered, env.seq, "register first", None);
                }
                match t {
                    MsgType::Send => self.on_send(i, &env),
                    MsgType::Broadcast => self.on_broadcast(i, &env),
                    _ => self.on_group(i, &env),
                }
            }
        }
    }

    fn on_register(&mut self, i: u32, env: &Envelope) {
        if !valid_name(&env.id) {
            return self.malformed(i, env.seq, "register needs id: a non-empty string of at most 128 bytes");
        }
        let mut groups: Vec<Box<[u8]>> = Vec::new();
        if let Some(raw) = env.groups {
            let ok = envelope::for_each_string(raw, |f| {
                if !valid_name(&f) {
                    return false;
                }
                let name = f.value();
                if !groups.iter().any(|g| **g == *name) {
                    groups.push(name.into_owned().into_boxed_slice());
                }
                true
            });
            if !ok {
                return self.malformed(i, env.seq, "groups must be an array of non-empty strings of at most 128 bytes");
            }
        }
        self.m.message_in(MsgType::Register);
        if let Some(r) = &self.conn(i).reg {
            let held = r.id_json.clone();
            return self.error(i, Code::AlreadyRegistered, env.seq, "this connection is already registered as ", Some(&held));
        }
        let id = env.id.value();
        if self.agents.contains_key(&*id) {
            let raw = env.id.raw.unwrap_or_default();
            return self.error(i, Code::DuplicateId, env.seq, "another connection holds id ", Some(raw));
        }
        let id: Box<[u8]> = id.into_owned().into_boxed_slice();
        let mut q = Vec::with_capacity(id.len() + 2);
        envelope::append_quoted(&mut q, &id);
        let id_json: Rc<[u8]> = q.into();
        self.agents.insert(id.clone(), i);
        let all_idx = self.all.len() as u32;
        self.all.push(i);
        for g in &groups {
            let group = self.groups.entry(g.clone()).or_insert_with(|| {
                let mut q = Vec::with_capacity(g.len() + 2);
                envelope::append_quoted(&mut q, g);
                Group { name_json: q.into(), members: Vec::new(), cursor: 0 }
            });
            group.members.push(i);
        }
        groups.shrink_to_fit();
        self.conn(i).reg = Some(Box::new(Reg { id, id_json: id_json.clone(), groups, all_idx }));
        self.enqueue(i, &[b"{\"type\":\"registered\",\"id\":", &id_json, b"}"], OutType::Registered);
    }

    /// Releases the connection's id and group memberships, if it holds any.
    fn unregister(&mut self, idx: u32) {
        let Some(reg) = self.conns[idx as usize].as_mut().and_then(|c| c.reg.take()) else { return };
        self.agents.remove(&reg.id);
        let k = reg.all_idx as usize;
        self.all.swap_remove(k);
        if let Some(&moved) = self.all.get(k) {
            if let Some(r) = self.conns[moved as usize].as_mut().and_then(|c| c.reg.as_mut()) {
                r.all_idx = k as u32;
            }
        }
        for g in &reg.groups {
            let Some(group) = self.groups.get_mut(g) else { continue };
            if let Some(j) = group.members.iter().position(|&m| m == idx) {
                group.members.remove(j);
                // Keep the cursor on the member it pointed at.
                if j < group.cursor {
                    group.cursor -= 1;
                }
                if group.cursor >= group.members.len() {
                    group.cursor = 0;
                }
            }
            if group.members.is_empty() {
                self.groups.remove(g);
            }
        }
    }

    fn sender_json(&mut self, i: u32) -> Rc<[u8]> {
        self.conn(i).reg.as_ref().expect("registered").id_json.clone()
    }

    fn on_send(&mut self, i: u32, env: &Envelope) {
        if !non_empty_string(&env.to) {
            return self.malformed(i, env.seq, "send needs to: a non-empty string");
        }
        self.m.message_in(MsgType::Send);
        let to = env.to.value();
        let Some(&j) = self.agents.get(&*to) else {
            let raw = env.to.raw.unwrap_or_default();
            return self.error(i, Code::UnknownTarget, env.seq, "no agent with id ", Some(raw));
        };
        let from = self.sender_json(i);
        let to_json = self.sender_json(j);
        let (s, t) = carry_parts(env);
        let p = payload_parts(env);
        let parts: [&[u8]; 11] = [
            b"{\"type\":\"msg\",\"mode\":\"direct\",\"from\":",
            &from,
            b",\"to\":",
            &to_json,
            s.0,
            s.1,
            t.0,
            t.1,
            p.0,
            p.1,
            b"}",
        ];
        self.deliver(j, &parts, Mode::Direct);
    }

    fn on_broadcast(&mut self, i: u32, env: &Envelope) {
        self.m.message_in(MsgType::Broadcast);
        let from = self.sender_json(i);
        let (s, t) = carry_parts(env);
        let p = payload_parts(env);
        let mut f = std::mem::take(&mut self.scratch);
        f.clear();
        let parts: [&[u8]; 9] =
            [b"{\"type\":\"msg\",\"mode\":\"broadcast\",\"from\":", &from, s.0, s.1, t.0, t.1, p.0, p.1, b"}"];
        for part in parts {
            f.extend_from_slice(part);
        }
        for k in 0..self.all.len() {
            let j = self.all[k];
            if j != i {
                self.deliver(j, &[&f], Mode::Broadcast);
            }
        }
        self.scratch = f;
    }

    fn on_group(&mut self, i: u32, env: &Envelope) {
        if !non_empty_string(&env.group) {
            return self.malformed(i, env.seq, "group needs group: a non-empty string");
        }
        self.m.message_in(MsgType::Group);
        let name = env.group.value();
        let picked = self.groups.get_mut(&*name).and_then(|g| {
            let n = g.members.len();
            (0..n).map(|k| (g.cursor + k) % n).find(|&k| g.members[k] != i).map(|k| {
                g.cursor = (k + 1) % n;
                (g.members[k], g.name_json.clone())
            })
        });
        let Some((j, group_json)) = picked else {
            let raw = env.group.raw.unwrap_or_default();
            return self.error(i, Code::UnknownGroup, env.seq, "no member other than the sender in group ", Some(raw));
        };
        let from = self.sender_json(i);
        let to_json = self.sender_json(j);
        let (s, t) = carry_parts(env);
        let p = payload_parts(env);
        let parts: [&[u8]; 13] = [
            b"{\"type\":\"msg\",\"mode\":\"group\",\"from\":",
            &from,
            b",\"group\":",
            &group_json,
            b",\"to\":",
            &to_json,
            s.0,
            s.1,
            t.0,
            t.1,
            p.0,
            p.1,
            b"}",
        ];
        self.deliver(j, &parts, Mode::Group);
    }

    /// Answers a frame that cannot be handled; it counts as messages_in{type="invalid"}.
    fn malformed(&mut self, i: u32, seq: Option<&[u8]>, why: &str) {
        self.m.message_in(MsgType::Invalid);
        self.error(i, Code::Malformed, seq, why, None);
    }

    /// Queues an error frame. The message is why followed by detail, a JSON string literal as the client spelled
    /// it, shown quotes included.
    fn error(&mut self, i: u32, code: Code, seq: Option<&[u8]>, why: &str, detail: Option<&[u8]>) {
        self.m.errors[code as usize] += 1;
        let mut text = why.as_bytes().to_vec();
        if let Some(d) = detail {
            text.extend_from_slice(d);
        }
        let mut msg = Vec::with_capacity(text.len() + 8);
        envelope::append_quoted(&mut msg, &text);
        let (k, v): (&[u8], &[u8]) = match seq {
            Some(s) => (b",\"seq\":", s),
            None => (b"", b""),
        };
        let parts: [&[u8]; 7] =
            [b"{\"type\":\"error\",\"code\":\"", code.as_str().as_bytes(), b"\"", k, v, b",\"message\":", &msg];
        let mut all: [&[u8]; 8] = [b""; 8];
        all[..7].copy_from_slice(&parts);
        all[7] = b"}";
        self.enqueue(i, &all, OutType::Error);
    }
}

/// Appends one server text frame whose payload is the concatenation of parts; returns the payload length.
#[inline]
pub fn append_text_frame(out: &mut Vec<u8>, parts: &[&[u8]]) -> usize {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    out.reserve(len + 10);
    frame::append_header(out, OP_TEXT, len);
    // One capacity check for the whole frame instead of one per part (measured: route 42 → see the commit).
    // SAFETY: reserve made room for len more bytes; the parts are copied into it, then exposed.
    unsafe {
        let mut dst = out.as_mut_ptr().add(out.len());
        for p in parts {
            std::ptr::copy_nonoverlapping(p.as_ptr(), dst, p.len());
            dst = dst.add(p.len());
        }
        out.set_len(out.len() + len);
    }
    len
}

type Pair<'a> = (&'a [u8], &'a [u8]);

/// The `,"seq":…` and `,"ts":…` parts of a delivered frame (empty when absent).
#[inline]
fn carry_parts<'a>(env: &Envelope<'a>) -> (Pair<'a>, Pair<'a>) {
    let s = env.seq.map_or((&b""[..], &b""[..]), |v| (&b",\"seq\":"[..], v));
    let t = env.ts.map_or((&b""[..], &b""[..]), |v| (&b",\"ts\":"[..], v));
    (s, t)
}

#[inline]
fn payload_parts<'a>(env: &Envelope<'a>) -> Pair<'a> {
    env.payload.map_or((&b""[..], &b""[..]), |v| (&b",\"payload\":"[..], v))
}

/// A non-empty string of at most 128 decoded bytes.
fn valid_name(f: &StrField) -> bool {
    if !f.is_string() {
        return false;
    }
    let n = if f.escaped { f.value().len() } else { f.raw.map_or(0, |r| r.len() - 2) };
    n > 0 && n <= 128
}

fn non_empty_string(f: &StrField) -> bool {
    f.is_string() && !f.value().is_empty()
}
