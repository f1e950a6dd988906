package incidentalertexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-rca/otelcol-rca/exporter/incidentalertexporter/internal/metadatatest"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/incidentrecord"
)

// incidentRecord is an incident record as the rootcause processor writes it.
func incidentRecord(id, status, kind, service string, at time.Time) plog.Logs {
	ld := plog.NewLogs()
	incidentrecord.Record{
		ID: id, Status: status, Kind: kind, Service: service, Operation: "gateway.authenticate",
		Reason:  "database connection timeout during payment gateway authentication",
		Summary: fmt.Sprintf("Incident %s %s: %s", id[:8], status, service), At: at,
		Confidence: 0.97, TraceCount: 12,
		Candidates:  []incidentrecord.Candidate{{Name: service, Score: 0.9}},
		TraceIDs:    []string{"da096cc95f6fab3c7e7c786599dd7a55"},
		WindowStart: at.Add(-20 * time.Second), WindowEnd: at,
	}.Write(ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty())
	return ld
}

// startAlertmanager runs a real Alertmanager on addr (loopback) until the
// test ends and returns its base URL. The test is skipped where none is
// installed; .ci/run installs Debian's prometheus-alertmanager.
func startAlertmanager(t *testing.T, addr string) string {
	t.Helper()
	bin := os.Getenv("RCA_ALERTMANAGER")
	if bin == "" {
		for _, name := range []string{"prometheus-alertmanager", "alertmanager"} {
			if p, err := exec.LookPath(name); err == nil {
				bin = p
				break
			}
		}
	}
	if bin == "" {
		t.Skip("no Alertmanager installed (apt-get install prometheus-alertmanager, or set RCA_ALERTMANAGER)")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("route:\n  receiver: none\nreceivers:\n  - name: none\n"), 0o600))
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.path="+dir, "--web.listen-address="+addr, "--cluster.listen-address=")
	out, err := os.Create(filepath.Join(dir, "alertmanager.log"))
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = out.Close()
		if t.Failed() {
			b, _ := os.ReadFile(out.Name())
			t.Logf("Alertmanager's log:\n%s", b)
		}
	})
	base := "http://" + addr
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 50*time.Millisecond, "Alertmanager did not get ready on %s", addr)
	return base
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

type gettableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Status       struct {
		State string `json:"state"`
	} `json:"status"`
}

// activeAlerts are the alerts Alertmanager shows as firing now.
func activeAlerts(t *testing.T, base string) []gettableAlert {
	t.Helper()
	resp, err := http.Get(base + "/api/v2/alerts?active=true&silenced=false&inhibited=false")
	require.NoError(t, err)
	defer resp.Body.Close()
	var all []gettableAlert
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&all))
	var out []gettableAlert
	for _, a := range all {
		if a.EndsAt.After(time.Now()) {
			out = append(out, a)
		}
	}
	return out
}

func findAlert(alerts []gettableAlert, id string) *gettableAlert {
	for i := range alerts {
		if alerts[i].Labels["incident_id"] == id {
			return &alerts[i]
		}
	}
	return nil
}

func newTestExporter(t *testing.T, endpoint string, tt *componenttest.Telemetry, edit func(*Config)) exporter.Logs {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = endpoint
	cfg.ResendInterval = time.Second
	cfg.InitialInterval = 100 * time.Millisecond
	cfg.MaxInterval = 500 * time.Millisecond
	cfg.Links = map[string]string{"jaeger_url": "http://jaeger:16686/trace/{{.TraceID}}"}
	cfg.GeneratorURL = "http://collector:55680/incidents/{{.IncidentID}}"
	if edit != nil {
		edit(cfg)
	}
	require.NoError(t, cfg.Validate())
	exp, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	return exp
}

