# agentlab/cadvisor: our small main on the cAdvisor library, static, FROM scratch, non-root (it reads the
# host's /sys, /var/run and /var/lib/docker through read-only mounts).
FROM scratch
COPY bin /cadvisor
USER 65534:65534
EXPOSE 8080
ENTRYPOINT ["/cadvisor"]
