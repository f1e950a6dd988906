package rootcauseprocessor // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor"

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/exemplar"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/incident"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/loglink"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/verdict"
)

// shardStream is what a shard (mode shard) keeps for the incident stage
// between two ticks: the verdicts of the anomalous traces it decided and the
// traffic of each service. It belongs to the decision loop.
type shardStream struct {
	verdicts []verdict.Verdict
	traffic  map[string]*[2]int64 // service → traces, normal ones
}

// seen counts a decided trace in the traffic of its services.
func (s *shardStream) seen(services []string, normal bool) {
	if s.traffic == nil {
		s.traffic = map[string]*[2]int64{}
	}
	for _, svc := range services {
		c := s.traffic[svc]
		if c == nil {
			c = new([2]int64)
			s.traffic[svc] = c
		}
		c[0]++
		if normal {
			c[1]++
		}
	}
}

// take writes the records due at event time now, and forgets them. changed
// is the shard's test of a service's change.
func (s *shardStream) take(now time.Time, resourceAttrs map[string]string, changed func(string, time.Time) bool) (ld plog.Logs, verdicts, traffic int) {
	if len(s.verdicts) == 0 && len(s.traffic) == 0 {
		return plog.Logs{}, 0, 0
	}
	w := verdict.NewWriter(resourceAttrs)
	for _, v := range s.verdicts {
		w.Verdict(v)
	}
	for _, svc := range slices.Sorted(maps.Keys(s.traffic)) {
		c := s.traffic[svc]
		w.Traffic(verdict.Traffic{At: now, Service: svc, Traces: c[0], Normal: c[1], Changed: changed(svc, now)})
	}
	verdicts, traffic = len(s.verdicts), len(s.traffic)
	clear(s.verdicts)
	s.verdicts = s.verdicts[:0]
	clear(s.traffic)
	return w.Logs(), verdicts, traffic
}

// streamResource is the resource of the stream's records.
var streamResource = map[string]string{"service.name": selfService}

// sendStream hands the shard's records to its logs pipelines, before the
// held logs of the same traces are released: the stage then knows a trace's
// incident when its logs arrive.
func (p *sharedProcessor) sendStream(ctx context.Context, now time.Time) {
	ld, verdicts, traffic := p.stream.take(now, streamResource, p.profile.Changed)
	if verdicts+traffic == 0 {
		return
	}
	tb := p.telemetry
	tb.ProcessorRootcauseStreamSent.Add(ctx, int64(verdicts), p.attrs.record[verdict.EventVerdict])
	tb.ProcessorRootcauseStreamSent.Add(ctx, int64(traffic), p.attrs.record[verdict.EventTraffic])
	_, _, logs := p.snapshot()
	if len(logs) == 0 {
		tb.ProcessorRootcauseStreamSendFailed.Add(ctx, int64(verdicts+traffic))
		p.set.Logger.Warn("Mode shard sends its verdicts to the incident stage through its logs pipeline, which is not running; they are lost.", zap.Int("records", verdicts+traffic))
		return
	}
	// The shard's one logs pipeline (Start refuses a second): a copy to
	// each would count every trace once per pipeline at the stage. Held
	// until sent: the pipeline's Shutdown waits for it.
	to := logs[0]
	to.forwarding.RLock()
	defer to.forwarding.RUnlock()
	if err := to.next.ConsumeLogs(ctx, ld); err != nil {
		tb.ProcessorRootcauseStreamSendFailed.Add(ctx, int64(verdicts+traffic))
		p.set.Logger.Warn("Sending verdicts to the incident stage failed; they are lost.", zap.Int("records", verdicts+traffic), zap.Error(err))
	}
}

// changeReports are the shards' tests of their services' changes, at the
// incident stage: the store's Changed holds for a service that a shard
// reported changed within changeReportTTL. Each shard sees a uniform sample
// of every service's traces (routing by trace ID is a hash), so its test
// holds, at a fraction of the rate, when the whole service's does.
type changeReports struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// changeReportTTL is how long a shard's report of a change holds: a few of
// its ticks, each of which reports every service with traffic.
const changeReportTTL = 10 * time.Second

// maxChangeReports bounds the services with a change reported at once:
// their names come from the network.
const maxChangeReports = 10_000

