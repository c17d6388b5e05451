# agentlab/nodeagent: the agent in Node.js (agents/node/agent.js; its conversation mode in converse.js), FROM
# scratch: rootfs.tar is this host's node, the libraries and ELF interpreter ldd lists, and ws (Debian's node-ws),
# made reproducibly by internal/images (ADD unpacks it; the same tar as nodebus's, so the daemon keeps one layer for
# both). Non-root; runs read-only.
FROM scratch
ADD rootfs.tar /
COPY agent.js /agentlab/agent.js
COPY converse.js /agentlab/converse.js
ENV NODE_PATH=/usr/share/nodejs
USER 65534:65534
EXPOSE 9000
ENTRYPOINT ["/usr/bin/node", "/agentlab/agent.js"]
