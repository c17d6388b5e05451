# agentlab/rustepoll: Rust's best bus design (rust-bus-epoll/: one epoll loop, envelope scanner, coalesced writes),
# static (crt-static), FROM scratch, non-root.
FROM scratch
COPY bin /rustepoll
USER 65534:65534
EXPOSE 8080
ENTRYPOINT ["/rustepoll"]
