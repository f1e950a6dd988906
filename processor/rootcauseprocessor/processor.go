package rootcauseprocessor // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor"

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/assembly"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/baseline"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/diagnosis"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/eventtime"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/exemplar"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/incident"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/logevidence"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/loglink"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/logtemplate"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/metadata"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/opname"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/pendingvisit"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/profile"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/validutf8"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/verdict"
)

// maxTick bounds the interval of the decision loop; decisions are late by at most one tick.
const maxTick = time.Second

// sharedProcessor is the single rootcause instance behind every pipeline that
// names the same component ID. It starts with the first pipeline and stops
// with the last one.
type sharedProcessor struct {
	cfg       *Config
	set       processor.Settings
	telemetry *metadata.TelemetryBuilder
	onLast    func()
	// now is processing time; tests replace it. Decisions run on clock.
	now func() time.Time
	// clock is event time: the watermark of the spans' timestamps.
	clock *eventtime.Clock
	// manualTicks disables the ticker goroutine; tests call tick themselves.
	manualTicks bool

	mu       sync.Mutex // guards the fields below
	started  int
	traces   []*tracesProcessor
	metrics  []*metricsProcessor
	logs     []*logsProcessor
	stop     chan struct{}
	loopDone chan struct{}
	// state saves the open incidents and the baselines across restarts; nil
	// without storage. Set at the first start, used by the loop and the last
	// shutdown.
	state *stateStore

	store    *incident.Store
	evidence *logevidence.Evidence
	// changes are the shards' reports of their services' changes, the
	// store's Changed test at the incident stage (mode incidents).
	changes changeReports

	// tracePipelines counts the started traces pipelines: logs wait for
	// trace decisions only when some pipeline makes them.
	tracePipelines atomic.Int32
	// links links logs to incidents; exemplars links metrics.
	links     *loglink.Linker[*logsProcessor]
	exemplars *exemplar.Index

	// decideMu serializes decisions: the fields below belong to the decision loop.
	decideMu  sync.Mutex
	baselines *baseline.Baselines
	// operations bounds the span names learned as operations of their own.
	operations *opname.Guard
	profile    *profile.Profile
	templates  *logtemplate.Miner
	// saturation is written by the metrics pipelines, read by the profile
	// and the decision loop.
	saturation *profile.Saturation
	// slowVisits wait for the CPU reports that may explain them.
	slowVisits *pendingvisit.Log
	// pathVisits wait for their operation's change of path to be
	// established.
	pathVisits *pendingvisit.Log
	objectives map[baseline.Key]time.Duration
	diagnoser  *diagnosis.Diagnoser
	scratch    traceScratch
	// stream holds a shard's records for the incident stage (mode shard).
	stream      shardStream
	expired     []*assembly.Trace
	due         []time.Time
	startTime   time.Time
	lastMetrics time.Time

	attrs telemetryAttrs
}

type telemetryAttrs struct {
	verdict  map[diagnosis.Kind]metric.MeasurementOption
	problems [6]metric.MeasurementOption
	cache    map[string]metric.MeasurementOption
	match    map[string]metric.MeasurementOption
	refused  [2]metric.MeasurementOption // future, invalid
	record   map[string]metric.MeasurementOption
}

func newTelemetryAttrs() telemetryAttrs {
	set := func(k, v string) metric.MeasurementOption {
		return metric.WithAttributeSet(attribute.NewSet(attribute.String(k, v)))
	}
	a := telemetryAttrs{
		verdict: map[diagnosis.Kind]metric.MeasurementOption{
			diagnosis.KindNone:    set("verdict", "normal"),
			diagnosis.KindError:   set("verdict", "error"),
			diagnosis.KindLatency: set("verdict", "latency"),
		},
		cache: map[string]metric.MeasurementOption{},
		match: map[string]metric.MeasurementOption{
			matchTrace:      set("match", matchTrace),
			matchTimeWindow: set("match", matchTimeWindow),
		},
	}
	a.refused = [2]metric.MeasurementOption{set("timestamp", "future"), set("timestamp", "invalid")}
	a.record = map[string]metric.MeasurementOption{
		verdict.EventVerdict: set("record", "verdict"),
		verdict.EventTraffic: set("record", "traffic"),
	}
	for i, p := range []string{"zero_span_id", "duplicate_span_id", "orphan", "cycle", "outside_parent", "extra_root"} {
		a.problems[i] = set("problem", p)
	}
	for _, c := range []string{"decided", "log_evidence", "incidents", "baselines", "operation_names", "exemplar_traces", "streams", "log_decisions", "slow_visits", "path_visits"} {
		a.cache[c] = set("cache", c)
	}
	return a
}

