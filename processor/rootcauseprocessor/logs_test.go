package rootcauseprocessor

import (
	"context"
	"sync"
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
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/metadata"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/metadatatest"
)

// logRec describes one application log record.
type logRec struct {
	service string
	sev     plog.SeverityNumber
	body    string
	trace   pcommon.TraceID
	at      time.Time
}

func appLogs(recs ...logRec) plog.Logs {
	ld := plog.NewLogs()
	for _, r := range recs {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", r.service)
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetSeverityNumber(r.sev)
		lr.Body().SetStr(r.body)
		lr.SetTraceID(r.trace)
		if !r.trace.IsEmpty() {
			lr.SetSpanID(spanID(1))
		}
		lr.SetTimestamp(pcommon.NewTimestampFromTime(r.at))
	}
	return ld
}

// appRecords returns the forwarded application records (not incident records) by body.
func (h *harness) appRecords() map[string]plog.LogRecord {
	out := map[string]plog.LogRecord{}
	for _, ld := range h.lsink.AllLogs() {
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					if lr.EventName() != IncidentEventName {
						out[lr.Body().Str()] = lr
					}
				}
			}
		}
	}
	return out
}

// tags returns the rca.* attributes of a record.
func tags(lr plog.LogRecord) map[string]any {
	out := map[string]any{}
	for _, k := range []string{attrIncidentID, attrCulpritService, attrMatch} {
		if v, ok := lr.Attributes().Get(k); ok {
			out[k] = v.Str()
		}
	}
	return out
}

func (h *harness) incidentID() string {
	recs := h.incidentRecords()
	require.NotEmpty(h.t, recs)
	return recs[0].Attributes().AsRaw()["rca.incident.id"].(string)
}

func TestLogsTraceMatch(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	b := payTrace(1, h.clock.Now(), 1500)
	ctx := context.Background()

	// Held: the trace is not decided yet.
	require.NoError(t, h.logs.ConsumeLogs(ctx, appLogs(
		logRec{service: "payment", sev: plog.SeverityNumberInfo, body: "held 1", trace: b.id, at: epoch},
		logRec{service: "payment", sev: plog.SeverityNumberDebug, body: "held 2", trace: b.id, at: epoch},
		logRec{service: "other", sev: plog.SeverityNumberInfo, body: "normal trace", trace: traceID(99), at: epoch},
	)))
	require.NoError(t, h.traces.ConsumeTraces(ctx, b.td))
	require.NoError(t, h.traces.ConsumeTraces(ctx, batch(row{99, 1, 0, 0, 10})))
	assert.Empty(t, h.appRecords(), "held until the decision")
	metadatatest.AssertEqualProcessorRootcauseLogsHeld(t, h.tel, []metricdata.DataPoint[int64]{{Value: 3}}, metricdatatest.IgnoreTimestamp())

	h.advance(cfg.DecisionWait + time.Second)
	id := h.incidentID()
	recs := h.appRecords()
	require.Len(t, recs, 3)
	want := map[string]any{attrIncidentID: id, attrCulpritService: "payment", attrMatch: "trace"}
	assert.Equal(t, want, tags(recs["held 1"]))
	assert.Equal(t, want, tags(recs["held 2"]), "every severity of an incident trace")
	assert.Empty(t, tags(recs["normal trace"]))
	metadatatest.AssertEqualProcessorRootcauseLogsHeld(t, h.tel, []metricdata.DataPoint[int64]{{Value: 0}}, metricdatatest.IgnoreTimestamp())

	// Decided traces: tagged at once.
	require.NoError(t, h.logs.ConsumeLogs(ctx, appLogs(
		logRec{service: "frontend", sev: plog.SeverityNumberWarn, body: "late", trace: b.id, at: epoch},
		logRec{service: "other", sev: plog.SeverityNumberWarn, body: "late normal", trace: traceID(99), at: epoch},
	)))
	recs = h.appRecords()
	assert.Equal(t, want, tags(recs["late"]))
	assert.Empty(t, tags(recs["late normal"]))
	metadatatest.AssertEqualProcessorRootcauseLogsTagged(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 3, Attributes: attribute.NewSet(attribute.String("match", "trace"))},
	}, metricdatatest.IgnoreTimestamp())
}

