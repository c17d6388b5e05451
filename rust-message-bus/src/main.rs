//! rust-message-bus: the agentlab message bus of docs/protocol.md on tokio + tungstenite. One TCP port serves
//! WebSocket clients on /ws and plain HTTP /health and /metrics.

mod config;
mod conn;
mod http;
mod hub;
mod metrics;
mod proto;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

/// The bus exits this long after SIGTERM/SIGINT at the latest (the protocol allows 5 s).
const SHUTDOWN_GRACE: Duration = Duration::from_millis(4500);

fn main() {
    let cfg = match config::parse(std::env::args().skip(1), |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(config::ParseError::Help) => {
            println!("{}", config::USAGE);
            std::process::exit(0);
        }
        Err(e) => {
            eprintln!("rust-message-bus: {e}\n{}", config::USAGE);
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rust-message-bus: runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = rt.block_on(run(cfg));
    std::process::exit(code);
}

async fn run(cfg: config::Config) -> i32 {
    let listener = match bind(&cfg.addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("rust-message-bus: listen on {}: {e}", cfg.addr);
            return 1;
        }
    };
    let (mut term, mut int) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(t), Ok(i)) => (t, i),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("rust-message-bus: signals: {e}");
            return 1;
        }
    };
    eprintln!(
        "rust-message-bus listening on {} (max-message-bytes={} queue-len={} max-connections={})",
        listener.local_addr().map_or_else(|_| cfg.addr.clone(), |a| a.to_string()),
        cfg.max_message_bytes,
        cfg.queue_len,
        cfg.max_connections
    );
    if cfg.plant_delay_ms > 0 || cfg.plant_drop_every > 0 {
        eprintln!(
            "rust-message-bus: PLANTED FAULTS (calibration, not tuning): delay {} ms per msg, drop every {}",
            cfg.plant_delay_ms, cfg.plant_drop_every
        );
    }
    let (sh, line) = conn::Shared::new(cfg);
    let sh = Arc::new(sh);
    if let Some(rx) = line {
        let sh = sh.clone();
        tokio::spawn(async move { sh.hub.run_delay_line(rx).await });
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection task holds a clone; recv() returns None once all of them have ended.
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            r = listener.accept() => match r {
                Ok((tcp, _)) => {
                    let _ = tcp.set_nodelay(true);
                    let (sh, stop, alive) = (sh.clone(), stop_rx.clone(), alive_tx.clone());
                    tokio::spawn(async move {
                        conn::serve(tcp, sh, stop).await;
                        drop(alive);
                    });
                }
                // Out of descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
        }
    }
    drop(listener);
    eprintln!("rust-message-bus: shutting down");
    let _ = stop_tx.send(true);
    drop(alive_tx);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, alive_rx.recv()).await;
    0
}

/// Listens on a Go-style address: ":port" (all interfaces, dual-stack when IPv6 exists), "ip:port",
/// "[v6]:port" or "host:port".
async fn bind(addr: &str) -> io::Result<TcpListener> {
    let bad = || io::Error::new(io::ErrorKind::InvalidInput, format!("bad address {addr:?}: want host:port"));
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let candidates: Vec<SocketAddr> = if host.is_empty() {
        vec![(Ipv6Addr::UNSPECIFIED, port).into(), (Ipv4Addr::UNSPECIFIED, port).into()]
    } else if let Ok(ip) = host.parse::<IpAddr>() {
        vec![(ip, port).into()]
    } else if host == "localhost" {
        vec![(Ipv4Addr::LOCALHOST, port).into()]
    } else {
        tokio::net::lookup_host((host, port)).await?.collect()
    };
    let mut first_err = None;
    for a in candidates {
        match listen(a) {
            Ok(l) => return Ok(l),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(bad))
}

fn listen(a: SocketAddr) -> io::Result<TcpListener> {
    let s = if a.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    s.set_reuseaddr(true)?;
    s.bind(a)?;
    s.listen(4096)
}
