//! Hot-path microbenchmarks of rust-bus-epoll beside what rust-message-bus does on the same path (the "before"):
//!
//! - scan:  one client frame to its fields. Before: serde_json into an Envelope of RawValues (rust-message-bus's
//!          proto::parse), plus the String it decodes `type` and `to` into. After: UTF-8 check + envelope::parse +
//!          the seq/ts checks.
//! - route: one delivered frame built and queued. Before: a String per delivery (proto::msg) through a
//!          Mutex<VecDeque> queue (its Notify left out), then copied behind a frame header into the write buffer
//!          (what tungstenite's write does). After: append_text_frame straight
//!          into the recipient's buffer from slices of the incoming frame.
//! - write: 32 frames of a delivery's size through a loopback TCP socket read by another thread. Before: one
//!          write() per frame (rust-message-bus flushes per wake-up, often one frame). After: one write() of all 32.
//!
//! `bash rust-bus-epoll/build.sh --bench` (release build). Prints key=value lines: this thread's CPU ns per
//! operation (user + system, so a loaded machine's waiting is not counted), median of 7 interleaved rounds, and
//! the after/before ratio with its range over the rounds. The routing path of "after" allocates nothing.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use rust_bus_epoll::{bus, envelope};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

const FRAME: &str = r#"{"type":"send","to":"agent-42","seq":123456,"ts":1732556000123456789,"payload":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#;

#[derive(Deserialize)]
#[allow(dead_code)]
struct SerdeEnvelope<'a> {
    #[serde(rename = "type", default, borrow, deserialize_with = "present")]
    ty: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    groups: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    to: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    group: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    seq: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    ts: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    payload: Option<&'a RawValue>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

/// This thread's CPU time (user + system), ns: a shared, loaded machine moves it far less than wall time, and
/// for the write benchmark it is the sender's own cost, kernel included.
fn thread_cpu_ns() -> u128 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

