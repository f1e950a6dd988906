package exemplar

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/diagnosis"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/incident"
)

var now = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

// slowCheckout is an incident trace: front calls payment, whose server span
// took 2 s and is the culprit.
func slowCheckout(id byte) (pcommon.TraceID, []diagnosis.Span, []ptrace.Span) {
	trace := pcommon.TraceID{id}
	end := now.UnixNano()
	spans := []diagnosis.Span{
		{ID: pcommon.SpanID{id, 1}, Service: "front", Name: "POST /checkout", Kind: ptrace.SpanKindServer, Start: end - 2_100_000_000, End: end},
		{ID: pcommon.SpanID{id, 2}, Parent: pcommon.SpanID{id, 1}, Service: "payment", Name: "POST /pay", Kind: ptrace.SpanKindServer, Start: end - 2_000_000_000, End: end},
	}
	handles := make([]ptrace.Span, len(spans))
	for i := range spans {
		handles[i] = ptrace.NewSpan()
		handles[i].SetName(spans[i].Name)
		handles[i].Attributes().PutStr("http.route", spans[i].Name[len("POST "):])
		handles[i].Attributes().PutStr("http.request.method", "POST")
	}
	return trace, spans, handles
}

// latency is a batch with one http.server.request.duration histogram point
// of service, over the minute before now.
func latency(service string) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", service)
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("http.server.request.duration")
	m.SetUnit("s")
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	dp := h.DataPoints().AppendEmpty()
	dp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Minute)))
	dp.SetTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Second)))
	dp.SetCount(1)
	return md
}

func exemplars(md pmetric.Metrics) pmetric.ExemplarSlice {
	return md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Histogram().DataPoints().At(0).Exemplars()
}

func TestAnExemplarPointsAtAPublishedIncidentTrace(t *testing.T) {
	x := NewIndex()
	trace, spans, handles := slowCheckout(7)
	x.Add(now, trace, "incident-1", PathOf(trace, spans, handles, 0, 1))
	x.Expire(now, time.Hour, time.Hour, time.Minute)
	assert.Nil(t, x.Snapshot(), "a trace no incident record lists yet is no exemplar")

	x.Publish(now, []incident.Incident{{ID: "incident-1", Status: incident.StatusOpen, TraceIDs: []pcommon.TraceID{trace}}})
	x.Expire(now, time.Hour, time.Hour, time.Minute)
	snap := x.Snapshot()
	require.NotNil(t, snap)

	streams := NewStreams()
	md := latency("payment")
	require.Equal(t, int64(1), Link(snap, md, 1, time.Minute, streams))
	ex := exemplars(md).At(0)
	assert.Equal(t, trace, ex.TraceID())
	assert.Equal(t, pcommon.SpanID{7, 2}, ex.SpanID(), "payment's own server span")
	assert.InDelta(t, 2.0, ex.DoubleValue(), 1e-9, "the span's duration, in the metric's unit")

	other := latency("cart")
	assert.Zero(t, Link(snap, other, 1, time.Minute, streams), "cart is not on the incident's path")

	x.Publish(now.Add(time.Minute), []incident.Incident{{ID: "incident-1", Status: incident.StatusResolved}})
	x.Expire(now.Add(3*time.Minute), time.Hour, time.Minute, time.Minute)
	assert.Nil(t, x.Snapshot(), "forgotten once its incident resolved a while ago")
}

// A shard sends the path to the incident stage: the stage's exemplar is the
// one a single collector would add.
func TestAPathSurvivesTheWire(t *testing.T) {
	trace, spans, handles := slowCheckout(7)
	path := PathOf(trace, spans, handles, 0, 1)
	wire := pcommon.NewSlice()
	path.Encode(wire)
	got, err := DecodePath(trace, wire)
	require.NoError(t, err)
	for svc := range path {
		assert.ElementsMatch(t, path[svc], got[svc], svc)
	}
	assert.Len(t, got, len(path))

	for _, bad := range []string{"not hex", "00112233445566778899aabb"} {
		wire.At(0).Map().PutStr("span_id", bad)
		_, err = DecodePath(trace, wire)
		require.ErrorContains(t, err, "span_id", "refused, never a crash: %q", bad)
	}
}