func TestLogsTimeWindowMatch(t *testing.T) {
	cfg := testConfig()
	h, _ := exemplarFixture(t, cfg)
	id := h.incidentID()
	in := epoch.Add(2 * time.Second)
	require.NoError(t, h.logs.ConsumeLogs(context.Background(), appLogs(
		logRec{service: "payment", sev: plog.SeverityNumberWarn, body: "warn inside", at: in},
		logRec{service: "frontend", sev: plog.SeverityNumberError, body: "caller error inside", at: in},
		logRec{service: "payment", sev: plog.SeverityNumberInfo, body: "info inside", at: in},
		logRec{service: "payment", sev: plog.SeverityNumberWarn, body: "warn outside", at: epoch.Add(time.Hour)},
		logRec{service: "inventory", sev: plog.SeverityNumberError, body: "other service", at: in},
		logRec{service: "payment", sev: plog.SeverityNumberWarn, body: "unknown trace", trace: traceID(77), at: in},
	)))
	recs := h.appRecords()
	want := map[string]any{attrIncidentID: id, attrCulpritService: "payment", attrMatch: "time_window"}
	assert.Equal(t, want, tags(recs["warn inside"]))
	assert.Equal(t, want, tags(recs["caller error inside"]))
	assert.Empty(t, tags(recs["info inside"]), "WARN and above only")
	assert.Empty(t, tags(recs["warn outside"]))
	assert.Empty(t, tags(recs["other service"]))
	assert.NotContains(t, recs, "unknown trace", "records with trace context wait for their trace instead")
	metadatatest.AssertEqualProcessorRootcauseLogsTagged(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 3, Attributes: attribute.NewSet(attribute.String("match", "trace"))}, // the fixture's own logs
		{Value: 2, Attributes: attribute.NewSet(attribute.String("match", "time_window"))},
	}, metricdatatest.IgnoreTimestamp())

	// Periodic work runs on a grid of event time: up to one step later.
	h.advance(cfg.logWait() + h.shared.tickInterval())
	assert.Empty(t, tags(h.appRecords()["unknown trace"]), "log_wait over: forwarded untagged")
}

