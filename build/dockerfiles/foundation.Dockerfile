# aishell foundation: Debian bookworm + Node.js + the tools an agent uses in a shell.
# No harness lives here: each harness is its own snapshot, mounted at run time.
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim
ARG NODE_IMAGE=docker.io/library/node:24-bookworm-slim

FROM ${NODE_IMAGE} AS node

FROM ${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates curl git openssh-client less ripgrep jq procps tmux unzip vim \
      python3 make g++ tini \
 && rm -rf /var/lib/apt/lists/*
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -sf ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version
LABEL dev.aishell.tier="foundation"
CMD ["bash"]