func newSharedProcessor(set processor.Settings, cfg *Config, onLast func()) (*sharedProcessor, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	saturation := profile.NewSaturation(cfg.Baseline.MaxOperations)
	prof := profile.New(profile.Options{
		Saturation: saturation,
		Window:     cfg.IncidentWindow,
		Quantile:   cfg.Baseline.Quantile,
		Multiplier: cfg.Baseline.Multiplier,
		MinExcess:  cfg.Baseline.MinExcess,
		MaxKeys:    cfg.Baseline.MaxOperations,
		HalfLife:   baselineHalfLife,
	})
	templates := logtemplate.New(cfg.Baseline.MaxOperations)
	p := &sharedProcessor{
		operations: opname.New(cfg.Baseline.MaxOperationsPerService, cfg.Baseline.MaxOperations),
		profile:    prof,
		templates:  templates,
		saturation: saturation,
		slowVisits: pendingvisit.New(cfg.Baseline.MaxOperations, slowVisitsPerService),
		pathVisits: pendingvisit.New(pathOperations, pathVisitsPerOperation),
		cfg:        cfg,
		set:        set,
		telemetry:  tb,
		onLast:     onLast,
		now:        time.Now,
		evidence:   logevidence.New(cfg.MaxTraces, templates),
		links:      loglink.New[*logsProcessor](cfg.DecidedCacheSize, cfg.MaxHeldLogs),
		exemplars:  exemplar.NewIndex(),
		baselines: baseline.New(baseline.Options{
			Quantile:   cfg.Baseline.Quantile,
			Multiplier: cfg.Baseline.Multiplier,
			MinExcess:  cfg.Baseline.MinExcess,
			Warmup:     cfg.Baseline.Warmup,
			MaxKeys:    cfg.Baseline.MaxOperations,
			HalfLife:   baselineHalfLife,
		}),
		objectives: map[baseline.Key]time.Duration{},
		diagnoser:  diagnosis.NewDiagnoser(),
		attrs:      newTelemetryAttrs(),
	}
	// Called with the store's lock held: standalone, from the decision
	// loop, which owns the profile; at the stage, from the shards' reports.
	changed, judged := prof.Changed, prof.Judged
	if cfg.Mode == ModeIncidents {
		// The shards report changes, not how long they have judged them:
		// the stage takes every report as judged.
		changed, judged = p.changes.Changed, nil
	}
	p.store = incident.New(incident.Options{
		Window:         cfg.IncidentWindow,
		ResolveAfter:   cfg.ResolveAfter,
		UpdateInterval: cfg.UpdateInterval,
		MinTraces:      cfg.MinTraces,
		MinShare:       cfg.MinShare,

		MaxNewServiceIncidents: cfg.MaxNewServiceIncidents,
		Changed:                changed,
		Judged:                 judged,
	})
	p.clock = eventtime.New(eventtime.Options{
		Wall:      func() time.Time { return p.now() },
		Step:      p.tickInterval(),
		IdleAfter: cfg.DecisionWait,
		MaxSkew:   cfg.MaxClockSkew,
		LogWait:   cfg.logWait(),
	})
	for _, o := range cfg.Objectives {
		p.objectives[baseline.Key{Service: o.Service, Operation: o.Operation}] = o.Latency
	}
	return p, nil
}

