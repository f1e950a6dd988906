package oversizeprocessor

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-rca/otelcol-rca/processor/oversizeprocessor/internal/metadatatest"
)

const testMax = 64 << 10

// TestOversizedSpanDroppedAndCounted: a span whose one-span request would
// be over max_bytes, between two that fit, in one request as a pipeline
// batch carries them: it alone is dropped and counted; the others pass.
func TestOversizedSpanDroppedAndCounted(t *testing.T) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for _, payload := range []int{1 << 10, testMax, 1 << 10} {
		s := spans.AppendEmpty()
		s.SetName("op")
		s.Attributes().PutStr("payload", strings.Repeat("x", payload))
	}
	tel := componenttest.NewTelemetry()
	next := new(consumertest.TracesSink)
	p, err := NewFactory().CreateTraces(context.Background(), metadatatest.NewSettings(tel), &Config{MaxBytes: testMax}, next)
	require.NoError(t, err)
	require.NoError(t, p.ConsumeTraces(context.Background(), td))

	require.Len(t, next.AllTraces(), 1)
	got := next.AllTraces()[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	require.Equal(t, 2, got.Len(), "the two spans that fit pass")
	for _, s := range got.All() {
		v, _ := s.Attributes().Get("payload")
		assert.Len(t, v.Str(), 1<<10)
	}
	metadatatest.AssertEqualProcessorOversizeDroppedSpans(t, tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	require.NoError(t, tel.Shutdown(context.Background()))
}

// TestAloneIsTheRequestSize: the size the processor computes for a span
// alone is the size of an OTLP request holding it with its resource and
// scope, as an exporter's byte sizer measures it.
func TestAloneIsTheRequestSize(t *testing.T) {
	for _, payload := range []int{0, 100, 200, 1 << 10, 70000, 3 << 20} {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "checkout")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("scope")
		s := ss.Spans().AppendEmpty()
		s.Attributes().PutStr("payload", strings.Repeat("x", payload))
		var m ptrace.ProtoMarshaler
		// Another span beside it makes the envelope's arithmetic count.
		ss.Spans().AppendEmpty().SetName(strings.Repeat("y", 300))
		one := ptrace.NewTraces()
		rs.Resource().CopyTo(one.ResourceSpans().AppendEmpty().Resource())
		oneSS := one.ResourceSpans().At(0).ScopeSpans().AppendEmpty()
		ss.Scope().CopyTo(oneSS.Scope())
		s.CopyTo(oneSS.Spans().AppendEmpty())
		rsEnvelope := envelope(m.ResourceSpansSize(rs), rs.ScopeSpans(), m.ScopeSpansSize)
		ssEnvelope := envelope(m.ScopeSpansSize(ss), ss.Spans(), m.SpanSize)
		assert.Equal(t, m.TracesSize(one), alone(rsEnvelope, ssEnvelope, m.SpanSize(s)), "payload %d", payload)
	}
}

func TestOversizedLogRecordDroppedAndCounted(t *testing.T) {
	ld := plog.NewLogs()
	records := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for _, body := range []int{testMax, 1 << 10} {
		records.AppendEmpty().Body().SetStr(strings.Repeat("x", body))
	}
	tel := componenttest.NewTelemetry()
	next := new(consumertest.LogsSink)
	p, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tel), &Config{MaxBytes: testMax}, next)
	require.NoError(t, err)
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))
	require.Equal(t, 1, next.LogRecordCount())
	metadatatest.AssertEqualProcessorOversizeDroppedLogRecords(t, tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	require.NoError(t, tel.Shutdown(context.Background()))
}

func TestConfigRefusesNoBound(t *testing.T) {
	require.Error(t, (&Config{}).Validate())
	require.NoError(t, NewFactory().CreateDefaultConfig().(*Config).Validate())
}
