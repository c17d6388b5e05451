//! Counters and gauges with exactly the names and labels of docs/protocol.md, rendered by hand in the
//! Prometheus text exposition format 0.0.4. Every labelled series exists from start, at 0.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// `type` label of bus_messages_in_total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InType {
    Register,
    Send,
    Broadcast,
    Group,
    Ping,
    Invalid,
}
const IN_TYPES: [&str; 6] = ["register", "send", "broadcast", "group", "ping", "invalid"];

/// `type` label of bus_messages_out_total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutType {
    Msg,
    Registered,
    Pong,
    Error,
}
const OUT_TYPES: [&str; 4] = ["msg", "registered", "pong", "error"];

/// `mode` label of bus_deliveries_total (and the `mode` field of msg frames).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Direct,
    Broadcast,
    Group,
}
const MODES: [&str; 3] = ["direct", "broadcast", "group"];

impl Mode {
    pub fn as_str(self) -> &'static str {
        MODES[self as usize]
    }
}

/// `code` label of bus_errors_total: the protocol's error codes plus too_large.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Malformed,
    NotRegistered,
    AlreadyRegistered,
    DuplicateId,
    UnknownTarget,
    UnknownGroup,
    TooLarge,
}
const CODES: [&str; 7] = [
    "malformed",
    "not_registered",
    "already_registered",
    "duplicate_id",
    "unknown_target",
    "unknown_group",
    "too_large",
];

impl Code {
    pub fn as_str(self) -> &'static str {
        CODES[self as usize]
    }
}

#[derive(Default)]
pub struct Metrics {
    /// WebSocket connections held, including the instant between the capacity check and the 101 response.
    pub connections: AtomicUsize,
    pub accepted: AtomicU64,
    pub rejected_max_connections: AtomicU64,
    /// Connections closed before a valid request head: timed out, closed by the client, or a malformed head.
    pub rejected_no_request_head: AtomicU64,
    messages_in: [AtomicU64; 6],
    messages_out: [AtomicU64; 4],
    deliveries: [AtomicU64; 3],
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub dropped_slow_consumer: AtomicU64,
    /// msg deliveries dropped by the planted fault --plant-drop-every (0 unless planted).
    pub dropped_planted: AtomicU64,
    errors: [AtomicU64; 7],
}

impl Metrics {
    pub fn message_in(&self, t: InType) {
        self.messages_in[t as usize].fetch_add(1, Relaxed);
    }

    /// Counts one frame queued for writing, of `len` bytes.
    pub fn message_out(&self, t: OutType, len: usize) {
        self.messages_out[t as usize].fetch_add(1, Relaxed);
        self.bytes_out.fetch_add(len as u64, Relaxed);
    }

    pub fn delivery(&self, m: Mode) {
        self.deliveries[m as usize].fetch_add(1, Relaxed);
    }

    pub fn error(&self, c: Code) {
        self.errors[c as usize].fetch_add(1, Relaxed);
    }

    /// Renders the exposition; `registered` is the current number of registered agents.
    pub fn render(&self, registered: usize) -> String {
        let mut out = String::with_capacity(4096);
        let w = &mut out;
        head(w, "bus_connections", "Open WebSocket connections.", "gauge");
        let _ = writeln!(w, "bus_connections {}", self.connections.load(Relaxed));
        head(w, "bus_connections_accepted_total", "WebSocket connections accepted.", "counter");
        let _ = writeln!(w, "bus_connections_accepted_total {}", self.accepted.load(Relaxed));
        head(w, "bus_rejected_connections_total", "Connections refused, by reason.", "counter");
        let _ = writeln!(
            w,
            "bus_rejected_connections_total{{reason=\"max_connections\"}} {}",
            self.rejected_max_connections.load(Relaxed)
        );
        let _ = writeln!(
            w,
            "bus_rejected_connections_total{{reason=\"no_request_head\"}} {}",
            self.rejected_no_request_head.load(Relaxed)
        );
        head(w, "bus_registered_agents", "Registered agents.", "gauge");
        let _ = writeln!(w, "bus_registered_agents {registered}");
        labelled(w, "bus_messages_in_total", "Messages received, by type.", "type", &IN_TYPES, &self.messages_in);
        labelled(
            w,
            "bus_messages_out_total",
            "Frames queued for writing, by type.",
            "type",
            &OUT_TYPES,
            &self.messages_out,
        );
        labelled(w, "bus_deliveries_total", "Messages delivered, by mode.", "mode", &MODES, &self.deliveries);
        head(w, "bus_bytes_in_total", "Bytes received in text frames.", "counter");
        let _ = writeln!(w, "bus_bytes_in_total {}", self.bytes_in.load(Relaxed));
        head(w, "bus_bytes_out_total", "Bytes of text frames queued for writing.", "counter");
        let _ = writeln!(w, "bus_bytes_out_total {}", self.bytes_out.load(Relaxed));
        head(w, "bus_dropped_total", "Frames dropped.", "counter");
        let _ =
            writeln!(w, "bus_dropped_total{{reason=\"slow_consumer\"}} {}", self.dropped_slow_consumer.load(Relaxed));
        let _ = writeln!(w, "bus_dropped_total{{reason=\"planted\"}} {}", self.dropped_planted.load(Relaxed));
        labelled(w, "bus_errors_total", "Errors, by code.", "code", &CODES, &self.errors);
        head(w, "process_resident_memory_bytes", "Resident memory size in bytes.", "gauge");
        let _ = writeln!(w, "process_resident_memory_bytes {}", rss_bytes());
        out
    }
}

fn head(w: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(w, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn labelled(w: &mut String, name: &str, help: &str, label: &str, values: &[&str], counts: &[AtomicU64]) {
    head(w, name, help, "counter");
    for (v, c) in values.iter().zip(counts) {
        let _ = writeln!(w, "{name}{{{label}=\"{v}\"}} {}", c.load(Relaxed));
    }
}

/// Resident set size from /proc/self/statm (second field, in pages).
pub fn rss_bytes() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/statm") else { return 0 };
    let pages = s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * if page > 0 { page as u64 } else { 4096 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_lists_every_series() {
        let m = Metrics::default();
        m.error(Code::TooLarge);
        m.message_out(OutType::Pong, 10);
        let text = m.render(3);
        for line in [
            "bus_connections 0",
            "bus_registered_agents 3",
            "bus_rejected_connections_total{reason=\"max_connections\"} 0",
            "bus_rejected_connections_total{reason=\"no_request_head\"} 0",
            "bus_messages_in_total{type=\"invalid\"} 0",
            "bus_messages_out_total{type=\"pong\"} 1",
            "bus_deliveries_total{mode=\"group\"} 0",
            "bus_bytes_out_total 10",
            "bus_dropped_total{reason=\"slow_consumer\"} 0",
            "bus_dropped_total{reason=\"planted\"} 0",
            "bus_errors_total{code=\"too_large\"} 1",
            "bus_errors_total{code=\"unknown_group\"} 0",
            "# TYPE process_resident_memory_bytes gauge",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(rss_bytes() > 0);
    }
}
