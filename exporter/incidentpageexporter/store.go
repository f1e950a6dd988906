package incidentpageexporter // import "github.com/otelcol-rca/otelcol-rca/exporter/incidentpageexporter"

import (
	"encoding/hex"
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
// forgotten first; each shows at most samples sample traces.
type store struct {
	mu        sync.Mutex
	max       int
	samples   int
	maxSpans  int
	incidents map[string]*incident
	order     []string // by first record
	// traces are the anomalous traces kept: waiting among the latest of
	// their culprit's, or shown as an incident's sample, or both.
	traces map[pcommon.TraceID]*kept
	// recent are the latest anomalous traces by the culprit service they
	// name, oldest first (the services in recentOrder, oldest first).
	recent      map[string][]*kept
	recentOrder []string
	// listed are the trace IDs the latest record of each incident lists
	// that have not come yet: the record and its newest traces leave the
	// processor together, in two pipelines, and may come in either order.
	listed map[pcommon.TraceID]*incident
}

// incident is an incident as the store keeps it: its samples are built
// into Incident.Samples when it is read.
type incident struct {
	Incident
	samples []*kept
}

// kept is an anomalous trace: the spans of it that came, in whichever
// batches they came, and what the processor tagged it with.
type kept struct {
	id pcommon.TraceID
	// incident is the incident ID it was tagged with, "" when it was
	// decided before its incident was published (it names its culprit only).
	incident string
	culprit  string
	spans    []Span
	waiting  bool // among recent
	shown    int  // the incidents it is a sample of
}

func newStore(cfg *Config) *store {
	return &store{
		max: cfg.MaxIncidents, samples: cfg.Samples, maxSpans: cfg.MaxSpans,
		incidents: map[string]*incident{}, traces: map[pcommon.TraceID]*kept{},
		recent: map[string][]*kept{}, listed: map[pcommon.TraceID]*incident{},
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
		in = &incident{Incident: Incident{ID: r.ID}}
		s.incidents[r.ID] = in
		s.order = append(s.order, r.ID)
		if len(s.order) > s.max {
			s.forget(s.incidents[s.order[0]])
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
	s.adopt(in)
}

// addTraces keeps the anomalous traces of td, whole: the processor tags one
// span of each (its root, or its top span when the root had not come) with
// the culprit service, and with the incident ID once the incident is
// published. A trace tagged with a known incident's ID is its sample at
// once, as is a trace the incident's record listed before it came; every
// one waits among the latest of its culprit's for a record that lists it or
// names its culprit. Spans of a kept trace that come in a later batch (a
// late root, a trace a batch split) join it.
func (s *store) addTraces(td ptrace.Traces) {
	if s.samples == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var fresh []*kept
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				culprit, ok := sp.Attributes().Get(incidentrecord.AttrCulpritService)
				if !ok || s.traces[sp.TraceID()] != nil {
					continue
				}
				k := &kept{id: sp.TraceID(), culprit: culprit.Str()}
				if id, ok := sp.Attributes().Get(incidentrecord.AttrID); ok {
					k.incident = id.Str()
				}
				s.traces[k.id] = k
				fresh = append(fresh, k)
			}
		}
	}
	if len(s.traces) == 0 {
		return
	}
	for _, rs := range td.ResourceSpans().All() {
		service := ""
		if v, ok := rs.Resource().Attributes().Get("service.name"); ok {
			service = v.AsString()
		}
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				k := s.traces[sp.TraceID()]
				if k == nil || len(k.spans) >= s.maxSpans {
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
				k.spans = append(k.spans, span)
			}
		}
	}
	for _, k := range fresh {
		if in := s.incidents[k.incident]; in != nil {
			s.show(in, k)
		}
		if in := s.listed[k.id]; in != nil {
			delete(s.listed, k.id)
			s.show(in, k)
		}
		s.wait(k)
	}
}

// maxRecent bounds the latest anomalous traces kept per culprit service,
// for the records to come: the newest ones, which a record lists among its
// samples. The services are bounded by the incidents the page keeps.
const maxRecent = 16

