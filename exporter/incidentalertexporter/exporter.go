package incidentalertexporter // import "github.com/otelcol-rca/otelcol-rca/exporter/incidentalertexporter"

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"text/template"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-rca/otelcol-rca/exporter/incidentalertexporter/internal/metadata"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/incidentrecord"
)

// alertExporter owns the firing alerts: it adds, updates and resolves them
// from incident records, and re-sends them until their incident resolves.
type alertExporter struct {
	cfg       *Config
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	links     map[string]*template.Template
	generator *template.Template
	settings  component.TelemetrySettings
	url       string
	client    *http.Client

	mu     sync.Mutex
	firing map[string]alert // by incident ID

	stop chan struct{}
	done chan struct{}
	// now is the clock; tests replace it.
	now func() time.Time
}

func newAlertExporter(cfg *Config, set exporter.Settings) (*alertExporter, error) {
	e := &alertExporter{
		cfg: cfg, logger: set.Logger, settings: set.TelemetrySettings,
		url:    strings.TrimSuffix(cfg.Endpoint, "/") + "/api/v2/alerts",
		links:  map[string]*template.Template{},
		firing: map[string]alert{},
		now:    time.Now,
	}
	for name, text := range cfg.Links {
		t, err := parseLink(name, text)
		if err != nil {
			return nil, err
		}
		e.links[name] = t
	}
	if cfg.GeneratorURL != "" {
		t, err := parseLink("generator_url", cfg.GeneratorURL)
		if err != nil {
			return nil, err
		}
		e.generator = t
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	e.telemetry = tb
	return e, nil
}

func (e *alertExporter) start(ctx context.Context, host component.Host) error {
	client, err := e.cfg.ToClient(ctx, host.GetExtensions(), e.settings)
	if err != nil {
		return fmt.Errorf("incidentalert: HTTP client: %w", err)
	}
	e.client = client
	if err := e.telemetry.RegisterExporterIncidentalertAlertsFiringCallback(func(_ context.Context, o metric.Int64Observer) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		o.Observe(int64(len(e.firing)))
		return nil
	}); err != nil {
		return err
	}
	e.stop, e.done = make(chan struct{}), make(chan struct{})
	go e.resendLoop()
	return nil
}

func (e *alertExporter) shutdown(context.Context) error {
	if e.stop != nil {
		close(e.stop)
		<-e.done
		e.stop = nil
	}
	e.telemetry.Shutdown()
	return nil
}

// pushLogs turns the incident records of ld into alerts and sends them.
// Other records are not for this exporter and are ignored.
func (e *alertExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	now := e.now()
	var batch []alert
	for rec, err := range incidentrecord.All(ld) {
		if err != nil {
			e.telemetry.ExporterIncidentalertAlertsDropped.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", "malformed")))
			e.logger.Warn("incident record skipped", zap.Error(err))
			continue
		}
		if rec.Standing {
			// A standing condition (failing since the collector started)
			// pages no one; its update once judged a change does.
			continue
		}
		batch = append(batch, e.track(ctx, rec, now)...)
	}
	if len(batch) == 0 {
		return nil
	}
	return e.send(ctx, batch)
}

// track updates the firing alerts with an incident record and returns the
// alerts to send: the record's, and the alert it replaces when its labels
// changed (an incident escalated from latency to error), resolved.
func (e *alertExporter) track(ctx context.Context, rec incidentrecord.Record, now time.Time) []alert {
	a := e.alertOf(rec, now)
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []alert
	old, known := e.firing[rec.ID]
	if known && !sameLabels(old.Labels, a.Labels) {
		old.EndsAt = now
		out = append(out, old)
	}
	switch {
	case rec.Status == incidentrecord.StatusResolved:
		delete(e.firing, rec.ID)
	case known || len(e.firing) < e.cfg.MaxAlerts:
		e.firing[rec.ID] = a
	default:
		// Sent once; Alertmanager resolves it when endsAt passes.
		e.telemetry.ExporterIncidentalertAlertsDropped.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", "state_full")))
	}
	return append(out, a)
}

// resendLoop sends the firing alerts again every resend interval, with
// endsAt moved ahead, so that Alertmanager keeps them firing.
func (e *alertExporter) resendLoop() {
	defer close(e.done)
	tick := time.NewTicker(e.cfg.ResendInterval)
	defer tick.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-tick.C:
		}
		now := e.now()
		e.mu.Lock()
		batch := make([]alert, 0, len(e.firing))
		for id, a := range e.firing {
			a.EndsAt = now.Add(e.ttl())
			e.firing[id] = a
			batch = append(batch, a)
		}
		e.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), e.cfg.ResendInterval)
		if err := e.send(ctx, batch); err != nil {
			// The next tick tries again; three may fail before the alerts expire.
			e.logger.Warn("re-sending firing alerts failed", zap.Int("alerts", len(batch)), zap.Error(err))
		}
		cancel()
	}
}

// ttl is how long Alertmanager keeps an alert firing without hearing of it.
func (e *alertExporter) ttl() time.Duration { return 4 * e.cfg.ResendInterval }

// send posts alerts to Alertmanager's API v2. A refusal (4xx) is permanent:
// the same alerts would be refused again.
func (e *alertExporter) send(ctx context.Context, alerts []alert) error {
	if e.client == nil {
		return errors.New("incidentalert: not started")
	}
	body, err := json.Marshal(alerts)
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("incidentalert: POST %s: %w", e.url, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch resp.StatusCode / 100 {
	case 2:
		e.telemetry.ExporterIncidentalertAlertsSent.Add(ctx, int64(len(alerts)))
		return nil
	case 4:
		return consumererror.NewPermanent(fmt.Errorf("incidentalert: Alertmanager refused %d alerts: %s: %s", len(alerts), resp.Status, bytes.TrimSpace(msg)))
	default:
		return fmt.Errorf("incidentalert: Alertmanager answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
}

func sameLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
