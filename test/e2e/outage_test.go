package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// shippedCollector runs the built binary on the shipped otelcol-config.yaml,
// every endpoint on a loopback port of its own, the log store at esURL, the
// trace store and Alertmanager unreachable, and its queues in storageDir.
type shippedCollector struct {
	otlpGRPC, otlpHTTP, health, telemetry int
	env                                   []string
	args                                  []string
	log                                   string
	// launcher, when set, is the command the collector runs through: it
	// ends by executing its arguments (the binary and args) in its own
	// process, so the process is the collector's.
	launcher []string
}

func newShippedCollector(t *testing.T, dir, esURL, storageDir string) *shippedCollector {
	t.Helper()
	c := &shippedCollector{
		otlpGRPC: freePort(t), otlpHTTP: freePort(t), health: freePort(t), telemetry: freePort(t),
		log: filepath.Join(dir, "otelcol.log"),
	}
	addr := func(p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }
	c.env = []string{
		"OTLP_GRPC_ENDPOINT=" + addr(c.otlpGRPC),
		"OTLP_HTTP_ENDPOINT=" + addr(c.otlpHTTP),
		"HEALTH_CHECK_ENDPOINT=" + addr(c.health),
		"PPROF_ENDPOINT=" + addr(freePort(t)),
		"ZPAGES_ENDPOINT=" + addr(freePort(t)),
		"PROMETHEUS_EXPORTER_ENDPOINT=" + addr(freePort(t)),
		"INCIDENT_PAGE_ENDPOINT=" + addr(freePort(t)),
		"ES_ENDPOINT=" + esURL,
		"JAEGER_OTLP_ENDPOINT=" + addr(freePort(t)),
		"ALERTMANAGER_ENDPOINT=http://" + addr(freePort(t)),
		"RCA_STORAGE_DIR=" + storageDir,
		// The collector's own metrics through the shipped reader: the
		// names the tests read are the ones a user scrapes.
		"TELEMETRY_METRICS_HOST=127.0.0.1",
		fmt.Sprintf("TELEMETRY_METRICS_PORT=%d", c.telemetry),
	}
	// Only what the shipped file cannot know: VictoriaLogs' field headers
	// and OTLP as the only input; and a failing exporter reported after 2s
	// instead of a minute.
	override := `
extensions:
  health_check:
    component_health:
      recovery_duration: 2s
exporters:
  elasticsearch:
    headers:
      VL-Msg-Field: body.text
      VL-Time-Field: "@timestamp"
service:
  pipelines:
    traces: {receivers: [otlp]}
    metrics: {receivers: [otlp]}
    logs: {receivers: [otlp]}
`
	path := filepath.Join(dir, "override.yaml")
	require.NoError(t, os.WriteFile(path, []byte(override), 0o600))
	c.args = []string{"--config", filepath.Join(repoRoot(t), "otelcol-config.yaml"), "--config", path}
	return c
}

// start runs the collector and waits until it has started its pipelines:
// its health answers, and no longer says it is starting (503).
func (c *shippedCollector) start(t *testing.T) *process {
	t.Helper()
	cmd := append(slices.Clone(c.launcher), collectorBinary(t))
	cmd = append(cmd, c.args...)
	p := startProcessEnv(t, "otelcol-rca", c.log, c.env, cmd[0], cmd[1:]...)
	require.Eventually(t, func() bool {
		code, _ := c.healthStatus()
		return code != 0 && code != http.StatusServiceUnavailable
	}, 30*time.Second, 100*time.Millisecond, "the collector starts; its log: %s", c.log)
	return p
}

// healthStatus is the health check's answer, with its verbose body; 0 when
// it does not answer.
func (c *shippedCollector) healthStatus() (int, string) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/?verbose", c.health))
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// sendLogs posts n log records of run over OTLP/HTTP.
func (c *shippedCollector) sendLogs(t *testing.T, run string, n int) {
	c.sendLogsFrom(t, run, 0, n)
}

// sendLoad sends batch log records of run every second for d, numbered on;
// it returns how many it sent.
func (c *shippedCollector) sendLoad(t *testing.T, run string, batch int, d time.Duration) int {
	t.Helper()
	sent := 0
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(time.Second) {
		c.sendLogsFrom(t, run, sent, batch)
		sent += batch
	}
	return sent
}

// sendLogsFrom posts n log records of run, numbered from first on.
func (c *shippedCollector) sendLogsFrom(t *testing.T, run string, first, n int) {
	t.Helper()
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "outage-probe")
	recs := rl.ScopeLogs().AppendEmpty().LogRecords()
	now := time.Now()
	for i := range n {
		r := recs.AppendEmpty()
		r.SetTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Duration(i) * time.Millisecond)))
		r.SetSeverityText("INFO")
		r.Body().SetStr(fmt.Sprintf("outage probe %s %d", run, i))
		r.Attributes().PutStr("probe.run", run)
		r.Attributes().PutInt("probe.seq", int64(first+i))
	}
	c.postLogs(t, ld)
}

