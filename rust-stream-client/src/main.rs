//! agentlab ai-streaming Rust client: the same job as cmd/streamclient (internal/streamclient) — `--concurrent`
//! streams at a time, `--rounds` times, from the Messages API mock — over a minimal HTTP/1.1 client on
//! std::net::TcpStream (keep-alive, chunked bodies) with one OS thread per stream slot, SSE framing by hand and
//! serde_json (borrowed, derive) per event. It prints one JSON line in internal/streamclient's Result shape, with
//! raw TTFT / inter-token samples (µs) instead of HDR histograms (the Go side builds those).

mod sha256;

use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

struct Config {
    host: String, // host:port
    concurrent: usize,
    rounds: usize,
    tokens: usize,
    token_bytes: usize,
    ttft: String,
    token_delay: String,
    token_delay_ms: f64,
    timeout: Duration,
    model: String,
    fault: String,
    api_key: String,
    // The mock's address, resolved once before the streams start: a thousand threads each asking Docker's embedded
    // DNS at the same instant get "Temporary failure in name resolution" for some of them (seen at 1000 streams),
    // which would count a resolver burst as the mock's connect errors. A client with a pool resolves once too.
    addr: Option<SocketAddr>,
    // A planted fault for the lab's calibration, never tuning (0 = off): CPU burned per text delta (burn).
    plant_burn: Duration,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    // Go's time.Duration.String(): "0s", "20ms", "1m0s", "1.5s", "2h0m0s", "500µs".
    if s == "0" || s == "0s" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or(format!("duration {s:?}: no unit"))?;
        let v: f64 = rest[..n].parse().map_err(|_| format!("duration {s:?}"))?;
        rest = &rest[n..];
        let (unit, len) = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1.0), ("m", 60.0), ("h", 3600.0)]
            .iter()
            .filter(|(u, _)| rest.starts_with(u))
            .map(|(u, f)| (*f, u.len()))
            .max_by_key(|(_, l)| *l)
            .ok_or(format!("duration {s:?}: bad unit"))?;
        total += v * unit;
        rest = &rest[len..];
    }
    Ok(Duration::from_secs_f64(total))
}

fn parse_args() -> Result<Config, String> {
    let mut c = Config {
        host: "mockllm:8080".into(),
        concurrent: 1,
        rounds: 5,
        tokens: 100,
        token_bytes: 4,
        ttft: "0s".into(),
        token_delay: "0s".into(),
        token_delay_ms: 0.0,
        timeout: Duration::from_secs(60),
        model: "mock-model".into(),
        fault: String::new(),
        api_key: std::env::var("ANTHROPIC_API_KEY").unwrap_or_else(|_| "mock-key".into()),
        addr: None,
        plant_burn: Duration::ZERO,
    };
    if let Ok(v) = std::env::var("STREAM_PLANT_BURN_US") {
        let us: u64 = v.parse().map_err(|_| format!("STREAM_PLANT_BURN_US: not a count: {v}"))?;
        c.plant_burn = Duration::from_micros(us);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).ok_or(format!("{} needs a value", args[i]))?.clone();
        let num = |v: &str| v.parse::<usize>().map_err(|_| format!("{}: not a count: {v}", args[i]));
        match args[i].as_str() {
            "--url" => c.host = v.trim_start_matches("http://").trim_end_matches('/').to_string(),
            "--mode" => {}
            "--concurrent" => c.concurrent = num(&v)?,
            "--rounds" => c.rounds = num(&v)?,
            "--tokens" => c.tokens = num(&v)?,
            "--token-bytes" => c.token_bytes = num(&v)?,
            "--ttft" => {
                parse_duration(&v)?;
                c.ttft = v
            }
            "--token-delay" => {
                c.token_delay_ms = parse_duration(&v)?.as_secs_f64() * 1000.0;
                c.token_delay = v
            }
            "--timeout" => c.timeout = parse_duration(&v)?,
            "--model" => c.model = v,
            "--fault" => c.fault = v,
            "--plant-burn-us" => c.plant_burn = Duration::from_micros(num(&v)? as u64),
            other => return Err(format!("unknown flag {other}")),
        }
        i += 2;
    }
    if c.concurrent < 1 || c.rounds < 1 || c.tokens < 1 {
        return Err("--concurrent, --rounds and --tokens must be >= 1".into());
    }
    Ok(c)
}

