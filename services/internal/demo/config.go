package demo

import (
	"fmt"
	"strings"
)

// grpcBatches bounds what an OTLP/gRPC exporter sends at once, as the
// shipped configs do (otelcol-config.yaml): at most 3 MiB of protobuf a
// request, under the 4 MiB a gRPC server accepts by default; a request
// refused as too large is dropped, not retried. Indented for an exporter's
// settings (four spaces).
const grpcBatches = `    sending_queue:
      batch:
        sizer: bytes
        min_size: 0
        max_size: 3145728
`

// Ports are the loopback ports of a run, all derived from one base.
type Ports struct{ Base int }

func (p Ports) OTLPGRPC() int     { return p.Base }
func (p Ports) OTLPHTTP() int     { return p.Base + 1 }
func (p Ports) Health() int       { return p.Base + 2 }
func (p Ports) Page() int         { return p.Base + 3 }
func (p Ports) Service(i int) int { return p.Base + 10 + i }

// collectorConfig is the collector configuration of a run: OTLP in, the shared
// rootcause processor in all three pipelines, incidents (and the services' logs)
// to a file as OTLP JSON and to the incident page (with their sample traces),
// and to Alertmanager as alerts when alertmanager (its base URL) is set.
func collectorConfig(p Ports, incidentsPath, rootcause, alertmanager string) string {
	if strings.TrimSpace(rootcause) == "" {
		rootcause = "{}"
	}
	return incidentsCollector{
		grpc: p.OTLPGRPC(), http: p.OTLPHTTP(), health: p.Health(), page: p.Page(),
		rootcause: rootcause, tracesProcessors: "memory_limiter, rootcause, batch",
		incidentsPath: incidentsPath, alertmanager: alertmanager,
	}.config("")
}

// incidentsCollector is a collector that keeps the incidents: the single
// collector of a run, or the incident stage of its cluster.
type incidentsCollector struct {
	grpc, http, health, page int // http 0: no OTLP/HTTP receiver
	rootcause                string
	tracesProcessors         string
	incidentsPath            string
	alertmanager             string
}

func (c incidentsCollector) config(note string) string {
	alerts, alertsExporter := "", ""
	if c.alertmanager != "" {
		alerts = fmt.Sprintf("  incidentalert:\n    endpoint: %q\n", c.alertmanager)
		alertsExporter = ", incidentalert"
	}
	http := ""
	if c.http != 0 {
		http = fmt.Sprintf("\n      http:\n        endpoint: 127.0.0.1:%d", c.http)
	}
	return fmt.Sprintf(`# Written by rca-demo for one run%[10]s; regenerated every time.
extensions:
  health_check:
    endpoint: 127.0.0.1:%[3]d

receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%[1]d%[2]s

processors:
  memory_limiter:
    check_interval: 1s
    limit_mib: 512
    spike_limit_mib: 128
  rootcause: %[5]s
  batch:
    timeout: 1s

exporters:
  file/incidents:
    path: %[4]q
    format: json
    flush_interval: 1s
  debug:
    verbosity: basic
  incidentpage:
    endpoint: 127.0.0.1:%[8]d
%[6]s
service:
  extensions: [health_check]
  telemetry:
    logs:
      level: info
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      processors: [%[9]s]
      exporters: [incidentpage, debug]
    metrics:
      receivers: [otlp]
      processors: [memory_limiter, rootcause, batch]
      exporters: [debug]
    logs:
      receivers: [otlp]
      processors: [memory_limiter, rootcause, batch]
      exporters: [file/incidents, incidentpage, debug%[7]s]
`, c.grpc, http, c.health, c.incidentsPath, c.rootcause, alerts, alertsExporter, c.page, c.tracesProcessors, note)
}

// The loopback ports of the cluster of a run (--shards): the gateway takes
// the single collector's OTLP and health ports, so that the services send to
// it unchanged; the incident stage keeps the incident page.
func (p Ports) StageOTLP() int        { return p.Base + 20 }
func (p Ports) StageHealth() int      { return p.Base + 21 }
func (p Ports) ShardOTLP(i int) int   { return p.Base + 22 + 2*i }
func (p Ports) ShardHealth(i int) int { return p.Base + 23 + 2*i }

