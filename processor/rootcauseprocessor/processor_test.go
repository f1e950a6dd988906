package rootcauseprocessor

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/metadata"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/metadatatest"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/incidentrecord"
)

func TestSharedInstance(t *testing.T) {
	f := NewFactory()
	set := processortest.NewNopSettings(metadata.Type)
	cfg := f.CreateDefaultConfig()
	tp, err := f.CreateTraces(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	mp, err := f.CreateMetrics(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	lp, err := f.CreateLogs(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	shared := tp.(*tracesProcessor).shared
	assert.Same(t, shared, mp.(*metricsProcessor).shared)
	assert.Same(t, shared, lp.(*logsProcessor).shared)

	host := componenttest.NewNopHost()
	require.NoError(t, tp.Start(context.Background(), host))
	require.NoError(t, mp.Start(context.Background(), host))
	require.NoError(t, lp.Start(context.Background(), host))
	require.NoError(t, tp.Shutdown(context.Background()))
	require.NoError(t, mp.Shutdown(context.Background()))
	// Still one pipeline running: the same instance is handed out.
	again, err := f.CreateTraces(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	assert.Same(t, shared, again.(*tracesProcessor).shared)
	require.NoError(t, lp.Shutdown(context.Background()))
	require.NoError(t, lp.Shutdown(context.Background()), "a second shutdown is harmless")
	// All stopped: a new instance.
	fresh, err := f.CreateTraces(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	assert.NotSame(t, shared, fresh.(*tracesProcessor).shared)
}

// spanTrace builds a batch from (trace, span, parent, start, end) rows of one service.
type row struct {
	trace, span, parent uint64
	start, end          int64 // milliseconds
}

func batch(rows ...row) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	ss := rs.ScopeSpans().AppendEmpty().Spans()
	for _, r := range rows {
		s := ss.AppendEmpty()
		s.SetTraceID(traceID(r.trace))
		s.SetSpanID(spanID(r.span))
		s.SetParentSpanID(spanID(r.parent))
		s.SetName("op")
		s.SetKind(ptrace.SpanKindServer)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(epoch.Add(time.Duration(r.start) * time.Millisecond)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(epoch.Add(time.Duration(r.end) * time.Millisecond)))
	}
	return td
}

func traceID(n uint64) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[8:], n)
	return id
}

func spanID(n uint64) pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], n)
	return id
}

func bigTrace(n int) ptrace.Traces {
	rows := make([]row, n)
	for i := range rows {
		rows[i] = row{trace: 9, span: uint64(i + 1), parent: uint64(i / 2), start: int64(i % 50), end: 100 - int64(i%50)}
	}
	return batch(rows...)
}

