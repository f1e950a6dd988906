package rootcauseprocessor

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/incidentrecord"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/metadata"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/metadatatest"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/verdict"
	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/builtin"
	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/model"
	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/simulate"
)

// The sharded deployment (README: scaling out past one collector) in one
// process: a router stands for the gateways' loadbalancing exporter (traces
// and trace-linked logs by trace ID, the rest to the stage), three shards
// (mode shard) diagnose, and the incident stage (mode incidents) keeps the
// incidents. The same telemetry also runs through one standalone collector.

// recordSink keeps the last incident record of each incident.
type recordSink struct {
	mu     sync.Mutex
	last   map[string]incidentrecord.Record
	opened []string // incident IDs, in order of their open record
	// tagged counts the application's log records tagged with an incident by trace.
	tagged int
}

func (s *recordSink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *recordSink) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = map[string]incidentrecord.Record{}
	}
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				id, ok := lr.Attributes().Get(incidentrecord.AttrID)
				match, _ := lr.Attributes().Get(attrMatch)
				if !incidentrecord.Is(lr) && ok && id.Str() != "" && match.Str() == matchTrace {
					s.tagged++
				}
			}
		}
	}
	for r, err := range incidentrecord.All(ld) {
		if err != nil {
			return err
		}
		if r.Status == "open" && !slices.Contains(s.opened, r.ID) {
			s.opened = append(s.opened, r.ID)
		}
		s.last[r.ID] = r
	}
	return nil
}

func (s *recordSink) incidents() []incidentrecord.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]incidentrecord.Record, 0, len(s.opened))
	for _, id := range s.opened {
		out = append(out, s.last[id])
	}
	return out
}

// node is one rootcause collector of the test: its pipelines share one processor.
type node struct {
	p       *sharedProcessor
	traces  *tracesProcessor
	logs    *logsProcessor
	metrics *metricsProcessor
	tel     *componenttest.Telemetry
	stopped bool
	// crashed: the shard is gone without a shutdown; what it buffered is lost.
	crashed bool
}

func startNode(t testing.TB, name string, cfg *Config, clock *fakeClock, tracesOut consumer.Traces, logsOut consumer.Logs) *node {
	t.Helper()
	tel := componenttest.NewTelemetry()
	set := metadatatest.NewSettings(tel)
	set.ID = component.MustNewIDWithName(metadata.Type.String(), name)
	f := &factory{instances: map[component.ID]*sharedProcessor{}}
	p, err := f.instance(set, cfg)
	require.NoError(t, err)
	p.now, p.manualTicks = clock.Now, true
	n := &node{p: p, tel: tel, logs: p.logsProcessor(logsOut), metrics: p.metricsProcessor(consumertest.NewNop())}
	comps := []component.Component{n.logs, n.metrics}
	if cfg.Mode != ModeIncidents {
		n.traces = p.tracesProcessor(tracesOut)
		comps = append(comps, n.traces)
	}
	for _, c := range comps {
		require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
	}
	t.Cleanup(func() {
		n.stop(t)
		require.NoError(t, tel.Shutdown(context.Background()))
	})
	return n
}

func (n *node) stop(t testing.TB) {
	if n.stopped {
		return
	}
	n.stopped = true
	ctx := context.Background()
	if n.traces != nil {
		require.NoError(t, n.traces.Shutdown(ctx))
	}
	require.NoError(t, n.metrics.Shutdown(ctx))
	require.NoError(t, n.logs.Shutdown(ctx))
}

// cluster is the router, the shards and the stage.
type cluster struct {
	shards []*node
	stage  *node
	// down are the shards the router no longer sends to (its resolver
	// dropped them from the ring).
	down map[int]bool
	// lost counts the spans and log records sent to a crashed shard before
	// the router dropped it, as the gateway's exporter counts its failed sends.
	lost int
	// verdicts counts the rca.verdict records the shards sent the stage.
	verdicts int
}

// Capabilities and ConsumeLogs make the cluster the shards' logs exporter:
// it counts the stream's records and hands the batch to the stage.
func (c *cluster) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

