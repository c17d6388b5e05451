# agentlab/nodebus: the Node.js message bus on ws (nodebus/node-message-bus.js, docs/protocol.md), FROM scratch:
# rootfs.tar is this host's node, its libraries and ELF interpreter, and ws from Debian's node-ws (the same tar as
# nodeagent's: one layer for both). Non-root.
FROM scratch
ADD rootfs.tar /
COPY node-message-bus.js /agentlab/node-message-bus.js
ENV NODE_PATH=/usr/share/nodejs
USER 65534:65534
EXPOSE 8080
ENTRYPOINT ["/usr/bin/node", "/agentlab/node-message-bus.js"]