// TestIncidentsFireAndResolveInAlertmanager: an incident that opens fires
// an alert a person can act on (culprit, reason, severity, a link to its
// trace); it keeps firing while the incident is open, past the alert's own
// expiry; an escalation from latency to error replaces it; the incident's
// resolution resolves it.
func TestIncidentsFireAndResolveInAlertmanager(t *testing.T) {
	base := startAlertmanager(t, freeAddr(t))
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	exp := newTestExporter(t, base, tt, nil)
	ctx := context.Background()
	const id = "99bde86d8f1e4c2a9d3b5a7c6e0f1a2b"

	require.NoError(t, exp.ConsumeLogs(ctx, incidentRecord(id, "open", "latency", "payment", time.Now())))
	var firing *gettableAlert
	require.Eventually(t, func() bool {
		firing = findAlert(activeAlerts(t, base), id)
		return firing != nil
	}, 10*time.Second, 100*time.Millisecond, "the open incident never fired")
	assert.Equal(t, "RootCauseIncident", firing.Labels["alertname"])
	assert.Equal(t, "payment", firing.Labels["service"])
	assert.Equal(t, "warning", firing.Labels["severity"], "a latency incident is a warning")
	assert.Equal(t, "database connection timeout during payment gateway authentication", firing.Annotations["description"])
	assert.Equal(t, `payment "gateway.authenticate"`, firing.Annotations["culprit"])
	assert.Equal(t, "payment (0.90)", firing.Annotations["candidates"])
	assert.Equal(t, "http://jaeger:16686/trace/da096cc95f6fab3c7e7c786599dd7a55", firing.Annotations["jaeger_url"])
	assert.Equal(t, "http://collector:55680/incidents/"+id, firing.GeneratorURL)
	firstEnd := firing.EndsAt

	// Past the alert's own expiry (4 resend intervals), it still fires:
	// the exporter re-sent it with its end moved ahead.
	time.Sleep(5 * time.Second)
	firing = findAlert(activeAlerts(t, base), id)
	require.NotNil(t, firing, "the open incident's alert expired")
	assert.True(t, firing.EndsAt.After(firstEnd), "re-sending moves the alert's end ahead")

	// The incident escalates: the latency alert is resolved, an error one fires.
	require.NoError(t, exp.ConsumeLogs(ctx, incidentRecord(id, "update", "error", "payment", time.Now())))
	require.Eventually(t, func() bool {
		a := findAlert(activeAlerts(t, base), id)
		return a != nil && a.Labels["kind"] == "error" && a.Labels["severity"] == "critical" && len(activeAlerts(t, base)) == 1
	}, 10*time.Second, 100*time.Millisecond, "the escalated incident should fire as critical, alone")

	require.NoError(t, exp.ConsumeLogs(ctx, incidentRecord(id, "resolved", "error", "payment", time.Now())))
	require.Eventually(t, func() bool { return findAlert(activeAlerts(t, base), id) == nil },
		10*time.Second, 100*time.Millisecond, "the resolved incident still fires")
	// Resolved, it is not re-sent as firing.
	time.Sleep(2 * time.Second)
	assert.Nil(t, findAlert(activeAlerts(t, base), id), "a resolved incident fired again")
}

// TestAlertsWaitOutAnAlertmanagerOutage: with Alertmanager down, the
// pipeline is not slowed (the record is queued at once) and the alert is
// delivered once Alertmanager is back.
func TestAlertsWaitOutAnAlertmanagerOutage(t *testing.T) {
	addr := freeAddr(t)
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	exp := newTestExporter(t, "http://"+addr, tt, nil)
	const id = "66e188aa00000000000000000000beef"

	start := time.Now()
	require.NoError(t, exp.ConsumeLogs(context.Background(), incidentRecord(id, "open", "error", "database", time.Now())))
	assert.Less(t, time.Since(start), time.Second, "a down Alertmanager must not block the pipeline")

	time.Sleep(time.Second) // a few failed attempts
	base := startAlertmanager(t, addr)
	require.Eventually(t, func() bool { return findAlert(activeAlerts(t, base), id) != nil },
		20*time.Second, 100*time.Millisecond, "the alert queued during the outage never arrived")
}

// TestRecordsThatAreNotIncidentsAreIgnoredAndBrokenOnesCounted: the logs
// pipeline carries application logs too; an incident record without its ID
// becomes no alert, and is counted.
func TestRecordsThatAreNotIncidentsAreIgnoredAndBrokenOnesCounted(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	posts, endpoint := countingAlertmanager(t)
	exp := newTestExporter(t, endpoint, tt, func(c *Config) { c.QueueSettings = configoptional.None[exporterhelper.QueueBatchConfig]() })

	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	sl.LogRecords().AppendEmpty().Body().SetStr("GET /orders 200") // an application log
	broken := sl.LogRecords().AppendEmpty()
	broken.SetEventName(incidentrecord.EventName) // an incident record without its ID
	require.NoError(t, exp.ConsumeLogs(context.Background(), ld))
	assert.Zero(t, posts.Load(), "nothing to alert on")
	metadatatest.AssertEqualExporterIncidentalertAlertsDropped(t, tt, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", "malformed"))},
	}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

// TestAStandingConditionPagesNoOneUntilItChanges: the record of a service
// failing since the collector started is not an alert; its update once the
// processor judged it a change is.
func TestAStandingConditionPagesNoOneUntilItChanges(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	posts, endpoint := countingAlertmanager(t)
	exp := newTestExporter(t, endpoint, tt, func(c *Config) { c.QueueSettings = configoptional.None[exporterhelper.QueueBatchConfig]() })

	standing := func(status string, isStanding bool) plog.Logs {
		ld := incidentRecord("99bde86d8f1e4c2a9d3b5a7c6e0f1a2b", status, "error", "payment", time.Now())
		lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
		lr.Attributes().PutBool(incidentrecord.AttrStanding, isStanding)
		return ld
	}
	require.NoError(t, exp.ConsumeLogs(context.Background(), standing(incidentrecord.StatusOpen, true)))
	assert.Zero(t, posts.Load(), "a standing condition pages no one")
	require.NoError(t, exp.ConsumeLogs(context.Background(), standing(incidentrecord.StatusUpdate, false)))
	assert.Equal(t, int32(1), posts.Load(), "judged a change: it pages")
}

// countingAlertmanager is an HTTP endpoint on loopback that accepts every
// post and counts them.
func countingAlertmanager(t *testing.T) (*atomic.Int32, string) {
	t.Helper()
	posts := new(atomic.Int32)
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		posts.Add(1)
		w.WriteHeader(http.StatusOK)
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return posts, "http://" + l.Addr().String()
}