func (c *cluster) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			if sl.Scope().Name() != verdict.ScopeName {
				continue
			}
			for _, lr := range sl.LogRecords().All() {
				if lr.EventName() == verdict.EventVerdict {
					c.verdicts++
				}
			}
		}
	}
	return c.stage.logs.ConsumeLogs(ctx, ld)
}

func (c *cluster) live() []int {
	var up []int
	for i := range c.shards {
		if !c.down[i] {
			up = append(up, i)
		}
	}
	return up
}

// route picks a live shard by trace ID, as a hash ring minus its lost members.
func (c *cluster) route(id pcommon.TraceID) int {
	up := c.live()
	return up[binary.BigEndian.Uint64(id[8:])%uint64(len(up))]
}

// split divides td by shard, as the gateways' loadbalancing exporter does.
func (c *cluster) split(td ptrace.Traces) []ptrace.Traces {
	parts := make([]ptrace.Traces, len(c.shards))
	for i := range parts {
		parts[i] = ptrace.NewTraces()
	}
	// One resource and scope per shard for each of td's, as the exporter
	// keeps them.
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			scopes := make([]ptrace.ScopeSpans, len(parts))
			made := make([]bool, len(parts))
			for _, s := range ss.Spans().All() {
				i := c.route(s.TraceID())
				if !made[i] {
					out := parts[i].ResourceSpans().AppendEmpty()
					rs.Resource().CopyTo(out.Resource())
					scopes[i] = out.ScopeSpans().AppendEmpty()
					ss.Scope().CopyTo(scopes[i].Scope())
					made[i] = true
				}
				s.CopyTo(scopes[i].Spans().AppendEmpty())
			}
		}
	}
	return parts
}

func (c *cluster) consumeTraces(t testing.TB, td ptrace.Traces) {
	parts := c.split(td)
	for i, part := range parts {
		switch {
		case part.SpanCount() == 0:
		case c.shards[i].crashed:
			c.lost += part.SpanCount()
		default:
			require.NoError(t, c.shards[i].traces.ConsumeTraces(context.Background(), part))
		}
	}
}

func (c *cluster) consumeLogs(t testing.TB, ld plog.Logs) {
	parts := make([]plog.Logs, len(c.shards)+1) // the last one is the stage's
	for i := range parts {
		parts[i] = plog.NewLogs()
	}
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				to := len(c.shards)
				if !lr.TraceID().IsEmpty() {
					to = c.route(lr.TraceID())
				}
				out := parts[to].ResourceLogs().AppendEmpty()
				rl.Resource().CopyTo(out.Resource())
				osl := out.ScopeLogs().AppendEmpty()
				sl.Scope().CopyTo(osl.Scope())
				lr.CopyTo(osl.LogRecords().AppendEmpty())
			}
		}
	}
	for i, part := range parts {
		if part.LogRecordCount() == 0 {
			continue
		}
		to := c.stage.logs
		if i < len(c.shards) {
			if c.shards[i].crashed {
				c.lost += part.LogRecordCount()
				continue
			}
			to = c.shards[i].logs
		}
		require.NoError(t, to.ConsumeLogs(context.Background(), part))
	}
}

func (c *cluster) consumeMetrics(t testing.TB, md pmetric.Metrics) {
	// The metrics of a service go to the stage (exemplars) and to every
	// shard (the CPU saturation the diagnosis reads).
	for _, n := range append(slices.Clone(c.shards), c.stage) {
		if n.crashed {
			continue
		}
		cp := pmetric.NewMetrics()
		md.CopyTo(cp)
		require.NoError(t, n.metrics.ConsumeMetrics(context.Background(), cp))
	}
}

func (c *cluster) tick() {
	for _, s := range c.shards {
		if !s.crashed {
			s.p.tick(context.Background())
		}
	}
	c.stage.p.tick(context.Background())
}

// clusterRun is what a run of a seed scenario gave.
type clusterRun struct {
	standalone, sharded []incidentrecord.Record
	// Application log records tagged with an incident by their trace.
	taggedAlone, taggedSharded int
	cluster                    *cluster
}

