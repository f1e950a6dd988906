package rootcauseprocessor

import (
	"context"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/incidentrecord"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/metadatatest"
)

// TestStringsLeaveTheProcessorAsValidUTF8: a service that writes Latin-1
// ("paiement" with an é, 0xe9) into its service name, span names, status
// messages and log bodies made invalid JSON lines in the file exporter.
// Every string is repaired with U+FFFD where it enters, and counted: the
// forwarded spans, logs and metrics and the incident records are UTF-8.
func TestStringsLeaveTheProcessorAsValidUTF8(t *testing.T) {
	const latin1, repaired = "pay\xe9ment", "pay\uFFFDment"
	h := newHarness(t, testConfig())
	b := newTrace(1, h.clock.Now().Add(-1500*time.Millisecond))
	root := b.span(nil, "frontend", "GET /buy", server, 0, 1520, http500("payment failed"))
	c := b.span(&root, "frontend", "POST /pay", client, 1, 1505, http500("500"), attr("server.address", latin1))
	p := b.span(&c, latin1, "POST /pay", server, 2, 1502, http500("database tim\xe9out"))
	db := b.span(&p, latin1, "SELECT acc\xf6unts", client, 3, 1500, dbAttrs("SELECT", "accounts"), errorStatus("connection timeout"))
	b.log(latin1, plog.SeverityNumberError, "Database connection tim\xe9out.", db)
	md := pmetric.NewMetrics()
	md.ResourceMetrics().AppendEmpty().Resource().Attributes().PutStr("service.name", latin1)

	h.consume(b.td, b.ld)
	require.NoError(t, h.metrics.ConsumeMetrics(context.Background(), md))
	h.advance(h.shared.cfg.DecisionWait + time.Second)

	records := h.incidentRecords()
	require.Len(t, records, 1)
	assert.Equal(t, repaired, mustStr(t, records[0].Attributes(), incidentrecord.AttrCulpritService))
	require.Equal(t, 4, h.tsink.SpanCount())
	for _, td := range h.tsink.AllTraces() {
		out, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
		require.NoError(t, err)
		assert.True(t, utf8.Valid(out), string(out))
	}
	for _, ld := range h.lsink.AllLogs() {
		out, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
		require.NoError(t, err)
		assert.True(t, utf8.Valid(out), string(out))
	}
	for _, md := range h.msink.AllMetrics() {
		out, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(md)
		require.NoError(t, err)
		assert.True(t, utf8.Valid(out), string(out))
	}
	// server.address, the span's and the log's service.name, a status
	// message, a span name, a log body, the metric's service.name.
	metadatatest.AssertEqualProcessorRootcauseStringsRepaired(t, h.tel, []metricdata.DataPoint[int64]{{Value: 7}}, metricdatatest.IgnoreTimestamp())
}
