# agentlab/lab: the lab runner, plus every other image's Dockerfile and static binary (images/, prebuilt/: the
# bundle, AGENTLAB_PREBUILT), so the lab builds those images through the daemon, with the same hash tags, and
# runs every scenario with no Go toolchain, cargo or registry inside. FROM scratch.
# Users: 65534 by default, which is all a TCP DOCKER_HOST needs. With the socket mounted, run it as a user that can
# open the socket: the socket's group added (docker-compose.yml: user + group_add: DOCKER_GID); results written
# to a mounted folder belong to that user (LAB_UID:LAB_GID in compose).
FROM scratch
# dirs.tar holds /tmp (run locks) and /lab (working folder; results when nothing is mounted there), sticky and
# world-writable, so any uid the lab runs as can write them.
ADD dirs.tar /
COPY images /agentlab/images
COPY prebuilt /agentlab/prebuilt
COPY bin /agentlab/lab
ENV AGENTLAB_PREBUILT=/agentlab
WORKDIR /lab
USER 65534:65534
ENTRYPOINT ["/agentlab/lab"]
CMD ["--help"]
