package incidentpageexporter // import "github.com/otelcol-rca/otelcol-rca/exporter/incidentpageexporter"

import (
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/incidentrecord"
)

// Incident is what the page and its JSON API show of an incident.
type Incident struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	// Standing: a service failing since the collector started, not judged
	// a change yet (shown, not alerted).
	Standing    bool        `json:"standing,omitempty"`
	Kind        string      `json:"kind"`
	Service     string      `json:"culprit_service"`
	Operation   string      `json:"culprit_operation,omitempty"`
	Dependency  string      `json:"culprit_dependency,omitempty"`
	Reason      string      `json:"reason"`
	Confidence  float64     `json:"confidence"`
	TraceCount  int64       `json:"trace_count"`
	Share       float64     `json:"traffic_share"`
	Candidates  []Candidate `json:"candidates"`
	Affected    []string    `json:"affected_services"`
	Evidence    []string    `json:"evidence_logs"`
	TraceIDs    []string    `json:"trace_ids"`
	WindowStart time.Time   `json:"window_start"`
	WindowEnd   time.Time   `json:"window_end"`
	Timeline    []Event     `json:"timeline"`
	Samples     []Trace     `json:"sample_traces"`
}

// Candidate is a ranked suspect.
type Candidate struct {
	Name     string  `json:"name"`
	Score    float64 `json:"score"`
	Evidence string  `json:"evidence,omitempty"`
}

// Event is a record of the incident: when it opened, grew, resolved.
type Event struct {
	At         time.Time `json:"at"`
	Status     string    `json:"status"`
	TraceCount int64     `json:"trace_count"`
}

// Trace is a sample trace of an incident, for its waterfall.
type Trace struct {
	TraceID string `json:"trace_id"`
	Spans   []Span `json:"spans"`
}