// wait keeps k among the latest traces naming its culprit.
func (s *store) wait(k *kept) {
	list, ok := s.recent[k.culprit]
	if !ok {
		if len(s.recentOrder) >= max(1, s.max) {
			for _, old := range s.recent[s.recentOrder[0]] {
				s.release(old)
			}
			delete(s.recent, s.recentOrder[0])
			s.recentOrder = slices.Delete(s.recentOrder, 0, 1)
		}
		s.recentOrder = append(s.recentOrder, k.culprit)
	}
	if len(list) == maxRecent {
		s.release(list[0])
		list = slices.Delete(list, 0, 1)
	}
	k.waiting = true
	s.recent[k.culprit] = append(list, k)
}

// release takes old out of the latest traces; it is forgotten unless an
// incident shows it.
func (s *store) release(old *kept) {
	old.waiting = false
	if old.shown == 0 {
		delete(s.traces, old.id)
	}
}

// show makes k a sample of in, while in has room.
func (s *store) show(in *incident, k *kept) {
	if len(in.samples) < s.samples && !slices.Contains(in.samples, k) {
		in.samples = append(in.samples, k)
		k.shown++
	}
}

// adopt gives in, on a record, the samples that came before it: the traces
// tagged with its ID, then those its record lists, whatever culprit they
// name; it expects the others listed while it has room. When none of its
// traces is kept (an incident published late lists traces that came long
// before, no longer among the latest), its sample is the newest trace that
// names its culprit and belongs to no other incident (neither tagged with
// nor shown by one), one with its culprit span marked first: the page shows
// no published incident without a sample while such a trace is kept.
func (s *store) adopt(in *incident) {
	for _, svc := range s.recentOrder {
		for _, k := range s.recent[svc] {
			if k.incident == in.ID {
				s.show(in, k)
			}
		}
	}
	for _, text := range in.TraceIDs {
		id, ok := parseTraceID(text)
		if !ok {
			continue
		}
		if k := s.traces[id]; k != nil {
			s.show(in, k)
		} else if len(in.samples) < s.samples {
			s.listed[id] = in
		}
	}
	if len(in.samples) > 0 || s.samples == 0 {
		return
	}
	var newest *kept
	list := s.recent[in.Service]
	for i := len(list) - 1; i >= 0; i-- {
		k := list[i]
		if k.incident != "" && k.incident != in.ID || k.shown > 0 {
			continue // another incident's
		}
		if slices.ContainsFunc(k.spans, func(sp Span) bool { return sp.Culprit }) {
			newest = k
			break
		}
		if newest == nil {
			newest = k
		}
	}
	if newest != nil {
		s.show(in, newest)
	}
}

func parseTraceID(text string) (pcommon.TraceID, bool) {
	var id pcommon.TraceID
	if hex.DecodedLen(len(text)) != len(id) {
		return id, false
	}
	_, err := hex.Decode(id[:], []byte(text))
	return id, err == nil
}

// unlist forgets the traces in's previous record listed: a newer record
// lists its own, so listed holds at most one record's IDs per incident.
func (s *store) unlist(in *incident) {
	for _, text := range in.TraceIDs {
		if id, ok := parseTraceID(text); ok && s.listed[id] == in {
			delete(s.listed, id)
		}
	}
}

// forget drops in and the samples only it shows.
func (s *store) forget(in *incident) {
	s.unlist(in)
	for _, k := range in.samples {
		k.shown--
		if k.shown == 0 && !k.waiting {
			delete(s.traces, k.id)
		}
	}
	delete(s.incidents, in.ID)
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

// copyOf copies an incident out of the lock, with its samples' waterfalls;
// its slices are replaced, never modified in place, except Candidates and
// Timeline, copied here.
func (s *store) copyOf(in *incident) Incident {
	c := in.Incident
	c.Candidates = slices.Clone(in.Candidates)
	c.Timeline = slices.Clone(in.Timeline)
	c.Samples = make([]Trace, 0, len(in.samples))
	for _, k := range in.samples {
		c.Samples = append(c.Samples, Trace{TraceID: k.id.String(), Spans: waterfall(k.spans)})
	}
	return c
}
