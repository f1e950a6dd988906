package rootcauseprocessor

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// The linking benchmarks measure a whole pipeline per item: the receiver
// decoding an OTLP batch, the processor, and an exporter encoding it, with
// and without an open incident. Linking should add at most 10%.

var benchServices = []string{"frontend", "payment", "inventory", "catalog", "cart", "shipping"}

// benchMetrics builds one export of six services as an SDK sends it:
// per service 4 server latency streams, 2 client and 2 database latency
// streams (15-bucket histograms), 2 counter streams and an up-down counter.
func benchMetrics(ts time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	bounds := []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	counts := make([]uint64, len(bounds)+1)
	for i := range counts {
		counts[i] = uint64(i * 3)
	}
	start, now := pcommon.NewTimestampFromTime(epoch.Add(-time.Hour)), pcommon.NewTimestampFromTime(ts)
	for _, svc := range benchServices {
		rm := md.ResourceMetrics().AppendEmpty()
		ra := rm.Resource().Attributes()
		ra.PutStr("service.name", svc)
		ra.PutStr("service.version", "1.4.2")
		ra.PutStr("deployment.environment.name", "prod")
		ra.PutStr("telemetry.sdk.language", "go")
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
		hist := func(name string, attrs ...map[string]any) {
			m := sm.Metrics().AppendEmpty()
			m.SetName(name)
			m.SetUnit("s")
			h := m.SetEmptyHistogram()
			h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for _, a := range attrs {
				dp := h.DataPoints().AppendEmpty()
				dp.SetStartTimestamp(start)
				dp.SetTimestamp(now)
				_ = dp.Attributes().FromRaw(a)
				dp.ExplicitBounds().FromRaw(bounds)
				dp.BucketCounts().FromRaw(counts)
				dp.SetCount(1000)
				dp.SetSum(123.4)
			}
		}
		route := "/" + svc
		if svc == "payment" {
			route = "/pay"
		}
		hist("http.server.request.duration",
			map[string]any{"http.request.method": "POST", "http.route": route, "http.response.status_code": 200, "url.scheme": "http"},
			map[string]any{"http.request.method": "POST", "http.route": route, "http.response.status_code": 500, "url.scheme": "http"},
			map[string]any{"http.request.method": "GET", "http.route": route, "http.response.status_code": 200, "url.scheme": "http"},
			map[string]any{"http.request.method": "GET", "http.route": "/health", "http.response.status_code": 200, "url.scheme": "http"})
		hist("http.client.request.duration",
			map[string]any{"http.request.method": "POST", "server.address": "payment", "http.response.status_code": 200},
			map[string]any{"http.request.method": "POST", "server.address": "payment", "http.response.status_code": 500})
		hist("db.client.operation.duration",
			map[string]any{"db.system.name": "postgresql", "db.operation.name": "SELECT", "db.collection.name": "accounts"},
			map[string]any{"db.system.name": "postgresql", "db.operation.name": "UPDATE", "db.collection.name": "accounts"})
		m := sm.Metrics().AppendEmpty()
		m.SetName(svc + ".requests")
		m.SetUnit("{request}")
		s := m.SetEmptySum()
		s.SetIsMonotonic(true)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		for _, outcome := range []string{"success", "failure"} {
			dp := s.DataPoints().AppendEmpty()
			dp.SetStartTimestamp(start)
			dp.SetTimestamp(now)
			dp.SetIntValue(42)
			dp.Attributes().PutStr("outcome", outcome)
		}
		m = sm.Metrics().AppendEmpty()
		m.SetName("http.server.active_requests")
		m.SetUnit("{request}")
		s = m.SetEmptySum()
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := s.DataPoints().AppendEmpty()
		dp.SetTimestamp(now)
		dp.SetIntValue(3)
	}
	return md
}

// encodingMetrics is the exporter end of the benchmark pipeline.
type encodingMetrics struct{ m pmetric.ProtoMarshaler }

func (encodingMetrics) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (e encodingMetrics) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	_, err := e.m.MarshalMetrics(md)
	return err
}

type encodingLogs struct{ m plog.ProtoMarshaler }

func (encodingLogs) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (e encodingLogs) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	_, err := e.m.MarshalLogs(ld)
	return err
}

// openBenchIncident opens an incident over frontend and payment with 10
// published traces.
func openBenchIncident(b *testing.B, h *harness) []pcommon.TraceID {
	var ids []pcommon.TraceID
	for i := range 10 {
		tb := payTrace(uint64(i+1), h.clock.Now(), 1000+float64(i)*300)
		ids = append(ids, tb.id)
		h.consume(tb.td, tb.ld)
		h.advance(100 * time.Millisecond)
	}
	h.advance(h.shared.cfg.DecisionWait + time.Second)
	if h.shared.exemplars.Snapshot() == nil {
		b.Fatal("no incident")
	}
	return ids
}

