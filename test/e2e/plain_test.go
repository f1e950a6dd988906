package e2e

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// TestShippedConfigStartsWithPlainCommand runs the first command a
// collector user types, `otelcol-rca --config otelcol-config.yaml` in the
// repository, with exactly those arguments: it starts and its health check
// answers 200. Only the environment differs from a user's machine: every
// endpoint the shipped file reads from it on a loopback port of the test,
// the backends unreachable, the queues in a temporary folder.
func TestShippedConfigStartsWithPlainCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the built collector")
	}
	dir := t.TempDir()
	addr := func(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }
	health := freePort(t)
	env := []string{
		"OTLP_GRPC_ENDPOINT=" + addr(freePort(t)),
		"OTLP_HTTP_ENDPOINT=" + addr(freePort(t)),
		"HEALTH_CHECK_ENDPOINT=" + addr(health),
		"PPROF_ENDPOINT=" + addr(freePort(t)),
		"ZPAGES_ENDPOINT=" + addr(freePort(t)),
		"PROMETHEUS_EXPORTER_ENDPOINT=" + addr(freePort(t)),
		"INCIDENT_PAGE_ENDPOINT=" + addr(freePort(t)),
		"ES_ENDPOINT=http://" + addr(freePort(t)),
		"JAEGER_OTLP_ENDPOINT=" + addr(freePort(t)),
		"ALERTMANAGER_ENDPOINT=http://" + addr(freePort(t)),
		"RCA_STORAGE_DIR=" + filepath.Join(dir, "storage"),
		"TELEMETRY_METRICS_HOST=127.0.0.1",
		fmt.Sprintf("TELEMETRY_METRICS_PORT=%d", freePort(t)),
	}
	collector := startProcessIn(t, "otelcol-rca", filepath.Join(dir, "otelcol.log"), repoRoot(t), env,
		collectorBinary(t), "--config", "otelcol-config.yaml")
	healthURL := fmt.Sprintf("http://%s/", addr(health))
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		select {
		case <-collector.exited:
			t.Fatalf("the collector exited: %s", tail(collector.log, 3))
		default:
		}
		if status(healthURL) == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within 30s", healthURL)
		}
	}
}

// status is the HTTP status of a GET of u, 0 when it does not answer.
func status(u string) int {
	resp, err := http.Get(u)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
