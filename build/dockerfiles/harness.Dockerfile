# One harness at one version: npm installs it into its own prefix in a stage built on the
# foundation, and the final stage holds only that prefix, so the image has a single layer whose
# snapshot is mounted read-only at the same prefix at run time.
ARG FOUNDATION=docker.io/library/aishell:foundation
FROM ${FOUNDATION} AS install
ARG PACKAGE
ARG VERSION
ARG PREFIX
ARG BIN
ARG NPM_REGISTRY=https://registry.npmjs.org/
# More packages installed into the same prefix (pi_packages): names aishell checked.
ARG EXTRAS=
# The host's CA bundle arrives as a build secret (never stored in the image), so npm works behind
# a TLS-inspecting proxy the host trusts.
RUN --mount=type=secret,id=ca-bundle,required=false \
    if [ -s /run/secrets/ca-bundle ]; then \
      export NODE_EXTRA_CA_CERTS=/run/secrets/ca-bundle npm_config_cafile=/run/secrets/ca-bundle; \
    fi \
 && npm install --global --prefix "${PREFIX}" --registry "${NPM_REGISTRY}" \
      --no-fund --no-audit --no-update-notifier --loglevel=error "${PACKAGE}@${VERSION}" ${EXTRAS} \
 && test -e "${PREFIX}/bin/${BIN}"

FROM scratch
ARG PREFIX
ARG PACKAGE
ARG VERSION
COPY --from=install ${PREFIX}/ /
LABEL dev.aishell.tier="harness" dev.aishell.harness.package="${PACKAGE}" dev.aishell.harness.version="${VERSION}"
