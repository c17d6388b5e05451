//! rust-bus-epoll: the agentlab message bus of docs/protocol.md, Rust's best design (see README.md): one epoll
//! loop on raw libc calls, an envelope scanner in place of serde_json, frames appended straight into each
//! recipient's write buffer, and one write per drained buffer.

pub mod bus;
pub mod config;
pub mod envelope;
pub mod frame;
pub mod http;
pub mod metrics;