func (p *sharedProcessor) start(ctx context.Context, host component.Host, register func()) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started == 0 {
		st, saved, err := openState(ctx, host, p.set.ID, p.cfg.Storage, p.set.Logger)
		if err != nil {
			return err
		}
		p.state = st
		// Nothing decides before the first start: the decision loop's
		// baselines are restored without its lock.
		incidents := p.store.Restore(saved.Incidents)
		operations := p.baselines.Restore(saved.Baselines)
		if incidents > 0 || operations > 0 {
			p.set.Logger.Info("Restored the state of the previous run.", zap.Int("open_incidents", incidents), zap.Int("baselines", operations))
		}
	}
	register()
	p.started++
	if p.started == 1 {
		if !p.manualTicks {
			p.stop, p.loopDone = make(chan struct{}), make(chan struct{})
			go p.loop(p.stop, p.loopDone)
		}
	}
	return nil
}

func (p *sharedProcessor) tickInterval() time.Duration {
	return min(maxTick, max(p.cfg.DecisionWait/5, 10*time.Millisecond))
}

func (p *sharedProcessor) loop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(p.tickInterval())
	defer t.Stop()
	checkpoint := time.NewTicker(p.cfg.UpdateInterval)
	defer checkpoint.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			p.tick(context.Background())
		case <-checkpoint.C:
			p.saveState(context.Background())
		}
	}
}

// saveState saves the open incidents and the baselines, when a storage is
// configured.
func (p *sharedProcessor) saveState(ctx context.Context) {
	if p.state == nil {
		return
	}
	p.decideMu.Lock()
	baselines := p.baselines.Save()
	p.decideMu.Unlock()
	p.state.save(ctx, savedState{Incidents: p.store.Save(), Baselines: baselines})
}

// shutdown stops the pipeline's adapter: its buffered traces are diagnosed
// and forwarded, and the loop stops with the last pipeline.
func (p *sharedProcessor) shutdown(ctx context.Context, unregister func() bool) error {
	p.mu.Lock()
	if !unregister() || p.started == 0 {
		p.mu.Unlock()
		return nil
	}
	p.started--
	last := p.started == 0
	stop, done := p.stop, p.loopDone
	p.mu.Unlock()
	if last && stop != nil {
		close(stop)
		<-done
	}
	var err error
	if last {
		if p.state != nil {
			p.saveState(ctx)
			err = p.state.close(ctx)
			p.state = nil
		}
		p.telemetry.Shutdown()
		p.onLast()
	}
	return err
}

// signalProcessor adapts the shared instance to one pipeline's signal.
type signalProcessor struct {
	shared *sharedProcessor
}

func (signalProcessor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

type tracesProcessor struct {
	signalProcessor
	next consumer.Traces

	mu  sync.Mutex
	buf *assembly.Buffer
}

func (p *sharedProcessor) tracesProcessor(next consumer.Traces) *tracesProcessor {
	return &tracesProcessor{signalProcessor: signalProcessor{p}, next: next, buf: assembly.New(assembly.Options{
		DecisionWait:     p.cfg.DecisionWait,
		MaxTraces:        p.cfg.MaxTraces,
		MaxSpansPerTrace: p.cfg.MaxSpansPerTrace,
		DecidedCacheSize: p.cfg.DecidedCacheSize,
	})}
}

func (t *tracesProcessor) Start(ctx context.Context, host component.Host) error {
	p := t.shared
	return p.start(ctx, host, func() {
		p.traces = append(p.traces, t)
		p.tracePipelines.Add(1)
	})
}

func (t *tracesProcessor) Shutdown(ctx context.Context) error {
	p := t.shared
	p.mu.Lock()
	registered := slices.Contains(p.traces, t)
	p.mu.Unlock()
	if registered {
		// Decided before the last pipeline saves the state, so that the
		// incidents they open are saved too.
		p.flush(ctx, t)
	}
	return p.shutdown(ctx, func() bool {
		i := slices.Index(p.traces, t)
		if i >= 0 {
			p.traces = slices.Delete(p.traces, i, i+1)
			p.tracePipelines.Add(-1)
		}
		return i >= 0
	})
}

// ConsumeTraces buffers the spans by trace; they are forwarded, tagged, once
// their trace is decided. Spans that cannot be buffered are forwarded now.
// The batch moves the event-time clock, its spans join their traces, and
// only then are the traces due decided: a trace whose spans came in this
// batch waits decision_wait after it, so that a trace is decided whole
// however its spans were batched (before, a batch longer than decision_wait
// decided the traces it continued without their new spans).
func (t *tracesProcessor) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	if td.ResourceSpans().Len() == 0 {
		return nil
	}
	t.shared.repaired(ctx, validutf8.Traces(td))
	floor := t.shared.clock.Now()
	t.shared.observe(ctx, td)
	ceil := t.shared.clock.Now()
	t.mu.Lock()
	pass := t.buf.AddBetween(td, floor, ceil)
	st := t.buf.TakeStats()
	t.mu.Unlock()
	t.shared.recordAssembly(ctx, st)
	t.shared.tick(ctx)
	if pass.ResourceSpans().Len() == 0 {
		return nil
	}
	return t.next.ConsumeTraces(ctx, pass)
}