// TestBadData feeds malformed traces: nothing panics, every span is
// forwarded, and the problems are counted.
func TestBadData(t *testing.T) {
	tests := []struct {
		name string
		td   ptrace.Traces
		// problems is every series of span_problems the batch records;
		// zeroTraceID the spans_zero_trace_id count.
		problems    []metricdata.DataPoint[int64]
		zeroTraceID int64
	}{
		{name: "empty batch", td: ptrace.NewTraces()},
		{name: "empty resource and scope", td: func() ptrace.Traces {
			td := ptrace.NewTraces()
			td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
			return td
		}()},
		{name: "no parents", td: batch(row{1, 1, 0, 0, 10}, row{1, 2, 0, 0, 20}), problems: problem("extra_root", 1)},
		{name: "orphans", td: batch(row{1, 1, 0, 0, 10}, row{1, 2, 77, 0, 5}), problems: problem("orphan", 1)},
		{name: "cycle", td: batch(row{1, 1, 0, 0, 10}, row{1, 2, 3, 1, 5}, row{1, 3, 2, 1, 5}), problems: problem("cycle", 2)},
		{name: "self parent", td: batch(row{1, 1, 1, 0, 10}), problems: problem("orphan", 1)},
		{name: "duplicate span IDs", td: batch(row{1, 1, 0, 0, 10}, row{1, 1, 0, 0, 10}, row{1, 2, 1, 1, 5}), problems: problem("duplicate_span_id", 1)},
		{name: "zero span ID", td: batch(row{1, 1, 0, 0, 10}, row{1, 0, 1, 1, 5}), problems: problem("zero_span_id", 1)},
		{name: "zero trace ID", td: batch(row{0, 1, 0, 0, 10}, row{1, 1, 0, 0, 10}), zeroTraceID: 1},
		{name: "child outside parent", td: batch(row{1, 1, 0, 10, 20}, row{1, 2, 1, 5, 30}), problems: problem("outside_parent", 1)},
		{name: "end before start", td: batch(row{1, 1, 0, 20, 10}, row{1, 2, 1, 5, 30}), problems: problem("outside_parent", 1)},
		{name: "10k spans", td: bigTrace(10_000), problems: append(problem("extra_root", 1), problem("outside_parent", 4898)...)},
		{name: "10k-deep chain", td: func() ptrace.Traces {
			rows := make([]row, 10_000)
			for i := range rows {
				rows[i] = row{trace: 9, span: uint64(i + 1), parent: uint64(i), start: int64(i), end: 30_000 - int64(i)}
			}
			return batch(rows...)
		}()},
		{name: "10k siblings", td: func() ptrace.Traces {
			rows := make([]row, 10_000)
			rows[0] = row{trace: 9, span: 1, end: 20_000}
			for i := 1; i < len(rows); i++ {
				rows[i] = row{trace: 9, span: uint64(i + 1), parent: 1, start: int64(i), end: int64(i) + 2}
			}
			return batch(rows...)
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxSpansPerTrace = 20_000
			h := newHarness(t, cfg)
			want := tt.td.SpanCount()
			require.NotPanics(t, func() {
				require.NoError(t, h.traces.ConsumeTraces(context.Background(), tt.td))
				h.advance(cfg.DecisionWait + time.Second)
			})
			assert.Equal(t, want, h.tsink.SpanCount())
			if tt.problems != nil {
				metadatatest.AssertEqualProcessorRootcauseSpanProblems(t, h.tel, tt.problems, metricdatatest.IgnoreTimestamp())
			} else {
				assertNotRecorded(t, h, "otelcol_processor_rootcause_span_problems")
			}
			if tt.zeroTraceID > 0 {
				metadatatest.AssertEqualProcessorRootcauseSpansZeroTraceID(t, h.tel, []metricdata.DataPoint[int64]{{Value: tt.zeroTraceID}}, metricdatatest.IgnoreTimestamp())
			} else {
				assertNotRecorded(t, h, "otelcol_processor_rootcause_spans_zero_trace_id")
			}
		})
	}
}

// assertNotRecorded asserts that the component never recorded the metric.
func assertNotRecorded(t *testing.T, h *harness, name string) {
	t.Helper()
	_, err := h.tel.GetMetric(name)
	assert.ErrorContains(t, err, "not found", "%s was recorded", name)
}

// problem is the one series of span_problems for p.
func problem(p string, n int64) []metricdata.DataPoint[int64] {
	return []metricdata.DataPoint[int64]{{Attributes: attribute.NewSet(attribute.String("problem", p)), Value: n}}
}