#[derive(Default)]
struct StreamResult {
    outcome: &'static str,
    retries: usize,
    retry_wait: Option<Duration>,
    start: Option<Instant>,
    deltas: Vec<Instant>,
    err: Option<String>,
}

// Event JSON, borrowed: only the fields the client uses; the rest is skipped by serde.
#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow)]
    delta: Option<Delta<'a>>,
    #[serde(borrow)]
    error: Option<ApiError<'a>>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ApiError<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
}

/// Body is a response body: Content-Length or chunked.
struct Body<'a> {
    r: &'a mut BufReader<TcpStream>,
    chunked: bool,
    left: u64, // bytes left in the current chunk or the whole body
    done: bool,
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        if self.left == 0 {
            if !self.chunked {
                self.done = true;
                return Ok(0);
            }
            let mut line = String::new();
            if self.r.read_line(&mut line)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let size = line.trim().split(';').next().unwrap_or("");
            self.left = u64::from_str_radix(size, 16).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if self.left == 0 {
                // Trailers (none expected) end with an empty line.
                loop {
                    line.clear();
                    if self.r.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
                        break;
                    }
                }
                self.done = true;
                return Ok(0);
            }
        }
        let n = (buf.len() as u64).min(self.left) as usize;
        let got = self.r.read(&mut buf[..n])?;
        if got == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= got as u64;
        if self.chunked && self.left == 0 {
            let mut crlf = [0u8; 2];
            self.r.read_exact(&mut crlf)?;
        }
        Ok(got)
    }
}

struct Head {
    status: u16,
    chunked: bool,
    length: u64,
    sha: String,
    retry_after: Option<Duration>,
    should_retry: Option<bool>,
    close: bool,
}

fn read_head(r: &mut BufReader<TcpStream>) -> io::Result<Head> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad status line"))?;
    let mut h = Head { status, chunked: false, length: 0, sha: String::new(), retry_after: None, should_retry: None, close: false };
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end();
        if l.is_empty() {
            return Ok(h);
        }
        let Some((k, v)) = l.split_once(':') else { continue };
        let v = v.trim();
        match k.to_ascii_lowercase().as_str() {
            "transfer-encoding" => h.chunked = v.eq_ignore_ascii_case("chunked"),
            "content-length" => h.length = v.parse().unwrap_or(0),
            "x-mock-text-sha256" => h.sha = v.to_string(),
            "retry-after-ms" => h.retry_after = v.parse::<f64>().ok().map(|ms| Duration::from_secs_f64(ms / 1000.0)),
            "x-should-retry" => h.should_retry = Some(v == "true"),
            "connection" => h.close = v.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
}

struct Client<'c> {
    cfg: &'c Config,
    conn: Option<BufReader<TcpStream>>,
    body: String,
    got_headers: bool, // the current stream's answer arrived (a later failure is a truncation, not a connect error)
}

impl<'c> Client<'c> {
    fn connect(&mut self, deadline: Instant) -> io::Result<&mut BufReader<TcpStream>> {
        if self.conn.is_none() {
            let addr = match self.cfg.addr {
                Some(a) => a,
                None => resolve(&self.cfg.host)?,
            };
            let s = TcpStream::connect_timeout(&addr, remaining(deadline)?)?;
            s.set_nodelay(true)?;
            self.conn = Some(BufReader::with_capacity(32 << 10, s));
        }
        let c = self.conn.as_mut().unwrap();
        c.get_ref().set_read_timeout(Some(remaining(deadline)?))?;
        Ok(c)
    }

    fn request(&self, seed: usize, attempt: usize) -> Vec<u8> {
        let c = self.cfg;
        let mut r = format!(
            "POST /v1/messages HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\nAnthropic-Version: 2023-06-01\r\nX-Api-Key: {}\r\nX-Stainless-Retry-Count: {}\r\nX-Mock-Tokens: {}\r\nX-Mock-Token-Bytes: {}\r\nX-Mock-Ttft: {}\r\nX-Mock-Token-Delay: {}\r\nX-Mock-Seed: {}\r\n",
            c.host, c.api_key, attempt, c.tokens, c.token_bytes, c.ttft, c.token_delay, seed
        );
        if !c.fault.is_empty() {
            r.push_str(&format!("X-Mock-Fault: {}\r\n", c.fault));
        }
        r.push_str(&format!("Content-Length: {}\r\n\r\n{}", self.body.len(), self.body));
        r.into_bytes()
    }