// postLogs exports ld over OTLP/HTTP and requires it accepted.
func (c *shippedCollector) postLogs(t *testing.T, ld plog.Logs) {
	t.Helper()
	body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	require.NoError(t, err)
	c.postOTLP(t, "logs", body)
}

// postOTLP posts an encoded export request of signal (logs, traces) over
// OTLP/HTTP and requires it accepted.
func (c *shippedCollector) postOTLP(t *testing.T, signal string, body []byte) {
	t.Helper()
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/v1/%s", c.otlpHTTP, signal), "application/x-protobuf", bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "OTLP/HTTP export of %s", signal)
}

// sendFailingTraces posts n traces in which probe-frontend calls
// probe-backend, which fails (status Error, HTTP 500): enough for rootcause
// to open an incident that blames probe-backend.
func (c *shippedCollector) sendFailingTraces(t *testing.T, n int) {
	t.Helper()
	td := ptrace.NewTraces()
	front := td.ResourceSpans().AppendEmpty()
	front.Resource().Attributes().PutStr("service.name", "probe-frontend")
	frontSpans := front.ScopeSpans().AppendEmpty().Spans()
	back := td.ResourceSpans().AppendEmpty()
	back.Resource().Attributes().PutStr("service.name", "probe-backend")
	backSpans := back.ScopeSpans().AppendEmpty().Spans()
	start := time.Now().Add(-time.Second)
	for i := range n {
		var traceID pcommon.TraceID
		binary.BigEndian.PutUint64(traceID[:8], uint64(start.UnixNano()))
		binary.BigEndian.PutUint64(traceID[8:], uint64(i+1))
		span := func(spans ptrace.SpanSlice, id, parent uint64, name string, kind ptrace.SpanKind, from, to time.Duration) ptrace.Span {
			s := spans.AppendEmpty()
			s.SetTraceID(traceID)
			var sid, pid pcommon.SpanID
			binary.BigEndian.PutUint64(sid[:], id)
			s.SetSpanID(sid)
			if parent != 0 {
				binary.BigEndian.PutUint64(pid[:], parent)
				s.SetParentSpanID(pid)
			}
			s.SetName(name)
			s.SetKind(kind)
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(from)))
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(to)))
			return s
		}
		root := span(frontSpans, 1, 0, "GET /checkout", ptrace.SpanKindServer, 0, 30*time.Millisecond)
		root.Attributes().PutInt("http.response.status_code", 500)
		call := span(frontSpans, 2, 1, "POST /charge", ptrace.SpanKindClient, 2*time.Millisecond, 28*time.Millisecond)
		call.Attributes().PutInt("http.response.status_code", 500)
		served := span(backSpans, 3, 2, "POST /charge", ptrace.SpanKindServer, 3*time.Millisecond, 27*time.Millisecond)
		served.Attributes().PutInt("http.response.status_code", 500)
		served.Status().SetCode(ptrace.StatusCodeError)
		served.Status().SetMessage("charge: card processor unreachable")
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	c.postOTLP(t, "traces", body)
}

// counter sums the collector's internal counter name over its series with
// the label label (`exporter="elasticsearch"`); 0 when it has none.
func (c *shippedCollector) counter(t *testing.T, name, label string) float64 {
	t.Helper()
	var sum float64
	c.series(t, name, label, func(_ string, v float64) { sum += v })
	return sum
}

// series scrapes the collector's internal metrics and calls each with every
// sample line of name that has the label label, and its value.
func (c *shippedCollector) series(t *testing.T, name, label string, each func(line string, v float64)) {
	t.Helper()
	scrapeSeries(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", c.telemetry), name, label, each)
}

// scrapeSeries reads the Prometheus text at url and calls each with every
// sample line of name that has the label label, and its value.
func scrapeSeries(t *testing.T, url, name, label string, each func(line string, v float64)) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || !strings.Contains(line, label) {
			continue
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			each(line, v)
		}
	}
	require.NoError(t, sc.Err())
}

// stored counts the probe records of run in the log store, and the
// distinct numbers among them.
func (v *victoriaLogs) stored(ctx context.Context, run string) (records, distinct int, err error) {
	docs, err := v.query(ctx, fmt.Sprintf(`"resource.attributes.service.name":"outage-probe" AND "attributes.probe.run":%q`, run))
	seqs := map[any]bool{}
	for _, d := range docs {
		seqs[d["attributes.probe.seq"]] = true
	}
	delete(seqs, nil)
	return len(docs), len(seqs), err
}

