# syntax=docker/dockerfile:1
# One image for every demo service and the load generator (services/ module).
# The first argument selects the service: `rca-services order|payment|...`;
# the load generator is /usr/local/bin/loadgen (override the entrypoint).
#   docker build -f deploy/services.Dockerfile -t otelcol-rca-services:dev .

FROM golang:1.26-bookworm AS build
# SQLite is modernc.org/sqlite (pure Go), so static binaries work.
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
WORKDIR /src

COPY services/go.mod services/go.sum services/
RUN --mount=type=cache,target=/root/go/pkg/mod cd services && go mod download

COPY deploy/go.mod deploy/go.sum deploy/
COPY deploy/cmd/httpcheck/ deploy/cmd/httpcheck/
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    cd deploy && go build -o /out/httpcheck ./cmd/httpcheck

COPY services/ services/
# Every main package of the module, named after its folder (rca-services, loadgen).
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    cd services && go build -o /out/ ./... \
    && test -x /out/rca-services && test -x /out/loadgen

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/rca-services"]
