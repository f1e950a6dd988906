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
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
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
	jaeger, c := startJaegerOnly(t)

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
				appendPayloadSpan(ss, traceID, i, start, payload)
			}
		}
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		require.NoError(t, err)
		c.postOTLP(t, "traces", body)
	}
	t.Logf("sent %d spans of %d KB in %v", spans, spanPayload>>10, time.Since(start).Round(time.Millisecond))

	stored := 0
	assert.Eventually(t, func() bool {
		stored = jaeger.spansOf(service, requests*tracesPerRequest)
		return stored == spans
	}, 20*time.Second, 500*time.Millisecond, "Jaeger stores every span")
	assert.Equal(t, spans, stored, "spans in Jaeger")
	const jaegerExporter = `exporter="otlp_grpc/jaeger"`
	assert.Zero(t, c.counter(t, "otelcol_exporter_send_failed_spans", jaegerExporter), "spans the Jaeger exporter failed to send")
	assert.Equal(t, spans, int(c.counter(t, "otelcol_exporter_sent_spans", jaegerExporter)), "spans the Jaeger exporter sent")
}

// TestOversizedItemsAreCounted sends, through the shipped configuration to
// a real Jaeger, one OTLP/HTTP request of three spans whose second alone
// is 4 MiB, more than the Jaeger exporter's 3 MiB requests can hold, and
// a log record as large. Without the oversize processor the exporter
// drops that span and the one after it, and counts neither ("Failed to
// split request" in its log). With it, the large span alone is dropped and
// counted in otelcol_processor_oversize_dropped_spans (the record in
// ..._log_records), the other two reach Jaeger, and the exporter fails
// nothing.
func TestOversizedItemsAreCounted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the built collector and Jaeger")
	}
	jaeger, c := startJaegerOnly(t)

	const service = "oversized-span"
	start := time.Now()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	ss := rs.ScopeSpans().AppendEmpty().Spans()
	var traceID pcommon.TraceID
	binary.BigEndian.PutUint64(traceID[:8], uint64(start.UnixNano()))
	for i, payload := range []int{1 << 10, 4 << 20, 1 << 10} {
		appendPayloadSpan(ss, traceID, i, start, strings.Repeat("x", payload))
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	c.postOTLP(t, "traces", body)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", service)
	rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(strings.Repeat("x", 4<<20))
	body, err = plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	require.NoError(t, err)
	c.postOTLP(t, "logs", body)

	const jaegerExporter = `exporter="otlp_grpc/jaeger"`
	assert.Eventually(t, func() bool {
		return c.counter(t, "otelcol_processor_oversize_dropped_spans", "") == 1 &&
			c.counter(t, "otelcol_exporter_sent_spans", jaegerExporter) == 2
	}, 30*time.Second, 500*time.Millisecond, "the large span dropped and counted, the others sent")
	stored := 0
	assert.Eventually(t, func() bool {
		stored = jaeger.spansOf(service, 10)
		return stored == 2
	}, 20*time.Second, 500*time.Millisecond, "Jaeger stores the two spans that fit")
	assert.Equal(t, 2, stored, "spans in Jaeger")
	assert.Equal(t, 1, int(c.counter(t, "otelcol_processor_oversize_dropped_spans", "")), "spans dropped as oversized, counted")
	assert.Equal(t, 1, int(c.counter(t, "otelcol_processor_oversize_dropped_log_records", "")), "log records dropped as oversized, counted")
	assert.Zero(t, c.counter(t, "otelcol_exporter_send_failed_spans", jaegerExporter), "spans the Jaeger exporter failed to send")
	raw, err := os.ReadFile(c.log)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "Failed to split request", "the exporter drops nothing uncounted")
}

// appendPayloadSpan appends span i of a trace (span 1 its root, the others
// its children) with the attribute payload.
func appendPayloadSpan(ss ptrace.SpanSlice, traceID pcommon.TraceID, i int, start time.Time, payload string) {
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

// spansOf counts the spans Jaeger stores of service's last traces (at
// most limit of them); 0 when it does not answer.
func (j *jaeger) spansOf(service string, limit int) int {
	traces, err := j.get(context.Background(), fmt.Sprintf("/api/traces?service=%s&lookback=1h&limit=%d", service, limit))
	if err != nil {
		return 0
	}
	n := 0
	for _, tr := range traces {
		n += len(tr)
	}
	return n
}

// startJaegerOnly starts a real Jaeger and the built collector on the
// shipped configuration with Jaeger alone behind its traces pipeline and
// debug behind its logs: the log store, unreachable here, would keep its
// retry loop running past shutdown.
func startJaegerOnly(t *testing.T) (*jaeger, *shippedCollector) {
	t.Helper()
	dir := t.TempDir()
	j := startJaeger(t, dir, "jaeger")
	c := newShippedCollector(t, dir, fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), filepath.Join(dir, "storage"))
	c.env = append(c.env, "JAEGER_OTLP_ENDPOINT="+j.otlp)
	override := filepath.Join(dir, "jaeger-only.yaml")
	require.NoError(t, os.WriteFile(override, []byte("service: {pipelines: {traces: {exporters: [otlp_grpc/jaeger]}, logs: {exporters: [debug]}}}\n"), 0o600))
	c.args = append(c.args, "--config", override)
	c.start(t)
	return j, c
}