// BenchmarkConsumeMetrics runs the pipeline without and with an open
// incident, interleaved so that the load of the machine affects both alike,
// and reports the ratio.
func BenchmarkConsumeMetrics(b *testing.B) {
	var arms [2]*harness
	var raws [2][]byte
	for i := range arms {
		h := newHarness(b, testConfig())
		h.metrics.next = encodingMetrics{}
		if i == 1 {
			openBenchIncident(b, h)
		}
		arms[i] = h
		var err error
		if raws[i], err = (&pmetric.ProtoMarshaler{}).MarshalMetrics(benchMetrics(h.clock.Now())); err != nil {
			b.Fatal(err)
		}
	}
	var u pmetric.ProtoUnmarshaler
	ctx := context.Background()
	var elapsed [2]time.Duration
	dps := 0
	for b.Loop() {
		for i, h := range arms {
			t0 := time.Now()
			md, err := u.UnmarshalMetrics(raws[i])
			if err != nil {
				b.Fatal(err)
			}
			_ = h.metrics.ConsumeMetrics(ctx, md)
			elapsed[i] += time.Since(t0)
			if i == 0 {
				dps += md.DataPointCount()
			}
		}
	}
	reportRatio(b, elapsed, dps, "dp")
}

func reportRatio(b *testing.B, elapsed [2]time.Duration, items int, unit string) {
	b.ReportMetric(float64(elapsed[0].Nanoseconds())/float64(items), "idle-ns/"+unit)
	b.ReportMetric(float64(elapsed[1].Nanoseconds())/float64(items), "incident-ns/"+unit)
	b.ReportMetric(float64(elapsed[1])/float64(elapsed[0]), "ratio")
}

// benchLogs builds a batch of 120 records of six services: per service 10
// records of decided traces (INFO), 5 of traces not decided yet, 3 WARN and 2
// INFO records without trace context. inc, when set, are incident traces: a
// tenth of the decided records belong to them.
func benchLogs(ts time.Time, seq uint64, decided, incTraces []pcommon.TraceID) plog.Logs {
	ld := plog.NewLogs()
	at := pcommon.NewTimestampFromTime(ts)
	k := 0
	for _, svc := range benchServices {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", svc)
		rl.Resource().Attributes().PutStr("service.version", "1.4.2")
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("go.opentelemetry.io/contrib/bridges/otelslog")
		add := func(sev plog.SeverityNumber, trace pcommon.TraceID, body string) {
			lr := sl.LogRecords().AppendEmpty()
			lr.SetTimestamp(at)
			lr.SetObservedTimestamp(at)
			lr.SetSeverityNumber(sev)
			lr.SetSeverityText(sev.String())
			lr.Body().SetStr(body)
			lr.Attributes().PutStr("code.function", "handle")
			if !trace.IsEmpty() {
				lr.SetTraceID(trace)
				lr.SetSpanID(spanID(7))
			}
		}
		for i := range 10 {
			id := decided[k%len(decided)]
			if len(incTraces) > 0 && i == 0 {
				id = incTraces[k%len(incTraces)]
			}
			k++
			add(plog.SeverityNumberInfo, id, "Request handled in 12 ms.")
		}
		for i := range 5 {
			add(plog.SeverityNumberInfo, traceID(1<<40+seq*100+uint64(i)), "Processing request.")
		}
		for range 3 {
			add(plog.SeverityNumberWarn, pcommon.TraceID{}, "Connection pool at 80% capacity.")
		}
		for range 2 {
			add(plog.SeverityNumberInfo, pcommon.TraceID{}, "Cache refreshed.")
		}
	}
	return ld
}

// BenchmarkConsumeLogs runs the pipeline, held records released by the
// decision loop included, without and with an open incident, interleaved,
// and reports the ratio.
func BenchmarkConsumeLogs(b *testing.B) {
	var arms [2]*harness
	var raws [2][][]byte
	for a := range arms {
		cfg := testConfig()
		cfg.MaxHeldLogs = 1 << 20
		h := newHarness(b, cfg)
		h.logs.next = encodingLogs{}
		var incTraces []pcommon.TraceID
		if a == 1 {
			incTraces = openBenchIncident(b, h)
		}
		decided := make([]pcommon.TraceID, 1000)
		for i := range decided {
			decided[i] = traceID(1<<32 + uint64(i))
			h.shared.links.Decided(decided[i], nil)
		}
		raws[a] = make([][]byte, 64)
		for i := range raws[a] {
			var err error
			raws[a][i], err = (&plog.ProtoMarshaler{}).MarshalLogs(benchLogs(h.clock.Now(), uint64(i), decided, incTraces))
			if err != nil {
				b.Fatal(err)
			}
		}
		arms[a] = h
	}
	var u plog.ProtoUnmarshaler
	ctx := context.Background()
	var elapsed [2]time.Duration
	records, n := 0, 0
	for b.Loop() {
		for a, h := range arms {
			t0 := time.Now()
			ld, err := u.UnmarshalLogs(raws[a][n%len(raws[a])])
			if err != nil {
				b.Fatal(err)
			}
			if a == 0 {
				records += ld.LogRecordCount()
			}
			_ = h.logs.ConsumeLogs(ctx, ld)
			if (n+1)%len(raws[a]) == 0 {
				// The decision loop forwards the held records.
				h.shared.releaseLogs(ctx, h.clock.Now(), h.logs)
			}
			elapsed[a] += time.Since(t0)
		}
		n++
	}
	reportRatio(b, elapsed, records, "record")
}
