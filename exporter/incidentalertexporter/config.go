package incidentalertexporter // import "github.com/otelcol-rca/otelcol-rca/exporter/incidentalertexporter"

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"text/template"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

// Config of the incidentalert exporter.
type Config struct {
	// ClientConfig holds the Alertmanager base URL (endpoint, e.g.
	// http://127.0.0.1:9093) and the HTTP client settings (TLS, headers).
	confighttp.ClientConfig `mapstructure:",squash"`

	// AlertName is the alertname label of every alert.
	AlertName string `mapstructure:"alert_name"`
	// Severity maps an incident kind (error, latency) to the severity label.
	Severity map[string]string `mapstructure:"severity"`
	// ResendInterval is how often firing alerts are sent again. Alertmanager
	// resolves an alert it has not heard of by its endsAt, which is set to
	// four intervals ahead: three re-sends may fail before an incident that
	// is still open shows as resolved.
	ResendInterval time.Duration `mapstructure:"resend_interval"`
	// Links are annotations built from URL templates, by annotation name:
	// the trace in Jaeger, the Grafana dashboard, the incident page. A
	// template sees .IncidentID, .TraceID (the first sample trace),
	// .Service and .Operation.
	Links map[string]string `mapstructure:"links"`
	// GeneratorURL is a URL template for the alert's generatorURL (the link
	// Alertmanager shows as the alert's source), with the same fields.
	GeneratorURL string `mapstructure:"generator_url"`
	// MaxAlerts bounds the firing alerts kept for re-sending.
	MaxAlerts int `mapstructure:"max_alerts"`

	QueueSettings             configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	configretry.BackOffConfig `mapstructure:"retry_on_failure"`
	TimeoutSettings           exporterhelper.TimeoutConfig `mapstructure:",squash"`
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Endpoint == "" {
		errs = append(errs, errors.New("endpoint: required, the Alertmanager base URL (e.g. http://127.0.0.1:9093)"))
	} else if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("endpoint: %q is not an http(s) URL with a host", c.Endpoint))
	}
	if c.AlertName == "" {
		errs = append(errs, errors.New("alert_name: must not be empty"))
	}
	if c.ResendInterval < time.Second {
		errs = append(errs, fmt.Errorf("resend_interval: must be at least 1s (with a unit, e.g. 1m), got %s", c.ResendInterval))
	}
	if c.MaxAlerts < 1 {
		errs = append(errs, fmt.Errorf("max_alerts: must be at least 1, got %d", c.MaxAlerts))
	}
	for name, text := range c.Links {
		if _, err := parseLink(name, text); err != nil {
			errs = append(errs, fmt.Errorf("links: %w", err))
		}
	}
	if c.GeneratorURL != "" {
		if _, err := parseLink("generator_url", c.GeneratorURL); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// linkFields are what a link template sees.
type linkFields struct {
	IncidentID, TraceID, Service, Operation string
}

// parseLink parses a URL template and tries it on sample fields, so that a
// template that cannot run fails at startup, not on the first incident.
func parseLink(name, text string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := t.Execute(io.Discard, linkFields{"id", "trace", "service", "operation"}); err != nil {
		return nil, fmt.Errorf("%s: %w (fields: .IncidentID, .TraceID, .Service, .Operation)", name, err)
	}
	return t, nil
}