type metricsProcessor struct {
	signalProcessor
	next    consumer.Metrics
	streams *exemplar.Streams
}

func (p *sharedProcessor) metricsProcessor(next consumer.Metrics) *metricsProcessor {
	return &metricsProcessor{signalProcessor: signalProcessor{p}, next: next, streams: exemplar.NewStreams()}
}

func (m *metricsProcessor) Start(ctx context.Context, host component.Host) error {
	p := m.shared
	return p.start(ctx, host, func() { p.metrics = append(p.metrics, m) })
}

func (m *metricsProcessor) Shutdown(ctx context.Context) error {
	p := m.shared
	return p.shutdown(ctx, func() bool {
		i := slices.Index(p.metrics, m)
		if i >= 0 {
			p.metrics = slices.Delete(p.metrics, i, i+1)
		}
		return i >= 0
	})
}

// ConsumeMetrics adds exemplars pointing at incident traces to the data
// points of the services involved in open incidents, then forwards md.
func (m *metricsProcessor) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	p := m.shared
	p.repaired(ctx, validutf8.Metrics(md))
	p.saturation.Observe(md)
	if n := p.saturation.TakeRejected(); n > 0 {
		p.telemetry.ProcessorRootcauseCacheEvictions.Add(ctx, n, p.attrs.cache["baselines"])
	}
	if snap := p.exemplars.Snapshot(); snap != nil && p.cfg.MaxExemplarsPerDataPoint > 0 {
		if n := exemplar.Link(snap, md, p.cfg.MaxExemplarsPerDataPoint, p.cfg.ExemplarLookback, m.streams); n > 0 {
			p.telemetry.ProcessorRootcauseExemplarsAdded.Add(ctx, n)
		}
		if n := m.streams.TakeEvicted(); n > 0 {
			p.telemetry.ProcessorRootcauseCacheEvictions.Add(ctx, n, p.attrs.cache["streams"])
		}
	}
	return m.next.ConsumeMetrics(ctx, md)
}

type logsProcessor struct {
	signalProcessor
	next consumer.Logs
	// forwarding is read-locked while the decision loop forwards held logs,
	// so that Shutdown returns only after the last of them.
	forwarding sync.RWMutex
}

func (p *sharedProcessor) logsProcessor(next consumer.Logs) *logsProcessor {
	return &logsProcessor{signalProcessor: signalProcessor{p}, next: next}
}

func (l *logsProcessor) Start(ctx context.Context, host component.Host) error {
	p := l.shared
	if p.cfg.Mode == ModeShard {
		p.mu.Lock()
		n := len(p.logs)
		p.mu.Unlock()
		if n > 0 {
			return errors.New("mode shard takes one logs pipeline: it carries the verdicts to the incident stage, and a second would send them twice")
		}
	}
	return p.start(ctx, host, func() { p.logs = append(p.logs, l) })
}