    fn stream(&mut self, seed: usize) -> StreamResult {
        let start = Instant::now();
        let deadline = start + self.cfg.timeout;
        let mut sr = StreamResult { start: Some(start), ..Default::default() };
        let r = self.attempts(seed, deadline, &mut sr);
        if let Err(e) = r {
            self.conn = None; // a failed exchange leaves the connection in an unknown state
            if sr.outcome.is_empty() {
                sr.outcome = if Instant::now() >= deadline || e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut {
                    "timeout"
                } else if sr.deltas.is_empty() && sr.err.is_none() && !self.got_headers {
                    "connect_error"
                } else {
                    "truncated"
                };
            }
            if sr.err.is_none() {
                sr.err = Some(e.to_string());
            }
        }
        sr
    }

    fn attempts(&mut self, seed: usize, deadline: Instant, sr: &mut StreamResult) -> io::Result<()> {
        self.got_headers = false;
        for attempt in 0.. {
            let req = self.request(seed, attempt);
            let head = {
                let conn = self.connect(deadline)?;
                conn.get_mut().write_all(&req)?;
                read_head(conn)?
            };
            self.got_headers = true;
            let conn = self.conn.as_mut().expect("connected above");
            if head.status == 200 {
                if sr.retries > 0 {
                    sr.retry_wait = Some(sr.start.unwrap().elapsed());
                }
                return self.read_stream(head, sr);
            }
            // Drain the error body so the connection can be reused.
            let mut body = Vec::new();
            Body { r: conn, chunked: head.chunked, left: if head.chunked { 0 } else { head.length }, done: false }.read_to_end(&mut body)?;
            if head.close {
                self.conn = None;
            }
            let c = head.status;
            let retryable = head.should_retry.unwrap_or(c == 408 || c == 409 || c == 429 || c >= 500);
            if attempt >= 2 || !retryable {
                sr.outcome = "http_error";
                sr.err = Some(format!("POST /v1/messages: HTTP {c}: {}", String::from_utf8_lossy(&body).trim()));
                return Ok(());
            }
            let wait = head.retry_after.unwrap_or(Duration::from_millis(500 << attempt)).min(Duration::from_secs(8));
            if Instant::now() + wait >= deadline {
                sr.outcome = "timeout";
                return Err(io::ErrorKind::TimedOut.into());
            }
            std::thread::sleep(wait);
            sr.retries += 1;
        }
        unreachable!()
    }

    fn read_stream(&mut self, head: Head, sr: &mut StreamResult) -> io::Result<()> {
        let conn = self.conn.as_mut().unwrap();
        let mut body = BufReader::with_capacity(32 << 10, Body { r: conn, chunked: head.chunked, left: if head.chunked { 0 } else { head.length }, done: false });
        let mut text = String::with_capacity(self.cfg.tokens * self.cfg.token_bytes);
        sr.deltas.reserve(self.cfg.tokens);
        let (mut typ, mut data, mut line) = (Vec::<u8>::new(), Vec::<u8>::new(), Vec::<u8>::new());
        let mut has_data = false;
        let mut stopped = false;
        loop {
            line.clear();
            if body.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            let l = line.strip_suffix(b"\n").unwrap_or(&line);
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            if l.is_empty() {
                if has_data {
                    match typ.as_slice() {
                        b"content_block_delta" => {
                            let ev: Event = serde_json::from_slice(&data).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                            if let Some(Delta { kind: Some(k), text: Some(t) }) = ev.delta {
                                if k == "text_delta" {
                                    text.push_str(&t);
                                    sr.deltas.push(Instant::now());
                                    burn(self.cfg.plant_burn);
                                }
                            }
                        }
                        b"message_stop" => stopped = true,
                        b"error" => {
                            let ev: Result<Event, _> = serde_json::from_slice(&data);
                            let kind = ev.ok().and_then(|e| e.error.map(|e| e.kind.into_owned())).unwrap_or_default();
                            sr.outcome = "stream_error";
                            sr.err = Some(format!("stream error {kind}"));
                            self.conn = None;
                            return Ok(());
                        }
                        _ => {} // message_start, ping, content_block_start/stop, message_delta: not needed here
                    }
                }
                typ.clear();
                data.clear();
                has_data = false;
                if stopped {
                    break;
                }
                continue;
            }
            if l[0] == b':' {
                continue;
            }
            let (field, value) = match l.iter().position(|&b| b == b':') {
                Some(i) => (&l[..i], l[i + 1..].strip_prefix(b" ").unwrap_or(&l[i + 1..])),
                None => (l, &b""[..]),
            };
            match field {
                b"event" => {
                    typ.clear();
                    typ.extend_from_slice(value)
                }
                b"data" => {
                    if has_data {
                        data.push(b'\n');
                    }
                    data.extend_from_slice(value);
                    has_data = true;
                }
                _ => {}
            }
        }
        if !stopped {
            sr.outcome = "truncated";
            sr.err = Some("stream ended without message_stop".into());
            self.conn = None;
            return Ok(());
        }
        // Finish the body (the terminating chunk) so the connection is reusable.
        io::copy(&mut body, &mut io::sink())?;
        if head.close {
            self.conn = None;
        }
        if sha256::hex(text.as_bytes()) == head.sha {
            sr.outcome = "ok";
        } else {
            sr.outcome = "digest_mismatch";
            sr.err = Some(format!("text digest differs from the mock's ({} bytes)", text.len()));
        }
        Ok(())
    }
}

