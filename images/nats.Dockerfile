# agentlab/nats: nats-server v2 embedded in a small static main (cmd/natsbus), FROM scratch, non-root: the
# reference bus. 4222 = NATS clients, 8222 = monitoring (/varz, /connz, /healthz).
FROM scratch
COPY bin /natsbus
USER 65534:65534
EXPOSE 4222 8222
ENTRYPOINT ["/natsbus"]
