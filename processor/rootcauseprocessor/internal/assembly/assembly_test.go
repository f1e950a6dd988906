package assembly

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

// batch is one export request of service svc: a span per trace ID, named
// after its trace and its number in the batch.
func batch(svc string, traces ...byte) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", svc)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("tracer")
	for i, id := range traces {
		s := ss.Spans().AppendEmpty()
		if id != 0 {
			s.SetTraceID(pcommon.TraceID{id})
		}
		s.SetSpanID(pcommon.SpanID{id, byte(i + 1)})
		s.SetName(svc)
	}
	return td
}

// services lists the service.name of each span of td, in order.
func services(td ptrace.Traces) []string {
	var out []string
	for _, rs := range td.ResourceSpans().All() {
		svc, _ := rs.Resource().Attributes().Get("service.name")
		for _, ss := range rs.ScopeSpans().All() {
			for range ss.Spans().All() {
				out = append(out, svc.Str())
			}
		}
	}
	return out
}

func newBuffer() *Buffer {
	return New(Options{DecisionWait: 5 * time.Second, MaxTraces: 3, MaxSpansPerTrace: 3, DecidedCacheSize: 10})
}

func TestATraceWaitsForItsLastSpanAndKeepsEachSpansResource(t *testing.T) {
	b := newBuffer()
	assert.Zero(t, b.Add(batch("front", 1, 2), t0).SpanCount(), "buffered, nothing passes")
	assert.Zero(t, b.Add(batch("cart", 1), t0.Add(3*time.Second)).SpanCount())

	got := b.Expired(t0.Add(5*time.Second), nil)
	require.Len(t, got, 1, "trace 2 waited decision_wait after its last span; trace 1 had a span 3 s later")
	assert.Equal(t, pcommon.TraceID{2}, got[0].ID)

	got = b.Expired(t0.Add(8*time.Second), nil)
	require.Len(t, got, 1)
	assert.Equal(t, pcommon.TraceID{1}, got[0].ID)
	assert.Equal(t, 2, got[0].Spans)
	assert.Equal(t, []string{"front", "cart"}, services(got[0].Data), "each span keeps the resource it came with")
	assert.Zero(t, b.Len())
}

// TestABatchOfSecondsSetsEachTracesWaitAsSmallBatchesWould: a batch that
// moved the clock by 10 s (a backlog, a recording, an exporter's large
// batch) holds trace 1's spans ended at 1 s and 9 s and trace 2's span
// ended at 2 s. Each trace waits decision_wait after its own latest span,
// as it would have had they come one by one: before, both waited from the
// end of the batch, and a batch longer than decision_wait decided the traces
// it continued before their new spans joined.
func TestABatchOfSecondsSetsEachTracesWaitAsSmallBatchesWould(t *testing.T) {
	b := newBuffer()
	td := batch("front", 1, 2, 1)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i, end := range []time.Duration{time.Second, 2 * time.Second, 9 * time.Second} {
		spans.At(i).SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(end)))
	}
	assert.Zero(t, b.AddBetween(td, t0, t0.Add(10*time.Second)).SpanCount())

	got := b.Expired(t0.Add(7*time.Second), nil)
	require.Len(t, got, 1, "trace 2 waited 5 s after its span ended at 2 s")
	assert.Equal(t, pcommon.TraceID{2}, got[0].ID)
	assert.Empty(t, b.Expired(t0.Add(13*time.Second), nil), "trace 1 ended at 9 s")
	got = b.Expired(t0.Add(14*time.Second), nil)
	require.Len(t, got, 1)
	assert.Equal(t, 2, got[0].Spans)

	// Spans with no end, or ending outside the batch's time, arrive at its
	// bounds: the clock never ran outside them.
	td = batch("front", 3, 4)
	spans = td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	spans.At(1).SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Hour)))
	b.AddBetween(td, t0.Add(20*time.Second), t0.Add(21*time.Second))
	got = b.Expired(t0.Add(25*time.Second), nil)
	require.Len(t, got, 1)
	assert.Equal(t, pcommon.TraceID{3}, got[0].ID)
	require.Len(t, b.Expired(t0.Add(26*time.Second), nil), 1)
}

type tagger struct{ tagged *int }

func (d tagger) TagLate(s ptrace.Span) { *d.tagged++; s.Attributes().PutBool("late", true) }

func TestALateSpanPassesTaggedByItsTracesDecision(t *testing.T) {
	b := newBuffer()
	b.Add(batch("front", 1), t0)
	require.Len(t, b.Expired(t0.Add(5*time.Second), nil), 1)
	tagged := 0
	b.SetDecision(pcommon.TraceID{1}, tagger{&tagged})

	pass := b.Add(batch("cart", 1), t0.Add(6*time.Second))
	require.Equal(t, 1, pass.SpanCount(), "a span of a decided trace is not buffered again")
	assert.Equal(t, 1, tagged)
	late, _ := pass.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().Get("late")
	assert.True(t, late.Bool())
	assert.Equal(t, int64(1), b.TakeStats().Late)
}

func TestWhatTheBufferCannotHoldPassesThroughCounted(t *testing.T) {
	b := newBuffer()
	pass := b.Add(batch("front", 0, 1, 1, 1, 1), t0)
	assert.Equal(t, []string{"front", "front"}, services(pass), "the span without a trace ID, and trace 1's fourth span")
	stats := b.TakeStats()
	assert.Equal(t, int64(1), stats.ZeroTraceID)
	assert.Equal(t, int64(1), stats.Overflow)

	// Three traces are held at most: a fourth evicts the one updated least recently.
	b.Add(batch("front", 2), t0.Add(time.Second))
	b.Add(batch("front", 3), t0.Add(2*time.Second))
	b.Add(batch("cart", 1), t0.Add(3*time.Second)) // trace 1 is full: passes, and does not count as an update
	pass = b.Add(batch("front", 4), t0.Add(4*time.Second))
	assert.Equal(t, 3, pass.SpanCount(), "trace 1, evicted undecided with its three spans")
	assert.False(t, b.Buffered(pcommon.TraceID{1}))
	stats = b.TakeStats()
	assert.Equal(t, int64(1), stats.Evicted)
	assert.Equal(t, int64(1), stats.Overflow)

	pass = b.Add(batch("cart", 1), t0.Add(5*time.Second))
	assert.Equal(t, 1, pass.SpanCount(), "an evicted trace's late span passes as the trace's did")
}

func TestShutdownDrainsEveryTrace(t *testing.T) {
	b := newBuffer()
	b.Add(batch("front", 1, 2, 3), t0)
	assert.Len(t, b.Drain(nil), 3)
	assert.Zero(t, b.Len())
}
