//! The envelope scanner: one pass over a client frame records the top-level fields the bus reads as sub-slices of
//! the frame. Nothing is decoded or copied unless a string holds escapes, so `seq`, `ts` and `payload` go out as the
//! exact bytes the sender wrote. A port of gobus/envelope.go (same rules, same answers).

/// JSON nesting deeper than this is malformed (bounds the scanner's state; real payloads never come close).
pub const MAX_DEPTH: usize = 512;

/// A string-valued top-level field as it appears in the frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StrField<'a> {
    /// The JSON value, quotes included; None when the field is absent.
    pub raw: Option<&'a [u8]>,
    /// The string holds a backslash escape, so raw[1..len-1] is not the decoded value.
    pub escaped: bool,
}

impl<'a> StrField<'a> {
    pub fn is_string(&self) -> bool {
        matches!(self.raw, Some(r) if r.len() >= 2 && r[0] == b'"')
    }

    /// The decoded string (is_string must hold): borrowed unless it holds escapes.
    pub fn value(&self) -> std::borrow::Cow<'a, [u8]> {
        let r = self.raw.unwrap_or(b"\"\"");
        if !self.escaped {
            return std::borrow::Cow::Borrowed(&r[1..r.len() - 1]);
        }
        std::borrow::Cow::Owned(unescape(&r[1..r.len() - 1]))
    }
}

/// The top-level fields of one client frame.
#[derive(Debug, Default)]
pub struct Envelope<'a> {
    pub typ: StrField<'a>,
    pub id: StrField<'a>,
    pub to: StrField<'a>,
    pub group: StrField<'a>,
    /// Raw JSON values; an explicit null counts as absent except for payload, whose null is carried.
    pub groups: Option<&'a [u8]>,
    pub seq: Option<&'a [u8]>,
    pub ts: Option<&'a [u8]>,
    pub payload: Option<&'a [u8]>,
}

/// Scans data (valid UTF-8) as exactly one JSON object; false for anything else. Unknown fields are validated and
/// skipped; a repeated key keeps its last value.
pub fn parse<'a>(data: &'a [u8], env: &mut Envelope<'a>) -> bool {
    let mut i = skip_ws(data, 0);
    if i >= data.len() || data[i] != b'{' {
        return false;
    }
    i = skip_ws(data, i + 1);
    if i < data.len() && data[i] == b'}' {
        return skip_ws(data, i + 1) == data.len();
    }
    loop {
        if i >= data.len() || data[i] != b'"' {
            return false;
        }
        let k_start = i;
        let Some((end, esc)) = scan_string(data, i) else { return false };
        let key_owned;
        let key: &[u8] = if esc {
            key_owned = unescape(&data[k_start + 1..end - 1]);
            &key_owned
        } else {
            &data[k_start + 1..end - 1]
        };
        i = skip_ws(data, end);
        if i >= data.len() || data[i] != b':' {
            return false;
        }
        i = skip_ws(data, i + 1);
        let v_start = i;
        let mut v_esc = false;
        if i < data.len() && data[i] == b'"' {
            let Some((e, x)) = scan_string(data, i) else { return false };
            i = e;
            v_esc = x;
        } else {
            let Some(e) = skip_value(data, i) else { return false };
            i = e;
        }
        let val = &data[v_start..i];
        match key {
            b"type" => env.typ = StrField { raw: Some(val), escaped: v_esc },
            b"id" => env.id = StrField { raw: Some(val), escaped: v_esc },
            b"to" => env.to = StrField { raw: Some(val), escaped: v_esc },
            b"group" => env.group = StrField { raw: Some(val), escaped: v_esc },
            b"groups" => env.groups = null_to_absent(val),
            b"seq" => env.seq = null_to_absent(val),
            b"ts" => env.ts = null_to_absent(val),
            b"payload" => env.payload = Some(val),
            _ => {}
        }
        i = skip_ws(data, i);
        if i >= data.len() {
            return false;
        }
        match data[i] {
            b',' => i = skip_ws(data, i + 1),
            b'}' => return skip_ws(data, i + 1) == data.len(),
            _ => return false,
        }
    }
}

fn null_to_absent(v: &[u8]) -> Option<&[u8]> {
    if v == b"null" {
        None
    } else {
        Some(v)
    }
}

