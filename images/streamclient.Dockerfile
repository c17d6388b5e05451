# agentlab/streamclient: the ai-streaming Go client (cmd/streamclient, --mode sdk|lean), static, FROM scratch, non-root.
FROM scratch
COPY bin /streamclient
USER 65534:65534
ENTRYPOINT ["/streamclient"]