// crash is a shard lost at an offset of the run; the router drops it from
// its ring dropAfter later.
type crash struct {
	shard         int
	at, dropAfter time.Duration
}

// runSeedThroughBoth plays a seed scenario's fault through one standalone
// collector and a cluster of shards, with the crashes given.
func runSeedThroughBoth(t *testing.T, name string, shards int, crashes ...crash) clusterRun {
	t.Helper()
	raw, err := builtin.YAML(name)
	require.NoError(t, err)
	sc, err := model.Parse(raw)
	require.NoError(t, err)
	start := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: start}
	eng, err := simulate.New(sc, simulate.Options{
		Seed: 1, Start: start, TimeScale: 1, Rate: accRate,
		MetricsInterval: 10 * time.Second, FaultSchedule: []model.Window{mustWindow(t, fmt.Sprintf("at %v for %v", accFaultAt, accFaultFor))},
	})
	require.NoError(t, err)

	one := &recordSink{}
	standalone := startNode(t, "standalone", createDefaultConfig().(*Config), clock, consumertest.NewNop(), one)
	many := &recordSink{}
	stageCfg := createDefaultConfig().(*Config)
	stageCfg.Mode = ModeIncidents
	c := &cluster{down: map[int]bool{}}
	c.stage = startNode(t, "stage", stageCfg, clock, nil, many)
	for i := range shards {
		cfg := createDefaultConfig().(*Config)
		cfg.Mode = ModeShard
		c.shards = append(c.shards, startNode(t, fmt.Sprintf("shard%d", i), cfg, clock, consumertest.NewNop(), c))
	}

	ctx := context.Background()
	tick := standalone.p.tickInterval()
	for now := start; now.Before(start.Add(accRunFor)); {
		for _, cr := range crashes {
			if now.Sub(start) >= cr.at {
				// Gone without a shutdown: nothing it buffered is decided.
				c.shards[cr.shard].crashed, c.shards[cr.shard].stopped = true, true
			}
			if now.Sub(start) >= cr.at+cr.dropAfter {
				c.down[cr.shard] = true
			}
		}
		out := eng.Advance(now)
		for _, ld := range []plog.Logs{out.Logs} {
			if ld.LogRecordCount() > 0 {
				cp := plog.NewLogs()
				ld.CopyTo(cp)
				c.consumeLogs(t, cp)
				require.NoError(t, standalone.logs.ConsumeLogs(ctx, ld))
			}
		}
		if out.Traces.SpanCount() > 0 {
			cp := ptrace.NewTraces()
			out.Traces.CopyTo(cp)
			c.consumeTraces(t, cp)
			require.NoError(t, standalone.traces.ConsumeTraces(ctx, out.Traces))
		}
		if out.Metrics.DataPointCount() > 0 {
			c.consumeMetrics(t, out.Metrics)
			require.NoError(t, standalone.metrics.ConsumeMetrics(ctx, out.Metrics))
		}
		for d := time.Duration(0); d < accStep; d += tick {
			clock.Advance(min(tick, accStep-d))
			standalone.p.tick(ctx)
			c.tick()
		}
		now = clock.Now()
	}
	for _, s := range c.shards {
		s.stop(t)
	}
	c.stage.stop(t)
	require.Positive(t, c.verdicts, "the shards sent their verdicts to the stage")
	standalone.stop(t)
	return clusterRun{standalone: one.incidents(), sharded: many.incidents(), taggedAlone: one.tagged, taggedSharded: many.tagged, cluster: c}
}

