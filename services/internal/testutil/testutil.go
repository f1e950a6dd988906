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

// Serve serves a service's routes (plus its admin endpoint) on a test server.
func Serve(t testing.TB, env app.Env, svc app.Service) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	svc.Routes(mux)
	mux.Handle("/admin/faults", env.Faults.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}
