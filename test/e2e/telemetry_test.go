package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// ownMetricName is a name of the collector's own telemetry as the
// documentation writes it: otelcol_* (a trailing * for a family), and the
// http_server_* and rpc_server_* metrics of its receivers' servers.
var ownMetricName = regexp.MustCompile(`\b(?:otelcol|http_server|rpc_server)_[a-z0-9_]+\*?`)

// documentedOwnMetrics lists the names of the collector's own telemetry the
// operator-facing documents name, by file: the README, the shipped config,
// the benchmark report and its generator, and the deployment's configs and
// docs (alert rules would live there). The Grafana dashboards are left out:
// they query the services' metrics through the prometheus exporter, not the
// collector's own.
func documentedOwnMetrics(t *testing.T) map[string][]string {
	t.Helper()
	root := repoRoot(t)
	files := []string{"README.md", "otelcol-config.yaml", "BENCHMARKS.md", "scripts/bench.sh", "docker-compose.yml"}
	require.NoError(t, filepath.WalkDir(filepath.Join(root, "deploy"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(path) {
		case ".yml", ".yaml", ".md":
			rel, err := filepath.Rel(root, path)
			files = append(files, rel)
			return err
		}
		return nil
	}))
	names := map[string][]string{}
	for _, f := range files {
		raw, err := os.ReadFile(filepath.Join(root, f))
		require.NoError(t, err)
		for _, name := range ownMetricName.FindAllString(string(raw), -1) {
			if !slices.Contains(names[name], f) {
				names[name] = append(names[name], f)
			}
		}
	}
	return names
}

// onlyAfterTheirEvent are documented names the collector exposes only once
// what they count has happened, which this test does not provoke.
var onlyAfterTheirEvent = map[string]string{
	"otelcol_exporter_enqueue_failed_*": "a sending queue is full",
	// TestOversizedItemsAreCounted provokes both.
	"otelcol_processor_oversize_dropped_spans":       "a span is too large to send alone",
	"otelcol_processor_oversize_dropped_log_records": "a log record is too large to send alone",
}

// afterTheirEvent tells whether name is one of onlyAfterTheirEvent, or of a
// family it lists (otelcol_exporter_enqueue_failed_spans of
// otelcol_exporter_enqueue_failed_*), and what it waits for.
func afterTheirEvent(name string) (string, bool) {
	for k, why := range onlyAfterTheirEvent {
		if family, isFamily := strings.CutSuffix(k, "*"); k == name || isFamily && strings.HasPrefix(name, family) {
			return why, true
		}
	}
	return "", false
}

// TestDocumentedOwnMetricsExist: every name of the collector's own
// telemetry that the documentation and the shipped config tell an operator
// to watch or alert on is exposed, under that name, on the own-metrics
// endpoint the shipped config serves (an alert on a name that does not
// exist never fires). The collector is given what those metrics count: an
// accepted and a refused OTLP/HTTP request, an OTLP/gRPC call, and a trace
// its trace backend refuses.
func TestDocumentedOwnMetricsExist(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the built collector")
	}
	documented := documentedOwnMetrics(t)
	require.NotEmpty(t, documented)

	// A trace backend that refuses every export for good: a gRPC server
	// without the OTLP service answers Unimplemented, which the exporter
	// does not retry.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	backend := grpc.NewServer()
	go func() { _ = backend.Serve(lis) }()
	t.Cleanup(backend.Stop)

	dir := t.TempDir()
	c := newShippedCollector(t, dir, fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), filepath.Join(dir, "storage"))
	c.env = append(c.env, "JAEGER_OTLP_ENDPOINT="+lis.Addr().String())
	c.start(t)

	c.sendFailingTraces(t, 1)
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/v1/traces", c.otlpHTTP), "application/x-protobuf", strings.NewReader("not a protobuf message"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", c.otlpGRPC), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, conn.Close()) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(ptrace.NewTraces()))
	require.NoError(t, err)

	var exposed []string
	require.Eventually(t, func() bool {
		exposed = c.metricNames(t)
		return slices.ContainsFunc(exposed, func(n string) bool { return strings.HasPrefix(n, "otelcol_exporter_send_failed_") })
	}, 30*time.Second, 500*time.Millisecond, "the refused trace is counted once rootcause forwards it")

	for name, files := range documented {
		if why, ok := afterTheirEvent(name); ok {
			t.Logf("%s (%s): exposed only once %s", name, strings.Join(files, ", "), why)
			continue
		}
		family, isFamily := strings.CutSuffix(name, "*")
		found := slices.ContainsFunc(exposed, func(n string) bool {
			return n == name || isFamily && strings.HasPrefix(n, family)
		})
		assert.True(t, found, "%s, named in %s, is not among the collector's own metrics:\n%s",
			name, strings.Join(files, ", "), strings.Join(exposed, "\n"))
	}
}

// metricNames are the names of the samples on the collector's own-metrics
// endpoint, sorted, each once.
func (c *shippedCollector) metricNames(t *testing.T) []string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", c.telemetry))
	require.NoError(t, err)
	defer resp.Body.Close()
	var names []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names = append(names, line[:i])
		}
	}
	require.NoError(t, sc.Err())
	slices.Sort(names)
	return slices.Compact(names)
}
