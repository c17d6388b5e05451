# agentlab/loadgen: the bus-load generator, static, FROM scratch, non-root.
FROM scratch
COPY bin /loadgen
USER 65534:65534
ENTRYPOINT ["/loadgen"]