// Shutdown forwards every record this pipeline still holds, then stops.
func (l *logsProcessor) Shutdown(ctx context.Context) error {
	p := l.shared
	p.mu.Lock()
	last := len(p.logs) == 1 && p.logs[0] == l
	p.mu.Unlock()
	if p.cfg.Mode == ModeShard || last {
		// The stream, or the incident records, leave through this
		// pipeline: decide the buffered traces and record the incidents'
		// last state now, whichever pipeline the collector stops first.
		traces, _, _ := p.snapshot()
		for _, t := range traces {
			p.flush(ctx, t)
		}
	}
	p.releaseLogs(ctx, p.clock.Now(), l)
	// Wait for held logs the decision loop is forwarding to this pipeline.
	l.forwarding.Lock()
	l.forwarding.Unlock() //nolint:staticcheck // an empty critical section is the point
	return p.shutdown(ctx, func() bool {
		i := slices.Index(p.logs, l)
		if i >= 0 {
			p.logs = slices.Delete(p.logs, i, i+1)
		}
		return i >= 0
	})
}

// ConsumeLogs keeps trace-linked log messages as evidence for the diagnosis,
// tags the records linked to an incident, holds those whose trace is not
// decided yet (they are forwarded by the decision loop) and forwards the rest.
func (l *logsProcessor) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	l.shared.repaired(ctx, validutf8.Logs(ld))
	l.shared.consumeLogs(ctx, l, ld)
	if ld.ResourceLogs().Len() == 0 {
		return nil
	}
	return l.next.ConsumeLogs(ctx, ld)
}

// repaired counts the strings that were not valid UTF-8 where data enters
// the processor: everything after it, the diagnosis, the incident records
// and the exporters downstream, reads valid text.
func (p *sharedProcessor) repaired(ctx context.Context, n int64) {
	if n > 0 {
		p.telemetry.ProcessorRootcauseStringsRepaired.Add(ctx, n)
	}
}

func (p *sharedProcessor) recordAssembly(ctx context.Context, st assembly.Stats) {
	tb := p.telemetry
	add := func(c metric.Int64Counter, n int64, opts ...metric.AddOption) {
		if n != 0 {
			c.Add(ctx, n, opts...)
		}
	}
	add(tb.ProcessorRootcauseTracesEvicted, st.Evicted)
	add(tb.ProcessorRootcauseSpansOverflow, st.Overflow)
	add(tb.ProcessorRootcauseSpansLate, st.Late)
	add(tb.ProcessorRootcauseSpansZeroTraceID, st.ZeroTraceID)
	add(tb.ProcessorRootcauseCacheEvictions, st.DecidedEvicted, p.attrs.cache["decided"])
	if d := st.Traces - st.Evicted; d != 0 {
		tb.ProcessorRootcauseTracesBuffered.Add(ctx, d)
	}
}

func (p *sharedProcessor) snapshot() (traces []*tracesProcessor, metrics []*metricsProcessor, logs []*logsProcessor) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.traces), slices.Clone(p.metrics), slices.Clone(p.logs)
}

// observe moves the event-time clock to the newest plausible end time of td.
func (p *sharedProcessor) observe(ctx context.Context, td ptrace.Traces) {
	wall := p.clock.Wall()
	var latest, future, invalid int64
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				end := int64(s.EndTimestamp())
				switch ok, fut := p.clock.Plausible(end, wall); {
				case ok:
					latest = max(latest, end)
				case fut:
					future++
				default:
					invalid++
				}
			}
		}
	}
	p.clock.Observe(latest)
	if future > 0 {
		p.telemetry.ProcessorRootcauseSpansTimestampRefused.Add(ctx, future, p.attrs.refused[0])
	}
	if invalid > 0 {
		p.telemetry.ProcessorRootcauseSpansTimestampRefused.Add(ctx, invalid, p.attrs.refused[1])
	}
}

