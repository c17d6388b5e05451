//! Client → bus messages and bus → client frames (docs/protocol.md, "Frames" and "Errors"). `seq`, `ts` and
//! `payload` are kept as the exact bytes the sender wrote (serde_json RawValue) and copied into what the bus
//! delivers, so they are never re-encoded.

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::metrics::{Code, InType, Mode};

/// Longest id or group name, bytes.
pub const MAX_NAME_BYTES: usize = 128;

/// The end-to-end fields, as raw JSON text.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Carry<'a> {
    pub seq: Option<&'a str>,
    pub ts: Option<&'a str>,
    pub payload: Option<&'a str>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Request<'a> {
    Register { id: String, groups: Vec<String>, seq: Option<&'a str> },
    Send { to: String, carry: Carry<'a> },
    Broadcast { carry: Carry<'a> },
    Group { group: String, carry: Carry<'a> },
    Ping { carry: Carry<'a> },
}

/// A message the bus answers with an error frame.
#[derive(Debug, PartialEq, Eq)]
pub struct Reject<'a> {
    pub code: Code,
    pub seq: Option<&'a str>,
    pub message: String,
}

/// Every field the bus reads, each kept raw; `null` is kept as a value, not turned into None.
#[derive(Deserialize)]
struct Envelope<'a> {
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

fn is_null(v: Option<&RawValue>) -> bool {
    v.is_some_and(|r| r.get() == "null")
}

/// Parses one text frame. The InType is what bus_messages_in_total counts: invalid for every frame answered with
/// `malformed` (as gobus counts), else the message's type.
pub fn parse(text: &str) -> (InType, Result<Request<'_>, Reject<'_>>) {
    let malformed = |seq, message: String| Err(Reject { code: Code::Malformed, seq, message });
    // A struct would also deserialize from a JSON array; the protocol wants an object.
    if !text.trim_start().starts_with('{') {
        return (InType::Invalid, malformed(None, "not a JSON object".into()));
    }
    let env: Envelope = match serde_json::from_str(text) {
        Ok(e) => e,
        Err(e) => return (InType::Invalid, malformed(None, format!("invalid JSON: {e}"))),
    };
    // seq is echoed in errors whenever it is readable, so it is checked first.
    let (seq, bad_seq) = match env.seq {
        None => (None, false),
        Some(r) if r.get() == "null" => (None, false),
        Some(r) => match serde_json::from_str::<u64>(r.get()) {
            Ok(_) => (Some(r.get()), false),
            Err(_) => (None, true),
        },
    };
    let ty = match env.ty.map(|r| serde_json::from_str::<String>(r.get())) {
        None => return (InType::Invalid, malformed(seq, "missing \"type\"".into())),
        Some(Err(_)) => return (InType::Invalid, malformed(seq, "\"type\" must be a string".into())),
        Some(Ok(t)) => t,
    };
    let in_type = match ty.as_str() {
        "register" => InType::Register,
        "send" => InType::Send,
        "broadcast" => InType::Broadcast,
        "group" => InType::Group,
        "ping" => InType::Ping,
        _ => return (InType::Invalid, malformed(seq, format!("unknown type {:?}", ty))),
    };
    if bad_seq {
        return (InType::Invalid, malformed(None, "\"seq\" must be an integer >= 0".into()));
    }
    let ts = match env.ts {
        None => None,
        Some(r) if r.get() == "null" => None,
        Some(r) => match serde_json::from_str::<i64>(r.get()) {
            Ok(_) => Some(r.get()),
            Err(_) => return (InType::Invalid, malformed(seq, "\"ts\" must be an integer (Unix nanoseconds)".into())),
        },
    };
    let carry = Carry { seq, ts, payload: env.payload.map(RawValue::get) };
    let req = match in_type {
        InType::Register => {
            let id = match name(env.id, "id") {
                Ok(id) => id,
                Err(m) => return (InType::Invalid, malformed(seq, m)),
            };
            let mut groups: Vec<String> = Vec::new();
            if let Some(raw) = env.groups.filter(|r| !is_null(Some(r))) {
                let list: Vec<&RawValue> = match serde_json::from_str(raw.get()) {
                    Ok(l) => l,
                    Err(_) => return (InType::Invalid, malformed(seq, "\"groups\" must be an array of strings".into())),
                };
                for g in list {
                    match name(Some(g), "groups[]") {
                        Ok(g) if !groups.contains(&g) => groups.push(g),
                        Ok(_) => {}
                        Err(m) => return (InType::Invalid, malformed(seq, m)),
                    }
                }
            }
            Request::Register { id, groups, seq }
        }
        InType::Send => match name(env.to, "to") {
            Ok(to) => Request::Send { to, carry },
            Err(m) => return (InType::Invalid, malformed(seq, m)),
        },
        InType::Group => match name(env.group, "group") {
            Ok(group) => Request::Group { group, carry },
            Err(m) => return (InType::Invalid, malformed(seq, m)),
        },
        InType::Broadcast => Request::Broadcast { carry },
        InType::Ping | InType::Invalid => Request::Ping { carry },
    };
    (in_type, Ok(req))
}

/// A required non-empty string of at most MAX_NAME_BYTES bytes.
fn name(raw: Option<&RawValue>, field: &str) -> Result<String, String> {
    let Some(raw) = raw.filter(|r| r.get() != "null") else {
        return Err(format!("missing {field:?}"));
    };
    match serde_json::from_str::<String>(raw.get()) {
        Err(_) => Err(format!("{field:?} must be a string")),
        Ok(s) if s.is_empty() => Err(format!("{field:?} must not be empty")),
        Ok(s) if s.len() > MAX_NAME_BYTES => Err(format!("{field:?} longer than {MAX_NAME_BYTES} bytes")),
        Ok(s) => Ok(s),
    }
}

/// JSON string literal for s.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A msg frame. `from`, `group` and `to` are JSON string literals (see quote).
pub fn msg(mode: Mode, from: &str, group: Option<&str>, to: Option<&str>, c: &Carry) -> String {
    let len = 48 + from.len() + group.map_or(0, str::len) + to.map_or(0, str::len) + carried_len(c);
    let mut s = String::with_capacity(len);
    s.push_str("{\"type\":\"msg\",\"mode\":\"");
    s.push_str(mode.as_str());
    s.push_str("\",\"from\":");
    s.push_str(from);
    if let Some(g) = group {
        s.push_str(",\"group\":");
        s.push_str(g);
    }
    if let Some(t) = to {
        s.push_str(",\"to\":");
        s.push_str(t);
    }
    push_carry(&mut s, c);
    s.push('}');
    s
}

pub fn registered(id_json: &str) -> String {
    format!("{{\"type\":\"registered\",\"id\":{id_json}}}")
}

/// The pong answering an application ping: seq and ts only.
pub fn pong(c: &Carry) -> String {
    let mut s = String::from("{\"type\":\"pong\"");
    push_carry(&mut s, &Carry { payload: None, ..*c });
    s.push('}');
    s
}

pub fn error(code: Code, seq: Option<&str>, message: &str) -> String {
    let mut s = String::from("{\"type\":\"error\",\"code\":\"");
    s.push_str(code.as_str());
    s.push('"');
    if let Some(seq) = seq {
        s.push_str(",\"seq\":");
        s.push_str(seq);
    }
    s.push_str(",\"message\":");
    s.push_str(&quote(message));
    s.push('}');
    s
}

fn carried_len(c: &Carry) -> usize {
    c.seq.map_or(0, str::len) + c.ts.map_or(0, str::len) + c.payload.map_or(0, str::len) + 24
}

fn push_carry(s: &mut String, c: &Carry) {
    for (k, v) in [(",\"seq\":", c.seq), (",\"ts\":", c.ts), (",\"payload\":", c.payload)] {
        if let Some(v) = v {
            s.push_str(k);
            s.push_str(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reject(text: &str) -> (InType, Code, Option<&str>) {
        let (t, r) = parse(text);
        let r = r.expect_err(text);
        (t, r.code, r.seq)
    }

    #[test]
    fn carries_raw_values() {
        let text =
            r#"{"type":"send","to":"b","seq":41,"ts":1732556000123456789,"payload":{"x": [1.50, "\u00e9"]},"extra":1}"#;
        let (t, r) = parse(text);
        assert_eq!(t, InType::Send);
        let Ok(Request::Send { to, carry }) = r else { panic!("{r:?}") };
        assert_eq!(to, "b");
        assert_eq!(carry.payload, Some(r#"{"x": [1.50, "\u00e9"]}"#));
        let m = msg(Mode::Direct, &quote("a"), None, Some(&quote(&to)), &carry);
        assert_eq!(
            m,
            r#"{"type":"msg","mode":"direct","from":"a","to":"b","seq":41,"ts":1732556000123456789,"payload":{"x": [1.50, "\u00e9"]}}"#
        );
        let v: serde_json::Value = serde_json::from_str(&m).unwrap();
        assert_eq!(v["payload"]["x"][1], "é");
    }

    #[test]
    fn null_payload_is_carried_absent_fields_stay_absent() {
        let (_, r) = parse(r#"{"type":"broadcast","payload":null}"#);
        let Ok(Request::Broadcast { carry }) = r else { panic!() };
        assert_eq!(carry, Carry { seq: None, ts: None, payload: Some("null") });
        assert_eq!(
            msg(Mode::Broadcast, "\"a\"", None, None, &carry),
            r#"{"type":"msg","mode":"broadcast","from":"a","payload":null}"#
        );
        assert_eq!(pong(&Carry::default()), r#"{"type":"pong"}"#);
    }

    #[test]
    fn register() {
        let (t, r) = parse(r#"{"type":"register","id":"agent-7","groups":["p","c","p"]}"#);
        assert_eq!(t, InType::Register);
        assert_eq!(r, Ok(Request::Register { id: "agent-7".into(), groups: vec!["p".into(), "c".into()], seq: None }));
        let long = "x".repeat(129);
        assert_eq!(
            reject(&format!(r#"{{"type":"register","id":"{long}","seq":3}}"#)),
            (InType::Invalid, Code::Malformed, Some("3"))
        );
        assert_eq!(reject(r#"{"type":"register","id":""}"#).1, Code::Malformed);
        assert_eq!(reject(r#"{"type":"register","id":"a","groups":[""]}"#).1, Code::Malformed);
        assert_eq!(reject(r#"{"type":"register","id":"a","groups":"g"}"#).1, Code::Malformed);
        assert_eq!(reject(r#"{"type":"register","id":7}"#).1, Code::Malformed);
    }

    #[test]
    fn malformed() {
        assert_eq!(reject("[1]"), (InType::Invalid, Code::Malformed, None));
        assert_eq!(reject("nope"), (InType::Invalid, Code::Malformed, None));
        assert_eq!(reject(r#"{"type":"teleport","seq":9}"#), (InType::Invalid, Code::Malformed, Some("9")));
        assert_eq!(reject(r#"{"seq":9}"#), (InType::Invalid, Code::Malformed, Some("9")));
        assert_eq!(reject(r#"{"type":"send","seq":5}"#), (InType::Invalid, Code::Malformed, Some("5")));
        assert_eq!(reject(r#"{"type":"ping","seq":-1}"#), (InType::Invalid, Code::Malformed, None));
        assert_eq!(reject(r#"{"type":"ping","seq":1.5}"#), (InType::Invalid, Code::Malformed, None));
        assert_eq!(reject(r#"{"type":"ping","ts":"x","seq":2}"#), (InType::Invalid, Code::Malformed, Some("2")));
        assert_eq!(reject(r#"{"type":"group","group":3}"#).1, Code::Malformed);
    }

    #[test]
    fn frames() {
        assert_eq!(
            error(Code::UnknownTarget, Some("41"), "no agent with id \"agent-9\""),
            r#"{"type":"error","code":"unknown_target","seq":41,"message":"no agent with id \"agent-9\""}"#
        );
        assert_eq!(registered(&quote("a\"b")), r#"{"type":"registered","id":"a\"b"}"#);
        assert_eq!(
            pong(&Carry { seq: Some("5"), ts: Some("7"), payload: Some("1") }),
            r#"{"type":"pong","seq":5,"ts":7}"#
        );
        assert_eq!(quote("\u{1}\n"), r#""\u0001\n""#);
        let c = Carry { seq: Some("43"), ..Carry::default() };
        assert_eq!(
            msg(Mode::Group, "\"a\"", Some("\"coders\""), Some("\"b\""), &c),
            r#"{"type":"msg","mode":"group","from":"a","group":"coders","to":"b","seq":43}"#
        );
    }
}
