package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// TestLargeSpansReachJaeger sends 10 KB spans in a burst through the
// shipped configuration to a real Jaeger v2 with its default OTLP/gRPC
// limit (4 MiB a message). rootcause releases the traces it decides
// together and the batch processor joins them up to 1024 spans, about
// 10 MB here: sent as one request, Jaeger would refuse it
// (ResourceExhausted) and the exporter would drop it for good. The shipped
// exporter bounds its requests by bytes instead: Jaeger stores every span,
// and the exporter counts no failure.
func TestLargeSpansReachJaeger(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the built collector and Jaeger")
	}
	const (
		requests, tracesPerRequest, spansPerTrace = 20, 10, 10
		spans                                     = requests * tracesPerRequest * spansPerTrace
		spanPayload                               = 10 << 10
	)
	require.Greater(t, spans*spanPayload, 4<<20, "more than one gRPC message can hold")
	dir := t.TempDir()
	jaeger := startJaeger(t, dir, "jaeger")
	c := newShippedCollector(t, dir, fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), filepath.Join(dir, "storage"))
	c.env = append(c.env, "JAEGER_OTLP_ENDPOINT="+jaeger.otlp)
	// Jaeger alone behind the traces pipeline: the log store, unreachable
	// here, would keep its retry loop running past shutdown.
	override := filepath.Join(dir, "jaeger-only.yaml")
	require.NoError(t, os.WriteFile(override, []byte("service: {pipelines: {traces: {exporters: [otlp_grpc/jaeger]}}}\n"), 0o600))
	c.args = append(c.args, "--config", override)
	c.start(t)

	const service = "large-spans"
	payload := strings.Repeat("x", spanPayload)
	start := time.Now()
	for r := range requests {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		ss := rs.ScopeSpans().AppendEmpty().Spans()
		for tr := range tracesPerRequest {
			var traceID pcommon.TraceID
			binary.BigEndian.PutUint64(traceID[:8], uint64(start.UnixNano()))
			binary.BigEndian.PutUint64(traceID[8:], uint64(r*tracesPerRequest+tr+1))
			for i := range spansPerTrace {
				s := ss.AppendEmpty()
				s.SetTraceID(traceID)
				s.SetSpanID(pcommon.SpanID{0, 0, 0, 0, 0, 0, 0, byte(i + 1)})
				if i > 0 {
					s.SetParentSpanID(pcommon.SpanID{0, 0, 0, 0, 0, 0, 0, 1})
				}
				s.SetName(fmt.Sprintf("op-%d", i))
				s.SetKind(ptrace.SpanKindServer)
				s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
				s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Millisecond)))
				s.Attributes().PutStr("payload", payload)
			}
		}
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		require.NoError(t, err)
		c.postOTLP(t, "traces", body)
	}
	t.Logf("sent %d spans of %d KB in %v", spans, spanPayload>>10, time.Since(start).Round(time.Millisecond))

	ctx := context.Background()
	stored := 0
	assert.Eventually(t, func() bool {
		traces, err := jaeger.get(ctx, fmt.Sprintf("/api/traces?service=%s&lookback=1h&limit=%d", service, requests*tracesPerRequest))
		if err != nil {
			return false
		}
		stored = 0
		for _, tr := range traces {
			stored += len(tr)
		}
		return stored == spans
	}, 20*time.Second, 500*time.Millisecond, "Jaeger stores every span")
	assert.Equal(t, spans, stored, "spans in Jaeger")
	const jaegerExporter = `exporter="otlp_grpc/jaeger"`
	assert.Zero(t, c.counter(t, "otelcol_exporter_send_failed_spans", jaegerExporter), "spans the Jaeger exporter failed to send")
	assert.Equal(t, spans, int(c.counter(t, "otelcol_exporter_sent_spans", jaegerExporter)), "spans the Jaeger exporter sent")
}
