//! Flags and environment variables (docs/protocol.md, "Limits and flags"). Flags are parsed like Go's `flag`
//! package (`-name value`, `--name value`, `-name=value`), so both buses accept the same command lines.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub addr: String,
    pub max_message_bytes: usize,
    pub queue_len: usize,
    pub max_connections: usize,
    /// Planted faults, test knobs for the lab's calibration (never tuning; 0 = off): hold every msg delivery this
    /// many ms, and drop every Nth msg delivery (counted as bus_dropped_total{reason="planted"}).
    pub plant_delay_ms: u64,
    pub plant_drop_every: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: ":8080".into(),
            max_message_bytes: 65536,
            queue_len: 256,
            max_connections: 20000,
            plant_delay_ms: 0,
            plant_drop_every: 0,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    /// -h / --help: print usage, exit 0.
    Help,
    /// Bad flag or value: print the message and usage, exit 2.
    Bad(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Help => f.write_str("help requested"),
            ParseError::Bad(m) => f.write_str(m),
        }
    }
}

pub const USAGE: &str = "usage: rust-bus-epoll [flags]
  --addr string              listen address (env BUS_ADDR) (default \":8080\")
  --max-message-bytes int    largest accepted message, bytes (env BUS_MAX_MESSAGE_BYTES) (default 65536)
  --queue-len int            outbound queue per connection, frames (env BUS_QUEUE_LEN) (default 256)
  --max-connections int      concurrent WebSocket connections (env BUS_MAX_CONNECTIONS) (default 20000)
  --plant-delay-ms int       PLANTED FAULT for calibration, not tuning: hold every msg delivery N ms (env BUS_PLANT_DELAY_MS)
  --plant-drop-every int     PLANTED FAULT for calibration, not tuning: drop every Nth msg delivery (env BUS_PLANT_DROP_EVERY)";

const FLAGS: [(&str, &str); 6] = [
    ("addr", "BUS_ADDR"),
    ("max-message-bytes", "BUS_MAX_MESSAGE_BYTES"),
    ("queue-len", "BUS_QUEUE_LEN"),
    ("max-connections", "BUS_MAX_CONNECTIONS"),
    ("plant-delay-ms", "BUS_PLANT_DELAY_MS"),
    ("plant-drop-every", "BUS_PLANT_DROP_EVERY"),
];

/// Builds the configuration from the environment (looked up through `env`) overridden by `args` (without the
/// program name).
pub fn parse<I, E>(args: I, env: E) -> Result<Config, ParseError>
where
    I: IntoIterator<Item = String>,
    E: Fn(&str) -> Option<String>,
{
    let mut cfg = Config::default();
    for (flag, var) in FLAGS {
        if let Some(v) = env(var) {
            set(&mut cfg, flag, &v).map_err(|e| ParseError::Bad(format!("{var}: {e}")))?;
        }
    }
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        if arg == "--" {
            if let Some(extra) = it.next() {
                return Err(ParseError::Bad(format!("unexpected argument {extra:?}")));
            }
            break;
        }
        let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            return Err(ParseError::Bad(format!("unexpected argument {arg:?}")));
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        if name == "h" || name == "help" {
            return Err(ParseError::Help);
        }
        if !FLAGS.iter().any(|(f, _)| *f == name) {
            return Err(ParseError::Bad(format!("flag provided but not defined: -{name}")));
        }
        let value = match inline {
            Some(v) => v,
            None => it.next().ok_or_else(|| ParseError::Bad(format!("flag needs an argument: -{name}")))?,
        };
        set(&mut cfg, name, &value).map_err(|e| ParseError::Bad(format!("-{name}: {e}")))?;
    }
    Ok(cfg)
}

fn set(cfg: &mut Config, flag: &str, v: &str) -> Result<(), String> {
    match flag {
        "addr" => {
            if v.is_empty() {
                return Err("empty address".into());
            }
            cfg.addr = v.to_string();
        }
        "max-message-bytes" => cfg.max_message_bytes = positive(v)?,
        "queue-len" => cfg.queue_len = positive(v)?,
        "max-connections" => cfg.max_connections = positive(v)?,
        "plant-delay-ms" => cfg.plant_delay_ms = non_negative(v)?,
        "plant-drop-every" => cfg.plant_drop_every = non_negative(v)?,
        _ => return Err(format!("unknown flag {flag}")),
    }
    Ok(())
}

fn positive(v: &str) -> Result<usize, String> {
    match v.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("invalid value {v:?}: want an integer > 0")),
    }
}

fn non_negative(v: &str) -> Result<u64, String> {
    v.trim().parse::<u64>().map_err(|_| format!("invalid value {v:?}: want an integer >= 0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults() {
        assert_eq!(parse(args(&[]), |_| None).unwrap(), Config::default());
    }

    #[test]
    fn flags_win_over_env() {
        let env = |k: &str| match k {
            "BUS_ADDR" => Some("127.0.0.1:1".to_string()),
            "BUS_QUEUE_LEN" => Some("7".to_string()),
            _ => None,
        };
        let cfg = parse(args(&["--addr", ":9", "-max-message-bytes=10", "--max-connections=3"]), env).unwrap();
        assert_eq!(
            cfg,
            Config { addr: ":9".into(), max_message_bytes: 10, queue_len: 7, max_connections: 3, ..Config::default() }
        );
    }

    #[test]
    fn plant_flags() {
        let env = |k: &str| (k == "BUS_PLANT_DELAY_MS").then(|| "60".to_string());
        let cfg = parse(args(&["--plant-drop-every", "100"]), env).unwrap();
        assert_eq!((cfg.plant_delay_ms, cfg.plant_drop_every), (60, 100));
        assert!(matches!(parse(args(&["--plant-delay-ms", "-1"]), |_| None), Err(ParseError::Bad(_))));
    }

    #[test]
    fn errors() {
        assert_eq!(parse(args(&["-h"]), |_| None), Err(ParseError::Help));
        assert!(matches!(parse(args(&["--nope"]), |_| None), Err(ParseError::Bad(_))));
        assert!(matches!(parse(args(&["--queue-len", "0"]), |_| None), Err(ParseError::Bad(_))));
        assert!(matches!(parse(args(&["--queue-len"]), |_| None), Err(ParseError::Bad(_))));
        assert!(matches!(parse(args(&["x"]), |_| None), Err(ParseError::Bad(_))));
        let env = |k: &str| (k == "BUS_MAX_CONNECTIONS").then(|| "-1".to_string());
        assert!(matches!(parse(args(&[]), env), Err(ParseError::Bad(_))));
    }
}
