package rootcauseprocessor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/metadatatest"
)

// recordedBatch is one export of a recording: a trace's spans and logs, sent
// when the trace ended.
type recordedBatch struct {
	at time.Time
	td ptrace.Traces
	ld plog.Logs
}

// loginRecording is three minutes of login traffic, 5 requests a second,
// with a database fault between 60 s and 85 s, as a live system exports it.
func loginRecording(start time.Time) []recordedBatch {
	r := rand.New(rand.NewPCG(11, 12))
	var out []recordedBatch
	for i := range 900 {
		at := start.Add(time.Duration(i) * 200 * time.Millisecond)
		faulty := at.Sub(start) >= 60*time.Second && at.Sub(start) < 85*time.Second && i%2 == 0
		b := login(uint64(i+1), at, r, faulty)
		end := at
		forEachSpan(b.td, func(_ string, s ptrace.Span) { end = maxTime(end, s.EndTimestamp().AsTime()) })
		out = append(out, recordedBatch{at: end, td: b.td, ld: b.ld})
	}
	slices.SortStableFunc(out, func(a, b recordedBatch) int { return a.at.Compare(b.at) })
	return out
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// incidentLog is what a user sees of the incident records, in order.
func incidentLog(h *harness) []string {
	var out []string
	for _, lr := range h.incidentRecords() {
		a := lr.Attributes().AsRaw()
		out = append(out, fmt.Sprintf("%v %v culprit=%v/%v candidates=%v traces=%v window=%v..%v",
			a["rca.incident.id"], a["rca.incident.status"], a["rca.culprit.service"], a["rca.culprit.operation"],
			a["rca.candidates"], a["rca.trace_count"], a["rca.window.start"], a["rca.window.end"]))
	}
	return out
}

// TestEventTimeInvariance replays one recording twice: at real speed, the
// processing clock following the data and the decision loop ticking between
// exports, and as fast as possible, the processing clock standing still
// (an hour after the recording). The incidents must be the same.
func TestEventTimeInvariance(t *testing.T) {
	cfg := testConfig()
	cfg.MinTraces, cfg.MinShare = 3, 0.05
	ctx := context.Background()
	rec := loginRecording(epoch)

	realSpeed := newHarness(t, cfg)
	for _, b := range loginRecording(epoch) {
		// The exporter sends 300 ms after the trace ended.
		if d := b.at.Add(300 * time.Millisecond).Sub(realSpeed.clock.Now()); d > 0 {
			realSpeed.advance(d)
		}
		realSpeed.consume(b.td, b.ld)
	}

	fullSpeed := newHarness(t, cfg)
	fullSpeed.clock.Advance(rec[len(rec)-1].at.Sub(epoch) + time.Hour)
	for _, b := range rec {
		require.NoError(t, fullSpeed.logs.ConsumeLogs(ctx, b.ld))
		require.NoError(t, fullSpeed.traces.ConsumeTraces(ctx, b.td))
	}

	got := incidentLog(fullSpeed)
	want := incidentLog(realSpeed)
	require.NotEmpty(t, want, "the recording holds an incident")
	assert.Contains(t, want[0], "culprit=database/SELECT users")
	assert.Contains(t, want[len(want)-1], " resolved ", "resolved within the recording")
	assert.Equal(t, want, got)
}

// TestEventTimeRefusesImplausibleTimestamps: a span from a host whose clock
// is years ahead neither moves time (which would decide every buffered trace
// at once) nor dates an incident; it is counted.
func TestEventTimeRefusesImplausibleTimestamps(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	ctx := context.Background()
	require.NoError(t, h.traces.ConsumeTraces(ctx, batch(row{1, 1, 0, 0, 10})))
	future := batch(row{2, 1, 0, 0, 10})
	s := future.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	s.Status().SetCode(ptrace.StatusCodeError)
	s.SetEndTimestamp(1<<63 - 1)
	zero := batch(row{3, 1, 0, 0, 10})
	zero.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetEndTimestamp(0)
	require.NoError(t, h.traces.ConsumeTraces(ctx, future))
	require.NoError(t, h.traces.ConsumeTraces(ctx, zero))
	assert.Equal(t, 0, h.tsink.SpanCount(), "no trace decided by a timestamp in 2262")
	metadatatest.AssertEqualProcessorRootcauseSpansTimestampRefused(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("timestamp", "future"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("timestamp", "invalid"))},
	}, metricdatatest.IgnoreTimestamp())

	h.advance(cfg.DecisionWait + h.shared.tickInterval())
	assert.Equal(t, 3, h.tsink.SpanCount(), "decided once processing time passed decision_wait")
	for _, lr := range h.incidentRecords() {
		a := lr.Attributes().AsRaw()
		start, err := time.Parse(time.RFC3339Nano, a["rca.window.start"].(string))
		require.NoError(t, err)
		end, err := time.Parse(time.RFC3339Nano, a["rca.window.end"].(string))
		require.NoError(t, err)
		assert.False(t, end.Before(start), "window ends after it starts")
		assert.WithinDuration(t, epoch, start, time.Minute+cfg.MaxClockSkew)
		assert.WithinDuration(t, epoch, end, time.Minute+cfg.MaxClockSkew)
	}
}
