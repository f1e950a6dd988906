package rootcauseprocessor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// shopTrace builds a realistic request of 20 spans over 6 services: a
// frontend fanning out to services that each query a database or call an
// external API.
func shopTrace(n uint64, start time.Time, r *rand.Rand) *traceBuilder {
	b := newTrace(n, start)
	root := b.span(nil, "frontend", "GET /product", server, 0, 200)
	at := 2.0
	for _, svc := range []string{"catalog", "cart", "pricing", "recommendation", "shipping"} {
		d := jitter(r, 30)
		c := b.span(&root, "frontend", "POST /"+svc, client, at, at+d)
		s := b.span(&c, svc, "POST /"+svc, server, at+0.5, at+d-0.5)
		b.span(&s, svc, "SELECT "+svc, client, at+1, at+d/2, dbAttrs("SELECT", svc))
		b.span(&s, svc, "GET /rates", client, at+d/2, at+d-1, attr("peer.service", "rates-api"))
		at += d + 1
	}
	return b
}

// workload returns batches of tracesPerBatch concurrent requests.
func workload(rounds, tracesPerBatch int) ([][]ptrace.Traces, int) {
	r := rand.New(rand.NewPCG(9, 10))
	var out [][]ptrace.Traces
	spans := 0
	n := uint64(0)
	for range rounds {
		traces := make([]*traceBuilder, tracesPerBatch)
		for i := range traces {
			n++
			traces[i] = shopTrace(n, epoch, r)
			spans += traces[i].td.SpanCount()
		}
		out = append(out, mergePerService(traces))
	}
	return out, spans
}

// mergePerService appends every trace's spans to one batch per service.
func mergePerService(traces []*traceBuilder) []ptrace.Traces {
	idx := map[string]ptrace.SpanSlice{}
	var batches []ptrace.Traces
	for _, tb := range traces {
		for _, rs := range tb.td.ResourceSpans().All() {
			svc, _ := rs.Resource().Attributes().Get("service.name")
			dst, ok := idx[svc.Str()]
			if !ok {
				td := ptrace.NewTraces()
				out := td.ResourceSpans().AppendEmpty()
				rs.Resource().CopyTo(out.Resource())
				ss := out.ScopeSpans().AppendEmpty()
				rs.ScopeSpans().At(0).Scope().CopyTo(ss.Scope())
				dst = ss.Spans()
				idx[svc.Str()] = dst
				batches = append(batches, td)
			}
			rs.ScopeSpans().At(0).Spans().MoveAndAppendTo(dst)
		}
	}
	return batches
}

// shiftSpans moves every span of td by d.
func shiftSpans(td ptrace.Traces, d time.Duration) {
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				s.SetStartTimestamp(s.StartTimestamp() + pcommon.Timestamp(d))
				s.SetEndTimestamp(s.EndTimestamp() + pcommon.Timestamp(d))
			}
		}
	}
}

func clone(batches []ptrace.Traces) []ptrace.Traces {
	out := make([]ptrace.Traces, len(batches))
	for i, td := range batches {
		out[i] = ptrace.NewTraces()
		td.CopyTo(out[i])
	}
	return out
}

// BenchmarkConsumeTraces measures buffering alone: ConsumeTraces of
// per-service batches of 20 concurrent 21-span requests.
func BenchmarkConsumeTraces(b *testing.B) {
	benchmarkThroughput(b, false)
}

// BenchmarkConsumeAndDecide adds the decisions: diagnosis, baselines and forwarding.
func BenchmarkConsumeAndDecide(b *testing.B) {
	benchmarkThroughput(b, true)
}

func benchmarkThroughput(b *testing.B, decide bool) {
	cfg := testConfig()
	cfg.MaxTraces = 1 << 20
	h := newHarness(b, cfg)
	h.traces.next = consumertest.NewNop()
	const rounds = 50
	work, spansPerPass := workload(rounds, 20)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	var elapsed time.Duration
	spans := 0
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		pass := make([][]ptrace.Traces, len(work))
		// Each pass is a later stretch of traffic, in event time as in
		// processing time: the processor's clock follows the spans.
		shift := time.Duration(i) * (cfg.DecisionWait + time.Second)
		for k := range work {
			pass[k] = clone(work[k])
			for _, td := range pass[k] {
				shiftSpans(td, shift)
			}
		}
		b.StartTimer()
		t0 := time.Now()
		for _, batches := range pass {
			for _, td := range batches {
				_ = h.traces.ConsumeTraces(ctx, td)
			}
		}
		if decide {
			h.clock.Advance(cfg.DecisionWait + time.Second)
			h.shared.tick(ctx)
		}
		elapsed += time.Since(t0)
		spans += spansPerPass
		if !decide {
			b.StopTimer()
			h.clock.Advance(cfg.DecisionWait + time.Second)
			h.shared.tick(ctx)
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(spans)/elapsed.Seconds(), "spans/s")
}

