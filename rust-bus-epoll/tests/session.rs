//! The bus binary end to end over loopback, with a client written here from RFC 6455 and docs/protocol.md: the
//! handshake, register, a direct message to oneself carried byte for byte, a ping frame answered, a frame over
//! --max-message-bytes closed with 1009, and SIGTERM → close 1001 and exit 0. (The full protocol is checked by
//! internal/conformance against the image.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Bus {
    child: Child,
    addr: String,
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> Bus {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rust-bus-epoll"))
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the bus");
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut line).unwrap();
    // "rust-bus-epoll listening on 127.0.0.1:PORT (...)"
    let addr = line.split_whitespace().nth(3).expect("listening line").to_string();
    // The reader is dropped here, so stderr is a closed pipe from now on: the bus must not die of a log line
    // (eprintln! panics then; it did at SIGTERM before the bus wrote its logs with errors ignored).
    Bus { child, addr }
}

fn connect(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Small frames written back to back must not wait for an ACK (Nagle + delayed ACK: 40 ms on loopback).
    s.set_nodelay(true).unwrap();
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    s
}

/// Writes one masked client frame.
fn send(s: &mut TcpStream, op: u8, payload: &[u8]) {
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut f = vec![0x80 | op];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&f).unwrap();
}

/// Reads one server frame: (opcode, payload).
fn next(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).unwrap();
    assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
    let n = match h[1] & 0x7f {
        126 => {
            let mut x = [0u8; 2];
            s.read_exact(&mut x).unwrap();
            u16::from_be_bytes(x) as usize
        }
        127 => {
            let mut x = [0u8; 8];
            s.read_exact(&mut x).unwrap();
            u64::from_be_bytes(x) as usize
        }
        n => n as usize,
    };
    let mut p = vec![0u8; n];
    s.read_exact(&mut p).unwrap();
    (h[0] & 0x0f, p)
}

fn text(s: &mut TcpStream) -> String {
    let (op, p) = next(s);
    assert_eq!(op, 1, "want a text frame, got opcode {op}: {:?}", String::from_utf8_lossy(&p));
    String::from_utf8(p).unwrap()
}

#[test]
fn session_end_to_end() {
    let mut bus = start(&["--max-message-bytes", "1000"]);
    let mut a = connect(&bus.addr);
    send(&mut a, 1, br#"{"type":"register","id":"a"}"#);
    assert_eq!(text(&mut a), r#"{"type":"registered","id":"a"}"#);
    // A message, then a ping frame: the msg comes back unchanged (a forged "from" is not carried), then the pong.
    let msg = br#"{"type":"send","to":"a","seq":7,"ts":-1,"payload":{"x": [1.50, "\u00e9"]},"from":"forged"}"#;
    send(&mut a, 1, msg);
    send(&mut a, 9, b"hi");
    assert_eq!(text(&mut a), r#"{"type":"msg","mode":"direct","from":"a","to":"a","seq":7,"ts":-1,"payload":{"x": [1.50, "\u00e9"]}}"#);
    assert_eq!(next(&mut a), (0xA, b"hi".to_vec()));
    send(&mut a, 1, br#"{"type":"send","to":"nobody","seq":8}"#);
    let e = text(&mut a);
    assert!(e.starts_with(r#"{"type":"error","code":"unknown_target","seq":8,"#), "{e}");

    // Over the limit: close 1009, nothing before it.
    let mut big = connect(&bus.addr);
    send(&mut big, 1, &vec![b' '; 1001]);
    assert_eq!(next(&mut big), (8, 1009u16.to_be_bytes().to_vec()));

    // SIGTERM: close 1001 to the open session, exit 0 once it answers.
    // SAFETY: kill(2) on our child's pid.
    unsafe { libc::kill(bus.child.id() as i32, libc::SIGTERM) };
    assert_eq!(next(&mut a), (8, 1001u16.to_be_bytes().to_vec()));
    send(&mut a, 8, &1001u16.to_be_bytes());
    let status = bus.child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
}

/// GET path over a fresh connection: the response body.
fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    r.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
}

/// The planted faults (calibration knobs): every 3rd msg delivery dropped and counted as planted, the others held
/// 40 ms and delivered in order; a ping frame and the registered reply are not held.
#[test]
fn planted_delay_and_drop() {
    let bus = start(&["--plant-delay-ms", "40", "--plant-drop-every", "3"]);
    let mut a = connect(&bus.addr);
    send(&mut a, 1, br#"{"type":"register","id":"a"}"#);
    assert_eq!(text(&mut a), r#"{"type":"registered","id":"a"}"#);
    let t0 = std::time::Instant::now();
    for seq in 1..=6 {
        send(&mut a, 1, format!(r#"{{"type":"send","to":"a","seq":{seq}}}"#).as_bytes());
    }
    send(&mut a, 9, b"hi");
    assert_eq!(next(&mut a), (0xA, b"hi".to_vec()), "the pong is not held");
    for seq in [1, 2, 4, 5] {
        assert_eq!(text(&mut a), format!(r#"{{"type":"msg","mode":"direct","from":"a","to":"a","seq":{seq}}}"#));
    }
    assert!(t0.elapsed() >= Duration::from_millis(40), "delivered after {:?}", t0.elapsed());
    let m = get(&bus.addr, "/metrics");
    for line in ["bus_dropped_total{reason=\"planted\"} 2", "bus_deliveries_total{mode=\"direct\"} 4"] {
        assert!(m.lines().any(|l| l == line), "missing {line:?} in\n{m}");
    }
}
