package rootcauseprocessor

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/metadatatest"
)

// payTrace builds a failed request: frontend → payment → payment's database
// (the culprit), and inventory called by the frontend (not on the culprit's
// path). The payment server span lasts payMs.
func payTrace(n uint64, start time.Time, payMs float64) *traceBuilder {
	b := newTrace(n, start)
	root := b.span(nil, "frontend", "GET /buy", server, 0, payMs+20, http500("payment failed"))
	c := b.span(&root, "frontend", "POST /pay", client, 1, payMs+5, http500("500"), attr("server.address", "payment"))
	p := b.span(&c, "payment", "POST /pay", server, 2, payMs+2, http500("database timeout"), attr("http.route", "/pay"))
	db := b.span(&p, "payment", "SELECT accounts", client, 3, payMs, dbAttrs("SELECT", "accounts"), errorStatus("connection timeout"))
	ci := b.span(&root, "frontend", "POST /reserve", client, payMs+6, payMs+15)
	b.span(&ci, "inventory", "POST /reserve", server, payMs+7, payMs+14)
	b.log("payment", plog.SeverityNumberError, "Database connection timeout during payment gateway authentication.", db)
	return b
}

// exemplarFixture opens one incident with three payment traces of 1.5 s,
// 2.5 s and 0.5 s and returns them.
func exemplarFixture(t *testing.T, cfg *Config) (*harness, []*traceBuilder) {
	h := newHarness(t, cfg)
	var traces []*traceBuilder
	for i, ms := range []float64{1500, 2500, 500} {
		// The traces end together, as requests that hit one fault do, so
		// that one grid point of event time decides them all.
		b := payTrace(uint64(i+1), h.clock.Now().Add(-time.Duration(ms)*time.Millisecond), ms)
		traces = append(traces, b)
		h.consume(b.td, b.ld)
		h.advance(100 * time.Millisecond)
	}
	h.advance(cfg.DecisionWait + time.Second)
	require.Len(t, h.incidentRecords(), 1)
	return h, traces
}

// spanOf returns the forwarded span of service named name in the trace.
func spanOf(t *testing.T, h *harness, b *traceBuilder, service, name string) ptrace.Span {
	var out ptrace.Span
	found := false
	for _, td := range h.tsink.AllTraces() {
		forEachSpan(td, func(svc string, s ptrace.Span) {
			if s.TraceID() == b.id && svc == service && s.Name() == name {
				out, found = s, true
			}
		})
	}
	require.True(t, found, "%s %s", service, name)
	return out
}

type metricKind int

const (
	histogram metricKind = iota
	expHistogram
	monotonicSum
	upDownSum
)

type dpSpec struct {
	service, name, unit string
	kind                metricKind
	delta               bool
	start, ts           time.Time
	attrs               map[string]any
	intValue            bool
	existing            int // exemplars already on the data point
}

func (d dpSpec) metrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", d.service)
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName(d.name)
	m.SetUnit(d.unit)
	temp := pmetric.AggregationTemporalityCumulative
	if d.delta {
		temp = pmetric.AggregationTemporalityDelta
	}
	var dp interface {
		Attributes() pcommon.Map
		SetStartTimestamp(pcommon.Timestamp)
		SetTimestamp(pcommon.Timestamp)
		Exemplars() pmetric.ExemplarSlice
	}
	switch d.kind {
	case histogram:
		h := m.SetEmptyHistogram()
		h.SetAggregationTemporality(temp)
		p := h.DataPoints().AppendEmpty()
		p.ExplicitBounds().FromRaw([]float64{0.1, 1, 10})
		p.BucketCounts().FromRaw([]uint64{1, 2, 3, 0})
		dp = p
	case expHistogram:
		h := m.SetEmptyExponentialHistogram()
		h.SetAggregationTemporality(temp)
		dp = h.DataPoints().AppendEmpty()
	case monotonicSum, upDownSum:
		s := m.SetEmptySum()
		s.SetIsMonotonic(d.kind == monotonicSum)
		s.SetAggregationTemporality(temp)
		p := s.DataPoints().AppendEmpty()
		if d.intValue {
			p.SetIntValue(7)
		} else {
			p.SetDoubleValue(7)
		}
		dp = p
	}
	dp.SetStartTimestamp(pcommon.NewTimestampFromTime(d.start))
	dp.SetTimestamp(pcommon.NewTimestampFromTime(d.ts))
	if err := dp.Attributes().FromRaw(d.attrs); err != nil {
		panic(err)
	}
	for i := range d.existing {
		e := dp.Exemplars().AppendEmpty()
		e.SetDoubleValue(float64(i))
		e.SetSpanID(spanID(uint64(1000 + i)))
	}
	return md
}

