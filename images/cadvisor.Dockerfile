# agentlab/cadvisor: our small main on the cAdvisor library (cmd/cadvisor, a nested module), static, FROM scratch.
# USER 0 on purpose: it must talk to /var/run/docker.sock (root:root 0660) and read
# /var/lib/docker/image/<driver>/layerdb (root 0700) to accept a container, and both are only reachable as root.
# It still runs unprivileged (no --privileged, no added capabilities) with every host path mounted read-only.
FROM scratch
COPY bin /cadvisor
USER 0:0
EXPOSE 8080
ENTRYPOINT ["/cadvisor"]
