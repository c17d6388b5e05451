# agentlab/agent: the Go agent program, static, FROM scratch (no registry needed), non-root.
FROM scratch
COPY bin /agent
USER 65534:65534
EXPOSE 9000
ENTRYPOINT ["/agent"]
