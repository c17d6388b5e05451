# agentlab/gobus: the Go message bus (gorilla/websocket), static, FROM scratch, non-root.
FROM scratch
COPY bin /gobus
USER 65534:65534
EXPOSE 8080
ENTRYPOINT ["/gobus"]