func TestLimits(t *testing.T) {
	t.Run("max_traces evicts the least recently updated trace undiagnosed", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxTraces = 2
		h := newHarness(t, cfg)
		for i := uint64(1); i <= 3; i++ {
			require.NoError(t, h.traces.ConsumeTraces(context.Background(), batch(row{i, 1, 0, 0, 10})))
		}
		assert.Equal(t, 1, h.tsink.SpanCount(), "the evicted trace is forwarded at once")
		assert.Equal(t, traceID(1), h.tsink.AllTraces()[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).TraceID())
		metadatatest.AssertEqualProcessorRootcauseTracesEvicted(t, h.tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
		// Decisions run on a grid of event time: up to one step later.
		h.advance(cfg.DecisionWait + h.shared.tickInterval())
		assert.Equal(t, 3, h.tsink.SpanCount())
	})
	t.Run("max_spans_per_trace forwards the overflow at once", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxSpansPerTrace = 2
		h := newHarness(t, cfg)
		require.NoError(t, h.traces.ConsumeTraces(context.Background(), batch(row{1, 1, 0, 0, 10}, row{1, 2, 1, 1, 5}, row{1, 3, 1, 5, 9})))
		assert.Equal(t, 1, h.tsink.SpanCount())
		metadatatest.AssertEqualProcessorRootcauseSpansOverflow(t, h.tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
		h.advance(cfg.DecisionWait + h.shared.tickInterval())
		assert.Equal(t, 3, h.tsink.SpanCount())
	})
	t.Run("decision waits for the last span", func(t *testing.T) {
		cfg := testConfig()
		h := newHarness(t, cfg)
		require.NoError(t, h.traces.ConsumeTraces(context.Background(), batch(row{1, 2, 1, 1, 5})))
		h.advance(cfg.DecisionWait - time.Second)
		require.NoError(t, h.traces.ConsumeTraces(context.Background(), batch(row{1, 1, 0, 0, 10})))
		h.advance(cfg.DecisionWait - time.Second)
		assert.Equal(t, 0, h.tsink.SpanCount())
		h.advance(time.Second + h.shared.tickInterval())
		assert.Equal(t, 2, h.tsink.SpanCount())
		assert.Len(t, h.tsink.AllTraces(), 1, "decided together")
	})
	t.Run("late spans join the decision", func(t *testing.T) {
		cfg := testConfig()
		h := newHarness(t, cfg)
		r := rand.New(rand.NewPCG(3, 4))
		b := login(1, h.clock.Now(), r, true)
		// Hold the root back: it arrives after the decision.
		late := ptrace.NewTraces()
		for _, rs := range b.td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				ss.Spans().RemoveIf(func(s ptrace.Span) bool {
					if !s.ParentSpanID().IsEmpty() {
						return false
					}
					lrs := late.ResourceSpans().AppendEmpty()
					rs.Resource().CopyTo(lrs.Resource())
					s.CopyTo(lrs.ScopeSpans().AppendEmpty().Spans().AppendEmpty())
					return true
				})
			}
		}
		h.consume(b.td, b.ld)
		h.advance(cfg.DecisionWait + time.Second)
		require.Len(t, h.incidentRecords(), 1)
		require.NoError(t, h.traces.ConsumeTraces(context.Background(), late))
		metadatatest.AssertEqualProcessorRootcauseSpansLate(t, h.tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
		all := h.tsink.AllTraces()
		root := all[len(all)-1].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
		assert.Equal(t, "database", mustStr(t, root.Attributes(), attrCulpritService))
	})
}

// databaseFailsAfterWorking sends logins through which the database worked
// 40 times before it failed in the 5 next: failing at that rate all along,
// it would not have worked that long; its failure is a change, an incident,
// not a standing condition.
func databaseFailsAfterWorking(h *harness, r *rand.Rand) {
	for i := range 40 {
		b := login(uint64(100+i), h.clock.Now(), r, false)
		h.consume(b.td, b.ld)
		h.advance(time.Second)
	}
	for i := range 5 {
		b := login(uint64(1+i), h.clock.Now(), r, true)
		h.consume(b.td, b.ld)
	}
}

func TestIncidentMetrics(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	r := rand.New(rand.NewPCG(5, 6))
	databaseFailsAfterWorking(h, r)
	h.advance(cfg.DecisionWait + time.Second)
	require.NotEmpty(t, h.msink.AllMetrics())
	md := h.msink.AllMetrics()[len(h.msink.AllMetrics())-1]
	rm := md.ResourceMetrics().At(0)
	assert.Equal(t, map[string]any{"service.name": "otelcol-rca"}, rm.Resource().Attributes().AsRaw())
	ms := rm.ScopeMetrics().At(0).Metrics()
	require.Equal(t, 3, ms.Len())
	assert.Equal(t, "rca.incidents", ms.At(0).Name())
	dp := ms.At(0).Sum().DataPoints().At(0)
	assert.Equal(t, int64(1), dp.IntValue(), "one incident opened")
	assert.Equal(t, "database", dp.Attributes().AsRaw()["rca.culprit.service"])
	assert.Equal(t, "rca.incidents.active", ms.At(1).Name())
	assert.Equal(t, int64(1), ms.At(1).Gauge().DataPoints().At(0).IntValue())
	assert.Equal(t, "rca.incidents.standing", ms.At(2).Name())
	assert.Equal(t, int64(0), ms.At(2).Gauge().DataPoints().At(0).IntValue())

	h.advance(cfg.ResolveAfter + h.shared.tickInterval())
	last := h.msink.AllMetrics()[len(h.msink.AllMetrics())-1]
	assert.Equal(t, int64(0), last.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(1).Gauge().DataPoints().At(0).IntValue())
	assert.Equal(t, pmetric.MetricTypeSum, last.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Type())
}

