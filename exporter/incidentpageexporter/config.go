package incidentpageexporter // import "github.com/otelcol-rca/otelcol-rca/exporter/incidentpageexporter"

import (
	"errors"
	"fmt"
	"io"
	"text/template"

	"go.opentelemetry.io/collector/config/confighttp"
)

// Config of the incidentpage exporter.
type Config struct {
	// ServerConfig is where the page is served: loopback by default, like
	// zpages; the page shows what the telemetry says, which may be private.
	confighttp.ServerConfig `mapstructure:",squash"`
	// MaxIncidents bounds the incidents kept, the oldest forgotten first.
	MaxIncidents int `mapstructure:"max_incidents"`
	// Samples is how many sample traces each incident keeps for its waterfall.
	Samples int `mapstructure:"samples"`
	// MaxSpans bounds the spans kept of one sample trace.
	MaxSpans int `mapstructure:"max_spans"`
	// TraceURL is a URL template for a trace in a trace backend (Jaeger),
	// over .TraceID; empty shows no link.
	TraceURL string `mapstructure:"trace_url"`
	// DashboardURL is a URL template for an incident's dashboard (Grafana),
	// over .IncidentID; empty shows no link.
	DashboardURL string `mapstructure:"dashboard_url"`
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.NetAddr.Endpoint == "" {
		errs = append(errs, errors.New("endpoint: required, e.g. 127.0.0.1:55681"))
	}
	if c.MaxIncidents < 1 || c.MaxIncidents > 100_000 {
		errs = append(errs, fmt.Errorf("max_incidents: must be within [1, 100000], got %d", c.MaxIncidents))
	}
	if c.Samples < 0 || c.Samples > 100 {
		errs = append(errs, fmt.Errorf("samples: must be within [0, 100], got %d", c.Samples))
	}
	if c.MaxSpans < 1 || c.MaxSpans > 100_000 {
		errs = append(errs, fmt.Errorf("max_spans: must be within [1, 100000], got %d", c.MaxSpans))
	}
	for key, text := range map[string]string{"trace_url": c.TraceURL, "dashboard_url": c.DashboardURL} {
		if text == "" {
			continue
		}
		if _, err := parseLink(key, text); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

type linkFields struct{ IncidentID, TraceID string }

func parseLink(key, text string) (*template.Template, error) {
	t, err := template.New(key).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	if err := t.Execute(io.Discard, linkFields{"id", "trace"}); err != nil {
		return nil, fmt.Errorf("%s: %w (fields: .IncidentID, .TraceID)", key, err)
	}
	return t, nil
}
