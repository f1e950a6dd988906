package rootcauseprocessor // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor"

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/incidentrecord"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/assembly"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/attrvalue"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/baseline"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/diagnosis"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/exemplar"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/incident"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/loglink"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/logtemplate"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/profile"
)

// baselineHalfLife halves a baseline's history every so many observations so
// that it follows slow drifts without forgetting quickly.
const baselineHalfLife = 10_000

// Span attributes the processor sets on anomalous traces.
const (
	attrIncidentID       = incidentrecord.AttrID
	attrCulpritService   = incidentrecord.AttrCulpritService
	attrCulpritOperation = incidentrecord.AttrCulpritOperation
	attrCulprit          = incidentrecord.AttrCulprit
)

// traceScratch is reused across decisions to keep them allocation-light.
type traceScratch struct {
	spans    []diagnosis.Span
	handles  []ptrace.Span
	services []string
	// slowVisits are the visits keepSlowVisits keeps of the trace.
	slowVisits []slowVisit
	// pathServices are the services with a span of the trace waiting for
	// its operation's change of path.
	pathServices []string
}

// traceServices lists the distinct services of a trace's spans, in buf.
func traceServices(spans []diagnosis.Span, buf *[]string) []string {
	out := (*buf)[:0]
	for i := range spans {
		if svc := spans[i].Service; svc != "" && !slices.Contains(out, svc) {
			out = append(out, svc)
		}
	}
	*buf = out
	return out
}

// decision is an anomalous trace's outcome, applied to its late spans and
// its logs too.
type decision struct {
	// The incident ID (empty while unpublished) and the culprit service.
	loglink.Decision
	operation string
}

// forLogs is what the trace's log records are tagged with; nil for a
// normal trace.
func (d *decision) forLogs() *loglink.Decision {
	if d == nil {
		return nil
	}
	return &d.Decision
}

// TagLate tags a late root span like the trace's root.
func (d *decision) TagLate(s ptrace.Span) {
	if s.ParentSpanID().IsEmpty() {
		d.tagRoot(s)
	}
}

func (d *decision) tagRoot(s ptrace.Span) {
	a := s.Attributes()
	// A trace of an incident not published yet names its culprit only.
	if d.IncidentID != "" {
		a.PutStr(attrIncidentID, d.IncidentID)
	}
	a.PutStr(attrCulpritService, d.Culprit)
	a.PutStr(attrCulpritOperation, d.operation)
}