/// Message types, in bus_messages_in_total's label order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsgType {
    Register = 0,
    Send = 1,
    Broadcast = 2,
    Group = 3,
    Ping = 4,
    Invalid = 5,
}

impl Envelope<'_> {
    /// The type field; Invalid when absent, not a string or unknown.
    pub fn msg_type(&self) -> MsgType {
        if !self.typ.is_string() {
            return MsgType::Invalid;
        }
        match &*self.typ.value() {
            b"register" => MsgType::Register,
            b"send" => MsgType::Send,
            b"broadcast" => MsgType::Broadcast,
            b"group" => MsgType::Group,
            b"ping" => MsgType::Ping,
            _ => MsgType::Invalid,
        }
    }
}

/// seq absent, or an integer in [0, 2^64-1].
pub fn seq_ok(raw: Option<&[u8]>) -> bool {
    raw.is_none_or(|r| is_uint(r, u64::MAX))
}

/// ts absent, or an integer that fits an i64.
pub fn ts_ok(raw: Option<&[u8]>) -> bool {
    match raw {
        None => true,
        Some([b'-', rest @ ..]) => is_uint(rest, 1 << 63),
        Some(r) => is_uint(r, i64::MAX as u64),
    }
}

/// A JSON integer without sign, fraction or exponent, at most max.
fn is_uint(raw: &[u8], max: u64) -> bool {
    if raw.is_empty() || raw.len() > 20 || (raw[0] == b'0' && raw.len() > 1) {
        return false;
    }
    let mut n: u64 = 0;
    for &c in raw {
        if !c.is_ascii_digit() {
            return false;
        }
        let Some(m) = n.checked_mul(10).and_then(|m| m.checked_add((c - b'0') as u64)) else { return false };
        n = m;
    }
    n <= max
}

/// Calls f with each element of the JSON array raw (already validated); false when raw is not an array of strings
/// or f says false.
pub fn for_each_string<'a>(raw: &'a [u8], mut f: impl FnMut(StrField<'a>) -> bool) -> bool {
    if raw.first() != Some(&b'[') {
        return false;
    }
    let mut i = skip_ws(raw, 1);
    if i < raw.len() && raw[i] == b']' {
        return true;
    }
    loop {
        if i >= raw.len() || raw[i] != b'"' {
            return false;
        }
        let Some((end, esc)) = scan_string(raw, i) else { return false };
        if !f(StrField { raw: Some(&raw[i..end]), escaped: esc }) {
            return false;
        }
        i = skip_ws(raw, end);
        if i >= raw.len() {
            return false;
        }
        match raw[i] {
            b',' => i = skip_ws(raw, i + 1),
            b']' => return true,
            _ => return false,
        }
    }
}

