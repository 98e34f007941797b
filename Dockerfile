# One Dockerfile for every function: docker build --build-arg FUNCTION=payment-callback .
# The result is a static, stripped binary on an empty base with CA certificates,
# Asia/Shanghai zone data and a non-root user, listening on port 80.
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
ARG FUNCTION=create-payment
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN test -f "functions/${FUNCTION}/main.go" && [ "${FUNCTION}" != local ] \
 && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -tags nomsgpack -o /out/function "./functions/${FUNCTION}"
RUN echo 'nonroot:x:65532:65532::/:/sbin/nologin' > /out/passwd

FROM scratch AS runtime
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /usr/share/zoneinfo/Asia/Shanghai /usr/share/zoneinfo/Asia/Shanghai
COPY --from=build /out/passwd /etc/passwd
COPY --from=build /out/function /function
ENV TZ=Asia/Shanghai PORT=80
USER 65532
EXPOSE 80
ENTRYPOINT ["/function"]
