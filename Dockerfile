# One image for every Slipway role: `docker run slipway app|worker|gateway|all`.
# Built from debian:trixie-slim with Debian's Node 20, so it builds with or without a
# container registry mirror of node images. nginx with its njs module is the gateway's data
# plane (SLIPWAY_DATA_PLANE=nginx); setpriv comes with util-linux.
FROM debian:trixie-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm git ca-certificates nginx libnginx-mod-http-js \
 && rm -rf /var/lib/apt/lists/*
# Behind a TLS-intercepting proxy: its CA (PEM text, build argument CA_BUNDLE), for npm here
# and for everything in the image later. Empty: nothing changes.
ARG CA_BUNDLE=""
RUN if [ -n "$CA_BUNDLE" ]; then printf '%s\n' "$CA_BUNDLE" > /usr/local/share/ca-certificates/slipway-build-ca.crt && update-ca-certificates; fi
WORKDIR /opt/slipway
COPY package.json package-lock.json ./
RUN if [ -n "$CA_BUNDLE" ]; then export NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/slipway-build-ca.crt; fi; npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY src ./src
COPY runtimes ./runtimes
ENV NODE_ENV=production
ENTRYPOINT ["node", "bin/slipway.js"]
CMD ["all"]
