package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The three seed scenarios run side by side in one collector. Each plays
// fault-free traffic first, so baselines warm up, then its fault.
var seedScenarios = []struct {
	receiver string
	scenario string
	culprit  string
	// errorLog is a log line of the culprit service during the fault.
	errorLog string
}{
	{"scenario/checkout", "checkout_payment_timeout", "payment", "ERROR: Database connection timeout during payment gateway authentication."},
	{"scenario/login", "login_db_pool_exhaustion", "database", "ERROR: Database connection timeout while querying user credentials."},
	{"scenario/catalog", "catalog_slow_query", "catalog", ""},
}

const (
	faultAfter    = 40 * time.Second
	faultDuration = 30 * time.Second
	resolveAfter  = 10 * time.Second
	// rootcauseWindow is the processor's default window: a culprit stands
	// out until its anomalies leave it.
	rootcauseWindow = time.Minute
	// recovery is how long the slowest seed system (checkout's payment
	// pool) takes to drain after its fault ends.
	recovery = 3 * time.Minute
)

func backendsConfig(dir string, promPort int, vlURL, jaegerOTLP, zipkinURL, alertmanager string) string {
	var recv, names strings.Builder
	for _, s := range seedScenarios {
		fmt.Fprintf(&recv, `
  %s:
    scenario: %s
    rate: 25
    seed: 7
    fault_schedule: ["at %s for %s"]
    metrics_interval: 2s
    ground_truth_path: %s
`, s.receiver, s.scenario, faultAfter, faultDuration, filepath.Join(dir, strings.TrimPrefix(s.receiver, "scenario/")+".truth.jsonl"))
		if names.Len() > 0 {
			names.WriteString(", ")
		}
		names.WriteString(s.receiver)
	}
	return fmt.Sprintf(`
receivers:%s
processors:
  rootcause:
    decision_wait: 2s
    # Short, so that the seed incidents resolve within the test.
    resolve_after: %s
    # Short, so that records soon list traces decided after the incident
    # opened (the open record's samples were all decided before it).
    update_interval: 5s
exporters:
  incidentalert:
    endpoint: %s
    resend_interval: 5s
  prometheus:
    endpoint: 127.0.0.1:%d
    enable_open_metrics: true
  file/logs:
    path: %s
    flush_interval: 200ms
  elasticsearch:
    endpoints: [%s/insert/elasticsearch/]
    mapping: {mode: otel}
    headers:
      # VictoriaLogs: which fields of the documents are the message and the time.
      VL-Msg-Field: body.text
      VL-Time-Field: "@timestamp"
    flush: {interval: 1s}
  otlp_grpc/jaeger:
    endpoint: %s
    tls: {insecure: true}
  zipkin:
    endpoint: %s
service:
  telemetry:
    metrics: {level: none}
  pipelines:
    traces:
      receivers: [%s]
      processors: [rootcause]
      exporters: [otlp_grpc/jaeger, zipkin]
    metrics:
      receivers: [%s]
      processors: [rootcause]
      exporters: [prometheus]
    logs:
      receivers: [%s]
      processors: [rootcause]
      exporters: [file/logs, elasticsearch, incidentalert]
`, recv.String(), resolveAfter, alertmanager, promPort, filepath.Join(dir, "logs.json"), vlURL, jaegerOTLP, zipkinURL, names.String(), names.String(), names.String())
}

// incidentView is what the incident records say about one incident.
type incidentView struct {
	id          string
	culprit     string
	reason      string
	status      string // of the latest record
	windowEnd   string
	windowStart time.Time
	traceIDs    map[string]bool
}