fn remaining(deadline: Instant) -> io::Result<Duration> {
    let d = deadline.saturating_duration_since(Instant::now());
    if d.is_zero() {
        return Err(io::ErrorKind::TimedOut.into());
    }
    Ok(d)
}

fn cpu() -> (f64, f64) {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the rusage struct we own.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return (0.0, 0.0);
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (tv(ru.ru_utime), tv(ru.ru_stime))
}

/// This thread's CPU time (user + system), ns; None without a thread CPU clock.
fn thread_cpu_ns() -> Option<u64> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return None;
    }
    Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// The planted burn (--plant-burn-us): spends `d` of this thread's CPU time on SHA-256 work, not sleep, so it shows
/// in getrusage like real decoding work (internal/streamclient.Burn does the same for the Go clients).
fn burn(d: Duration) -> u8 {
    if d.is_zero() {
        return 0;
    }
    let mut block = [0u8; 64];
    let want = d.as_nanos() as u64;
    let Some(start) = thread_cpu_ns() else {
        let end = Instant::now() + d; // no thread clock: wall time
        while Instant::now() < end {
            let h = sha256::digest(&block);
            block[..32].copy_from_slice(&h);
        }
        return block[0];
    };
    loop {
        for _ in 0..16 {
            let h = sha256::digest(&block);
            block[..32].copy_from_slice(&h);
        }
        if thread_cpu_ns().unwrap_or(u64::MAX) - start >= want {
            return std::hint::black_box(block[0]);
        }
    }
}

fn resolve(host: &str) -> io::Result<SocketAddr> {
    host.to_socket_addrs()?.next().ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))
}