func TestLogsHoldLimits(t *testing.T) {
	t.Run("overflow passes through untagged and is counted", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxHeldLogs = 2
		h := newHarness(t, cfg)
		b := payTrace(1, h.clock.Now(), 1500)
		require.NoError(t, h.logs.ConsumeLogs(context.Background(), appLogs(
			logRec{service: "payment", sev: plog.SeverityNumberError, body: "a", trace: b.id},
			logRec{service: "payment", sev: plog.SeverityNumberError, body: "b", trace: b.id},
			logRec{service: "payment", sev: plog.SeverityNumberError, body: "c", trace: b.id},
		)))
		recs := h.appRecords()
		require.Len(t, recs, 1)
		assert.Empty(t, tags(recs["c"]))
		metadatatest.AssertEqualProcessorRootcauseLogsHeldOverflow(t, h.tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
		require.NoError(t, h.traces.ConsumeTraces(context.Background(), b.td))
		h.advance(cfg.DecisionWait + time.Second)
		recs = h.appRecords()
		require.Len(t, recs, 3, "nothing dropped")
		assert.Equal(t, "trace", tags(recs["a"])[attrMatch])
		assert.Equal(t, "trace", tags(recs["b"])[attrMatch])
	})
	t.Run("log_wait expiry forwards untagged, in order", func(t *testing.T) {
		cfg := testConfig()
		cfg.LogWait = 2 * time.Second
		h := newHarness(t, cfg)
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "payment")
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for i, body := range []string{"1", "2", "3"} {
			lr := lrs.AppendEmpty()
			lr.Body().SetStr(body)
			if i != 1 {
				lr.SetTraceID(traceID(5))
			}
		}
		require.NoError(t, h.logs.ConsumeLogs(context.Background(), ld))
		h.advance(time.Second)
		assert.Empty(t, h.appRecords())
		h.advance(time.Second)
		all := h.lsink.AllLogs()
		require.Len(t, all, 1)
		got := all[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
		require.Equal(t, 3, got.Len())
		for i, body := range []string{"1", "2", "3"} {
			assert.Equal(t, body, got.At(i).Body().Str())
			assert.Empty(t, tags(got.At(i)))
		}
	})
	t.Run("shutdown flushes", func(t *testing.T) {
		cfg := testConfig()
		h := newHarness(t, cfg)
		require.NoError(t, h.logs.ConsumeLogs(context.Background(), appLogs(logRec{service: "payment", sev: plog.SeverityNumberError, body: "a", trace: traceID(5)})))
		assert.Empty(t, h.appRecords())
		require.NoError(t, h.logs.Shutdown(context.Background()))
		assert.Len(t, h.appRecords(), 1)
	})
	t.Run("without a traces pipeline nothing waits", func(t *testing.T) {
		cfg := testConfig()
		h := newHarness(t, cfg)
		require.NoError(t, h.traces.Shutdown(context.Background()))
		require.NoError(t, h.logs.ConsumeLogs(context.Background(), appLogs(logRec{service: "payment", sev: plog.SeverityNumberError, body: "a", trace: traceID(5)})))
		assert.Len(t, h.appRecords(), 1)
	})
	t.Run("max_held_logs 0 disables waiting", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxHeldLogs = 0
		h := newHarness(t, cfg)
		require.NoError(t, h.logs.ConsumeLogs(context.Background(), appLogs(logRec{service: "payment", sev: plog.SeverityNumberError, body: "a", trace: traceID(5)})))
		assert.Len(t, h.appRecords(), 1)
		assertNotRecorded(t, h, "otelcol_processor_rootcause_logs_held_overflow")
	})
}

// TestLogsFeedEvidence checks that matched error logs feed the incident's
// evidence, and its reason when the reason came from span attributes only.
func TestLogsFeedEvidence(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	b := payTrace(1, h.clock.Now(), 1500)
	b.ld = plog.NewLogs() // no trace-linked logs: the reason comes from the spans
	h.consume(b.td, b.ld)
	h.advance(cfg.DecisionWait + time.Second)
	first := h.incidentRecords()[0].Attributes().AsRaw()
	assert.Equal(t, "postgresql SELECT accounts query failed: connection timeout", first["rca.reason"])

	require.NoError(t, h.logs.ConsumeLogs(context.Background(), appLogs(
		logRec{service: "payment", sev: plog.SeverityNumberError, body: "Payment DB pool exhausted.", at: epoch.Add(time.Second)},
		logRec{service: "frontend", sev: plog.SeverityNumberError, body: "Checkout failed.", trace: b.id, at: epoch.Add(time.Second)},
	)))
	h.advance(cfg.UpdateInterval)
	recs := h.incidentRecords()
	last := recs[len(recs)-1].Attributes().AsRaw()
	assert.Equal(t, "update", last["rca.incident.status"])
	assert.Equal(t, "payment DB pool exhausted", last["rca.reason"])
	assert.Subset(t, last["rca.evidence.logs"], []any{"payment: Payment DB pool exhausted.", "frontend: Checkout failed."})
}

func TestIncidentRecordResource(t *testing.T) {
	for _, tt := range []struct {
		name  string
		attrs map[string]string
		want  map[string]any
	}{
		{
			name: "default", attrs: createDefaultConfig().(*Config).IncidentRecords.ResourceAttributes,
			want: map[string]any{"service.name": "otelcol-rca", "data_stream.dataset": "rca.incidents"},
		},
		{name: "disabled", attrs: map[string]string{"data_stream.dataset": ""}, want: map[string]any{"service.name": "otelcol-rca"}},
		{
			name: "custom", attrs: map[string]string{"data_stream.dataset": "incidents", "data_stream.namespace": "prod"},
			want: map[string]any{"service.name": "otelcol-rca", "data_stream.dataset": "incidents", "data_stream.namespace": "prod"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.IncidentRecords.ResourceAttributes = tt.attrs
			h := newHarness(t, cfg)
			b := payTrace(1, h.clock.Now(), 1500)
			h.consume(b.td, b.ld)
			h.advance(cfg.DecisionWait + time.Second)
			assert.Equal(t, tt.want, h.incidentResource())
		})
	}
}