// withMode puts mode first into a rootcause configuration given as a YAML
// flow mapping.
func withMode(rootcause, mode string) string {
	body := strings.TrimSpace(rootcause)
	body = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(body, "{"), "}"))
	if body == "" {
		return "{mode: " + mode + "}"
	}
	return "{mode: " + mode + ", " + body + "}"
}

// gatewayConfig is the first tier of the cluster: traces and logs routed by
// trace ID to the shards (the contrib loadbalancing exporter, static
// resolver), metrics to the incident stage (exemplars) and to every shard
// (the CPU saturation their diagnosis reads).
func gatewayConfig(p Ports, shards int) string {
	var hosts, metricsExporters, shardExporters []string
	for i := range shards {
		hosts = append(hosts, fmt.Sprintf("127.0.0.1:%d", p.ShardOTLP(i)))
		shardExporters = append(shardExporters, fmt.Sprintf("  otlp_grpc/shard%d:\n    endpoint: 127.0.0.1:%d\n    tls:\n      insecure: true\n", i, p.ShardOTLP(i))+grpcBatches)
		metricsExporters = append(metricsExporters, fmt.Sprintf("otlp_grpc/shard%d", i))
	}
	return fmt.Sprintf(`# Written by rca-demo for one run (--shards); regenerated every time.
extensions:
  health_check:
    endpoint: 127.0.0.1:%[3]d

receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%[1]d
      http:
        endpoint: 127.0.0.1:%[2]d

processors:
  memory_limiter:
    check_interval: 1s
    limit_mib: 256
    spike_limit_mib: 64

exporters:
  loadbalancing:
    routing_key: traceID
    protocol:
      otlp:
        tls:
          insecure: true
%[9]s    resolver:
      static:
        hostnames: [%[4]s]
  otlp_grpc/stage:
    endpoint: 127.0.0.1:%[5]d
    tls:
      insecure: true
%[8]s%[6]s
service:
  extensions: [health_check]
  telemetry:
    logs:
      level: info
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter]
      exporters: [loadbalancing]
    logs:
      receivers: [otlp]
      processors: [memory_limiter]
      exporters: [loadbalancing]
    metrics:
      receivers: [otlp]
      processors: [memory_limiter]
      exporters: [otlp_grpc/stage, %[7]s]
`, p.OTLPGRPC(), p.OTLPHTTP(), p.Health(), strings.Join(hosts, ", "), p.StageOTLP(),
		strings.Join(shardExporters, ""), strings.Join(metricsExporters, ", "), grpcBatches, indent(grpcBatches, "    "))
}

// shardConfig is one rootcause shard: it diagnoses the traces routed to it,
// and sends them, their logs and its verdicts to the incident stage.
func shardConfig(p Ports, i int, rootcause string) string {
	return fmt.Sprintf(`# Written by rca-demo for one run (--shards); regenerated every time.
extensions:
  health_check:
    endpoint: 127.0.0.1:%[2]d

receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%[1]d

processors:
  memory_limiter:
    check_interval: 1s
    limit_mib: 512
    spike_limit_mib: 128
  rootcause: %[3]s
  batch:
    timeout: 1s

exporters:
  otlp_grpc/stage:
    endpoint: 127.0.0.1:%[4]d
    tls:
      insecure: true
%[5]s  debug:
    verbosity: basic

service:
  extensions: [health_check]
  telemetry:
    logs:
      level: info
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, rootcause, batch]
      exporters: [otlp_grpc/stage]
    metrics:
      receivers: [otlp]
      processors: [memory_limiter, rootcause]
      exporters: [debug]
    logs:
      receivers: [otlp]
      processors: [memory_limiter, rootcause, batch]
      exporters: [otlp_grpc/stage]
`, p.ShardOTLP(i), p.ShardHealth(i), withMode(rootcause, "shard"), p.StageOTLP(), grpcBatches)
}

// stageConfig is the incident stage: the shards' verdicts in, the incidents
// out, as the single collector's logs pipeline writes them; the traces the
// shards forward go to the incident page only (rootcause at the stage takes
// no traces pipeline).
func stageConfig(p Ports, incidentsPath, rootcause, alertmanager string) string {
	return incidentsCollector{
		grpc: p.StageOTLP(), health: p.StageHealth(), page: p.Page(),
		rootcause: withMode(rootcause, "incidents"), tracesProcessors: "memory_limiter, batch",
		incidentsPath: incidentsPath, alertmanager: alertmanager,
	}.config(" (--shards)")
}

// indent prefixes every line of s with prefix.
func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}