// tick runs the decision loop at every point of the event-time grid passed
// since the previous tick, in order.
func (p *sharedProcessor) tick(ctx context.Context) {
	p.decideMu.Lock()
	defer p.decideMu.Unlock()
	p.due = p.clock.Due(p.due[:0])
	for _, at := range p.due {
		p.tickAt(ctx, at)
	}
}

// tickAt is one turn of the decision loop at event time now: it decides the
// traces whose decision_wait is over, forwards them, and emits the incident
// records and metrics that are due.
func (p *sharedProcessor) tickAt(ctx context.Context, now time.Time) {
	if p.startTime.IsZero() || now.Before(p.startTime) {
		p.startTime, p.lastMetrics = now, now
	}
	traces, metrics, logs := p.snapshot()
	for _, t := range traces {
		t.mu.Lock()
		p.expired = t.buf.Expired(now, p.expired[:0])
		st := t.buf.TakeStats()
		t.mu.Unlock()
		p.recordAssembly(ctx, st)
		p.decideAndForward(ctx, now, t, p.expired)
	}
	clear(p.expired)
	p.blameSaturated(ctx, now, now)
	p.afterDecisions(ctx, now)
	p.emit(ctx, now, metrics, logs, false)
}

// afterDecisions refreshes what the logs path reads and releases the held
// logs whose traces are now decided or that waited log_wait.
func (p *sharedProcessor) afterDecisions(ctx context.Context, now time.Time) {
	if p.cfg.Mode == ModeShard {
		p.sendStream(ctx, now)
	}
	p.links.SetWindows(p.store.OpenWindows())
	if n := p.links.TakeEvicted(); n > 0 {
		p.telemetry.ProcessorRootcauseCacheEvictions.Add(ctx, n, p.attrs.cache["log_decisions"])
	}
	p.releaseLogs(ctx, now, nil)
}

// endOfTime is later than any event: at shutdown every report received
// counts.
var endOfTime = time.Unix(1<<62, 0)

// flush decides and forwards every trace buffered by t, at shutdown.
func (p *sharedProcessor) flush(ctx context.Context, t *tracesProcessor) {
	p.decideMu.Lock()
	defer p.decideMu.Unlock()
	now := p.clock.Now()
	if p.startTime.IsZero() {
		p.startTime, p.lastMetrics = now, now
	}
	t.mu.Lock()
	p.expired = t.buf.Drain(p.expired[:0])
	t.mu.Unlock()
	p.decideAndForward(ctx, now, t, p.expired)
	clear(p.expired)
	p.blameSaturated(ctx, now, endOfTime)
	p.afterDecisions(ctx, now)
	_, metrics, logs := p.snapshot()
	p.emit(ctx, now, metrics, logs, true)
}

