package rootcauseprocessor // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/diagnosis"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/loglink"
)

// Log attributes the processor sets on records linked to an incident.
const (
	attrMatch       = loglink.AttrMatch
	matchTrace      = loglink.MatchTrace
	matchTimeWindow = loglink.MatchTimeWindow
)

// consumeLogs keeps ld's trace-linked messages as evidence, tags the records
// linked to an incident and moves those whose trace is not decided yet into
// the held records; the rest of ld is to be forwarded now.
func (p *sharedProcessor) consumeLogs(ctx context.Context, l *logsProcessor, ld plog.Logs) {
	p.readStream(ctx, ld)
	if p.cfg.Mode != ModeIncidents { // the stage diagnoses nothing
		p.evidence.Add(ld)
		if n := p.evidence.TakeEvicted(); n > 0 {
			p.telemetry.ProcessorRootcauseCacheEvictions.Add(ctx, n, p.attrs.cache["log_evidence"])
		}
	}
	// Logs wait for trace decisions only when some pipeline makes them.
	hold := p.tracePipelines.Load() > 0
	if hold {
		p.clock.ObserveLogs(p.latestTraceLinked(ld))
	}
	st, held, overflow := p.links.Link(ld, p.clock.Now(), l, hold)
	if held > 0 {
		p.telemetry.ProcessorRootcauseLogsHeld.Add(ctx, held)
	}
	if overflow > 0 {
		p.telemetry.ProcessorRootcauseLogsHeldOverflow.Add(ctx, overflow)
	}
	p.recordLogStats(ctx, &st)
}

// latestTraceLinked is the newest plausible time of ld's trace-linked
// records (their timestamp, else when they were observed), Unix
// nanoseconds; zero when none: the decisions wait for these records.
func (p *sharedProcessor) latestTraceLinked(ld plog.Logs) int64 {
	wall := p.clock.Wall()
	latest := int64(0)
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				if lr.TraceID().IsEmpty() {
					continue
				}
				ts := int64(lr.Timestamp())
				if ts == 0 {
					ts = int64(lr.ObservedTimestamp())
				}
				if ok, _ := p.clock.Plausible(ts, wall); ok {
					latest = max(latest, ts)
				}
			}
		}
	}
	return latest
}

// recordLogStats counts what linking did and gives the linked errors to
// their incidents as evidence.
func (p *sharedProcessor) recordLogStats(ctx context.Context, st *loglink.Stats) {
	if st.Trace > 0 {
		p.telemetry.ProcessorRootcauseLogsTagged.Add(ctx, st.Trace, p.attrs.match[matchTrace])
	}
	if st.Window > 0 {
		p.telemetry.ProcessorRootcauseLogsTagged.Add(ctx, st.Window, p.attrs.match[matchTimeWindow])
	}
	for _, e := range st.Errors {
		p.store.AddEvidence(e.Incident, e.Service+": "+e.Body)
		if e.Culprit {
			p.store.ImproveReason(e.Incident, diagnosis.Sentence(e.Body))
		}
	}
}

// releaseLogs forwards the held records whose traces are all decided, or
// that waited log_wait, tagged, in arrival order, each to the logs pipeline
// it came from. only, when set, releases everything of that pipeline (its
// shutdown).
func (p *sharedProcessor) releaseLogs(ctx context.Context, now time.Time, only *logsProcessor) {
	var acquired []*logsProcessor
	batches, st, released := p.links.Release(now, p.cfg.logWait(), only, p.bufferedTraces(), func(to *logsProcessor) {
		// Held until forwarded: the pipeline's Shutdown waits for it.
		to.forwarding.RLock()
		acquired = append(acquired, to)
	})
	defer func() {
		for _, to := range acquired {
			to.forwarding.RUnlock()
		}
	}()
	if released == 0 {
		return
	}
	p.telemetry.ProcessorRootcauseLogsHeld.Add(ctx, -released)
	p.recordLogStats(ctx, &st)
	for _, b := range batches {
		if err := b.To.next.ConsumeLogs(ctx, b.Logs); err != nil {
			n := b.Logs.LogRecordCount()
			p.telemetry.ProcessorRootcauseLogsForwardFailed.Add(ctx, int64(n))
			p.set.Logger.Warn("Forwarding held logs failed; they are lost.", zap.Int("records", n), zap.Error(err))
		}
	}
}

// bufferedTraces reports whether a trace still waits for its decision in
// some traces pipeline; it lists the pipelines once, at its first question.
func (p *sharedProcessor) bufferedTraces() func(pcommon.TraceID) bool {
	var traces []*tracesProcessor
	listed := false
	return func(id pcommon.TraceID) bool {
		if !listed {
			traces, _, _ = p.snapshot()
			listed = true
		}
		for _, t := range traces {
			t.mu.Lock()
			b := t.buf.Buffered(id)
			t.mu.Unlock()
			if b {
				return true
			}
		}
		return false
	}
}
