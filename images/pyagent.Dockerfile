# agentlab/pyagent: the agent in Python (agents/python/agent.py), FROM scratch: rootfs.tar is this host's
# python3 with its libraries, ELF interpreter and a trimmed standard library (internal/images.Runtimes), made
# reproducibly. -I: no user site, no environment; bytecode is never written (the image runs read-only). Non-root.
FROM scratch
ADD rootfs.tar /
COPY agent.py /agentlab/agent.py
ENV PYTHONDONTWRITEBYTECODE=1
USER 65534:65534
EXPOSE 9000
ENTRYPOINT ["/usr/bin/python3", "-I", "/agentlab/agent.py"]
