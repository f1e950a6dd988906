package rootcauseprocessor // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor"

import (
	"context"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/diagnosis"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/incident"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/logtemplate"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/pendingvisit"
)

// An operation's change of path is established only once enough of the
// window's spans took it (half of them for a step skipped, beyond what its
// history makes likely; see profile.NovelPattern), so the spans that began
// it are decided as normal: for a low-rate operation, the fault's first half
// minute. They are its first requests all the same. A span on a path that
// is evidence once the change is established (profile.UnusualPattern) waits
// for it; when a later span of the same operation is judged a change, the
// waiting spans whose path is a change now, decided within the last
// incident_window, count for its service's incident, as if decided then.

// pathVisitsPerOperation bounds the spans an operation keeps waiting for its
// change: a low-rate operation's first half window of spans, the ones that
// matter (a busy operation's change makes its incident with the spans after
// it). pathOperations bounds the operations keeping spans: more operations
// off their path at once than that is no longer one fault to date.
const (
	pathVisitsPerOperation = 16
	pathOperations         = 1000
)

// keepUnusualPaths, after the verdict v of trace id, keeps the spans of it
// that took an unusual path of their operation and were not counted for
// their service, and counts those kept earlier for an operation whose
// change one of this trace's spans established.
func (p *sharedProcessor) keepUnusualPaths(ctx context.Context, now time.Time, id pcommon.TraceID, v *diagnosis.Verdict, start, end time.Time, patterns map[pcommon.SpanID][]logtemplate.ID) {
	if p.cfg.Mode == ModeShard {
		return // as for the CPU reports: the stage would relink the logs
	}
	spans := p.scratch.spans
	waiting := p.scratch.pathServices[:0]
	defer func() { p.scratch.pathServices = waiting[:0] }()
	for i := range spans {
		s := &spans[i]
		if s.Pattern == 0 {
			continue
		}
		switch {
		case p.diagnoser.Novel(i):
			// The change is the service's own where the trace's failure
			// started with it; a service that took another path because a
			// callee failed it is that failure's symptom.
			if v.Anomalous && v.CulpritService == s.Service {
				p.countEarlierPaths(now, pathKey(s), s.Service, s.Entry, s.Name)
			}
			continue
		case v.Anomalous || slices.Contains(waiting, s.Service):
			// A trace already anomalous is counted where its failure or
			// delay started, which the span's path did not cause; a trace
			// waits once for each service (a service's two operations
			// would otherwise count it twice).
			continue
		case !p.profile.UnusualPattern(s.Service, s.Entry, s.Name, s.Pattern):
			continue
		}
		// Spans older than a window can no longer count: drop them before
		// the bound would count them as lost.
		key := pathKey(s)
		p.pathVisits.DropBefore(key, now.Add(-p.cfg.IncidentWindow))
		waiting = append(waiting, s.Service)
		p.pathVisits.Add(key, pendingvisit.Visit{
			TraceID: id, SpanID: s.ID, Operation: s.Name, Start: start, End: end, At: now, Decided: now,
			Pattern: s.Pattern, Reason: p.newPatternReason(s.Name, patterns[s.ID]),
			Callers: p.diagnoser.Callers(spans, i),
		})
	}
	if n := p.pathVisits.TakeForgotten(); n > 0 {
		p.telemetry.ProcessorRootcauseCacheEvictions.Add(ctx, n, p.attrs.cache["path_visits"])
	}
}

// countEarlierPaths records, each as a trace of an incident of service, the
// spans of its operation (kept under key) kept within the last
// incident_window whose path is a change now; those older are forgotten.
func (p *sharedProcessor) countEarlierPaths(now time.Time, key, service, entry, operation string) {
	blamed := p.pathVisits.SettleKey(key, func(w *pendingvisit.Visit) pendingvisit.Judgment {
		switch {
		case now.Sub(w.At) > p.cfg.IncidentWindow:
			return pendingvisit.Forget
		case p.profile.NovelPattern(service, entry, operation, w.Pattern):
			return pendingvisit.Blame
		}
		return pendingvisit.Wait
	})
	for _, w := range blamed {
		p.store.Record(now, incident.Observation{
			TraceID: w.TraceID, CulpritSpanID: w.SpanID, Start: w.Start, End: w.End,
			Kind: diagnosis.KindError, CulpritService: service, CulpritOperation: w.Operation,
			Reason: w.Reason, Callers: w.Callers, Affected: []string{service},
			Candidates: []diagnosis.Candidate{{Name: service, Score: 1, Evidence: diagnosis.EvidenceOrigin}},
			Late:       true, DecidedAt: w.Decided,
		})
	}
}

// pathKey is the key an operation's spans wait under: built only for the
// few spans that wait or settle, not for every span with logs.
func pathKey(s *diagnosis.Span) string {
	return s.Service + "\x00" + s.Entry + "\x00" + s.Name
}