func incidentsFrom(recs []logRecord) map[string]*incidentView {
	out := map[string]*incidentView{}
	for _, r := range recs {
		if r.EventName != "rca.incident" {
			continue
		}
		id, _ := r.Attrs["rca.incident.id"].(string)
		inc := out[id]
		if inc == nil {
			inc = &incidentView{id: id, traceIDs: map[string]bool{}}
			out[id] = inc
		}
		inc.culprit, _ = r.Attrs["rca.culprit.service"].(string)
		inc.reason, _ = r.Attrs["rca.reason"].(string)
		inc.status, _ = r.Attrs["rca.incident.status"].(string)
		inc.windowEnd, _ = r.Attrs["rca.window.end"].(string)
		if ws, ok := r.Attrs["rca.window.start"].(string); ok {
			if ts, err := time.Parse(time.RFC3339Nano, ws); err == nil {
				inc.windowStart = ts
			}
		}
		if ids, ok := r.Attrs["rca.trace_ids"].([]any); ok {
			for _, tid := range ids {
				if s, ok := tid.(string); ok {
					inc.traceIDs[s] = true
				}
			}
		}
	}
	return out
}

func byCulprit(incs map[string]*incidentView, culprit string) *incidentView {
	for _, inc := range incs {
		if inc.culprit == culprit {
			return inc
		}
	}
	return nil
}