// TestLogStoreOutageLosesNothing runs the shipped configuration against a
// real log store (VictoriaLogs' Elasticsearch bulk API) that goes down for
// over a minute while logs keep coming, and restarts (kills) the collector
// during the outage: the logs sent before, during and after the restart all
// arrive once the store is back, once each, none is dropped, and the
// pipeline never refuses data meanwhile; so do the records of the incident
// that a fault during the outage opened.
// The collector's health says the exporter is failing while the store is
// down, naming it, and is well again once it is back.
func TestLogStoreOutageLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run of about a minute")
	}
	dir := t.TempDir()
	vlPort := freePort(t)
	vl := startVictoriaLogsAt(t, dir, vlPort)
	c := newShippedCollector(t, dir, vl.url+"/insert/elasticsearch/", filepath.Join(dir, "storage"))
	collector := c.start(t)
	ctx := context.Background()
	const n = 50

	c.sendLogs(t, "before", n)
	require.Eventually(t, func() bool {
		got, _, err := vl.stored(ctx, "before")
		return err == nil && got == n
	}, 30*time.Second, 500*time.Millisecond, "the log store receives the logs while it is up")
	code, _ := c.healthStatus()
	assert.Equal(t, http.StatusOK, code, "healthy while the store is up")

	require.True(t, vl.proc.stop(10*time.Second), "VictoriaLogs stops")
	// A fault while the store is down: rootcause opens an incident, whose
	// records wait in the queue with the logs.
	for range 4 {
		c.sendFailingTraces(t, 10)
		time.Sleep(500 * time.Millisecond)
	}
	want := map[string]int{"before": n}
	want["outage"] = c.sendLoad(t, "outage", 5, 30*time.Second)

	// A restart during the outage, as an orchestrator does it: SIGTERM,
	// then SIGKILL after a grace period. The Elasticsearch exporter's own
	// retry loop does not end on shutdown, so the kill ends it; what waits
	// in the queue, and the request in flight, are on disk.
	collector.stop(5 * time.Second)
	collector = c.start(t)
	want["restarted"] = c.sendLoad(t, "restarted", 5, 30*time.Second)
	var body string
	assert.Eventually(t, func() bool {
		code, body = c.healthStatus()
		return code == http.StatusInternalServerError
	}, 30*time.Second, 200*time.Millisecond, "the health check reports the failing exporter while the store is down")
	assert.Contains(t, body, "exporter:elasticsearch", "and names it")

	vl = startVictoriaLogsAt(t, dir, vlPort)
	for _, run := range []string{"before", "outage", "restarted"} {
		var got, distinct int
		assert.Eventually(t, func() bool {
			var err error
			got, distinct, err = vl.stored(ctx, run)
			return err == nil && got >= want[run]
		}, 90*time.Second, time.Second, "logs of run %q in the log store once it is back", run)
		assert.Equal(t, want[run], got, "logs of run %q stored exactly once", run)
		assert.Equal(t, want[run], distinct, "every record of run %q, by its number", run)
	}
	// The incident records written during the outage arrive too, each once:
	// one open record for the incident, no record twice.
	var records []map[string]any
	assert.Eventually(t, func() bool {
		var err error
		records, err = vl.query(ctx, `event_name:"rca.incident" AND "attributes.rca.culprit.service":"probe-backend"`)
		return err == nil && slices.ContainsFunc(records, func(d map[string]any) bool { return d["attributes.rca.incident.status"] == "open" })
	}, 30*time.Second, time.Second, "the incident's open record in the log store once it is back")
	seen := map[string]int{}
	opened := map[any]int{}
	for _, d := range records {
		seen[fmt.Sprint(d["attributes.rca.incident.id"], " ", d["attributes.rca.incident.status"], " ", d["_time"])]++
		if d["attributes.rca.incident.status"] == "open" {
			opened[d["attributes.rca.incident.id"]]++
		}
	}
	t.Logf("incident records stored: %v", seen)
	for key, count := range seen {
		assert.Equal(t, 1, count, "incident record %s stored once", key)
	}
	assert.Len(t, opened, 1, "one incident for the one fault")
	for id, count := range opened {
		assert.Equal(t, 1, count, "incident %v opened once", id)
	}
	assert.GreaterOrEqual(t, c.counter(t, "otelcol_exporter_sent_log_records", `exporter="elasticsearch"`), float64(want["outage"]+want["restarted"]),
		"the restarted collector sent what waited on disk and what came after")
	for _, counter := range []string{"otelcol_exporter_send_failed_log_records", "otelcol_exporter_enqueue_failed_log_records"} {
		assert.Zero(t, c.counter(t, counter, `exporter="elasticsearch"`), "%s of the elasticsearch exporter after the restart", counter)
	}
	assert.Eventually(t, func() bool {
		code, body = c.healthStatus()
		return code == http.StatusOK
	}, 30*time.Second, 200*time.Millisecond, "healthy again once the store is back")
	_ = collector
}
