package demo

import (
	"fmt"
	"strings"
)

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
	alerts, alertsExporter := "", ""
	if alertmanager != "" {
		alerts = fmt.Sprintf("  incidentalert:\n    endpoint: %q\n", alertmanager)
		alertsExporter = ", incidentalert"
	}
	return fmt.Sprintf(`# Written by rca-demo for one run; regenerated every time.
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
      processors: [memory_limiter, rootcause, batch]
      exporters: [incidentpage, debug]
    metrics:
      receivers: [otlp]
      processors: [memory_limiter, rootcause, batch]
      exporters: [debug]
    logs:
      receivers: [otlp]
      processors: [memory_limiter, rootcause, batch]
      exporters: [file/incidents, incidentpage, debug%[7]s]
`, p.OTLPGRPC(), p.OTLPHTTP(), p.Health(), incidentsPath, rootcause, alerts, alertsExporter, p.Page())
}
