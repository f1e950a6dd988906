package tests

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The comparator of the correctness tests must tolerate what rootcause may
// add (rca.* attributes, exemplars), batching and attribute order, and
// catch everything else.

func sampleTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	ss := rs.ScopeSpans().AppendEmpty()
	for i, name := range []string{"a", "b"} {
		s := ss.Spans().AppendEmpty()
		s.SetName(name)
		s.SetTraceID(pcommon.TraceID{1})
		s.SetSpanID(pcommon.SpanID{byte(i + 1)})
		s.Attributes().PutStr("k1", "v")
		s.Attributes().PutInt("k2", 2)
	}
	return td
}

func TestComparatorTraces(t *testing.T) {
	sent := canonicalSpans([]ptrace.Traces{sampleTraces()})

	// Split into two batches, attributes reordered, rca.* added.
	recv := sampleTraces()
	second := ptrace.NewTraces()
	recv.ResourceSpans().CopyTo(second.ResourceSpans())
	recv.ResourceSpans().At(0).ScopeSpans().At(0).Spans().RemoveIf(func(s ptrace.Span) bool { return s.Name() == "b" })
	second.ResourceSpans().At(0).ScopeSpans().At(0).Spans().RemoveIf(func(s ptrace.Span) bool { return s.Name() == "a" })
	b := second.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	b.Attributes().Remove("k1")
	b.Attributes().PutStr("k1", "v")
	b.Attributes().PutStr("rca.root_cause", "payment")
	second.ResourceSpans().At(0).Resource().Attributes().PutBool("rca.incident", true)
	stripTraces(recv)
	stripTraces(second)
	missing, unexpected := diffItems(sent, canonicalSpans([]ptrace.Traces{recv, second}))
	assert.Empty(t, missing)
	assert.Empty(t, unexpected)

	// Any other change is caught: an altered attribute, a lost span.
	altered := sampleTraces()
	altered.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutStr("k1", "changed")
	missing, unexpected = diffItems(sent, canonicalSpans([]ptrace.Traces{altered}))
	assert.Len(t, missing, 1)
	assert.Len(t, unexpected, 1)
	missing, unexpected = diffItems(sent, canonicalSpans([]ptrace.Traces{recv}))
	assert.Len(t, missing, 1)
	assert.Empty(t, unexpected)
	// A duplicate too.
	_, unexpected = diffItems(sent, canonicalSpans([]ptrace.Traces{sampleTraces(), second}))
	assert.Len(t, unexpected, 1)
}

func TestComparatorMetrics(t *testing.T) {
	mk := func() pmetric.Metrics {
		md := pmetric.NewMetrics()
		m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("http.server.duration")
		dps := m.SetEmptySum().DataPoints()
		for i := range 3 {
			dp := dps.AppendEmpty()
			dp.SetIntValue(int64(i))
			dp.Attributes().PutInt("i", int64(i))
		}
		return md
	}
	sent := canonicalDataPoints([]pmetric.Metrics{mk()})
	assert.Len(t, sent, 3)

	recv := mk()
	dp := recv.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints().At(1)
	dp.Exemplars().AppendEmpty().SetTraceID(pcommon.TraceID{9})
	dp.Attributes().PutStr("rca.suspect", "db")
	stripMetrics(recv)
	missing, unexpected := diffItems(sent, canonicalDataPoints([]pmetric.Metrics{recv}))
	assert.Empty(t, missing)
	assert.Empty(t, unexpected)

	dp.SetIntValue(42)
	missing, unexpected = diffItems(sent, canonicalDataPoints([]pmetric.Metrics{recv}))
	assert.Len(t, missing, 1)
	assert.Len(t, unexpected, 1)
}

func TestComparatorLogs(t *testing.T) {
	mk := func() plog.Logs {
		ld := plog.NewLogs()
		lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.Body().SetStr("payment timeout")
		lr.Attributes().PutStr("a", "b")
		return ld
	}
	sent := canonicalLogRecords([]plog.Logs{mk()})
	recv := mk()
	lr := recv.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	lr.Attributes().PutStr("rca.trace_root_cause", "x")
	stripLogs(recv)
	missing, unexpected := diffItems(sent, canonicalLogRecords([]plog.Logs{recv}))
	assert.Empty(t, missing)
	assert.Empty(t, unexpected)

	lr.Body().SetStr("other")
	missing, _ = diffItems(sent, canonicalLogRecords([]plog.Logs{recv}))
	assert.Len(t, missing, 1)
}
