# syntax=docker/dockerfile:1
# otelcol-rca collector image: ocb v0.148.0 builds the distribution described by
# builder-config.yaml; the result runs on distroless (no shell), so the image
# also carries a tiny HTTP probe (deploy/cmd/httpcheck) for health checks.
#   docker build -t otelcol-rca:dev .

FROM golang:1.26-bookworm AS build
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
# The modules the checksum database does not know: the Makefile's list, with
# its reasons (TestDockerfileBuildsTheManifest keeps the two the same).
ENV GONOSUMDB=github.com/open-telemetry/opentelemetry-collector-contrib/exporter/elasticsearchexporter,github.com/open-telemetry/opentelemetry-collector-contrib/exporter/loadbalancingexporter,github.com/aws/aws-sdk-go-v2/service/servicediscovery,github.com/open-telemetry/opentelemetry-collector-contrib/extension/pprofextension,github.com/open-telemetry/opentelemetry-collector-contrib/extension/encoding/otlpencodingextension,go.opentelemetry.io/ebpf-profiler,go.opentelemetry.io/collector/cmd/mdatagen,go.opentelemetry.io/collector/extension/memorylimiterextension
WORKDIR /src

# ocb at the version pinned by internal/tools/go.mod (v0.148.0).
COPY internal/tools/ internal/tools/
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    cd internal/tools && go build -o /usr/local/bin/ocb go.opentelemetry.io/collector/cmd/builder

# The health probe (standard library only).
COPY deploy/go.mod deploy/go.sum deploy/
COPY deploy/cmd/httpcheck/ deploy/cmd/httpcheck/
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    cd deploy && go build -o /out/httpcheck ./cmd/httpcheck

# The distribution. `path:` entries in the manifest resolve from /src; what
# the main package adds to ocb's sources (cmd/otelcol-rca) is copied in
# first, as `make build` does.
COPY builder-config.yaml ./
COPY cmd/ cmd/
COPY receiver/ receiver/
COPY processor/ processor/
COPY exporter/ exporter/
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    mkdir -p _build && cp cmd/otelcol-rca/*.go _build/ && \
    ocb --config=builder-config.yaml && cp _build/otelcol-rca /out/otelcol-rca
# The exporters' queues wait on disk here (file_storage); owned by the user
# the collector runs as, so that a volume mounted on it starts writable.
RUN mkdir -p /out/storage

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/otelcol-rca /otelcol-rca
COPY --from=build /out/httpcheck /httpcheck
COPY --from=build --chown=nonroot:nonroot /out/storage /var/lib/otelcol-rca
ENV RCA_STORAGE_DIR=/var/lib/otelcol-rca
COPY otelcol-config.yaml /etc/otelcol-rca/config.yaml
# OTLP gRPC/HTTP, prometheus exporter, internal telemetry, health_check extension.
EXPOSE 4317 4318 8889 8888 13133
USER nonroot:nonroot
# The health check of the shipped config reports the components' status (a
# failing exporter): the distribution turns its feature gate on by default
# (cmd/otelcol-rca/featuregates.go), so no flag is needed here.
ENTRYPOINT ["/otelcol-rca"]
CMD ["--config=/etc/otelcol-rca/config.yaml"]