func exemplarsOf(md pmetric.Metrics) pmetric.ExemplarSlice {
	m := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0)
	switch m.Type() {
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().At(0).Exemplars()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().At(0).Exemplars()
	default:
		return m.Sum().DataPoints().At(0).Exemplars()
	}
}

type wantExemplar struct {
	trace        int // index into the fixture's traces
	service      string
	span         string
	value        float64
	intValue     int64
	isIntExample bool
}

func TestExemplars(t *testing.T) {
	server := map[string]any{"http.route": "/pay", "http.request.method": "POST", "http.response.status_code": 500}
	tests := []struct {
		name     string
		dp       func(now time.Time) dpSpec
		existing int
		want     []wantExemplar
	}{
		{
			name: "cumulative histogram, seconds, slowest first, at most max",
			dp: func(now time.Time) dpSpec {
				return dpSpec{service: "payment", name: "http.server.request.duration", unit: "s", start: epoch.Add(-time.Hour), ts: now, attrs: server}
			},
			want: []wantExemplar{{trace: 1, service: "payment", span: "POST /pay", value: 2.5}, {trace: 0, service: "payment", span: "POST /pay", value: 1.5}},
		},
		{
			name: "delta exponential histogram, milliseconds",
			dp: func(now time.Time) dpSpec {
				return dpSpec{service: "payment", name: "http.server.request.duration", unit: "ms", kind: expHistogram, delta: true, start: epoch, ts: now, attrs: server}
			},
			want: []wantExemplar{{trace: 1, service: "payment", span: "POST /pay", value: 2500}, {trace: 0, service: "payment", span: "POST /pay", value: 1500}},
		},
		{
			name: "delta interval before the spans ended",
			dp: func(time.Time) dpSpec {
				return dpSpec{service: "payment", name: "http.server.request.duration", unit: "s", delta: true, start: epoch.Add(-time.Minute), ts: epoch.Add(-3 * time.Second), attrs: server}
			},
		},
		{
			name: "cumulative, spans older than the lookback",
			dp: func(now time.Time) dpSpec {
				return dpSpec{service: "payment", name: "http.server.request.duration", unit: "s", start: epoch.Add(-time.Hour), ts: now.Add(2 * time.Minute), attrs: server}
			},
		},
		{
			name: "existing exemplars are kept, ours follow",
			dp: func(now time.Time) dpSpec {
				return dpSpec{service: "payment", name: "http.server.request.duration", unit: "s", start: epoch, ts: now, attrs: server, existing: 2}
			},
			existing: 2,
			want:     []wantExemplar{{trace: 1, service: "payment", span: "POST /pay", value: 2.5}, {trace: 0, service: "payment", span: "POST /pay", value: 1.5}},
		},
		{
			name: "other status code: another stream",
			dp: func(now time.Time) dpSpec {
				return dpSpec{
					service: "payment", name: "http.server.request.duration", unit: "s", start: epoch, ts: now,
					attrs: map[string]any{"http.route": "/pay", "http.request.method": "POST", "http.response.status_code": 200},
				}
			},
		},
		{
			name: "other route",
			dp: func(now time.Time) dpSpec {
				return dpSpec{
					service: "payment", name: "http.server.request.duration", unit: "s", start: epoch, ts: now,
					attrs: map[string]any{"http.route": "/refund"},
				}
			},
		},
		{
			name: "monotonic int sum without a time unit: value 1",
			dp: func(now time.Time) dpSpec {
				return dpSpec{service: "payment", name: "payment.requests", unit: "{payment}", kind: monotonicSum, intValue: true, start: epoch, ts: now}
			},
			want: []wantExemplar{{trace: 1, service: "payment", span: "POST /pay", intValue: 1, isIntExample: true}, {trace: 0, service: "payment", span: "POST /pay", intValue: 1, isIntExample: true}},
		},
		{
			name: "monotonic double sum in microseconds",
			dp: func(now time.Time) dpSpec {
				return dpSpec{service: "payment", name: "payment.busy_time", unit: "us", kind: monotonicSum, delta: true, start: epoch, ts: now}
			},
			want: []wantExemplar{{trace: 1, service: "payment", span: "POST /pay", value: 2_500_000}, {trace: 0, service: "payment", span: "POST /pay", value: 1_500_000}},
		},
		{
			name: "non-monotonic sum untouched",
			dp: func(now time.Time) dpSpec {
				return dpSpec{service: "payment", name: "http.server.active_requests", unit: "{request}", kind: upDownSum, start: epoch, ts: now}
			},
		},
		{
			name: "histogram without a time unit untouched",
			dp: func(now time.Time) dpSpec {
				return dpSpec{service: "payment", name: "http.server.request.body.size", unit: "By", start: epoch, ts: now}
			},
		},
		{
			name: "database metric: the database span, nanoseconds",
			dp: func(now time.Time) dpSpec {
				return dpSpec{
					service: "payment", name: "db.client.operation.duration", unit: "ns", start: epoch, ts: now,
					attrs: map[string]any{"db.operation.name": "SELECT", "db.system.name": "postgresql"},
				}
			},
			want: []wantExemplar{{trace: 1, service: "payment", span: "SELECT accounts", value: 2497e6}, {trace: 0, service: "payment", span: "SELECT accounts", value: 1497e6}},
		},
		{
			name: "database metric of another operation",
			dp: func(now time.Time) dpSpec {
				return dpSpec{
					service: "payment", name: "db.client.operation.duration", unit: "s", start: epoch, ts: now,
					attrs: map[string]any{"db.operation.name": "UPDATE"},
				}
			},
		},
		{
			name: "caller's client metric: its client span to the culprit",
			dp: func(now time.Time) dpSpec {
				return dpSpec{
					service: "frontend", name: "http.client.request.duration", unit: "s", start: epoch, ts: now,
					attrs: map[string]any{"server.address": "payment"},
				}
			},
			want: []wantExemplar{{trace: 1, service: "frontend", span: "POST /pay", value: 2.504}, {trace: 0, service: "frontend", span: "POST /pay", value: 1.504}},
		},
		{
			name: "caller's own metric: its root server span",
			dp: func(now time.Time) dpSpec {
				return dpSpec{service: "frontend", name: "frontend.checkout.duration", unit: "s", start: epoch, ts: now}
			},
			want: []wantExemplar{{trace: 1, service: "frontend", span: "GET /buy", value: 2.52}, {trace: 0, service: "frontend", span: "GET /buy", value: 1.52}},
		},
		{
			name: "service not on the culprit's path untouched",
			dp: func(now time.Time) dpSpec {
				return dpSpec{service: "inventory", name: "http.server.request.duration", unit: "s", start: epoch, ts: now}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxExemplarsPerDataPoint = 2
			h, traces := exemplarFixture(t, cfg)
			md := tt.dp(h.clock.Now()).metrics()
			require.NoError(t, h.metrics.ConsumeMetrics(context.Background(), md))
			got := exemplarsOf(h.msink.AllMetrics()[len(h.msink.AllMetrics())-1])
			require.Equal(t, tt.existing+len(tt.want), got.Len())
			for i := range tt.existing {
				assert.Equal(t, spanID(uint64(1000+i)), got.At(i).SpanID(), "existing exemplars first, unchanged")
			}
			for i, w := range tt.want {
				e := got.At(tt.existing + i)
				s := spanOf(t, h, traces[w.trace], w.service, w.span)
				assert.Equal(t, traces[w.trace].id, e.TraceID())
				assert.Equal(t, s.SpanID(), e.SpanID())
				assert.Equal(t, s.EndTimestamp(), e.Timestamp())
				if w.isIntExample {
					assert.Equal(t, pmetric.ExemplarValueTypeInt, e.ValueType())
					assert.Equal(t, w.intValue, e.IntValue())
				} else {
					assert.InDelta(t, w.value, e.DoubleValue(), w.value*1e-9)
				}
			}
			if len(tt.want) == 0 {
				assertNotRecorded(t, h, "otelcol_processor_rootcause_exemplars_added")
			} else {
				metadatatest.AssertEqualProcessorRootcauseExemplarsAdded(t, h.tel, []metricdata.DataPoint[int64]{{Value: int64(len(tt.want))}}, metricdatatest.IgnoreTimestamp())
			}
		})
	}
}