func (p *sharedProcessor) decideAndForward(ctx context.Context, now time.Time, t *tracesProcessor, expired []*assembly.Trace) {
	if len(expired) == 0 {
		return
	}
	p.telemetry.ProcessorRootcauseTracesBuffered.Add(ctx, -int64(len(expired)))
	decisions := make([]assembly.Decision, len(expired))
	decided := make([]*decision, len(expired))
	// Traces decided together leave in chunks of about maxForwardSpans, not
	// as one batch that could pass what the next hop accepts (4 MiB by default
	// for OTLP/gRPC) when many traces end at once.
	var chunks []ptrace.Traces
	var chunkSpans []int
	for i, tr := range expired {
		d := p.decide(ctx, now, tr)
		decided[i] = d
		if d != nil {
			decisions[i] = d // never a typed nil
		}
		if len(chunks) == 0 || chunkSpans[len(chunks)-1]+tr.Spans > maxForwardSpans && chunkSpans[len(chunks)-1] > 0 {
			chunks = append(chunks, ptrace.NewTraces())
			chunkSpans = append(chunkSpans, 0)
		}
		chunkSpans[len(chunks)-1] += tr.Spans
		tr.Data.ResourceSpans().MoveAndAppendTo(chunks[len(chunks)-1].ResourceSpans())
	}
	if p.cfg.Mode == ModeShard {
		// The verdicts reach the stage before any log of their traces.
		p.sendStream(ctx, now)
	}
	for i, tr := range expired {
		d := decided[i]
		if p.cfg.Mode == ModeShard {
			// Decided, untagged: the stage, which gives the incident
			// ID, tags the logs and takes their evidence.
			d = nil
		}
		p.links.Decided(tr.ID, d.forLogs())
	}
	t.mu.Lock()
	for i, tr := range expired {
		if decisions[i] != nil {
			t.buf.SetDecision(tr.ID, decisions[i])
		}
	}
	t.mu.Unlock()
	for i, out := range chunks {
		if err := t.next.ConsumeTraces(ctx, out); err != nil {
			p.telemetry.ProcessorRootcauseSpansForwardFailed.Add(ctx, int64(chunkSpans[i]))
			p.set.Logger.Warn("Forwarding decided traces failed; their spans are lost.", zap.Int("spans", chunkSpans[i]), zap.Error(err))
		}
	}
}

// maxForwardSpans is the size, in spans, of the chunks decided traces are
// forwarded in (a trace is never split).
const maxForwardSpans = 8192

// emit sends the due incident records to the logs pipelines and, on a change
// or every update_interval, the incident metrics to the metrics pipelines;
// final (at shutdown), every change not yet recorded.
func (p *sharedProcessor) emit(ctx context.Context, now time.Time, metrics []*metricsProcessor, logs []*logsProcessor, final bool) {
	flush := p.store.Flush
	if final {
		flush = p.store.FlushFinal
	}
	events := flush(now)
	if n := p.store.TakeHeld(); n > 0 {
		p.telemetry.ProcessorRootcauseIncidentsHeld.Add(ctx, n)
	}
	if n := p.store.TakeDiscarded(); n > 0 {
		p.telemetry.ProcessorRootcauseIncidentsDiscarded.Add(ctx, n)
	}
	if n := p.store.TakeEvicted(); n > 0 {
		p.telemetry.ProcessorRootcauseCacheEvictions.Add(ctx, n, p.attrs.cache["incidents"])
	}
	x := p.exemplars
	x.Publish(now, events)
	x.Expire(now, p.cfg.ExemplarLookback+p.cfg.ResolveAfter, p.cfg.ResolveAfter, 2*p.cfg.UpdateInterval+p.tickInterval())
	if n := x.TakeEvicted(); n > 0 {
		p.telemetry.ProcessorRootcauseCacheEvictions.Add(ctx, n, p.attrs.cache["exemplar_traces"])
	}
	if len(events) > 0 && len(logs) > 0 {
		ld := incidentLogs(events, now, p.cfg.IncidentRecords.ResourceAttributes)
		for i, l := range logs {
			out := ld
			if i < len(logs)-1 {
				out = plog.NewLogs()
				ld.CopyTo(out)
			}
			if err := l.next.ConsumeLogs(ctx, out); err != nil {
				p.set.Logger.Warn("Emitting incident records failed.", zap.Error(err))
			}
		}
	}
	// A shard keeps no incidents: the stage counts them.
	if p.cfg.Mode == ModeShard || len(metrics) == 0 || (len(events) == 0 && now.Sub(p.lastMetrics) < p.cfg.UpdateInterval) {
		return
	}
	p.lastMetrics = now
	open, standing := p.store.Active()
	md := incidentMetrics(p.store.Totals(), open-standing, standing, p.startTime, now)
	for i, m := range metrics {
		out := md
		if i < len(metrics)-1 {
			out = pmetric.NewMetrics()
			md.CopyTo(out)
		}
		if err := m.next.ConsumeMetrics(ctx, out); err != nil {
			p.set.Logger.Warn("Emitting incident metrics failed.", zap.Error(err))
		}
	}
}