// resolve_once resolves the mock's address before any stream, retrying a transient resolver failure for up to 5 s.
fn resolve_once(host: &str) -> Result<SocketAddr, String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match resolve(host) {
            Ok(a) => return Ok(a),
            Err(e) if Instant::now() >= deadline => return Err(format!("resolve {host}: {e}")),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn main() {
    let cfg = match parse_args().and_then(|mut c| {
        c.addr = Some(resolve_once(&c.host)?);
        Ok(c)
    }) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("rust-stream-client: {e}");
            std::process::exit(2);
        }
    };
    let n = cfg.concurrent;
    let start = Arc::new(Barrier::new(n + 1));
    let end = Arc::new(Barrier::new(n + 1));
    let results: Arc<Mutex<Vec<Vec<StreamResult>>>> = Arc::new(Mutex::new((0..cfg.rounds).map(|_| Vec::new()).collect()));
    let body = format!(r#"{{"model":{},"max_tokens":{},"stream":true,"messages":[{{"role":"user","content":"Stream a reply."}}]}}"#,
        serde_json::to_string(&cfg.model).unwrap(), cfg.tokens);
    let mut workers = Vec::with_capacity(n);
    for slot in 0..n {
        let (cfg, start, end, results, body) = (cfg.clone(), start.clone(), end.clone(), results.clone(), body.clone());
        workers.push(
            std::thread::Builder::new()
                .stack_size(128 << 10)
                .spawn(move || {
                    let mut c = Client { cfg: &cfg, conn: None, body, got_headers: false };
                    for round in 0..cfg.rounds {
                        start.wait();
                        let r = c.stream(round * cfg.concurrent + slot);
                        results.lock().unwrap()[round].push(r);
                        end.wait();
                    }
                })
                .expect("spawn stream thread"),
        );
    }
    let t0 = Instant::now();
    let c0 = cpu();
    let mut per_token = Vec::new();
    for round in 0..cfg.rounds {
        let r0 = cpu();
        start.wait();
        end.wait();
        let r1 = cpu();
        let tokens: usize = results.lock().unwrap()[round].iter().map(|s| s.deltas.len()).sum();
        if tokens > 0 {
            per_token.push(((r1.0 - r0.0) + (r1.1 - r0.1)) * 1000.0 / tokens as f64);
        }
    }
    let c1 = cpu();
    let wall = t0.elapsed().as_secs_f64();
    for w in workers {
        let _ = w.join();
    }
    let all = results.lock().unwrap();
    let mut outcomes = BTreeMap::<&str, usize>::new();
    let (mut streams, mut retries, mut tokens) = (0usize, 0usize, 0usize);
    let (mut ttft, mut gaps, mut retry_wait, mut tps, mut waits) = (vec![], vec![], vec![], vec![], vec![]);
    let mut errors: Vec<String> = vec![];
    for s in all.iter().flatten() {
        streams += 1;
        *outcomes.entry(s.outcome).or_default() += 1;
        retries += s.retries;
        if let Some(w) = s.retry_wait {
            retry_wait.push(w.as_micros() as u64);
        }
        if let Some(e) = &s.err {
            if errors.len() < 5 && !errors.contains(e) {
                errors.push(e.clone());
            }
        }
        tokens += s.deltas.len();
        if let (Some(st), Some(first), Some(last)) = (s.start, s.deltas.first(), s.deltas.last()) {
            ttft.push(first.duration_since(st).as_micros() as u64);
            for w in s.deltas.windows(2) {
                gaps.push(w[1].duration_since(w[0]).as_micros() as u64);
            }
            let dur = last.duration_since(st).as_secs_f64();
            tps.push(s.deltas.len() as f64 / dur);
            waits.push(dur * 1000.0 / s.deltas.len() as f64);
        }
    }
    let (user, sys) = (c1.0 - c0.0, c1.1 - c0.1);
    let cpu_per_tok = if tokens > 0 { (user + sys) * 1000.0 / tokens as f64 } else { 0.0 };
    let wait = if waits.is_empty() { 0.0 } else { (waits.iter().sum::<f64>() / waits.len() as f64 - cpu_per_tok).max(0.0) };
    let out = serde_json::json!({
        "client": "rust", "mode": "rust", "concurrent": n, "rounds": cfg.rounds, "token_delay_ms": cfg.token_delay_ms,
        "fault": cfg.fault, "streams": streams, "outcomes": outcomes, "retries": retries,
        "tokens": tokens, "wall_s": wall, "cpu_user_s": user, "cpu_sys_s": sys, "per_token_cpu_ms": per_token,
        "network_wait_per_token_ms": wait, "ttft_us": ttft, "inter_token_us": gaps, "retry_wait_us": retry_wait,
        "stream_tokens_per_s": tps, "total_tokens_per_s": if wall > 0.0 { tokens as f64 / wall } else { 0.0 },
        "heap_idle_bytes": 0, "heap_peak_bytes": 0, "errors": errors,
    });
    println!("{out}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread_rusage() -> Duration {
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage writes into the rusage struct we own.
        assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) }, 0);
        let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
        Duration::from_micros(us(ru.ru_utime) + us(ru.ru_stime))
    }

    /// The burn is CPU work, not sleep: getrusage charges this thread what was planted (less clock rounding).
    #[test]
    fn burn_costs_cpu_time() {
        let before = thread_rusage();
        for _ in 0..5 {
            burn(Duration::from_millis(20));
        }
        let got = thread_rusage() - before;
        assert!(got >= Duration::from_millis(80), "5 x burn(20ms) cost {got:?} of thread CPU");
        assert_eq!(burn(Duration::ZERO), 0);
    }
}