// decide diagnoses a trace, tags it when anomalous and feeds the baselines
// when normal. It returns the decision for late spans, nil for normal traces.
func (p *sharedProcessor) decide(ctx context.Context, now time.Time, tr *assembly.Trace) *decision {
	sc := &p.scratch
	sc.spans, sc.handles = extract(tr.Data, sc.spans[:0], sc.handles[:0])
	for i := range sc.spans {
		s := &sc.spans[i]
		s.Name = p.operations.Name(s.Service, s.Name)
	}
	if n := p.operations.TakeFolded(); n > 0 {
		p.telemetry.ProcessorRootcauseCacheEvictions.Add(ctx, n, p.attrs.cache["operation_names"])
	}
	logs, patterns := p.evidence.Take(tr.ID)
	for i := range sc.spans {
		s := &sc.spans[i]
		if ids := patterns[s.ID]; len(ids) > 0 || p.evidence.WroteNothing(s.Service, s.Start, s.End, p.cfg.DecisionWait) {
			s.Pattern = patternOf(ids)
		}
	}
	v := p.diagnoser.Diagnose(sc.spans, logs, baselineView{p, p.profile})
	p.recordProblems(ctx, v.Problems)
	p.telemetry.ProcessorRootcauseTracesDiagnosed.Add(ctx, 1, p.attrs.verdict[v.Kind])
	defer clear(sc.handles) // do not keep the forwarded spans alive
	services := traceServices(sc.spans, &sc.services)
	if p.cfg.Mode == ModeShard {
		p.stream.seen(services, !v.Anomalous)
	} else {
		p.store.Seen(now, services, sc.spans, !v.Anomalous)
	}
	if v.Root < 0 {
		return nil // no span left to judge
	}
	root := &sc.spans[v.Root]
	start, end := traceWindow(root.Start, root.End, now, p.cfg.MaxClockSkew)
	p.keepSlowVisits(now, tr.ID, &v, start, end)
	p.keepUnusualPaths(ctx, now, tr.ID, &v, start, end, patterns)
	p.profile.ObserveTrace(end, services)
	for i := range sc.spans {
		if s := &sc.spans[i]; s.Pattern != 0 {
			p.profile.ObservePattern(end, s.Service, s.Entry, s.Name, s.Pattern, patterns[s.ID])
		}
	}
	if len(v.Parts) > 0 {
		p.profile.Observe(end, v.Parts, v.Blames, v.Anomalous)
		if n := p.profile.TakeRejected(); n > 0 {
			p.telemetry.ProcessorRootcauseCacheEvictions.Add(ctx, n, p.attrs.cache["baselines"])
		}
	}
	if !v.Anomalous {
		for i := range sc.spans {
			if s := &sc.spans[i]; v.Exclusive[i] >= 0 {
				p.baselines.Observe(baseline.Key{Service: s.Service, Operation: s.Name}, time.Duration(max(0, s.End-s.Start)), v.Exclusive[i])
			}
		}
		if n := p.baselines.TakeForgotten(); n > 0 {
			p.telemetry.ProcessorRootcauseCacheEvictions.Add(ctx, n, p.attrs.cache["baselines"])
		}
		return nil
	}
	// A failure the culprit logs at its usual rate, in a request it did not
	// slow and no other service slowed, is what the service always does: it
	// joins an incident, never makes one. Judged at now, the window the
	// publication gate judges, which holds every decided trace's end.
	chronic := false
	if v.Kind == diagnosis.KindError {
		template, _ := p.templates.Template(v.ErrorText)
		p.profile.ObserveError(end, v.CulpritService, template)
		if n := p.templates.TakeRejected(); n > 0 {
			p.telemetry.ProcessorRootcauseCacheEvictions.Add(ctx, n, p.attrs.cache["baselines"])
		}
		chronic = v.Slow.Culprit < 0 && !v.Slowed(v.CulpritService) && !p.profile.TemplateSurging(v.CulpritService, template, now)
	}
	if v.NewPattern {
		v.Reason = p.newPatternReason(v.CulpritOperation, patterns[sc.spans[v.Culprit].ID])
	}
	if v.Kind == diagnosis.KindLatency {
		note, risen := p.cpuNote(v.CulpritService, end, now)
		v.Reason += note
		if risen {
			markSaturated(v.Candidates, v.CulpritService)
		}
	}
	slowNote, slowRisen := p.cpuNote(v.Slow.Service, end, now)
	v.Slow.Reason += slowNote
	obs := incident.Observation{
		TraceID:          tr.ID,
		Start:            start,
		End:              end,
		Kind:             v.Kind,
		CulpritService:   v.CulpritService,
		CulpritOperation: v.CulpritOperation,
		Dependency:       v.Dependency,
		Reason:           v.Reason,
		ReasonFromLogs:   v.ReasonFromLogs,
		Affected:         v.Affected,
		Callers:          v.Callers,
		Evidence:         v.Evidence,
		Candidates:       v.Candidates, // read, not kept, by the store
		Chronic:          chronic,
	}
	if v.Culprit >= 0 {
		obs.CulpritSpanID = sc.spans[v.Culprit].ID
	}
	var also []incident.Observation
	if sl := v.Slow; sl.Culprit >= 0 {
		slow := obs
		slow.Kind = diagnosis.KindLatency
		slow.CulpritService, slow.CulpritOperation, slow.Dependency = sl.Service, sl.Operation, ""
		slow.Reason, slow.ReasonFromLogs, slow.Evidence = sl.Reason, false, nil
		slow.Callers = sl.Callers
		// The delay is a symptom only of a service that could have caused it.
		slow.Affected = sl.Delayed
		slow.CulpritSpanID = sc.spans[sl.Culprit].ID
		slow.Chronic = false // a delay is never a usual error
		slow.Candidates = []diagnosis.Candidate{{Name: sl.Service, Score: 1, Evidence: diagnosis.EvidenceOrigin | diagnosis.EvidenceSlow}}
		if slowRisen {
			markSaturated(slow.Candidates, sl.Service)
		}
		also = append(also, slow)
	}
	d := &decision{Decision: loglink.Decision{Culprit: v.CulpritService}, operation: v.CulpritOperation}
	// After Diagnose, which gave the spans sent without a kind theirs.
	path := exemplar.PathOf(tr.ID, sc.spans, sc.handles, v.Root, v.Culprit)
	if p.cfg.Mode == ModeShard {
		// The stage keeps the incidents; the trace names its culprit only.
		p.recordVerdict(now, path, obs, also...)
	} else {
		id, published := p.store.Record(now, obs, also...)
		if published {
			d.IncidentID = id
		}
		if path != nil && id != "" { // a chronic failure in no incident is no exemplar
			p.exemplars.Add(now, tr.ID, id, path)
		}
	}
	d.tagRoot(sc.handles[v.Root])
	if v.Culprit >= 0 {
		sc.handles[v.Culprit].Attributes().PutBool(attrCulprit, true)
	}
	return d
}