// TestExemplarsCumulativeStream checks that a cumulative stream's next data
// point looks back to the previous one when it is older than the lookback.
func TestExemplarsCumulativeStream(t *testing.T) {
	cfg := testConfig()
	cfg.ExemplarLookback = 10 * time.Second
	h, _ := exemplarFixture(t, cfg)
	attrs := map[string]any{"http.route": "/pay"}
	first := dpSpec{service: "payment", name: "http.server.request.duration", unit: "s", start: epoch.Add(-time.Hour), ts: epoch.Add(-time.Minute), attrs: attrs}
	require.NoError(t, h.metrics.ConsumeMetrics(context.Background(), first.metrics()))
	assert.Equal(t, 0, exemplarsOf(h.msink.AllMetrics()[len(h.msink.AllMetrics())-1]).Len())

	// 30 s after the spans ended: beyond the lookback, but since the previous data point.
	second := first
	second.ts = epoch.Add(30 * time.Second)
	require.NoError(t, h.metrics.ConsumeMetrics(context.Background(), second.metrics()))
	assert.Equal(t, 3, exemplarsOf(h.msink.AllMetrics()[len(h.msink.AllMetrics())-1]).Len())

	// Another stream seen for the first time only looks back 10 s.
	other := second
	other.attrs = map[string]any{"http.route": "/pay", "http.request.method": "POST"}
	require.NoError(t, h.metrics.ConsumeMetrics(context.Background(), other.metrics()))
	assert.Equal(t, 0, exemplarsOf(h.msink.AllMetrics()[len(h.msink.AllMetrics())-1]).Len())
}

