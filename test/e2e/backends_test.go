package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// victoriaLogs is a real log store that accepts the Elasticsearch bulk API at
// /insert/elasticsearch/, standing in for Elasticsearch.
type victoriaLogs struct {
	url  string
	proc *process
}

// startVictoriaLogs starts VictoriaLogs on a free port, its data in dir.
func startVictoriaLogs(t *testing.T, dir string) *victoriaLogs {
	t.Helper()
	return startVictoriaLogsAt(t, dir, freePort(t))
}

// startVictoriaLogsAt starts VictoriaLogs on port, its data in dir: again
// on the same port and dir, it comes back with what it stored.
func startVictoriaLogsAt(t *testing.T, dir string, port int) *victoriaLogs {
	t.Helper()
	bin := os.Getenv("RCA_VICTORIALOGS")
	if bin == "" {
		bin = filepath.Join(repoRoot(t), ".tools", "bin", "victoria-logs")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("victoria-logs is missing at %s (`make test` installs it; or set RCA_VICTORIALOGS): %v", bin, err)
	}
	proc := startProcess(t, "victoria-logs", filepath.Join(dir, "victoria-logs.log"), bin,
		fmt.Sprintf("-httpListenAddr=127.0.0.1:%d", port),
		"-storageDataPath="+filepath.Join(dir, "vlogs"),
		"-retentionPeriod=1d",
	)
	v := &victoriaLogs{url: fmt.Sprintf("http://127.0.0.1:%d", port), proc: proc}
	waitHTTP(t, v.url+"/health", 30*time.Second)
	return v
}

// query runs a LogsQL query and returns the matching documents.
func (v *victoriaLogs) query(ctx context.Context, q string) ([]map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.url+"/select/logsql/query?"+url.Values{"query": {q}}.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("logsql query: HTTP %d", resp.StatusCode)
	}
	var docs []map[string]any
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		var doc map[string]any
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			return nil, fmt.Errorf("decode logsql line: %w", err)
		}
		docs = append(docs, doc)
	}
	return docs, sc.Err()
}

// jaeger is a real Jaeger v2 (memory storage) receiving OTLP and Zipkin.
type jaeger struct {
	otlp    string // OTLP/gRPC host:port
	zipkin  string // Zipkin v2 spans URL
	query   string // query service and UI base URL
	metrics string // its own metrics (Prometheus text) URL
	proc    *process
}

func startJaeger(t *testing.T, dir, name string) *jaeger {
	t.Helper()
	return startJaegerAt(t, dir, name, freePort(t), 100000)
}

// startJaegerAt starts Jaeger with its OTLP/gRPC receiver on otlpPort
// (default limits: 4 MiB a message) and its memory store holding at most
// maxTraces traces.
func startJaegerAt(t *testing.T, dir, name string, otlpPort, maxTraces int) *jaeger {
	t.Helper()
	bin := os.Getenv("RCA_JAEGER")
	if bin == "" {
		bin = filepath.Join(repoRoot(t), ".tools", "bin", "jaeger")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("jaeger is missing at %s (`make test` builds it; or set RCA_JAEGER): %v", bin, err)
	}
	zipkinPort, httpPort, grpcPort, metricsPort := freePort(t), freePort(t), freePort(t), freePort(t)
	config := fmt.Sprintf(`
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp, zipkin]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: basic
      readers:
        - pull: {exporter: {prometheus: {host: 127.0.0.1, port: %d}}}
extensions:
  jaeger_query:
    storage: {traces: memstore}
    http: {endpoint: 127.0.0.1:%d}
    grpc: {endpoint: 127.0.0.1:%d}
  jaeger_storage:
    backends:
      memstore:
        memory: {max_traces: %d}
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:%d}
  zipkin:
    endpoint: 127.0.0.1:%d
processors:
  batch: {timeout: 200ms}
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`, metricsPort, httpPort, grpcPort, maxTraces, otlpPort, zipkinPort)
	path := filepath.Join(dir, name+".yaml")
	require.NoError(t, os.WriteFile(path, []byte(config), 0o600))
	j := &jaeger{
		otlp:    fmt.Sprintf("127.0.0.1:%d", otlpPort),
		zipkin:  fmt.Sprintf("http://127.0.0.1:%d/api/v2/spans", zipkinPort),
		query:   fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort),
		proc:    startProcess(t, name, filepath.Join(dir, name+".log"), bin, "--config", path),
	}
	waitHTTP(t, j.query+"/api/services", 60*time.Second)
	return j
}

// jaegerSpan is a span as Jaeger's query API returns it.
type jaegerSpan struct {
	TraceID   string
	Service   string
	Operation string
	Root      bool
	Tags      map[string]any
}

