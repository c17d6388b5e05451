# agentlab/rustbus: the Rust message bus (tokio + tokio-tungstenite), static (crt-static), FROM scratch, non-root.
FROM scratch
COPY bin /rustbus
USER 65534:65534
EXPOSE 8080
ENTRYPOINT ["/rustbus"]