// traceWindow is the time span a trace gives its incident: its root span,
// repaired when the timestamps cannot be right (zero, beyond the clock skew
// the event-time clock accepts, or ending before they start), so that one bad
// span never dates an incident in 1677 or in 2262.
func traceWindow(start, end int64, now time.Time, skew time.Duration) (time.Time, time.Time) {
	limit := now.Add(skew).UnixNano()
	if start <= 0 || start > limit {
		start = now.UnixNano()
	}
	if end < start || end > limit {
		end = max(start, min(end, limit))
	}
	return time.Unix(0, start).UTC(), time.Unix(0, end).UTC()
}

func (p *sharedProcessor) recordProblems(ctx context.Context, pr diagnosis.Problems) {
	for i, n := range [...]int{pr.ZeroSpanID, pr.DuplicateID, pr.Orphans, pr.Cycles, pr.OutsideParent, pr.ExtraRoots} {
		if n > 0 {
			p.telemetry.ProcessorRootcauseSpanProblems.Add(ctx, int64(n), p.attrs.problems[i])
		}
	}
}

// baselineView answers the diagnosis from the configured objectives first,
// then from the learned baselines.
type baselineView struct {
	p *sharedProcessor
	*profile.Profile
}

func (b baselineView) Threshold(service, operation string) (time.Duration, bool) {
	if len(b.p.objectives) > 0 {
		if d, ok := b.p.objectives[baseline.Key{Service: service, Operation: operation}]; ok {
			return d, true
		}
		if d, ok := b.p.objectives[baseline.Key{Service: service}]; ok {
			return d, true
		}
	}
	return b.p.baselines.Threshold(baseline.Key{Service: service, Operation: operation})
}

// baselineView is the diagnosis' reference too, through the profile.
var _ diagnosis.Reference = baselineView{}

func (b baselineView) Typical(service, operation string) (time.Duration, bool) {
	return b.p.baselines.Typical(baseline.Key{Service: service, Operation: operation})
}

// extract reads the spans of td for the diagnosis, with handles to tag them.
func extract(td ptrace.Traces, spans []diagnosis.Span, handles []ptrace.Span) ([]diagnosis.Span, []ptrace.Span) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		service := ""
		if v, ok := rs.Resource().Attributes().Get("service.name"); ok {
			service = v.Str()
		}
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j).Spans()
			for k := 0; k < ss.Len(); k++ {
				s := ss.At(k)
				spans = append(spans, toSpan(s, service))
				handles = append(handles, s)
			}
		}
	}
	return spans, handles
}

