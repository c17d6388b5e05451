//! Counters and gauges with exactly the names and labels of docs/protocol.md, rendered by hand in the Prometheus
//! text exposition format 0.0.4. Every labelled series exists from start, at 0. The bus is one thread, so these
//! are plain integers: no atomic operation on the routing path.

use std::fmt::Write as _;

use crate::envelope::MsgType;

const IN_TYPES: [&str; 6] = ["register", "send", "broadcast", "group", "ping", "invalid"];

/// `type` label of bus_messages_out_total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutType {
    Msg = 0,
    Registered = 1,
    Pong = 2,
    Error = 3,
}
const OUT_TYPES: [&str; 4] = ["msg", "registered", "pong", "error"];

/// `mode` label of bus_deliveries_total (and the `mode` field of msg frames).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Direct = 0,
    Broadcast = 1,
    Group = 2,
}
const MODES: [&str; 3] = ["direct", "broadcast", "group"];

/// `code` label of bus_errors_total: the protocol's error codes plus too_large.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Malformed = 0,
    NotRegistered = 1,
    AlreadyRegistered = 2,
    DuplicateId = 3,
    UnknownTarget = 4,
    UnknownGroup = 5,
    TooLarge = 6,
}
const CODES: [&str; 7] =
    ["malformed", "not_registered", "already_registered", "duplicate_id", "unknown_target", "unknown_group", "too_large"];

impl Code {
    pub fn as_str(self) -> &'static str {
        CODES[self as usize]
    }
}

#[derive(Default, Debug)]
pub struct Metrics {
    pub connections: u64,
    pub accepted: u64,
    pub rejected_max_connections: u64,
    /// Connections that ended before a valid request head: timed out (HEAD_TIMEOUT), closed by the client, or a
    /// malformed or oversized head answered with an error (docs/protocol.md, resource limits).
    pub rejected_no_request_head: u64,
    pub messages_in: [u64; 6],
    pub messages_out: [u64; 4],
    pub deliveries: [u64; 3],
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub dropped_slow_consumer: u64,
    /// msg deliveries dropped by the planted faults (--plant-drop-every, or a full delay line; 0 unless planted).
    pub dropped_planted: u64,
    /// Pongs not queued for a socket that does not drain (beyond MAX_CTRL_BACKLOG unwritten bytes).
    pub dropped_pong: u64,
    pub errors: [u64; 7],
}

impl Metrics {
    pub fn message_in(&mut self, t: MsgType) {
        self.messages_in[t as usize] += 1;
    }

    /// Renders the exposition; `registered` is the current number of registered agents.
    pub fn render(&self, registered: usize) -> String {
        let mut out = String::with_capacity(4096);
        let w = &mut out;
        head(w, "bus_connections", "Open WebSocket connections.", "gauge");
        let _ = writeln!(w, "bus_connections {}", self.connections);
        head(w, "bus_connections_accepted_total", "WebSocket connections accepted.", "counter");
        let _ = writeln!(w, "bus_connections_accepted_total {}", self.accepted);
        head(w, "bus_rejected_connections_total", "WebSocket upgrades refused.", "counter");
        let _ = writeln!(w, "bus_rejected_connections_total{{reason=\"max_connections\"}} {}", self.rejected_max_connections);
        let _ = writeln!(w, "bus_rejected_connections_total{{reason=\"no_request_head\"}} {}", self.rejected_no_request_head);
        head(w, "bus_registered_agents", "Registered agents.", "gauge");
        let _ = writeln!(w, "bus_registered_agents {registered}");
        labelled(w, "bus_messages_in_total", "Messages received, by type.", "type", &IN_TYPES, &self.messages_in);
        labelled(w, "bus_messages_out_total", "Frames queued for writing, by type.", "type", &OUT_TYPES, &self.messages_out);
        labelled(w, "bus_deliveries_total", "Messages delivered, by mode.", "mode", &MODES, &self.deliveries);
        head(w, "bus_bytes_in_total", "Bytes received in text frames.", "counter");
        let _ = writeln!(w, "bus_bytes_in_total {}", self.bytes_in);
        head(w, "bus_bytes_out_total", "Bytes of text frames queued for writing.", "counter");
        let _ = writeln!(w, "bus_bytes_out_total {}", self.bytes_out);
        head(w, "bus_dropped_total", "Frames dropped.", "counter");
        let _ = writeln!(w, "bus_dropped_total{{reason=\"slow_consumer\"}} {}", self.dropped_slow_consumer);
        let _ = writeln!(w, "bus_dropped_total{{reason=\"planted\"}} {}", self.dropped_planted);
        let _ = writeln!(w, "bus_dropped_total{{reason=\"pong\"}} {}", self.dropped_pong);
        labelled(w, "bus_errors_total", "Errors, by code.", "code", &CODES, &self.errors);
        head(w, "process_resident_memory_bytes", "Resident memory size in bytes.", "gauge");
        let _ = writeln!(w, "process_resident_memory_bytes {}", rss_bytes());
        out
    }
}

fn head(w: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(w, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn labelled(w: &mut String, name: &str, help: &str, label: &str, values: &[&str], counts: &[u64]) {
    head(w, name, help, "counter");
    for (v, c) in values.iter().zip(counts) {
        let _ = writeln!(w, "{name}{{{label}=\"{v}\"}} {c}");
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
        let mut m = Metrics::default();
        m.errors[Code::TooLarge as usize] += 1;
        m.messages_out[OutType::Pong as usize] += 1;
        m.message_in(MsgType::Invalid);
        let text = m.render(3);
        for line in [
            "bus_connections 0",
            "bus_registered_agents 3",
            "bus_rejected_connections_total{reason=\"max_connections\"} 0",
            "bus_rejected_connections_total{reason=\"no_request_head\"} 0",
            "bus_messages_in_total{type=\"invalid\"} 1",
            "bus_messages_out_total{type=\"pong\"} 1",
            "bus_deliveries_total{mode=\"group\"} 0",
            "bus_dropped_total{reason=\"slow_consumer\"} 0",
            "bus_dropped_total{reason=\"planted\"} 0",
            "bus_dropped_total{reason=\"pong\"} 0",
            "bus_errors_total{code=\"too_large\"} 1",
            "bus_errors_total{code=\"unknown_group\"} 0",
            "# TYPE process_resident_memory_bytes gauge",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(rss_bytes() > 0);
    }
}
