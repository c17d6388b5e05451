//! The envelope scanner against serde_json on mutated frames: both must agree on "is this one JSON object", and
//! for an object the scanner's raw top-level fields must decode to serde_json's values (last key wins in both).
//! Excluded, as documented differences: `\u` escapes (serde_json refuses lone surrogates, the scanner — like Go's
//! encoding/json — accepts them), nesting deeper than serde_json's recursion limit of 128, and numbers whose value
//! overflows an f64 (valid JSON syntax, which is all the scanner checks; serde_json refuses to hold them).

use rust_bus_epoll::envelope::{self, Envelope};
use serde_json::Value;

const SEEDS: &[&str] = &[
    r#"{"type":"send","to":"agent-9","seq":41,"ts":1732556000123456789,"payload":{"text":"hi"}}"#,
    r#"{"type":"register","id":"agent-7","groups":["planners","coders"]}"#,
    r#" { "type" : "broadcast" , "payload" : [1, -2.5e3, true, false, null, "x\"y\\z"] , "seq" : 0 } "#,
    r#"{"type":"group","group":"coders","payload":{"a":{"b":[{},[]]}},"extra":{"seq":1},"seq":7,"seq":8}"#,
    r#"{"type":"ping","ts":-9223372036854775808,"payload":null}"#,
    r#"{}"#,
];

const ALPHABET: &[u8] = b"{}[]\",: \t\n0123456789-+.eEtrufalsnxyz\\/";

/// xorshift64*: deterministic, no crate needed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn same(raw: Option<&[u8]>, want: Option<&Value>) -> bool {
    match (raw, want) {
        (None, None) => true,
        (Some(r), Some(w)) => serde_json::from_slice::<Value>(r).ok().as_ref() == Some(w),
        _ => false,
    }
}

#[test]
fn scanner_agrees_with_serde_json() {
    let mut rng = Rng(0x9E3779B97F4A7C15);
    let (mut objects, mut rejected) = (0, 0);
    for i in 0..60_000 {
        let mut b = SEEDS[i % SEEDS.len()].as_bytes().to_vec();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(b.len() + 1);
            let c = ALPHABET[rng.below(ALPHABET.len())];
            match rng.below(3) {
                0 => b.insert(at, c),
                1 if at < b.len() => {
                    b.remove(at);
                }
                _ if at < b.len() => b[at] = c,
                _ => b.push(c),
            }
        }
        if b.windows(2).any(|w| w == b"\\u") {
            continue;
        }
        let theirs = serde_json::from_slice::<Value>(&b);
        if theirs.as_ref().is_ok_and(|v| depth(v) >= 128)
            || theirs.as_ref().is_err_and(|e| e.to_string().contains("number out of range"))
        {
            continue;
        }
        let mut env = Envelope::default();
        let ours = envelope::parse(&b, &mut env);
        let text = String::from_utf8_lossy(&b);
        match theirs {
            Ok(Value::Object(o)) => {
                assert!(ours, "scanner refused an object serde_json accepts: {text}");
                objects += 1;
                let nonnull = |k: &str| o.get(k).filter(|v| !v.is_null());
                assert!(same(env.typ.raw, o.get("type")), "type of {text}");
                assert!(same(env.to.raw, o.get("to")), "to of {text}");
                assert!(same(env.seq, nonnull("seq")), "seq of {text}");
                assert!(same(env.ts, nonnull("ts")), "ts of {text}");
                assert!(same(env.groups, nonnull("groups")), "groups of {text}");
                assert!(same(env.payload, o.get("payload")), "payload of {text}");
            }
            _ => {
                assert!(!ours, "scanner accepted what serde_json does not take as an object: {text}");
                rejected += 1;
            }
        }
    }
    // The mutations must exercise both sides.
    assert!(objects > 5_000 && rejected > 5_000, "objects {objects}, rejected {rejected}");
}