// TestLogsHeldPerPipeline checks that held records go back to the logs
// pipeline they came from when the instance is in several.
func TestLogsHeldPerPipeline(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	other := new(consumertest.LogsSink)
	second := h.shared.logsProcessor(other)
	require.NoError(t, second.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, second.Shutdown(context.Background())) })

	b := payTrace(1, h.clock.Now(), 1500)
	require.NoError(t, second.ConsumeLogs(context.Background(), appLogs(logRec{service: "payment", sev: plog.SeverityNumberError, body: "second", trace: b.id})))
	require.NoError(t, h.logs.ConsumeLogs(context.Background(), appLogs(logRec{service: "payment", sev: plog.SeverityNumberError, body: "first", trace: b.id})))
	require.NoError(t, h.traces.ConsumeTraces(context.Background(), b.td))
	h.advance(cfg.DecisionWait + time.Second)

	assert.Contains(t, h.appRecords(), "first")
	assert.NotContains(t, h.appRecords(), "second")
	var got []string
	for _, ld := range other.AllLogs() {
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					if lr.EventName() == "" {
						got = append(got, lr.Body().Str())
						assert.Equal(t, "trace", tags(lr)[attrMatch])
					}
				}
			}
		}
	}
	assert.Equal(t, []string{"second"}, got)
}

// TestConcurrentSignals runs the real decision loop while the three signals
// arrive concurrently, for the race detector and the goroutine leak check.
func TestConcurrentSignals(t *testing.T) {
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.DecisionWait = 20 * time.Millisecond
	set := processortest.NewNopSettings(metadata.Type)
	ctx := context.Background()
	tsink, msink, lsink := new(consumertest.TracesSink), new(consumertest.MetricsSink), new(consumertest.LogsSink)
	tp, err := f.CreateTraces(ctx, set, cfg, tsink)
	require.NoError(t, err)
	mp, err := f.CreateMetrics(ctx, set, cfg, msink)
	require.NoError(t, err)
	lp, err := f.CreateLogs(ctx, set, cfg, lsink)
	require.NoError(t, err)
	for _, c := range []component.Component{tp, mp, lp} {
		require.NoError(t, c.Start(ctx, componenttest.NewNopHost()))
	}
	var wg sync.WaitGroup
	sent := 0
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				now := time.Now()
				b := payTrace(uint64(w*1000+i), now.Add(-3*time.Second), 1500)
				assert.NoError(t, lp.ConsumeLogs(ctx, b.ld))
				assert.NoError(t, tp.ConsumeTraces(ctx, b.td))
				assert.NoError(t, mp.ConsumeMetrics(ctx, dpSpec{
					service: "payment", name: "http.server.request.duration", unit: "s",
					start: now.Add(-time.Hour), ts: now, attrs: map[string]any{"http.route": "/pay"},
				}.metrics()))
				time.Sleep(time.Millisecond)
			}
		}()
		sent += 30
	}
	wg.Wait()
	time.Sleep(100 * time.Millisecond)
	for _, c := range []component.Component{tp, mp, lp} {
		require.NoError(t, c.Shutdown(ctx))
	}
	assert.Equal(t, sent*6, tsink.SpanCount())
	records := 0
	for _, ld := range lsink.AllLogs() {
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					if lr.EventName() == "" {
						records++
					}
				}
			}
		}
	}
	assert.Equal(t, sent, records, "every log record forwarded")
	exemplars := 0
	for _, md := range msink.AllMetrics() {
		for _, rm := range md.ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					if m.Type() == pmetric.MetricTypeHistogram {
						exemplars += m.Histogram().DataPoints().At(0).Exemplars().Len()
					}
				}
			}
		}
	}
	t.Logf("%d exemplars added", exemplars)
}
