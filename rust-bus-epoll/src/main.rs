//! rust-bus-epoll: the agentlab message bus (docs/protocol.md) on one epoll loop.

use rust_bus_epoll::{bus, config};

fn main() {
    let cfg = match config::parse(std::env::args().skip(1), |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(config::ParseError::Help) => {
            println!("{}", config::USAGE);
            std::process::exit(0);
        }
        Err(e) => {
            eprintln!("rust-bus-epoll: {e}\n{}", config::USAGE);
            std::process::exit(2);
        }
    };
    std::process::exit(bus::main(cfg));
}
