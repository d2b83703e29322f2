# Multi-stage build: a static CGO_ENABLED=0 binary (pcap replay is pure Go,
# the BPF object is embedded) on a distroless base, as a non-root user.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# docker build --build-arg VERSION=$(git describe --tags --always) \
#   --build-arg REVISION=$(git rev-parse HEAD) --build-arg BRANCH=$(git rev-parse --abbrev-ref HEAD) .
ARG VERSION=dev
ARG REVISION=
ARG BRANCH=
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.revision=${REVISION} -X main.branch=${BRANCH}" -o /scanwatch ./cmd/scanwatch

# --target live-nonroot: the same binary with file capabilities, to run live
# capture as the image's non-root user without --user 0:
#   docker build --target live-nonroot -t scanwatch:live-nonroot .
#   docker run --network host --cap-drop ALL --cap-add BPF --cap-add NET_ADMIN \
#     --cap-add PERFMON scanwatch:live-nonroot run --iface eth0
# File capabilities need the capabilities in the container's bounding set
# (--cap-add) and privilege escalation allowed: they are ignored under
# --security-opt no-new-privileges (Kubernetes: allowPrivilegeEscalation:
# false). The default image's uid-0-with-three-capabilities recipe below
# keeps no-new-privileges; scanwatch drops the capabilities either way.
# (Not built in scanwatch's tests: no container engine there.)
FROM build AS caps
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends libcap2-bin \
	&& setcap cap_bpf,cap_net_admin,cap_perfmon+ep /scanwatch

FROM gcr.io/distroless/static-debian12:nonroot AS live-nonroot
COPY --from=caps /scanwatch /usr/local/bin/scanwatch
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/scanwatch"]
CMD ["--help"]

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /scanwatch /usr/local/bin/scanwatch
# Replay needs no privileges and runs as nonroot. Live capture (scanwatch run)
# needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON: Docker gives added
# capabilities only to uid 0, so run it as uid 0 with every other capability
# dropped, never --privileged:
#   docker run --network host --user 0 --cap-drop ALL --security-opt no-new-privileges \
#     --cap-add BPF --cap-add NET_ADMIN --cap-add PERFMON scanwatch run --iface eth0
# (add NET_RAW for --promisc). Docker 20.10, as in Debian 12, rejects BPF and
# PERFMON as unknown: there --cap-add SYS_ADMIN alone does. Once attached,
# scanwatch drops every capability this kernel lets it do without (Linux 5.19
# and later: all of them).
# /metrics listens on 127.0.0.1:9595 by default; for a Prometheus elsewhere add
# --web.listen-address :9595 and firewall the port.
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/scanwatch"]
CMD ["--help"]
