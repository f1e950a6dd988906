package rootcauseprocessor // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor"

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/diagnosis"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/incident"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/pendingvisit"
)

// maxReportWait is how long a slow visit waits for the CPU report that may
// explain it when none comes: reports of a minute, late by another. A visit
// no report described by then is forgotten; it is evidence, not data.
const maxReportWait = 3 * time.Minute

// slowVisitsPerService bounds the slow visits kept per service while their
// CPU report is awaited: enough to open an incident (min_traces) and show
// its traces; a busy service at its limit sends more while it lasts.
const slowVisitsPerService = 16

// keepSlowVisits keeps, of each service that reports its CPU, the trace's
// visit furthest beyond its usual own time (its p99), when it is beyond it
// by more than baseline.min_excess (what is no delay a person notices): a
// CPU report that comes later may explain it (blameSaturated). A visit
// beyond its p99 is one in a hundred while nothing is wrong; with its
// service's CPU at its limit it is a second witness.
func (p *sharedProcessor) keepSlowVisits(now time.Time, id pcommon.TraceID, v *diagnosis.Verdict, start, end time.Time) {
	if p.cfg.Mode == ModeShard {
		return // see the processor README: not done in a cluster
	}
	spans := p.scratch.spans
	kept := p.scratch.slowVisits[:0]
	defer func() { p.scratch.slowVisits = kept[:0] }()
	for k := range v.Parts {
		part := &v.Parts[k]
		if part.Key.Kind != diagnosis.PartVisit {
			continue
		}
		usual, known := p.profile.Usual(part.Key)
		if !known || part.Value <= usual+p.cfg.Baseline.MinExcess {
			continue
		}
		service := part.Key.Service
		i := slices.IndexFunc(kept, func(x slowVisit) bool { return x.service == service })
		switch {
		case i >= 0 && part.Value-usual <= kept[i].Took-kept[i].Usual:
			continue // one visit a service, the slowest: a trace counts once
		case i < 0 && !p.saturation.Reports(service, now):
			continue // no CPU report to wait for
		}
		s := &spans[part.Span]
		visit := slowVisit{service: service, span: int(part.Span), Visit: pendingvisit.Visit{
			TraceID: id, SpanID: s.ID, Operation: part.Key.Operation,
			Start: start, End: end, At: visitEnd(s.End, end), Decided: now,
			Took: part.Value, Usual: usual,
			Counted: v.Anomalous && service == v.CulpritService || v.Slow.Culprit >= 0 && service == v.Slow.Service,
		}}
		if i >= 0 {
			kept[i] = visit
		} else {
			kept = append(kept, visit)
		}
	}
	for i := range kept {
		kept[i].Callers = p.diagnoser.Callers(spans, kept[i].span)
		p.slowVisits.Add(kept[i].service, kept[i].Visit)
	}
}

// slowVisit is a visit kept for its service; span is its entry span's
// index in the trace.
type slowVisit struct {
	service string
	span    int
	pendingvisit.Visit
}

// blameSaturated records, each as a trace of an incident of its service, the
// kept slow visits that a CPU report describes at the service's limit,
// risen there from below it: the requests its CPU starvation slowed. A pod's
// report describes the time since its previous one, so it comes after the
// traces it explains were decided; visits no report explains are forgotten
// once every report that may describe their time came, or after
// maxReportWait without one. The reports of event time asOf or before
// count: now in the decision loop, so that the metrics' batching does not
// matter; every report received at shutdown, when no more will come.
func (p *sharedProcessor) blameSaturated(ctx context.Context, now, asOf time.Time) {
	blamed := p.slowVisits.Settle(func(service string, v *pendingvisit.Visit) pendingvisit.Judgment {
		u, before, found, decided := p.saturation.RoseNear(service, v.At, asOf)
		switch {
		case found:
			v.Utilization, v.RoseFrom = u, before
			return pendingvisit.Blame
		case decided || now.Sub(v.At) > maxReportWait:
			return pendingvisit.Forget
		}
		return pendingvisit.Wait
	})
	if n := p.slowVisits.TakeForgotten(); n > 0 {
		p.telemetry.ProcessorRootcauseCacheEvictions.Add(ctx, n, p.attrs.cache["slow_visits"])
	}
	for _, service := range slices.Sorted(maps.Keys(blamed)) {
		for _, v := range blamed[service] {
			obs := incident.Observation{
				TraceID: v.TraceID, CulpritSpanID: v.SpanID, Start: v.Start, End: v.End,
				Kind: diagnosis.KindLatency, CulpritService: service, CulpritOperation: v.Operation,
				Reason:  diagnosis.SlowVisitReason(v.Operation, v.Took, v.Usual) + cpuRoseNote(v.Utilization, v.RoseFrom),
				Callers: v.Callers, Affected: []string{service}, DecidedAt: v.Decided,
				Candidates: []diagnosis.Candidate{{
					Name: service, Score: 1,
					Evidence: diagnosis.EvidenceOrigin | diagnosis.EvidenceSlow | diagnosis.EvidenceSaturated,
				}},
			}
			if v.Counted {
				p.store.Corroborate(now, obs)
			} else {
				p.store.Record(now, obs)
			}
		}
	}
}

// cpuRoseNote says how close to its limit a service's CPU is, and from
// which level it rose.
func cpuRoseNote(utilization, before float64) string {
	return fmt.Sprintf("; its CPU at %.0f%% of its limit, up from %.0f%%", 100*utilization, 100*before)
}

// visitEnd is when a visit ended, no later than its trace's end as the
// trace's window repaired it (a span timestamped far ahead would otherwise
// wait for a report that never comes).
func visitEnd(spanEnd int64, traceEnd time.Time) time.Time {
	if t := time.Unix(0, spanEnd); t.Before(traceEnd) {
		return t
	}
	return traceEnd
}