// TestSeedIncidentsAcrossBackends runs the built collector on the three seed
// scenarios and looks at what each backend would show: Prometheus
// (exemplars, incident metrics, every dashboard query), the Elasticsearch
// path (VictoriaLogs), a real Jaeger over OTLP, another over Zipkin, and the
// logs file.
func TestSeedIncidentsAcrossBackends(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run of about two minutes")
	}
	dir := t.TempDir()
	promPort := freePort(t)
	vl := startVictoriaLogs(t, dir)
	jaegerOTLP := startJaeger(t, dir, "jaeger-otlp")
	jaegerZipkin := startJaeger(t, dir, "jaeger-zipkin")
	prom := startPrometheus(t, dir, fmt.Sprintf("127.0.0.1:%d", promPort))
	started := time.Now()
	am := startAlertmanager(t, dir)
	startCollector(t, dir, backendsConfig(dir, promPort, vl.url, jaegerOTLP.otlp, jaegerZipkin.zipkin, am.url))
	faultStart := started.Add(faultAfter)

	// Wait for an incident naming each seed culprit.
	logsPath := filepath.Join(dir, "logs.json")
	var incidents map[string]*incidentView
	require.Eventually(t, func() bool {
		incidents = incidentsFrom(flattenLogs(readLogsFile(t, logsPath)))
		for _, s := range seedScenarios {
			if byCulprit(incidents, s.culprit) == nil {
				return false
			}
		}
		return true
	}, faultAfter+faultDuration+60*time.Second, time.Second, "an incident for each seed culprit")

	// While the faults are on, each seed incident pages: a firing alert in
	// Alertmanager naming its culprit.
	firing := map[string]bool{}
	assert.Eventually(t, func() bool {
		alerts, err := am.alerts(context.Background())
		if err != nil {
			t.Log(err)
			return false
		}
		for _, s := range seedScenarios {
			inc := byCulprit(incidents, s.culprit)
			if a, ok := alerts[inc.id]; ok && a.active && a.service == s.culprit {
				firing[inc.id] = true
			}
		}
		return len(firing) == len(seedScenarios)
	}, 20*time.Second, 500*time.Millisecond, "a firing alert for each seed incident")

	t.Run("incidents name the seed culprits and none precedes the faults", func(t *testing.T) {
		for _, inc := range incidents {
			assert.False(t, inc.windowStart.Before(faultStart.Add(-5*time.Second)),
				"incident %s (%s: %s) started at %v, before the faults at %v", inc.id, inc.culprit, inc.reason, inc.windowStart, faultStart)
			assert.Contains(t, []string{"payment", "database", "catalog"}, inc.culprit, "unexpected culprit of incident %s: %s", inc.id, inc.reason)
		}
		pay := byCulprit(incidents, "payment")
		assert.Contains(t, strings.ToLower(pay.reason), "database connection timeout")
	})

	t.Run("culprit error logs carry the incident ID", func(t *testing.T) {
		recs := flattenLogs(readLogsFile(t, logsPath))
		for _, s := range seedScenarios {
			if s.errorLog == "" {
				continue
			}
			inc := byCulprit(incidents, s.culprit)
			// Logs of traces decided after the incident opened carry its ID.
			assert.Eventually(t, func() bool {
				for _, r := range recs {
					if r.Service == s.culprit && r.Body == s.errorLog && r.Attrs["rca.incident.id"] == inc.id {
						return true
					}
				}
				recs = flattenLogs(readLogsFile(t, logsPath))
				return false
			}, 30*time.Second, time.Second, "%s logs %q tagged with incident %s", s.culprit, s.errorLog, inc.id)
		}
	})

	t.Run("prometheus has exemplars of the incident's traces and the incident counter", func(t *testing.T) {
		pay := byCulprit(incidents, "payment")
		ctx := context.Background()
		assert.Eventually(t, func() bool {
			exs, err := prom.queryExemplars(ctx, `http_server_request_duration_seconds_bucket{job="payment"}`)
			if err != nil {
				t.Log(err)
				return false
			}
			for _, series := range exs {
				for _, ex := range series.Exemplars {
					if pay.traceIDs[ex.Labels["trace_id"]] {
						return true
					}
				}
			}
			return false
		}, 30*time.Second, time.Second, "an exemplar on payment's latency histogram points at one of incident %s's traces", pay.id)
		assert.Eventually(t, func() bool {
			res, err := prom.query(ctx, `rca_incidents_total{rca_culprit_service="payment"}`)
			return err == nil && len(res) > 0
		}, 30*time.Second, time.Second, "rca_incidents_total for the payment culprit")
	})

	t.Run("every dashboard query returns data", func(t *testing.T) {
		ctx := context.Background()
		// As a dashboard that refreshes: a query over the last minute can
		// be empty for a scrape or two, between two of the processor's
		// updates of a series.
		for _, q := range dashboardQueries(t) {
			assert.Eventually(t, func() bool {
				res, err := prom.query(ctx, q)
				if err != nil {
					t.Log(q, err)
				}
				return err == nil && len(res) > 0
			}, 30*time.Second, time.Second, "no data for dashboard query: %s", q)
		}
	})

	t.Run("the elasticsearch path stores incident records and tagged logs", func(t *testing.T) {
		pay := byCulprit(incidents, "payment")
		ctx := context.Background()
		assert.Eventually(t, func() bool {
			docs, err := vl.query(ctx, fmt.Sprintf(`event_name:"rca.incident" AND "attributes.rca.incident.id":%q`, pay.id))
			return err == nil && len(docs) > 0
		}, 30*time.Second, time.Second, "incident record %s in the log store", pay.id)
		assert.Eventually(t, func() bool {
			docs, err := vl.query(ctx, fmt.Sprintf(`"resource.attributes.service.name":payment AND "attributes.rca.incident.id":%q`, pay.id))
			return err == nil && len(docs) > 0
		}, 30*time.Second, time.Second, "payment logs tagged with %s in the log store", pay.id)
	})

	t.Run("every field the dashboards' Elasticsearch queries name is stored", func(t *testing.T) {
		pay := byCulprit(incidents, "payment")
		ctx := context.Background()
		stored := map[string]bool{}
		assert.Eventually(t, func() bool {
			for _, q := range []string{
				fmt.Sprintf(`event_name:"rca.incident" AND "attributes.rca.incident.id":%q`, pay.id),
				fmt.Sprintf(`"attributes.rca.incident.id":%q AND "attributes.rca.match":trace`, pay.id),
			} {
				docs, err := vl.query(ctx, q+" | limit 5")
				if err != nil {
					return false
				}
				for _, d := range docs {
					for k := range d {
						stored[k] = true
					}
				}
			}
			return len(stored) > 0
		}, 30*time.Second, time.Second)
		// VictoriaLogs keeps the time and message fields (VL-Time-Field, VL-Msg-Field) as _time and _msg.
		renamed := map[string]string{"@timestamp": "_time", "body.text": "_msg"}
		for _, field := range dashboardESFields(t) {
			name := field
			if r, ok := renamed[field]; ok {
				name = r
			}
			assert.True(t, stored[name], "the dashboards query %s, which no incident record or tagged log carries (stored: %v)", field, keys(stored))
		}
	})

	for _, backend := range []struct {
		name   string
		jaeger *jaeger
	}{{"jaeger over otlp", jaegerOTLP}, {"jaeger over zipkin", jaegerZipkin}} {
		t.Run(backend.name+" finds the incident's traces by ID and by rca.incident.id", func(t *testing.T) {
			pay := byCulprit(incidents, "payment")
			ctx := context.Background()
			// The exporters deliver the traces shortly after the incident
			// record. The open record's samples were decided before it and
			// name their culprit only; the later records list traces
			// tagged with the incident.
			var root *jaegerSpan
			var culpritSpans int
			assert.Eventually(t, func() bool {
				if latest := incidentsFrom(flattenLogs(readLogsFile(t, logsPath)))[pay.id]; latest != nil {
					pay = latest
				}
				for id := range pay.traceIDs {
					spans, err := backend.jaeger.trace(ctx, id)
					if err != nil {
						t.Log(err)
						return false
					}
					root, culpritSpans = nil, 0
					for i := range spans {
						if spans[i].Root {
							root = &spans[i]
						}
						if fmt.Sprint(spans[i].Tags["rca.culprit"]) == "true" {
							culpritSpans++
						}
					}
					if root != nil && root.Tags["rca.incident.id"] == pay.id && culpritSpans > 0 {
						return true
					}
				}
				return false
			}, 45*time.Second, time.Second, "a trace of incident %s whose root is tagged with it and whose culprit span is marked", pay.id)
			if root == nil {
				return
			}
			assert.Equal(t, "payment", root.Tags["rca.culprit.service"])

			// Jaeger's search page: the root's service, the tag rca.incident.id.
			traces, err := backend.jaeger.search(ctx, root.Service, "rca.incident.id", pay.id)
			require.NoError(t, err)
			sampled := 0
			for _, tr := range traces {
				if pay.traceIDs[tr[0].TraceID] {
					sampled++
				}
			}
			assert.Positive(t, sampled, "searching %s for rca.incident.id=%s finds none of the record's sample traces (%d found)", root.Service, pay.id, len(traces))

			// The links of the alerts, the incident page and the dashboards
			// (otelcol-config.yaml's trace_url) open Jaeger's trace view.
			resp, err := http.Get(backend.jaeger.query + "/trace/" + root.TraceID)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode, "Jaeger's trace view at the link shape /trace/{id}")
		})
	}

	t.Run("alertmanager shows the seed incidents resolved after the faults", func(t *testing.T) {
		// After the faults end, each incident resolves once its culprit has
		// stopped standing out (its window of anomalies passed) for
		// resolve_after, and its alert with it. Payment takes the longest:
		// the retries of the requests that piled up during the fault keep
		// its database pool exhausted for two to three minutes after it (a
		// retry storm outlives its cause), and the alert fires as long.
		require.Len(t, firing, len(seedScenarios), "the seed incidents never fired")
		var pending []string
		if !assert.Eventually(t, func() bool {
			alerts, err := am.alerts(context.Background())
			if err != nil {
				t.Log(err)
				return false
			}
			pending = pending[:0]
			for id := range firing {
				if a, ok := alerts[id]; ok && a.active {
					pending = append(pending, id)
				}
			}
			return len(pending) == 0
		}, time.Until(started.Add(faultAfter+faultDuration+recovery+rootcauseWindow+resolveAfter+30*time.Second)), time.Second) {
			t.Errorf("alerts of incidents %v still firing after the faults ended and resolve_after passed", pending)
			for id, inc := range incidentsFrom(flattenLogs(readLogsFile(t, logsPath))) {
				t.Logf("incident %s (%s): latest record %s, window end %s", id, inc.culprit, inc.status, inc.windowEnd)
			}
		}
	})

	t.Run("ground truth matches the fault windows", func(t *testing.T) {
		// Ground truth is written when a fault window ends.
		time.Sleep(time.Until(started.Add(faultAfter + faultDuration + 3*time.Second)))
		for _, s := range seedScenarios {
			path := filepath.Join(dir, strings.TrimPrefix(s.receiver, "scenario/")+".truth.jsonl")
			recs := readJSONLines(t, path)
			if !assert.NotEmpty(t, recs, "ground truth of %s", s.scenario) {
				continue
			}
			assert.Equal(t, s.culprit, recs[0]["culprit_service"], "%s ground truth culprit", s.scenario)
		}
	})
}

func readJSONLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
