# agentlab/mockllm: the mock Anthropic Messages API (cmd/mockllm), static, FROM scratch, non-root.
FROM scratch
COPY bin /mockllm
USER 65534:65534
EXPOSE 8080
ENTRYPOINT ["/mockllm"]