// get decodes a JSON answer of Jaeger's query API (/api/...): the traces in
// its data field; none when Jaeger does not know them (404).
func (j *jaeger) get(ctx context.Context, path string) ([][]jaegerSpan, error) {
	var out struct {
		Data []struct {
			TraceID string `json:"traceID"`
			Spans   []struct {
				OperationName string `json:"operationName"`
				ProcessID     string `json:"processID"`
				References    []any  `json:"references"`
				Tags          []struct {
					Key   string `json:"key"`
					Value any    `json:"value"`
				} `json:"tags"`
			} `json:"spans"`
			Processes map[string]struct {
				ServiceName string `json:"serviceName"`
			} `json:"processes"`
		} `json:"data"`
	}
	if status, err := getJSON(ctx, j.query+path, &out); status == http.StatusNotFound {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var traces [][]jaegerSpan
	for _, tr := range out.Data {
		var spans []jaegerSpan
		for _, sp := range tr.Spans {
			tags := map[string]any{}
			for _, tag := range sp.Tags {
				tags[tag.Key] = tag.Value
			}
			spans = append(spans, jaegerSpan{
				TraceID: fullTraceID(tr.TraceID), Service: tr.Processes[sp.ProcessID].ServiceName, Operation: sp.OperationName,
				Root: len(sp.References) == 0, Tags: tags,
			})
		}
		traces = append(traces, spans)
	}
	return traces, nil
}

// fullTraceID pads a trace ID as Jaeger's API prints it (without the high
// half's leading zeros) to the 32 hex digits OTLP uses.
func fullTraceID(id string) string {
	if len(id) < 32 {
		return strings.Repeat("0", 32-len(id)) + id
	}
	return id
}

// trace returns the spans Jaeger holds for one trace ID; none when unknown.
func (j *jaeger) trace(ctx context.Context, traceID string) ([]jaegerSpan, error) {
	traces, err := j.get(ctx, "/api/traces/"+traceID)
	if err != nil || len(traces) == 0 {
		return nil, err
	}
	return traces[0], nil
}

// search returns the traces of service with a span tagged key=value, as
// Jaeger's search page finds them.
func (j *jaeger) search(ctx context.Context, service, key, value string) ([][]jaegerSpan, error) {
	tags, err := json.Marshal(map[string]string{key: value})
	if err != nil {
		return nil, err
	}
	// Every trace of the tag, not Jaeger's default hundred: a seed incident
	// tags several hundred, and the one a record samples may be any of them.
	q := url.Values{"service": {service}, "tags": {string(tags)}, "lookback": {"1h"}, "limit": {"5000"}}
	return j.get(ctx, "/api/traces?"+q.Encode())
}

// dashboardQueries lists every PromQL expression of the shipped Grafana
// dashboards, with Grafana's macros expanded, from the deploy module.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command("go", "run", "./cmd/listqueries", "-expanded")
	cmd.Dir = filepath.Join(repoRoot(t), "deploy")
	out, err := cmd.Output()
	require.NoError(t, err, "list dashboard queries")
	seen := map[string]bool{}
	var qs []string
	for _, q := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if q != "" && !seen[q] {
			seen[q] = true
			qs = append(qs, q)
		}
	}
	require.NotEmpty(t, qs)
	return qs
}

// dashboardESFields lists the Elasticsearch fields the shipped dashboards'
// annotation, table and logs queries may name, from the deploy module.
func dashboardESFields(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command("go", "run", "./cmd/listqueries", "-es-fields")
	cmd.Dir = filepath.Join(repoRoot(t), "deploy")
	out, err := cmd.Output()
	require.NoError(t, err, "list dashboard fields")
	fields := strings.Fields(string(out))
	require.NotEmpty(t, fields)
	return fields
}

// alertmanager is a real Alertmanager (Debian's prometheus-alertmanager).
type alertmanager struct {
	url string
}

func startAlertmanager(t *testing.T, dir string) *alertmanager {
	t.Helper()
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		t.Fatalf("prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager; .ci/run does it): %v", err)
	}
	cfg := filepath.Join(dir, "alertmanager.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("route:\n  receiver: none\nreceivers:\n  - name: none\n"), 0o600))
	port := freePort(t)
	startProcess(t, "alertmanager", filepath.Join(dir, "alertmanager.log"), bin,
		"--config.file="+cfg, "--storage.path="+filepath.Join(dir, "alertmanager"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--cluster.listen-address=")
	am := &alertmanager{url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	waitHTTP(t, am.url+"/-/ready", 30*time.Second)
	return am
}

// alert is what Alertmanager says of one incident's alert.
type alert struct {
	service string
	active  bool // firing: not yet past its endsAt
}

// alerts returns Alertmanager's alerts by incident ID.
func (a *alertmanager) alerts(ctx context.Context) (map[string]alert, error) {
	var alerts []struct {
		Labels map[string]string `json:"labels"`
		EndsAt time.Time         `json:"endsAt"`
	}
	if _, err := getJSON(ctx, a.url+"/api/v2/alerts", &alerts); err != nil {
		return nil, err
	}
	out := map[string]alert{}
	for _, x := range alerts {
		out[x.Labels["incident_id"]] = alert{service: x.Labels["service"], active: x.EndsAt.After(time.Now())}
	}
	return out, nil
}

// getJSON decodes the JSON answer of a GET into out. An answer other than 200
// is an error that quotes the body; its status is returned either way.
func getJSON(ctx context.Context, u string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return resp.StatusCode, fmt.Errorf("GET %s: %s: %s", u, resp.Status, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return resp.StatusCode, fmt.Errorf("GET %s: %w", u, err)
	}
	return resp.StatusCode, nil
}
