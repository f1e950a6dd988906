package rootcauseprocessor // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor"

import (
	"context"
	"maps"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/diagnosis"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/incident"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/slowvisit"
)

// maxReportWait is how long a slow visit waits for the CPU report that may
// explain it when none comes: reports of a minute, late by another.
const maxReportWait = 3 * time.Minute

// slowVisitsPerService bounds the slow visits kept per service while their
// CPU report is awaited: enough to open an incident (min_traces) and show
// its traces; a busy service at its limit sends more while it lasts.
const slowVisitsPerService = 16

// keepSlowVisits keeps the trace's visits beyond their usual own time (its
// p99) of services that report their CPU: a report that comes later may
// explain them (blameSaturated). A visit beyond its p99 is one in a hundred
// while nothing is wrong; with its service's CPU at its limit it is a second
// witness.
func (p *sharedProcessor) keepSlowVisits(id pcommon.TraceID, v *diagnosis.Verdict, start, end time.Time) {
	spans := p.scratch.spans
	kept := p.scratch.slowVisited[:0] // one visit a service: a trace counts once
	defer func() { p.scratch.slowVisited = kept[:0] }()
	for k := range v.Parts {
		part := &v.Parts[k]
		if part.Key.Kind != diagnosis.PartVisit {
			continue
		}
		usual, known := p.profile.Usual(part.Key)
		if !known || part.Value <= usual {
			continue
		}
		service := part.Key.Service
		if slices.Contains(kept, service) || !p.saturation.Reports(service) {
			continue // counted once; or no CPU report to wait for
		}
		kept = append(kept, service)
		s := &spans[part.Span]
		p.slowVisits.Add(service, slowvisit.Visit{
			TraceID: id, SpanID: s.ID, Operation: part.Key.Operation,
			Start: start, End: end, At: time.Unix(0, s.End),
			Took: part.Value, Usual: usual,
			Callers: p.diagnoser.Callers(spans, int(part.Span)),
		})
	}
}

// blameSaturated records, each as a trace of an incident of its service, the
// kept slow visits that a CPU report describes at the service's limit,
// risen there from below it: the requests its CPU starvation slowed. A pod's
// report describes the time since its previous one, so it comes after the
// traces it explains were decided; visits no report explains are forgotten
// once every report that may describe their time came, or after
// maxReportWait without one. The
// reports of event time asOf or before count: now in the decision loop, so
// that the metrics' batching does not matter; every report received at
// shutdown, when no more will come.
func (p *sharedProcessor) blameSaturated(ctx context.Context, now, asOf time.Time) {
	blamed := p.slowVisits.Settle(func(service string, v *slowvisit.Visit) slowvisit.Judgment {
		_, _, found, decided := p.saturation.RoseNear(service, v.At, asOf)
		switch {
		case found:
			return slowvisit.Blame
		case decided || now.Sub(v.At) > maxReportWait:
			return slowvisit.Forget
		}
		return slowvisit.Wait
	})
	if n := p.slowVisits.TakeForgotten(); n > 0 {
		p.telemetry.ProcessorRootcauseCacheEvictions.Add(ctx, n, p.attrs.cache["slow_visits"])
	}
	for _, service := range slices.Sorted(maps.Keys(blamed)) {
		for _, v := range blamed[service] {
			note, _ := p.cpuNote(service, v.At, asOf)
			obs := incident.Observation{
				TraceID: v.TraceID, CulpritSpanID: v.SpanID, Start: v.Start, End: v.End,
				Kind: diagnosis.KindLatency, CulpritService: service, CulpritOperation: v.Operation,
				Reason:  diagnosis.SlowVisitReason(v.Operation, v.Took, v.Usual) + note,
				Callers: v.Callers, Affected: []string{service},
				Candidates: []diagnosis.Candidate{{
					Name: service, Score: 1,
					Evidence: diagnosis.EvidenceOrigin | diagnosis.EvidenceSlow | diagnosis.EvidenceSaturated,
				}},
			}
			if p.cfg.Mode == ModeShard {
				p.recordVerdict(now, nil, obs)
			} else {
				p.store.Record(now, obs)
			}
		}
	}
}