// TestAClusterOfShardsFindsWhatOneCollectorFinds: the seed faults through
// three shards and the incident stage give the incidents one collector
// gives: the same culprits in the same order, windows within a few seconds,
// trace counts within a fifth.
func TestAClusterOfShardsFindsWhatOneCollectorFinds(t *testing.T) {
	for _, name := range builtin.Names() {
		t.Run(name, func(t *testing.T) {
			run := runSeedThroughBoth(t, name, 3)
			require.NotEmpty(t, run.standalone, "one collector names the culprit")
			require.Len(t, run.sharded, len(run.standalone), "as many incidents through the shards")
			// The stage tags the trace-linked logs with the incident,
			// as one collector does (those of traces decided before the
			// incident was published carry no ID in either).
			assert.Positive(t, run.taggedSharded, "logs tagged with their incident by the stage")
			assert.InEpsilon(t, run.taggedAlone, run.taggedSharded, 0.2, "tagged logs: %d alone, %d sharded", run.taggedAlone, run.taggedSharded)
			t.Logf("logs tagged by trace: %d alone, %d sharded", run.taggedAlone, run.taggedSharded)
			for i, want := range run.standalone {
				got := run.sharded[i]
				assert.Equal(t, want.Service, got.Service, "culprit")
				assert.Equal(t, want.Kind, got.Kind, "kind")
				assert.Equal(t, want.ID, got.ID, "the same deterministic ID")
				assert.WithinDuration(t, want.WindowStart, got.WindowStart, 5*time.Second, "window start")
				assert.WithinDuration(t, want.WindowEnd, got.WindowEnd, 5*time.Second, "window end")
				assert.InEpsilon(t, want.TraceCount, got.TraceCount, 0.2, "trace count: %d alone, %d sharded", want.TraceCount, got.TraceCount)
				assert.Equal(t, want.Status, got.Status, "both resolved by the end, or both open")
				t.Logf("%s: %s, %d traces alone, %d sharded; window %s–%s vs %s–%s", want.ID[:8], want.Service,
					want.TraceCount, got.TraceCount, want.WindowStart.Format(time.TimeOnly), want.WindowEnd.Format(time.TimeOnly),
					got.WindowStart.Format(time.TimeOnly), got.WindowEnd.Format(time.TimeOnly))
			}
		})
	}
}

// TestAShardLostMidFaultLosesOnlyItsTraces: a shard crashes in the middle of
// a fault; the router sends it traffic for five more seconds (the
// resolver's interval), counted as lost, then spreads it over the others.
// The incident is still published, with the right culprit, and counts the
// traces the live shards diagnosed.
func TestAShardLostMidFaultLosesOnlyItsTraces(t *testing.T) {
	run := runSeedThroughBoth(t, "login_db_pool_exhaustion", 3, crash{shard: 1, at: accFaultAt + 20*time.Second, dropAfter: 5 * time.Second})
	require.Len(t, run.standalone, 1)
	require.Len(t, run.sharded, 1, "one incident, published by the stage")
	want, got := run.standalone[0], run.sharded[0]
	assert.Equal(t, want.Service, got.Service)
	assert.Equal(t, want.ID, got.ID)
	assert.Positive(t, run.cluster.lost, "the spans and logs sent to the lost shard are counted")
	assert.Less(t, got.TraceCount, want.TraceCount, "the lost shard's traces are missing")
	assert.Greater(t, float64(got.TraceCount), 0.7*float64(want.TraceCount), "the others' traces are all there")
	t.Logf("lost %d spans and records; %d traces alone, %d with a shard lost", run.cluster.lost, want.TraceCount, got.TraceCount)
}

// The incident stage diagnoses no traces: a traces pipeline is a mistake
// of the configuration, named at startup.
func TestTheIncidentStageRefusesATracesPipeline(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Mode = ModeIncidents
	_, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.ErrorContains(t, err, "mode incidents takes no traces pipeline")
}

// Verdicts that reach a processor not in mode incidents (a shard's
// exporter pointed at another shard) are taken out and counted, not
// forwarded as application logs.
func TestVerdictsOutsideTheStageAreRefusedAndCounted(t *testing.T) {
	h := newHarness(t, testConfig())
	w := verdict.NewWriter(nil)
	w.Traffic(verdict.Traffic{At: epoch, Service: "payment", Traces: 3, Normal: 3})
	require.NoError(t, h.logs.ConsumeLogs(context.Background(), w.Logs()))
	assert.Zero(t, h.lsink.LogRecordCount())
	metadatatest.AssertEqualProcessorRootcauseStreamRefused(t, h.tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
}
