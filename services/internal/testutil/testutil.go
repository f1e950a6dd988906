// Package testutil has helpers shared by the services' tests.
package testutil

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-rca/otelcol-rca/services/internal/app"
	"github.com/otelcol-rca/otelcol-rca/services/internal/dbx"
)

// Logs is a concurrency-safe log sink.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything logged so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Contains reports whether msg was logged.
func (l *Logs) Contains(msg string) bool { return strings.Contains(l.String(), msg) }

// Env returns a service environment whose logs are captured.
func Env(t testing.TB, name string) (app.Env, *Logs) {
	t.Helper()
	logs := &Logs{}
	return app.NewEnv(name, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))), logs
}

// DB opens a pool closed at the end of the test (close errors are ignored: the
// service under test may have closed it). It is SQLite in a temporary directory,
// or, when RCA_TEST_DATABASE_URL is set, PostgreSQL in a schema of its own that
// is dropped at the end.
func DB(t testing.TB, maxOpen int) *dbx.DB {
	t.Helper()
	ctx := context.Background()
	o := dbx.Options{MaxOpenConns: maxOpen}
	if url := os.Getenv("RCA_TEST_DATABASE_URL"); url != "" {
		admin, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		schema := "test_" + strings.ToLower(rand.Text())
		if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE")
			_ = admin.Close()
		})
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		o.URL = url + sep + "search_path=" + schema
	}
	db, err := dbx.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// FaultToken is the fault switch's token of the services Serve serves.
const FaultToken = "test-fault-token"

// Serve serves a service's routes (plus its admin endpoint) on a test server.
func Serve(t testing.TB, env app.Env, svc app.Service) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	svc.Routes(mux)
	mux.Handle("/admin/faults", env.Faults.Handler(FaultToken))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// MetricReader reads what a service recorded, through an in-memory
// sdk/metric ManualReader.
type MetricReader struct {
	t      testing.TB
	reader *sdkmetric.ManualReader
}

// Metrics gives env a meter provider of its own, read by the returned reader.
// Call it before the service is created.
func Metrics(t testing.TB, env *app.Env) *MetricReader {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	env.Inst.MeterProvider = mp
	return &MetricReader{t: t, reader: reader}
}

// Metric returns the metric called name and whether it was recorded at all
// (an instrument that never recorded a measurement is not collected).
func (m *MetricReader) Metric(name string) (metricdata.Metrics, bool) {
	m.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := m.reader.Collect(context.Background(), &rm); err != nil {
		m.t.Fatalf("collect metrics: %v", err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			if mt.Name == name {
				return mt, true
			}
		}
	}
	return metricdata.Metrics{}, false
}

// Sum adds up the int64 sum data points of metric name whose attributes include
// attrs (all of them when attrs is empty); 0 when nothing was recorded.
func (m *MetricReader) Sum(name string, attrs ...attribute.KeyValue) int64 {
	m.t.Helper()
	mt, found := m.Metric(name)
	if !found {
		return 0
	}
	s, ok := mt.Data.(metricdata.Sum[int64])
	if !ok {
		m.t.Fatalf("metric %q is a %T, want an int64 sum", name, mt.Data)
	}
	var n int64
	for _, dp := range s.DataPoints {
		if hasAll(dp.Attributes, attrs) {
			n += dp.Value
		}
	}
	return n
}

// Histogram returns the float64 histogram data points of metric name whose
// attributes include attrs.
func (m *MetricReader) Histogram(name string, attrs ...attribute.KeyValue) []metricdata.HistogramDataPoint[float64] {
	m.t.Helper()
	mt, found := m.Metric(name)
	if !found {
		return nil
	}
	h, ok := mt.Data.(metricdata.Histogram[float64])
	if !ok {
		m.t.Fatalf("metric %q is a %T, want a float64 histogram", name, mt.Data)
	}
	var out []metricdata.HistogramDataPoint[float64]
	for _, dp := range h.DataPoints {
		if hasAll(dp.Attributes, attrs) {
			out = append(out, dp)
		}
	}
	return out
}

// HistogramCount is the number of measurements in the matching data points of
// histogram name.
func (m *MetricReader) HistogramCount(name string, attrs ...attribute.KeyValue) uint64 {
	m.t.Helper()
	var n uint64
	for _, dp := range m.Histogram(name, attrs...) {
		n += dp.Count
	}
	return n
}

func hasAll(set attribute.Set, attrs []attribute.KeyValue) bool {
	for _, kv := range attrs {
		if v, ok := set.Value(kv.Key); !ok || v.Type() != kv.Value.Type() || v.String() != kv.Value.String() {
			return false
		}
	}
	return true
}