// TestForwardsDecidedTracesInChunks: traces decided in the same tick leave in
// chunks of at most maxForwardSpans spans (a trace is never split), so the
// next hop never gets one oversized batch; no span is lost.
func TestForwardsDecidedTracesInChunks(t *testing.T) {
	h := newHarness(t, testConfig())
	const traces, perTrace = 3000, 7
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	start := pcommon.NewTimestampFromTime(h.clock.Now())
	for i := range traces {
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[8:], uint64(i+1))
		for j := range perTrace {
			s := ss.AppendEmpty()
			s.SetTraceID(tid)
			s.SetSpanID(pcommon.SpanID{byte(j + 1), byte(i), byte(i >> 8)})
			if j > 0 {
				s.SetParentSpanID(pcommon.SpanID{1, byte(i), byte(i >> 8)})
			}
			s.SetStartTimestamp(start)
			s.SetEndTimestamp(start + 1000)
		}
	}
	h.consume(td, plog.NewLogs())
	h.advance(testConfig().DecisionWait + time.Second)

	batches := h.tsink.AllTraces()
	require.Greater(t, len(batches), 1, "one batch of %d spans", traces*perTrace)
	total := 0
	for _, b := range batches {
		assert.LessOrEqual(t, b.SpanCount(), maxForwardSpans)
		total += b.SpanCount()
	}
	assert.Equal(t, traces*perTrace, total)
}

// TestAServiceFailingSinceTheStartIsAStandingCondition: a collector started
// while the database fails at a steady rate cannot tell that from a fault:
// its incident is a standing condition (shown, in rca.incidents.standing,
// not counted as opened, not alerted) until the history can judge a change.
func TestAServiceFailingSinceTheStartIsAStandingCondition(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	r := rand.New(rand.NewPCG(5, 6))
	b := login(1, h.clock.Now(), r, true)
	h.consume(b.td, b.ld)
	h.advance(cfg.DecisionWait + time.Second)
	md := h.msink.AllMetrics()[len(h.msink.AllMetrics())-1]
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	assert.Zero(t, ms.At(0).Sum().DataPoints().Len(), "no incident opened")
	assert.Equal(t, int64(0), ms.At(1).Gauge().DataPoints().At(0).IntValue())
	assert.Equal(t, int64(1), ms.At(2).Gauge().DataPoints().At(0).IntValue(), "one standing condition")
	var standing []bool
	for _, ld := range h.lsink.AllLogs() {
		for rec, err := range incidentrecord.All(ld) {
			require.NoError(t, err)
			standing = append(standing, rec.Standing)
		}
	}
	require.NotEmpty(t, standing)
	assert.True(t, standing[0])
}

// TestShutdownRecordsWhatTheIncidentsGatheredSinceTheirLastRecord: updates
// come at most every update_interval, so the traces an incident gathered
// since its last record, and those decided at shutdown, would go with the
// process; shutdown writes one last update, so the backends keep what the
// collector found.
func TestShutdownRecordsWhatTheIncidentsGatheredSinceTheirLastRecord(t *testing.T) {
	// The collector stops the pipelines in an order of its own.
	for name, order := range map[string][]int{"traces first": {0, 1, 2}, "logs first": {2, 1, 0}} {
		t.Run(name, func(t *testing.T) { testShutdownRecordsTheLastUpdate(t, order) })
	}
}

func testShutdownRecordsTheLastUpdate(t *testing.T, order []int) {
	cfg := testConfig()
	cfg.UpdateInterval = time.Minute
	h := newHarness(t, cfg)
	r := rand.New(rand.NewPCG(5, 6))
	databaseFailsAfterWorking(h, r)
	h.advance(cfg.DecisionWait + time.Second)
	lastCount := func() (string, int64) {
		recs := h.incidentRecords()
		require.NotEmpty(t, recs)
		rec, err := incidentrecord.Read(recs[len(recs)-1])
		require.NoError(t, err)
		return rec.Status, rec.TraceCount
	}
	status, count := lastCount()
	require.Equal(t, "open", status)
	require.Equal(t, int64(5), count)

	// Four more failures: two decided before the stop, within the update
	// interval, two still waiting for their decision at the stop.
	for i := range 2 {
		b := login(uint64(10+i), h.clock.Now(), r, true)
		h.consume(b.td, b.ld)
	}
	h.advance(cfg.DecisionWait + time.Second)
	_, count = lastCount()
	require.Equal(t, int64(5), count, "no update within the update interval")
	for i := range 2 {
		b := login(uint64(20+i), h.clock.Now(), r, true)
		h.consume(b.td, b.ld)
	}
	comps := []component.Component{h.traces, h.metrics, h.logs}
	for _, k := range order {
		require.NoError(t, comps[k].Shutdown(context.Background()))
	}
	status, count = lastCount()
	assert.Equal(t, "update", status)
	assert.Equal(t, int64(9), count, "every trace the incident gathered is recorded")
}