#[inline]
fn skip_ws(d: &[u8], mut i: usize) -> usize {
    while i < d.len() && matches!(d[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

const LSB: u64 = 0x0101010101010101;
const MSB: u64 = 0x8080808080808080;

/// Any byte of x below n (n ≤ 128) / equal to b: the classic SWAR tests, exact for existence.
#[inline]
fn has_less(x: u64, n: u8) -> bool {
    (x.wrapping_sub(LSB * n as u64)) & !x & MSB != 0
}
#[inline]
fn has_byte(x: u64, b: u8) -> bool {
    let y = x ^ (LSB * b as u64);
    (y.wrapping_sub(LSB)) & !y & MSB != 0
}

/// Scans the string at d[i] == '"': the index after its closing quote and whether it holds escapes. Control
/// characters and bad escapes are rejected (UTF-8 is checked for the whole frame before).
#[inline]
pub fn scan_string(d: &[u8], mut i: usize) -> Option<(usize, bool)> {
    i += 1;
    let mut escaped = false;
    while i < d.len() {
        // Eight plain bytes at a time: most of a payload is string content.
        while i + 8 <= d.len() {
            let x = u64::from_le_bytes(d[i..i + 8].try_into().unwrap());
            if has_less(x, 0x20) || has_byte(x, b'"') || has_byte(x, b'\\') {
                break;
            }
            i += 8;
        }
        if i >= d.len() {
            break;
        }
        match d[i] {
            b'"' => return Some((i + 1, escaped)),
            b'\\' => {
                escaped = true;
                match d.get(i + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                    b'u' => {
                        if i + 6 > d.len() || !d[i + 2..i + 6].iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        i += 6;
                    }
                    _ => return None,
                }
            }
            c if c < 0x20 => return None,
            _ => i += 1,
        }
    }
    None
}

fn scan_number(d: &[u8], mut i: usize) -> Option<usize> {
    if d.get(i) == Some(&b'-') {
        i += 1;
    }
    match d.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => {
            while i < d.len() && d[i].is_ascii_digit() {
                i += 1;
            }
        }
        _ => return None,
    }
    if d.get(i) == Some(&b'.') {
        i += 1;
        let s = i;
        while i < d.len() && d[i].is_ascii_digit() {
            i += 1;
        }
        if i == s {
            return None;
        }
    }
    if matches!(d.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(d.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let s = i;
        while i < d.len() && d[i].is_ascii_digit() {
            i += 1;
        }
        if i == s {
            return None;
        }
    }
    Some(i)
}

fn scan_literal(d: &[u8], i: usize, lit: &[u8]) -> Option<usize> {
    d.get(i..i + lit.len()).filter(|s| *s == lit).map(|_| i + lit.len())
}

/// Validates the JSON value at d[i] (no leading white space) and returns the index after it. Iterative, with open
/// containers in a bit stack, so nesting costs no call stack.
pub fn skip_value(d: &[u8], mut i: usize) -> Option<usize> {
    let mut stack = [0u64; MAX_DEPTH / 64]; // bit set: object, clear: array
    let mut depth = 0usize;
    loop {
        i = skip_ws(d, i);
        let c = *d.get(i)?;
        match c {
            b'{' | b'[' => {
                i = skip_ws(d, i + 1);
                if i < d.len() && ((c == b'{' && d[i] == b'}') || (c == b'[' && d[i] == b']')) {
                    i += 1;
                } else {
                    if depth == MAX_DEPTH {
                        return None;
                    }
                    if c == b'{' {
                        stack[depth / 64] |= 1 << (depth % 64);
                    } else {
                        stack[depth / 64] &= !(1 << (depth % 64));
                    }
                    depth += 1;
                    if c == b'{' {
                        i = object_key(d, i)?;
                    }
                    continue;
                }
            }
            b'"' => i = scan_string(d, i)?.0,
            b'-' | b'0'..=b'9' => i = scan_number(d, i)?,
            b't' => i = scan_literal(d, i, b"true")?,
            b'f' => i = scan_literal(d, i, b"false")?,
            b'n' => i = scan_literal(d, i, b"null")?,
            _ => return None,
        }
        // A value ended: close containers until one continues with ','.
        loop {
            if depth == 0 {
                return Some(i);
            }
            i = skip_ws(d, i);
            let c = *d.get(i)?;
            let in_object = stack[(depth - 1) / 64] & (1 << ((depth - 1) % 64)) != 0;
            if c == b',' {
                i = skip_ws(d, i + 1);
                if in_object {
                    i = object_key(d, i)?;
                }
                break;
            }
            if (in_object && c == b'}') || (!in_object && c == b']') {
                i += 1;
                depth -= 1;
                continue;
            }
            return None;
        }
    }
}

/// `"key" :` at d[i]: the index after the colon.
fn object_key(d: &[u8], i: usize) -> Option<usize> {
    if d.get(i) != Some(&b'"') {
        return None;
    }
    let (e, _) = scan_string(d, i)?;
    let e = skip_ws(d, e);
    (d.get(e) == Some(&b':')).then_some(e + 1)
}

/// Decodes the body of a scanned JSON string (between the quotes). Lone surrogates become U+FFFD, as Go's
/// encoding/json decodes them.
pub fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    let hex4 = |b: &[u8]| -> Option<u32> { u32::from_str_radix(std::str::from_utf8(b.get(..4)?).ok()?, 16).ok() };
    while i < s.len() {
        if s[i] != b'\\' {
            out.push(s[i]);
            i += 1;
            continue;
        }
        let c = s.get(i + 1).copied().unwrap_or(b'\\');
        i += 2;
        let ch = match c {
            b'b' => 8u32,
            b'f' => 12,
            b'n' => 10,
            b'r' => 13,
            b't' => 9,
            b'u' => {
                let hi = hex4(&s[i.min(s.len())..]).unwrap_or(0xFFFD);
                i += 4;
                if (0xD800..0xDC00).contains(&hi) && s.get(i..i + 2) == Some(b"\\u") {
                    match hex4(&s[i + 2..]) {
                        Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                            i += 6;
                            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                        }
                        _ => 0xFFFD,
                    }
                } else if (0xD800..0xE000).contains(&hi) {
                    0xFFFD
                } else {
                    hi
                }
            }
            other => other as u32, // " \ /
        };
        let mut b = [0u8; 4];
        out.extend_from_slice(char::from_u32(ch).unwrap_or('\u{FFFD}').encode_utf8(&mut b).as_bytes());
    }
    out
}

/// Appends s as a JSON string literal.
pub fn append_quoted(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c if c < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
            }
            c => out.push(c),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(s: &str) -> Option<Envelope<'_>> {
        let mut e = Envelope::default();
        parse(s.as_bytes(), &mut e).then_some(e)
    }

    #[test]
    fn fields_are_raw_slices() {
        let e = env(r#" {"type":"send","to":"b","seq":41,"ts":-7,"payload":{"x": [1.50, "\u00e9"]},"extra":[{}]} "#)
            .unwrap();
        assert_eq!(e.msg_type(), MsgType::Send);
        assert_eq!(e.to.raw, Some(&b"\"b\""[..]));
        assert_eq!(e.seq, Some(&b"41"[..]));
        assert_eq!(e.ts, Some(&b"-7"[..]));
        assert_eq!(e.payload, Some(&br#"{"x": [1.50, "\u00e9"]}"#[..]));
        assert!(seq_ok(e.seq) && ts_ok(e.ts));
    }

    #[test]
    fn null_and_repeats() {
        let e = env(r#"{"type":"ping","seq":null,"seq":3,"ts":null,"payload":null}"#).unwrap();
        assert_eq!((e.seq, e.ts, e.payload), (Some(&b"3"[..]), None, Some(&b"null"[..])));
        let e = env(r#"{"type":"ping","seq":3,"seq":null}"#).unwrap();
        assert_eq!(e.seq, None);
    }

    #[test]
    fn rejects_what_is_not_one_object() {
        for s in [
            "", "[1]", "nope", "{", "{}x", r#"{"a":1,}"#, r#"{"a" 1}"#, r#"{"a":01}"#, r#"{"a":"\x"}"#, "{\"a\":\"\u{1}\"}",
            r#"{"a":[1,]}"#, r#"{"a":tru}"#, r#"{"a":1.}"#, r#"{"a":{"b":1]}"#,
        ] {
            assert!(env(s).is_none(), "{s:?}");
        }
        assert!(env("{}").is_some());
        let deep = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(env(&format!(r#"{{"p":{deep}}}"#)).is_some());
        // The innermost empty array opens no level: n brackets nest n - 1 levels.
        let deeper = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
        assert!(env(&format!(r#"{{"p":{deeper}}}"#)).is_none());
    }

    #[test]
    fn numbers_ranges() {
        assert!(seq_ok(Some(b"18446744073709551615")) && !seq_ok(Some(b"18446744073709551616")));
        assert!(!seq_ok(Some(b"-1")) && !seq_ok(Some(b"1.5")) && !seq_ok(Some(b"1e3")) && !seq_ok(Some(b"\"1\"")));
        assert!(ts_ok(Some(b"-9223372036854775808")) && !ts_ok(Some(b"-9223372036854775809")));
        assert!(ts_ok(Some(b"9223372036854775807")) && !ts_ok(Some(b"9223372036854775808")));
    }

    #[test]
    fn escapes() {
        let e = env(r#"{"ty\u0070e":"re\u0067ister","id":"a\"b\ud83d\ude00\ud800"}"#).unwrap();
        assert_eq!(e.msg_type(), MsgType::Register);
        assert_eq!(&*e.id.value(), "a\"b😀\u{FFFD}".as_bytes());
        let mut q = Vec::new();
        append_quoted(&mut q, "a\"\\\n\u{1}é".as_bytes());
        assert_eq!(q, "\"a\\\"\\\\\\n\\u0001é\"".as_bytes());
        let mut names = Vec::new();
        assert!(for_each_string(br#"[ "a" , "b\n" ]"#, |f| {
            names.push(f.value().into_owned());
            true
        }));
        assert_eq!(names, vec![b"a".to_vec(), b"b\n".to_vec()]);
        assert!(!for_each_string(br#"["a",1]"#, |_| true));
        assert!(!for_each_string(br#""a""#, |_| true));
    }
}