func toSpan(s ptrace.Span, service string) diagnosis.Span {
	d := diagnosis.Span{
		ID:            s.SpanID(),
		Parent:        s.ParentSpanID(),
		Service:       service,
		Name:          s.Name(),
		Kind:          s.Kind(),
		Start:         int64(s.StartTimestamp()),
		End:           int64(s.EndTimestamp()),
		StatusError:   s.Status().Code() == ptrace.StatusCodeError,
		StatusOK:      s.Status().Code() == ptrace.StatusCodeOk,
		StatusMessage: s.Status().Message(),
	}
	for k, v := range s.Attributes().All() {
		switch k {
		case "http.response.status_code", "http.status_code":
			d.HTTPStatus = attrvalue.Int(v)
		case "rpc.grpc.status_code":
			d.GRPCStatus, d.HasGRPCStatus = attrvalue.Int(v), true
		case "error.type":
			d.ErrorType = v.AsString()
		case "peer.service":
			d.PeerService = v.Str()
		case "server.address":
			d.ServerAddress = v.Str()
		case "db.system.name", "db.system":
			d.DBSystem = v.Str()
		case "db.operation.name":
			d.DBOperation = v.Str()
		case "db.collection.name":
			d.DBCollection = v.Str()
		}
	}
	events := s.Events()
	for i := 0; i < events.Len(); i++ {
		e := events.At(i)
		if e.Name() != "exception" {
			continue
		}
		if m, ok := e.Attributes().Get("exception.message"); ok {
			d.Exceptions = append(d.Exceptions, m.AsString())
		}
	}
	return d
}

// patternOf identifies a span's set of log templates, whatever their order:
// an FNV-1a hash of the sorted IDs (of none, the offset basis: writing
// nothing is a path too). It sorts ids, which the evidence gives each
// decision afresh.
func patternOf(ids []logtemplate.ID) uint64 {
	slices.Sort(ids)
	h := uint64(14695981039346656037) // FNV-1a offset basis
	for _, id := range ids {
		for shift := 0; shift < 32; shift += 8 {
			h ^= uint64(byte(id >> shift))
			h *= 1099511628211 // FNV prime
		}
	}
	return max(1, h) // 0 is no pattern
}

// maxPatternReason bounds the templates a new-pattern reason quotes.
const maxPatternReason = 4

// newPatternReason says which path the operation took: the templates it
// logged, as a person can find them in the service's logs, or that it wrote
// none (a usual line it no longer writes).
func (p *sharedProcessor) newPatternReason(operation string, ids []logtemplate.ID) string {
	var b strings.Builder
	if len(ids) == 0 {
		return operation + " left its usual path: it wrote no log line"
	}
	b.WriteString(operation + " left its usual path; it logged: ")
	for i, id := range ids {
		if i == maxPatternReason {
			b.WriteString(" ...")
			break
		}
		if i > 0 {
			b.WriteString(" | ")
		}
		b.WriteString(p.templates.Text(id))
	}
	return b.String()
}

// cpuNote says, for a slow culprit at its CPU limit when its request ended
// (at), how close, and from which level it rose: the metric a person checks
// first for a CPU fault, and the change that makes it one (risen). "" when
// no report known at now puts it at its limit.
func (p *sharedProcessor) cpuNote(service string, at, now time.Time) (note string, risen bool) {
	if service == "" {
		return "", false
	}
	if u, before, found, _ := p.saturation.RoseNear(service, at, now); found {
		return cpuRoseNote(u, before), true
	}
	if u, ok := p.profile.Utilization(service); ok && profile.AtLimit(u) {
		return fmt.Sprintf("; its CPU at %.0f%% of its limit", 100*u), false
	}
	return "", false
}

// markSaturated adds the evidence of its CPU at its limit to the candidate
// named service.
func markSaturated(cs []diagnosis.Candidate, service string) {
	for i := range cs {
		if cs[i].Name == service {
			cs[i].Evidence |= diagnosis.EvidenceSaturated
		}
	}
}
