# cloudpay container images. One Dockerfile, two kinds of image, chosen by the build
# argument FUNCTION; every image runs /function.
#
#   FUNCTION=all (the default, so what Cloud Hosting builds from this file): all five
#   functions in /app, the one to run chosen by the FUNCTION environment variable, which
#   every Cloud Hosting service sets for itself (build arguments may not be passable per
#   service). /function links to /app/launcher, which execs /app/$FUNCTION: the function
#   is PID 1 and gets SIGTERM itself; a missing or unknown FUNCTION stops the container
#   with the list of names.
#     docker build -t cloudpay .
#     docker run -e FUNCTION=refund -e MONGODB_URI=... cloudpay
#
#   FUNCTION=<name>: that function alone as /function (FUNCTION in the environment is
#   ignored):
#     docker build --build-arg FUNCTION=payment-callback -t cloudpay-payment-callback .
#
# Either can also be built from binaries made on the host, with no golang image and no
# network: target prebuilt takes a context directory that is the image's file system
# (binaries from `make build`, the host's CA certificates and zone data); `make image
# FUNCTION=all|<name>` does that with podman when no Docker engine runs.
#
# Every image: static CGO_ENABLED=0 binaries, -trimpath -ldflags "-s -w" -tags nomsgpack,
# on scratch with only /etc/ssl/certs/ca-certificates.crt, Asia/Shanghai zone data and
# /etc/passwd; user 65532 (non-root), TZ=Asia/Shanghai, PORT=80, port 80. A non-root
# process may bind port 80 where the runtime allows it (Docker >= 20.10 and containerd 2
# set net.ipv4.ip_unprivileged_port_start=0); elsewhere set PORT=8080 and use port 8080.
# functions/local (embedded store, simulator) never goes into an image.
#
# The WeChat Pay simulator alone (cmd/wechatsim), for merchants' CI: target wechatsim
# (wechatsim-prebuilt from the host's binary: make image FUNCTION=wechatsim). Listens on
# 0.0.0.0:8090, WeChat's paths at the root, control routes under /sim/, state in the
# volume /data (WECHATSIM_STATE=memory keeps none); the development keys are public, so
# never publish its port beyond the CI network.
#     docker build --target wechatsim -t cloudpay-wechatsim .
#     docker run -p 8090:8090 cloudpay-wechatsim
ARG GO_VERSION=1.26
ARG FUNCTION=all

FROM golang:${GO_VERSION}-bookworm AS toolchain
WORKDIR /src
# The runtime's only files besides the binaries.
RUN mkdir -p /out/rootfs/etc/ssl/certs /out/rootfs/usr/share/zoneinfo/Asia \
 && cp /etc/ssl/certs/ca-certificates.crt /out/rootfs/etc/ssl/certs/ \
 && cp /usr/share/zoneinfo/Asia/Shanghai /out/rootfs/usr/share/zoneinfo/Asia/ \
 && echo 'nonroot:x:65532:65532::/:/sbin/nologin' > /out/rootfs/etc/passwd \
 && echo 'nonroot:x:65532:' > /out/rootfs/etc/group
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ENV CGO_ENABLED=0

# FUNCTION=all: every function but local in /app, and the launcher as /function;
# otherwise the one function as /function.
FROM toolchain AS build
ARG FUNCTION
RUN set -e; \
    if [ "${FUNCTION}" = all ]; then \
      mkdir -p /out/rootfs/app; \
      for main in functions/*/main.go; do \
        f="${main#functions/}"; f="${f%/main.go}"; \
        if [ "$f" != local ]; then \
          go build -trimpath -ldflags "-s -w" -tags nomsgpack -o "/out/rootfs/app/$f" "./functions/$f"; \
        fi; \
      done; \
      go build -trimpath -ldflags "-s -w" -o /out/rootfs/app/launcher ./deploy/launcher; \
      ln -s app/launcher /out/rootfs/function; \
    else \
      case "${FUNCTION}" in local|*/*|.*|"") dir=none ;; *) dir="functions/${FUNCTION}" ;; esac; \
      if [ ! -f "$dir/main.go" ]; then \
        echo "FUNCTION=${FUNCTION}: not a deployable function (a folder of functions/ but local, or all)" >&2; exit 1; \
      fi; \
      go build -trimpath -ldflags "-s -w" -tags nomsgpack -o /out/rootfs/function "./functions/${FUNCTION}"; \
    fi

# The simulator: its binary, and /data writable by the non-root user.
FROM toolchain AS wechatsim-build
RUN go build -trimpath -ldflags "-s -w" -o /out/rootfs/wechatsim ./cmd/wechatsim \
 && mkdir -m 1777 /out/rootfs/data

FROM scratch AS wechatsim-prebuilt
COPY . /
ENV TZ=Asia/Shanghai HOST=0.0.0.0 PORT=8090 WECHATSIM_STATE=/data/wechatsim.jsonl
USER 65532:65532
EXPOSE 8090
VOLUME /data
ENTRYPOINT ["/wechatsim"]

FROM scratch AS wechatsim
COPY --from=wechatsim-build /out/rootfs/ /
ENV TZ=Asia/Shanghai HOST=0.0.0.0 PORT=8090 WECHATSIM_STATE=/data/wechatsim.jsonl
USER 65532:65532
EXPOSE 8090
VOLUME /data
ENTRYPOINT ["/wechatsim"]

# The same image from the host's binaries (make image, with podman): the build context
# is the image's file system, laid out as /out/rootfs above. Build it with --target
# prebuilt. (`COPY .` keeps a builder that runs every stage working on the source tree.)
FROM scratch AS prebuilt
COPY . /
ENV TZ=Asia/Shanghai PORT=80
USER 65532:65532
EXPOSE 80
ENTRYPOINT ["/function"]

# The image `docker build` makes (the last stage).
FROM scratch AS runtime
COPY --from=build /out/rootfs/ /
ENV TZ=Asia/Shanghai PORT=80
USER 65532:65532
EXPOSE 80
ENTRYPOINT ["/function"]
