package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"

	// The OTLP exporter compresses with gzip by default, as Jaeger accepts.
	_ "google.golang.org/grpc/encoding/gzip"
)

// victoriaLogs is a real log store that accepts the Elasticsearch bulk API at
// /insert/elasticsearch/, standing in for Elasticsearch.
type victoriaLogs struct {
	url string
}

func startVictoriaLogs(t *testing.T, dir string) *victoriaLogs {
	t.Helper()
	bin := os.Getenv("RCA_VICTORIALOGS")
	if bin == "" {
		bin = filepath.Join(repoRoot(t), ".tools", "bin", "victoria-logs")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("victoria-logs is missing at %s (`make test` installs it; or set RCA_VICTORIALOGS): %v", bin, err)
	}
	port := freePort(t)
	startProcess(t, "victoria-logs", filepath.Join(dir, "victoria-logs.log"), bin,
		fmt.Sprintf("-httpListenAddr=127.0.0.1:%d", port),
		"-storageDataPath="+filepath.Join(dir, "vlogs"),
		"-retentionPeriod=1d",
	)
	v := &victoriaLogs{url: fmt.Sprintf("http://127.0.0.1:%d", port)}
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

// traceSink is an OTLP/gRPC trace receiver standing in for Jaeger's OTLP port.
type traceSink struct {
	ptraceotlp.UnimplementedGRPCServer
	mu     sync.Mutex
	traces []ptrace.Traces
	addr   string
}

func startTraceSink(t *testing.T) *traceSink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &traceSink{addr: l.Addr().String()}
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, s)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return s
}

func (s *traceSink) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	td := ptrace.NewTraces()
	req.Traces().CopyTo(td)
	s.mu.Lock()
	s.traces = append(s.traces, td)
	s.mu.Unlock()
	return ptraceotlp.NewExportResponse(), nil
}

// spans returns every span received so far with its resource's service name.
func (s *traceSink) spans() []sinkSpan {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sinkSpan
	for _, td := range s.traces {
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			rs := td.ResourceSpans().At(i)
			svc, _ := rs.Resource().Attributes().Get("service.name")
			for j := 0; j < rs.ScopeSpans().Len(); j++ {
				ss := rs.ScopeSpans().At(j).Spans()
				for k := 0; k < ss.Len(); k++ {
					sp := ss.At(k)
					out = append(out, sinkSpan{
						Service: svc.AsString(),
						TraceID: sp.TraceID().String(),
						Root:    sp.ParentSpanID().IsEmpty(),
						Attrs:   sp.Attributes().AsRaw(),
					})
				}
			}
		}
	}
	return out
}

type sinkSpan struct {
	Service string
	TraceID string
	Root    bool
	Attrs   map[string]any
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
