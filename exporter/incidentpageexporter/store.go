package incidentpageexporter // import "github.com/otelcol-rca/otelcol-rca/exporter/incidentpageexporter"

import (
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The rootcause processor's incident records and span tags (its README
// lists them).
const (
	incidentEventName = "rca.incident"
	attrID            = "rca.incident.id"
	attrCulprit       = "rca.culprit"
)

// Incident is what the page and its JSON API show of an incident.
type Incident struct {
	ID          string      `json:"id"`
	Status      string      `json:"status"`
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
	Name  string  `json:"name"`
	Score float64 `json:"score"`
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
}

func newStore(cfg *Config) *store {
	return &store{max: cfg.MaxIncidents, samples: cfg.Samples, maxSpans: cfg.MaxSpans, incidents: map[string]*Incident{}}
}

// addRecords reads the incident records of ld; other records are not the
// page's. It returns the records without an incident ID (dropped).
func (s *store) addRecords(ld plog.Logs) (malformed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				if lr.EventName() != incidentEventName {
					continue
				}
				if !s.addRecord(lr) {
					malformed++
				}
			}
		}
	}
	return malformed
}

func (s *store) addRecord(lr plog.LogRecord) bool {
	a := lr.Attributes()
	str := func(k string) string {
		if v, ok := a.Get(k); ok {
			return v.AsString()
		}
		return ""
	}
	strs := func(k string) []string {
		var out []string
		if v, ok := a.Get(k); ok && v.Type() == pcommon.ValueTypeSlice {
			for _, e := range v.Slice().All() {
				out = append(out, e.AsString())
			}
		}
		return out
	}
	num := func(k string) float64 {
		if v, ok := a.Get(k); ok {
			switch v.Type() {
			case pcommon.ValueTypeDouble:
				return v.Double()
			case pcommon.ValueTypeInt:
				return float64(v.Int())
			}
		}
		return 0
	}
	id := str(attrID)
	if id == "" {
		return false
	}
	in := s.incidents[id]
	if in == nil {
		in = &Incident{ID: id}
		s.incidents[id] = in
		s.order = append(s.order, id)
		if len(s.order) > s.max {
			delete(s.incidents, s.order[0])
			s.order = slices.Delete(s.order, 0, 1)
		}
	}
	in.Status, in.Kind = str("rca.incident.status"), str("rca.incident.kind")
	in.Service, in.Operation, in.Dependency = str("rca.culprit.service"), str("rca.culprit.operation"), str("rca.culprit.dependency")
	in.Reason, in.Confidence, in.Share = str("rca.reason"), num("rca.confidence"), num("rca.traffic_share")
	in.TraceCount = int64(num("rca.trace_count"))
	in.Affected, in.Evidence, in.TraceIDs = strs("rca.affected.services"), strs("rca.evidence.logs"), strs("rca.trace_ids")
	var scores pcommon.Slice
	if v, ok := a.Get("rca.candidate.scores"); ok && v.Type() == pcommon.ValueTypeSlice {
		scores = v.Slice()
	}
	in.Candidates = nil
	for i, c := range strs("rca.candidates") {
		cand := Candidate{Name: c}
		if i < scores.Len() {
			cand.Score = scores.At(i).Double()
		}
		in.Candidates = append(in.Candidates, cand)
	}
	in.WindowStart, _ = time.Parse(time.RFC3339Nano, str("rca.window.start"))
	in.WindowEnd, _ = time.Parse(time.RFC3339Nano, str("rca.window.end"))
	at := lr.Timestamp().AsTime()
	if lr.Timestamp() == 0 {
		at = lr.ObservedTimestamp().AsTime()
	}
	in.Timeline = append(in.Timeline, Event{At: at, Status: in.Status, TraceCount: in.TraceCount})
	return true
}

// addTraces keeps, for the incidents it knows, up to samples traces whose
// root the processor tagged with the incident's ID: all their spans of the
// batch (the processor forwards a decided trace whole).
func (s *store) addTraces(td ptrace.Traces) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wanted := map[pcommon.TraceID]*Incident{}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				v, ok := sp.Attributes().Get(attrID)
				if !ok || !sp.ParentSpanID().IsEmpty() {
					continue
				}
				if in := s.incidents[v.Str()]; in != nil && len(in.Samples) < s.samples {
					wanted[sp.TraceID()] = in
				}
			}
		}
	}
	if len(wanted) == 0 {
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
				if wanted[id] == nil || len(spans[id]) >= s.maxSpans {
					continue
				}
				culprit, _ := sp.Attributes().Get(attrCulprit)
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
	for id, in := range wanted {
		if len(in.Samples) < s.samples {
			in.Samples = append(in.Samples, Trace{TraceID: id.String(), Spans: waterfall(spans[id])})
		}
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