// Span is a span of a sample trace.
type Span struct {
	SpanID   string    `json:"span_id"`
	ParentID string    `json:"parent_span_id,omitempty"`
	Service  string    `json:"service"`
	Name     string    `json:"name"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Error    bool      `json:"error,omitempty"`
	Culprit  bool      `json:"culprit,omitempty"`
	Depth    int       `json:"depth"`
}

// store owns the incidents the page shows: at most max, the oldest
// forgotten first; each keeps at most samples sample traces.
type store struct {
	mu        sync.Mutex
	max       int
	samples   int
	maxSpans  int
	incidents map[string]*Incident
	order     []string // by first record
	// pending are the anomalous traces no record named yet, oldest first,
	// by their culprit service (in pendingOrder, oldest first): decided
	// before their incident was published, they name its culprit only.
	pending      map[string][]Trace
	pendingOrder []string
	// listed are the trace IDs the latest record of each incident lists
	// that have not arrived yet: the record and its newest traces leave the
	// processor together and may come in either order.
	listed map[string]*Incident
}

func newStore(cfg *Config) *store {
	return &store{
		max: cfg.MaxIncidents, samples: cfg.Samples, maxSpans: cfg.MaxSpans,
		incidents: map[string]*Incident{}, listed: map[string]*Incident{}, pending: map[string][]Trace{},
	}
}

// addRecords reads the incident records of ld; other records are not the
// page's. It returns the records without an incident ID (dropped).
func (s *store) addRecords(ld plog.Logs) (malformed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for rec, err := range incidentrecord.All(ld) {
		if err != nil {
			malformed++
			continue
		}
		s.addRecord(rec)
	}
	return malformed
}

func (s *store) addRecord(r incidentrecord.Record) {
	in := s.incidents[r.ID]
	if in == nil {
		in = &Incident{ID: r.ID}
		s.incidents[r.ID] = in
		s.order = append(s.order, r.ID)
		if len(s.order) > s.max {
			s.unlist(s.incidents[s.order[0]])
			delete(s.incidents, s.order[0])
			s.order = slices.Delete(s.order, 0, 1)
		}
	}
	s.unlist(in)
	in.Status, in.Kind, in.Standing = r.Status, r.Kind, r.Standing
	in.Service, in.Operation, in.Dependency = r.Service, r.Operation, r.Dependency
	in.Reason, in.Confidence, in.Share, in.TraceCount = r.Reason, r.Confidence, r.Share, r.TraceCount
	in.Affected, in.Evidence, in.TraceIDs = r.Affected, r.Evidence, r.TraceIDs
	in.Candidates = nil
	for _, c := range r.Candidates {
		in.Candidates = append(in.Candidates, Candidate{Name: c.Name, Score: c.Score, Evidence: c.Evidence})
	}
	in.WindowStart, in.WindowEnd = r.WindowStart, r.WindowEnd
	in.Timeline = append(in.Timeline, Event{At: r.At, Status: r.Status, TraceCount: r.TraceCount})
	s.adoptPending(in)
}

// addTraces keeps the sample traces of the incidents: a trace whose root
// the processor tagged with an incident's ID (decided once the incident was
// published) joins it at once; an anomalous trace decided before (its root
// names a culprit only) waits among the latest ones until a record of its
// incident lists it in rca.trace_ids, or joins at once when the record came
// first. The processor forwards a decided trace whole, so all of its spans
// are in the batch.
func (s *store) addTraces(td ptrace.Traces) {
	s.mu.Lock()
	defer s.mu.Unlock()
	incidentOf := map[pcommon.TraceID]*Incident{}
	anomalous := map[pcommon.TraceID]string{} // → culprit service
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				if !sp.ParentSpanID().IsEmpty() {
					continue
				}
				if v, ok := sp.Attributes().Get(incidentrecord.AttrID); ok {
					if in := s.incidents[v.Str()]; in != nil && len(in.Samples) < s.samples {
						incidentOf[sp.TraceID()] = in
					}
				} else if culprit, ok := sp.Attributes().Get(incidentrecord.AttrCulpritService); ok && s.samples > 0 {
					if in := s.listed[sp.TraceID().String()]; in != nil {
						delete(s.listed, sp.TraceID().String())
						if len(in.Samples) < s.samples {
							incidentOf[sp.TraceID()] = in
						}
					} else {
						anomalous[sp.TraceID()] = culprit.Str()
					}
				}
			}
		}
	}
	if len(incidentOf) == 0 && len(anomalous) == 0 {
		return
	}
	spans := map[pcommon.TraceID][]Span{}
	for _, rs := range td.ResourceSpans().All() {
		service := ""
		if v, ok := rs.Resource().Attributes().Get("service.name"); ok {
			service = v.AsString()
		}
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				id := sp.TraceID()
				if _, waiting := anomalous[id]; incidentOf[id] == nil && !waiting || len(spans[id]) >= s.maxSpans {
					continue
				}
				culprit, _ := sp.Attributes().Get(incidentrecord.AttrCulprit)
				span := Span{
					SpanID: sp.SpanID().String(), Service: service, Name: sp.Name(),
					Start: sp.StartTimestamp().AsTime(), End: sp.EndTimestamp().AsTime(),
					Error: sp.Status().Code() == ptrace.StatusCodeError, Culprit: culprit.Bool(),
				}
				if !sp.ParentSpanID().IsEmpty() {
					span.ParentID = sp.ParentSpanID().String()
				}
				spans[id] = append(spans[id], span)
			}
		}
	}
	for id, in := range incidentOf {
		in.addSample(Trace{TraceID: id.String(), Spans: waterfall(spans[id])}, s.samples)
	}
	for id, culprit := range anomalous {
		s.keepPending(culprit, Trace{TraceID: id.String(), Spans: waterfall(spans[id])})
	}
}

// maxPending bounds the anomalous traces waiting for their incident's
// record, per culprit service: the latest ones, which the record lists
// among its samples. The services waiting are bounded by the incidents
// the page keeps.
const maxPending = 16

func (s *store) keepPending(culprit string, t Trace) {
	list, ok := s.pending[culprit]
	if !ok {
		if len(s.pendingOrder) >= max(1, s.max) {
			delete(s.pending, s.pendingOrder[0])
			s.pendingOrder = slices.Delete(s.pendingOrder, 0, 1)
		}
		s.pendingOrder = append(s.pendingOrder, culprit)
	}
	if len(list) == maxPending {
		list = slices.Delete(list, 0, 1)
	}
	s.pending[culprit] = append(list, t)
}

// adoptPending moves the waiting traces that in's record lists to its
// samples, and expects the others while in still has room.
func (s *store) adoptPending(in *Incident) {
	list := s.pending[in.Service]
	for _, id := range in.TraceIDs {
		if i := slices.IndexFunc(list, func(t Trace) bool { return t.TraceID == id }); i >= 0 {
			in.addSample(list[i], s.samples)
			list = slices.Delete(list, i, i+1)
		} else if len(in.Samples) < s.samples && !slices.ContainsFunc(in.Samples, func(t Trace) bool { return t.TraceID == id }) {
			s.listed[id] = in
		}
	}
	// An incident published late (after its fault, once its culprit's change
	// held) may list only traces that left the processor long before and
	// are no longer waiting here; the newest still waiting with its culprit
	// is its trace too (decided before the incident was published, it names
	// its culprit only): a page never shows an incident without a sample
	// while one of its traces has come.
	if len(in.Samples) == 0 && len(list) > 0 {
		in.addSample(list[len(list)-1], s.samples)
		list = list[:len(list)-1]
	}
	if len(list) > 0 {
		s.pending[in.Service] = list
	} else if _, ok := s.pending[in.Service]; ok {
		delete(s.pending, in.Service)
		s.pendingOrder = slices.DeleteFunc(s.pendingOrder, func(svc string) bool { return svc == in.Service })
	}
}

// unlist forgets the traces in's previous record listed: a newer record
// lists its own, so listed holds at most one record's IDs per incident.
func (s *store) unlist(in *Incident) {
	for _, id := range in.TraceIDs {
		if s.listed[id] == in {
			delete(s.listed, id)
		}
	}
}

func (in *Incident) addSample(t Trace, max int) {
	if len(in.Samples) < max && !slices.ContainsFunc(in.Samples, func(s Trace) bool { return s.TraceID == t.TraceID }) {
		in.Samples = append(in.Samples, t)
	}
}

// waterfall orders a trace's spans depth-first from its roots, children by
// start time, and sets their depth: the order a waterfall draws them in.
func waterfall(spans []Span) []Span {
	children := map[string][]int{}
	ids := map[string]bool{}
	for _, sp := range spans {
		ids[sp.SpanID] = true
	}
	var roots []int
	for i, sp := range spans {
		if sp.ParentID == "" || !ids[sp.ParentID] {
			roots = append(roots, i)
		} else {
			children[sp.ParentID] = append(children[sp.ParentID], i)
		}
	}
	byStart := func(a, b int) int { return spans[a].Start.Compare(spans[b].Start) }
	slices.SortFunc(roots, byStart)
	out := make([]Span, 0, len(spans))
	seen := map[int]bool{}
	var walk func(i, depth int)
	walk = func(i, depth int) {
		if seen[i] {
			return // a cycle in bad data
		}
		seen[i] = true
		sp := spans[i]
		sp.Depth = depth
		out = append(out, sp)
		kids := children[sp.SpanID]
		slices.SortFunc(kids, byStart)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	return out
}

// list returns the incidents, newest first.
func (s *store) list() []Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Incident, 0, len(s.order))
	for i := len(s.order) - 1; i >= 0; i-- {
		out = append(out, s.copyOf(s.incidents[s.order[i]]))
	}
	return out
}

func (s *store) get(id string) (Incident, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.incidents[id]
	if in == nil {
		return Incident{}, false
	}
	return s.copyOf(in), true
}

// copyOf copies an incident out of the lock; its slices are replaced, never
// modified in place, except Candidates, Timeline and Samples, copied here.
func (s *store) copyOf(in *Incident) Incident {
	c := *in
	c.Candidates = slices.Clone(in.Candidates)
	c.Timeline = slices.Clone(in.Timeline)
	c.Samples = slices.Clone(in.Samples)
	return c
}
