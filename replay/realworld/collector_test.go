package realworld

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-rca/otelcol-rca/replay"
	"github.com/otelcol-rca/otelcol-rca/replay/internal/otlpfile"
	"github.com/otelcol-rca/otelcol-rca/replay/internal/trainticket"
)

// TestTheBuiltCollectorGivesTheSameVerdictsHoweverACaseIsBatched sends one
// recorded fault twice over OTLP/HTTP into the built collector, once in
// requests of a second of telemetry and once of twenty seconds, and reads the
// incident records its file exporter wrote: the culprit ranks the same, and
// so do the two services blamed next. Verdicts in event time must not
// depend on how a sender happened to batch. (Names ranked lower may swap:
// their incidents' sizes can differ by a trace at the edges of the replay.)
func TestTheBuiltCollectorGivesTheSameVerdictsHoweverACaseIsBatched(t *testing.T) {
	bin := filepath.Join("..", "..", "bin", "otelcol-rca")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("RCA_E2E") != "" {
			require.NoError(t, err, "make test builds the collector first")
		}
		t.Skip("the built collector is missing: make build")
	}
	d, err := Open(datasetDir(t))
	require.NoError(t, err)
	c := d.Cases[len(d.Cases)/2]
	run := func(step time.Duration) []string {
		out := t.TempDir()
		port := freePort(t)
		config := fmt.Sprintf(`receivers:
  otlp:
    protocols:
      http: {endpoint: "127.0.0.1:%d"}
processors:
  rootcause: {}
exporters:
  debug: {verbosity: basic}
  file: {path: %q}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    traces: {receivers: [otlp], processors: [rootcause], exporters: [debug]}
    metrics: {receivers: [otlp], processors: [rootcause], exporters: [debug]}
    logs: {receivers: [otlp], processors: [rootcause], exporters: [file]}
`, port, filepath.Join(out, "logs.jsonl"))
		require.NoError(t, os.WriteFile(filepath.Join(out, "otelcol.yaml"), []byte(config), 0o600))
		logFile, err := os.Create(filepath.Join(out, "otelcol.log"))
		require.NoError(t, err)
		defer logFile.Close()
		cmd := exec.Command(bin, "--config", filepath.Join(out, "otelcol.yaml"))
		cmd.Stdout, cmd.Stderr = logFile, logFile
		require.NoError(t, cmd.Start())
		defer func() { _ = cmd.Process.Kill() }()
		endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
		require.Eventually(t, func() bool {
			conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err == nil {
				_ = conn.Close()
			}
			return err == nil
		}, 30*time.Second, 100*time.Millisecond, "the collector did not listen: %s", filepath.Join(out, "otelcol.log"))

		from := c.Inject.Truncate(time.Minute)
		r, err := trainticket.Open(trainticket.Options{
			Parts: []trainticket.Part{
				{Dir: d.NezhaConstruct, From: d.Reference, To: d.Reference.Add(time.Minute)},
				{Dir: d.NezhaRCA, From: from, To: from.Add(3 * time.Minute)},
			},
			Traces: true, Logs: true, Metrics: true, Step: step,
		})
		require.NoError(t, err)
		for b, ok := r.Next(); ok; b, ok = r.Next() {
			if b.Logs.LogRecordCount() > 0 {
				post(t, endpoint+"/v1/logs", plogotlp.NewExportRequestFromLogs(b.Logs).MarshalProto)
			}
			if b.Metrics.DataPointCount() > 0 {
				post(t, endpoint+"/v1/metrics", pmetricotlp.NewExportRequestFromMetrics(b.Metrics).MarshalProto)
			}
			if b.Traces.SpanCount() > 0 {
				post(t, endpoint+"/v1/traces", ptraceotlp.NewExportRequestFromTraces(b.Traces).MarshalProto)
			}
		}
		// Stopping decides what is still buffered and writes its records.
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		require.NoError(t, cmd.Wait())
		batches, err := otlpfile.ReadJSON(filepath.Join(out, "logs.jsonl"))
		require.NoError(t, err)
		var incidents []replay.Incident
		for _, b := range batches {
			incidents = append(incidents, replay.IncidentsOf(b.Logs)...)
		}
		o := Judge(c, incidents)
		t.Logf("batches of %s: %d incident records; culprit %s ranked %d; blamed %v", step, len(incidents), c.Service, o.Rank, o.Ranking)
		return o.Ranking[:min(3, len(o.Ranking))]
	}
	second := run(time.Second)
	require.NotEmpty(t, second, "the case raised no incident")
	assert.Equal(t, second, run(20*time.Second))
}

func post(t *testing.T, url string, marshal func() ([]byte, error)) {
	t.Helper()
	body, err := marshal()
	require.NoError(t, err)
	resp, err := http.Post(url, "application/x-protobuf", bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "POST %s", url)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