/// CPU ns per iteration of before and after: 7 interleaved rounds (before, after, before, …) of n iterations
/// each; the medians, and the range of after/before over the rounds.
fn bench(n: u64, mut before: impl FnMut(u64), mut after: impl FnMut(u64)) -> (f64, f64, f64, f64) {
    let run = |f: &mut dyn FnMut(u64)| {
        let t = thread_cpu_ns();
        for i in 0..n {
            f(i);
        }
        (thread_cpu_ns() - t) as f64 / n as f64
    };
    let (mut b, mut a, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..7 {
        let x = run(&mut before);
        let y = run(&mut after);
        b.push(x);
        a.push(y);
        r.push(y / x);
    }
    for v in [&mut b, &mut a, &mut r] {
        v.sort_by(|x, y| x.partial_cmp(y).unwrap());
    }
    (b[3], a[3], r[0], r[6])
}

fn report(name: &str, unit: &str, (b, a, lo, hi): (f64, f64, f64, f64)) {
    println!("bench={name} impl=before {unit}={b:.1}");
    println!("bench={name} impl=after {unit}={a:.1} after/before={:.3} range={lo:.3}..{hi:.3} rounds=7", a / b);
}

fn scan_before(text: &str) -> usize {
    let env: SerdeEnvelope = serde_json::from_str(text).unwrap();
    let seq = env.seq.map(|r| serde_json::from_str::<u64>(r.get()).unwrap()).unwrap_or(0);
    let ty: String = serde_json::from_str(env.ty.unwrap().get()).unwrap();
    let _ts = env.ts.map(|r| serde_json::from_str::<i64>(r.get()).unwrap());
    let to: String = serde_json::from_str(env.to.unwrap().get()).unwrap();
    ty.len() + to.len() + seq as usize + env.payload.map_or(0, |p| p.get().len())
}

fn scan_after(data: &[u8]) -> usize {
    assert!(std::str::from_utf8(data).is_ok());
    let mut env = envelope::Envelope::default();
    assert!(envelope::parse(data, &mut env));
    assert!(envelope::seq_ok(env.seq) && envelope::ts_ok(env.ts));
    let t = env.msg_type();
    t as usize + env.to.value().len() + env.payload.map_or(0, <[u8]>::len)
}

fn main() {
    let data = FRAME.as_bytes();
    let r = bench(
        200_000,
        |_| {
            std::hint::black_box(scan_before(std::hint::black_box(FRAME)));
        },
        |_| {
            std::hint::black_box(scan_after(std::hint::black_box(data)));
        },
    );
    report("scan", "cpu-ns/op", r);

    // route: the delivered frame for FRAME, built and appended to a write buffer that is emptied every 32 frames.
    let mut env = envelope::Envelope::default();
    assert!(envelope::parse(data, &mut env));
    let (seq, ts, payload) = (env.seq.unwrap(), env.ts.unwrap(), env.payload.unwrap());
    let (from, to) = (&b"\"agent-7\""[..], &b"\"agent-42\""[..]);
    let mut out: Vec<u8> = Vec::with_capacity(64 << 10);
    let mut out2: Vec<u8> = Vec::with_capacity(64 << 10);
    let queue = std::sync::Mutex::new(std::collections::VecDeque::<String>::new());
    let before = |i: u64| {
        let (seq, ts, payload) =
            (std::str::from_utf8(seq).unwrap(), std::str::from_utf8(ts).unwrap(), std::str::from_utf8(payload).unwrap());
        let mut s = String::with_capacity(48 + 24 + seq.len() + ts.len() + payload.len() + 24);
        s.push_str("{\"type\":\"msg\",\"mode\":\"direct\",\"from\":\"agent-7\",\"to\":\"agent-42\"");
        for (k, v) in [(",\"seq\":", seq), (",\"ts\":", ts), (",\"payload\":", payload)] {
            s.push_str(k);
            s.push_str(v);
        }
        s.push('}');
        // Its queue: a Mutex<VecDeque> per connection, pushed by the router, popped by the connection's task.
        queue.lock().unwrap().push_back(s);
        let s = queue.lock().unwrap().pop_front().unwrap();
        rust_bus_epoll::frame::append_header(&mut out, 1, s.len());
        out.extend_from_slice(s.as_bytes());
        if i % 32 == 31 {
            out.clear();
        }
    };
    let after = |i: u64| {
        let parts: [&[u8]; 11] = [
            b"{\"type\":\"msg\",\"mode\":\"direct\",\"from\":",
            from,
            b",\"to\":",
            to,
            b",\"seq\":",
            seq,
            b",\"ts\":",
            ts,
            b",\"payload\":",
            payload,
            b"}",
        ];
        bus::append_text_frame(&mut out2, std::hint::black_box(&parts));
        if i % 32 == 31 {
            out2.clear();
        }
    };
    report("route", "cpu-ns/op", bench(500_000, before, after));

    // write: 32 delivered frames per round through loopback TCP, drained by a reader thread.
    let mut one = Vec::new();
    bus::append_text_frame(&mut one, &[b"{\"type\":\"msg\",\"mode\":\"direct\",\"from\":\"agent-7\",\"to\":\"agent-42\",\"seq\":123456,\"ts\":1732556000123456789,\"payload\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}"]);
    let batch: Vec<u8> = one.iter().copied().cycle().take(one.len() * 32).collect();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let w = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    w.set_nodelay(true).unwrap();
    let (mut r, _) = l.accept().unwrap();
    std::thread::spawn(move || {
        let mut b = vec![0u8; 256 << 10];
        while r.read(&mut b).map_or(false, |n| n > 0) {}
    });
    let w2 = w.try_clone().unwrap();
    let (b, a, lo, hi) = bench(
        5_000,
        |_| {
            for _ in 0..32 {
                (&w).write_all(&one).unwrap();
            }
        },
        |_| (&w2).write_all(&batch).unwrap(),
    );
    report("write", "cpu-ns/frame", (b / 32.0, a / 32.0, lo, hi));
    println!("frame_bytes={} frames_per_round=32", one.len());
}