// TestExemplarsOnlyPublishedTraces checks that exemplars point only at traces
// an incident record listed, and stop once the incident is long resolved.
func TestExemplarsOnlyPublishedTraces(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	dp := dpSpec{service: "payment", name: "http.server.request.duration", unit: "s", delta: true, start: epoch, attrs: map[string]any{"http.route": "/pay"}}
	b := payTrace(1, h.clock.Now(), 1500)
	h.consume(b.td, b.ld)
	dp.ts = h.clock.Now().Add(time.Minute)
	require.NoError(t, h.metrics.ConsumeMetrics(context.Background(), dp.metrics()))
	assert.Equal(t, 0, exemplarsOf(h.msink.AllMetrics()[len(h.msink.AllMetrics())-1]).Len(), "not decided yet")

	h.advance(cfg.DecisionWait + time.Second)
	recs := h.incidentRecords()
	require.Len(t, recs, 1)
	require.NoError(t, h.metrics.ConsumeMetrics(context.Background(), dp.metrics()))
	got := exemplarsOf(h.msink.AllMetrics()[len(h.msink.AllMetrics())-1])
	require.Equal(t, 1, got.Len())
	ids := recs[0].Attributes().AsRaw()["rca.trace_ids"].([]any)
	assert.Contains(t, ids, got.At(0).TraceID().String())

	h.advance(cfg.ResolveAfter + cfg.ExemplarLookback + 2*time.Second)
	require.NoError(t, h.metrics.ConsumeMetrics(context.Background(), dp.metrics()))
	assert.Equal(t, 0, exemplarsOf(h.msink.AllMetrics()[len(h.msink.AllMetrics())-1]).Len(), "incident resolved long ago")
}

// TestExemplarsDuringIncident plays the checkout scenario with payment's
// cumulative latency histogram reported every 2 s, as the end-to-end test
// does: exemplars appear on it during the incident and every one points at a
// trace an incident record listed.
func TestExemplarsDuringIncident(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	r := rand.New(rand.NewPCG(1, 2))
	n := uint64(0)
	lastMetrics := h.clock.Now()
	var exemplars []pmetric.Exemplar
	request := func(faulty bool) {
		n++
		b := checkout(n, h.clock.Now(), r, faulty)
		h.consume(b.td, b.ld)
		h.advance(requestEvery)
		if h.clock.Now().Sub(lastMetrics) >= 2*time.Second {
			lastMetrics = h.clock.Now()
			dp := dpSpec{
				service: "payment", name: "http.server.request.duration", unit: "s", start: epoch, ts: lastMetrics,
				attrs: map[string]any{"http.route": "/pay", "http.request.method": "POST", "http.response.status_code": 500},
			}
			md := dp.metrics()
			require.NoError(t, h.metrics.ConsumeMetrics(context.Background(), md))
			for _, e := range exemplarsOf(md).All() {
				exemplars = append(exemplars, e)
			}
		}
	}
	for range 100 {
		request(false)
	}
	require.Empty(t, exemplars)
	for range 100 {
		request(true)
	}
	h.advance(cfg.DecisionWait + time.Second)
	require.NotEmpty(t, exemplars)
	listed := map[string]bool{}
	for _, rec := range h.incidentRecords() {
		for _, id := range rec.Attributes().AsRaw()["rca.trace_ids"].([]any) {
			listed[id.(string)] = true
		}
	}
	for _, e := range exemplars {
		assert.True(t, listed[e.TraceID().String()], "exemplar trace %s listed in rca.trace_ids", e.TraceID())
		assert.InDelta(t, 2.091, e.DoubleValue(), 1e-9, "payment's server span")
	}
	t.Logf("%d exemplars over %d data points, %d listed traces", len(exemplars), 40, len(listed))
}
