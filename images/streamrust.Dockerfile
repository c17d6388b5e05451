# agentlab/streamrust: the ai-streaming Rust client (rust-stream-client/), static (crt-static), FROM scratch, non-root.
FROM scratch
COPY bin /rust-stream-client
USER 65534:65534
ENTRYPOINT ["/rust-stream-client"]
