# Not an image: docker-compose.yml's `build:` for agentlab/lab, reached only when that image is missing, since
# Compose v1 ignores `pull_policy: never` and would try to pull it. It fails with the fix in its one error line.
FROM scratch
COPY ["agentlab/lab:latest is missing: build it with make images", "/"]