// BenchmarkBufferedSpanMemory reports the heap held per buffered span,
// spans included, for 21-span requests.
func BenchmarkBufferedSpanMemory(b *testing.B) {
	for range b.N {
		cfg := testConfig()
		cfg.MaxTraces = 1 << 20
		h := newHarness(b, cfg)
		var empty, before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&empty)
		work, spans := workload(100, 20)
		runtime.GC()
		runtime.ReadMemStats(&before)
		inputs := 0
		for _, batches := range work {
			for _, td := range batches {
				inputs += td.SpanCount()
				_ = h.traces.ConsumeTraces(context.Background(), td)
			}
		}
		work = nil //nolint:ineffassign // let the GC free the input batches before measuring
		runtime.GC()
		runtime.ReadMemStats(&after)
		// The input batches, now empty shells, were freed; what remains is the buffer.
		if h.traces.buf.Len() != 2000 || inputs != spans {
			b.Fatal(fmt.Sprint("buffered ", h.traces.buf.Len()))
		}
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(spans), "overhead-B/span")
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(empty.HeapAlloc))/float64(spans), "total-B/span")
		h.clock.Advance(cfg.DecisionWait)
		h.shared.tick(context.Background())
	}
}

// BenchmarkClusterCPU compares the CPU a span costs through three shards and
// the incident stage (mode shard, mode incidents) with one standalone
// collector, on the same traffic, in alternating passes of one run: the
// shards' work is the standalone's split three ways, plus the verdict
// stream. The router's copies (the gateway's work) are not timed. With the
// shards on cores of their own, the cluster's rate is about the shards
// times the single collector's, divided by cpu_ratio.
func BenchmarkClusterCPU(b *testing.B) {
	cfg := testConfig()
	cfg.MaxTraces = 1 << 20
	clock := &fakeClock{now: epoch}
	standalone := startNode(b, "standalone", cfg, clock, consumertest.NewNop(), consumertest.NewNop())
	stageCfg := *cfg
	stageCfg.Mode = ModeIncidents
	c := &cluster{down: map[int]bool{}}
	c.stage = startNode(b, "stage", &stageCfg, clock, nil, consumertest.NewNop())
	for i := range 3 {
		shardCfg := *cfg
		shardCfg.Mode = ModeShard
		c.shards = append(c.shards, startNode(b, fmt.Sprintf("shard%d", i), &shardCfg, clock, consumertest.NewNop(), c))
	}
	const rounds = 50
	work, spansPerPass := workload(rounds, 20)
	ctx := context.Background()
	var alone, sharded time.Duration
	spans := 0
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		shift := time.Duration(i) * (cfg.DecisionWait + time.Second)
		var one []ptrace.Traces
		perShard := make([][]ptrace.Traces, len(c.shards))
		for k := range work {
			for _, td := range clone(work[k]) {
				shiftSpans(td, shift)
				split := ptrace.NewTraces()
				td.CopyTo(split)
				one = append(one, td)
				for s, part := range c.split(split) {
					if part.SpanCount() > 0 {
						perShard[s] = append(perShard[s], part)
					}
				}
			}
		}
		b.StartTimer()
		t0 := time.Now()
		for _, td := range one {
			_ = standalone.traces.ConsumeTraces(ctx, td)
		}
		clock.Advance(cfg.DecisionWait + time.Second)
		standalone.p.tick(ctx)
		t1 := time.Now()
		for s, batches := range perShard {
			for _, td := range batches {
				_ = c.shards[s].traces.ConsumeTraces(ctx, td)
			}
		}
		c.tick()
		t2 := time.Now()
		alone += t1.Sub(t0)
		sharded += t2.Sub(t1)
		spans += spansPerPass
	}
	b.ReportMetric(float64(spans)/alone.Seconds(), "standalone_spans/s")
	b.ReportMetric(float64(spans)/sharded.Seconds(), "cluster_spans/s")
	b.ReportMetric(sharded.Seconds()/alone.Seconds(), "cpu_ratio")
	b.ReportMetric(float64(c.verdicts)/float64(spans)*1e3, "stream_records/kspan")
}