func (c *changeReports) report(service string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		c.last = map[string]time.Time{}
	}
	if _, ok := c.last[service]; !ok && len(c.last) >= maxChangeReports {
		maps.DeleteFunc(c.last, func(_ string, t time.Time) bool { return at.Sub(t) > changeReportTTL })
		if len(c.last) >= maxChangeReports {
			return
		}
	}
	if at.After(c.last[service]) {
		c.last[service] = at
	}
}

func (c *changeReports) Changed(service string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.last[service]
	return ok && now.Sub(at) <= changeReportTTL
}

// errNotStage refuses the shards' records sent to a processor that is not
// the incident stage.
var errNotStage = errors.New("records of the rootcause shards' stream reached a rootcause processor not in mode incidents; point the shards at the incident stage")

// readStream takes the shards' records out of ld and, at the incident stage,
// feeds the incidents with them; elsewhere they are refused and counted.
func (p *sharedProcessor) readStream(ctx context.Context, ld plog.Logs) {
	read := verdict.Extract(ld)
	n := len(read.Verdicts) + len(read.Traffic)
	if n+read.Refused == 0 {
		return
	}
	tb := p.telemetry
	if p.cfg.Mode != ModeIncidents {
		tb.ProcessorRootcauseStreamRefused.Add(ctx, int64(n+read.Refused))
		p.set.Logger.Warn("Dropped records of the shards' stream.", zap.Int("records", n+read.Refused), zap.Error(errNotStage))
		return
	}
	if read.Refused > 0 {
		tb.ProcessorRootcauseStreamRefused.Add(ctx, int64(read.Refused))
		p.set.Logger.Warn("Dropped malformed records of the shards' stream.", zap.Int("records", read.Refused), zap.Error(errors.Join(read.Errors...)))
	}
	if n == 0 {
		return
	}
	tb.ProcessorRootcauseStreamReceived.Add(ctx, int64(len(read.Verdicts)), p.attrs.record[verdict.EventVerdict])
	tb.ProcessorRootcauseStreamReceived.Add(ctx, int64(len(read.Traffic)), p.attrs.record[verdict.EventTraffic])
	var latest int64
	for i := range read.Verdicts {
		latest = max(latest, read.Verdicts[i].At.UnixNano())
	}
	for i := range read.Traffic {
		latest = max(latest, read.Traffic[i].At.UnixNano())
	}
	if ok, _ := p.clock.Plausible(latest, p.clock.Wall()); ok {
		p.clock.Observe(latest)
	}
	// The exemplar index belongs to the decision loop.
	p.decideMu.Lock()
	defer p.decideMu.Unlock()
	now := p.clock.Now()
	// Changes are dated on arrival, in the stage's time: a shard's backlog
	// delivered late reports what holds now.
	for _, t := range read.Traffic {
		if t.Changed {
			p.changes.report(t.Service, now)
		}
		p.store.SeenCount(now, t.Service, t.Traces, t.Normal)
	}
	for _, v := range read.Verdicts {
		for _, svc := range v.Changed {
			p.changes.report(svc, now)
		}
		o := v.Observations[0]
		id, published := p.store.Record(now, o, v.Observations[1:]...)
		if v.Path != nil && id != "" { // a chronic failure in no incident is no exemplar
			p.exemplars.Add(now, o.TraceID, id, v.Path)
		}
		d := &loglink.Decision{Culprit: o.CulpritService}
		if published {
			d.IncidentID = id
		}
		p.links.Decided(o.TraceID, d)
	}
}

// recordVerdict is the shard's counterpart of recording an anomalous trace
// in the incident store: the stage will.
func (p *sharedProcessor) recordVerdict(now time.Time, path exemplar.Path, obs incident.Observation, also ...incident.Observation) {
	v := verdict.Verdict{At: now, Observations: append([]incident.Observation{obs}, also...), Path: path}
	for _, o := range v.Observations {
		if p.profile.Changed(o.CulpritService, now) && !slices.Contains(v.Changed, o.CulpritService) {
			v.Changed = append(v.Changed, o.CulpritService)
		}
	}
	// The observations' slices belong to the diagnosis scratch: copy them.
	for i := range v.Observations {
		o := &v.Observations[i]
		o.Candidates, o.Affected, o.Callers, o.Evidence = slices.Clone(o.Candidates), slices.Clone(o.Affected), slices.Clone(o.Callers), slices.Clone(o.Evidence)
	}
	p.stream.verdicts = append(p.stream.verdicts, v)
}
