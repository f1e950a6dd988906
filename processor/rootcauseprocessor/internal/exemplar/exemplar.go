// Package exemplar links the data points of latency and request metrics to
// the anomalous traces of published incidents, as exemplars: the Index keeps
// the incident traces an exemplar may point at, Link adds exemplars to a
// batch of metrics. Every exemplar points at a trace an incident record
// lists, of a service the metric describes, in the data point's time window.
package exemplar // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/exemplar"

import (
	"cmp"
	"hash/maphash"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/attrvalue"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/bounded"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/diagnosis"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/incident"
)

const (
	// maxExemplarTraces bounds the incident traces remembered for exemplars.
	maxExemplarTraces = 4096
	// maxStreams bounds the cumulative streams whose last timestamp is remembered, per metrics pipeline.
	maxStreams = 16_384
)

// spanRole is the part of a service's work a metric describes.
type spanRole uint8

const (
	roleServer spanRole = iota // the service's server span
	roleClient                 // an outgoing HTTP/RPC call
	roleDB                     // a database call
	numRoles
)

// metricRole maps a metric to the span it describes: http.server.* the
// server span, http.client.* the client span, db.client.* the database span,
// anything else (the service's own counters and histograms) the server span.
func metricRole(name string) spanRole {
	switch {
	case strings.HasPrefix(name, "http.client."), strings.HasPrefix(name, "rpc.client."):
		return roleClient
	case strings.HasPrefix(name, "db.client."):
		return roleDB
	default:
		return roleServer
	}
}

// exSpan is what an exemplar needs of one span of an incident trace.
type exSpan struct {
	trace    pcommon.TraceID
	id       pcommon.SpanID
	end, dur int64 // Unix nanoseconds, nanoseconds
	role     spanRole
	// top marks the service's main server span in the trace: the one on the
	// path to the culprit, else its earliest. Metrics without route use it.
	top bool
	// Attributes matched with the data point's; "" or 0 when the span lacks them.
	// server: route, method, status; client: server.address, peer.service;
	// database: db.operation.name, pool name.
	a1, a2 string
	status int64
}

// exTrace is an anomalous trace of an incident, kept for exemplars.
type exTrace struct {
	incident  string
	decided   time.Time // processing time
	published time.Time // processing time of the first incident record listing it; zero before
	spans     Path
}

// Snapshot is the immutable view the metrics path reads: per service and
// role, the spans of published incident traces, slowest first.
type Snapshot struct {
	byService map[string]*[numRoles][]exSpan
}

// Index keeps the anomalous traces that exemplars may point at. It is
// written by one goroutine at a time (the processor's decision loop) and read
// through Snapshot by any number.
type Index struct {
	traces   *bounded.FIFO[pcommon.TraceID, *exTrace]
	resolved map[string]time.Time // incident ID → processing time of its resolve record
	changed  bool
	evicted  bounded.Tally
	snap     atomic.Pointer[Snapshot]
}

// Snapshot returns the traces exemplars may point at now; nil when none.
func (x *Index) Snapshot() *Snapshot { return x.snap.Load() }

// TakeEvicted returns, and resets, the incident traces forgotten before they
// could be an exemplar.
func (x *Index) TakeEvicted() int64 { return x.evicted.Take() }

// NewIndex returns an empty Index.
func NewIndex() *Index {
	return &Index{traces: bounded.NewFIFO[pcommon.TraceID, *exTrace](maxExemplarTraces), resolved: map[string]time.Time{}}
}

// Path is what exemplars need of an anomalous trace: the spans of the
// services on the path from its root to its culprit, by service. A rootcause
// shard sends it to the incident stage in its verdicts (see Encode).
type Path map[string][]exSpan

// PathOf extracts a trace's Path. spans and handles are the trace's spans;
// culprit is the index of the culprit span, -1 when none. Only the services
// on the path from the root to the culprit (the culprit's service and its
// callers) are kept. It is nil when the trace has no span to start from.
func PathOf(traceID pcommon.TraceID, spans []diagnosis.Span, handles []ptrace.Span, root, culprit int) Path {
	start := culprit
	if start < 0 {
		start = root
	}
	if start < 0 {
		return nil
	}
	byID := make(map[pcommon.SpanID]int, len(spans))
	for i := range spans {
		byID[spans[i].ID] = i
	}
	// The culprit's ancestors; the topmost server span of each service on the path.
	onPath := map[string]int{}
	for i, steps := start, 0; i >= 0 && steps <= len(spans); steps++ {
		s := &spans[i]
		if _, ok := onPath[s.Service]; !ok {
			onPath[s.Service] = -1
		}
		if s.Kind == ptrace.SpanKindServer {
			onPath[s.Service] = i
		}
		p, ok := byID[s.Parent]
		if !ok || s.Parent.IsEmpty() {
			break
		}
		i = p
	}
	path := Path{}
	earliest := map[string]int{}
	for i := range spans {
		s := &spans[i]
		if _, ok := onPath[s.Service]; !ok || s.ID.IsEmpty() {
			continue
		}
		e := exSpan{trace: traceID, id: s.ID, end: s.End, dur: max(0, s.End-s.Start)}
		attrs := handles[i].Attributes()
		switch {
		case s.Kind == ptrace.SpanKindServer:
			e.a1 = attrvalue.Str(attrs, "http.route")
			e.a2 = attrvalue.Str(attrs, "http.request.method", "http.method")
			if e.a1 == "" && e.a2 != "" {
				// The span's own name: s.Name may be folded into "(other)".
				e.a1, _ = strings.CutPrefix(handles[i].Name(), e.a2+" ")
			}
			e.status, e.role = s.HTTPStatus, roleServer
			if j, ok := earliest[s.Service]; !ok || s.Start < spans[j].Start {
				earliest[s.Service] = i
			}
			e.top = onPath[s.Service] == i
		case s.Kind == ptrace.SpanKindClient && s.DBSystem != "":
			e.a1, e.role = s.DBOperation, roleDB
			e.a2 = attrvalue.Str(attrs, "db.client.connection.pool.name")
		case s.Kind == ptrace.SpanKindClient:
			e.a1, e.a2, e.role = s.ServerAddress, s.PeerService, roleClient
		default:
			continue
		}
		path[s.Service] = append(path[s.Service], e)
	}
	for svc, list := range path {
		if onPath[svc] >= 0 {
			continue
		}
		// No server span of the service on the path: its earliest one is the main one.
		if j, ok := earliest[svc]; ok {
			for k := range list {
				list[k].top = list[k].id == spans[j].ID
			}
		}
	}
	return path
}

// Add remembers an anomalous trace of an incident, by its Path.
func (x *Index) Add(now time.Time, traceID pcommon.TraceID, incidentID string, path Path) {
	t := &exTrace{incident: incidentID, decided: now, spans: path}
	if old, forgot := x.traces.Put(traceID, t); forgot {
		if old.published.IsZero() {
			x.evicted.Add(1)
		}
		x.changed = true
	}
}

// Publish makes the sample traces of emitted incident records eligible, so
// that every exemplar points at a trace listed in rca.trace_ids.
func (x *Index) Publish(now time.Time, events []incident.Incident) {
	for i := range events {
		ev := &events[i]
		if ev.Status == incident.StatusResolved {
			x.resolved[ev.ID] = now
		} else {
			delete(x.resolved, ev.ID)
		}
		for _, id := range ev.TraceIDs {
			if t, ok := x.traces.Get(id); ok && t.published.IsZero() {
				t.published = now
				x.changed = true
			}
		}
	}
}

// Expire forgets the traces that can no longer be an exemplar: published
// longer than keep ago, of an incident resolved longer than resolveAfter ago,
// or never published within unpublished (they left the sample), and rebuilds
// the snapshot when something changed.
func (x *Index) Expire(now time.Time, keep, resolveAfter, unpublished time.Duration) {
	x.traces.DeleteFunc(func(_ pcommon.TraceID, t *exTrace) bool {
		resolvedAt, resolved := x.resolved[t.incident]
		if t.published.IsZero() && now.Sub(t.decided) > unpublished ||
			!t.published.IsZero() && now.Sub(t.published) > keep ||
			resolved && now.Sub(resolvedAt) > resolveAfter {
			x.changed = !t.published.IsZero() || x.changed
			return true
		}
		return false
	})
	for id, at := range x.resolved {
		if now.Sub(at) > resolveAfter {
			delete(x.resolved, id)
		}
	}
	if !x.changed {
		return
	}
	x.changed = false
	snap := &Snapshot{byService: map[string]*[numRoles][]exSpan{}}
	for _, t := range x.traces.All() {
		if t.published.IsZero() {
			continue
		}
		for svc, list := range t.spans {
			roles := snap.byService[svc]
			if roles == nil {
				roles = new([numRoles][]exSpan)
				snap.byService[svc] = roles
			}
			for _, e := range list {
				roles[e.role] = append(roles[e.role], e)
			}
		}
	}
	for _, roles := range snap.byService {
		for r := range roles {
			slices.SortFunc(roles[r], func(a, b exSpan) int {
				return cmp.Or(cmp.Compare(b.dur, a.dur), cmp.Compare(b.end, a.end))
			})
		}
	}
	if len(snap.byService) == 0 {
		snap = nil
	}
	x.snap.Store(snap)
}

// Streams remembers the timestamp of the previous data point of each
// cumulative stream of one metrics pipeline, bounded by maxStreams.
type Streams struct {
	mu      sync.Mutex
	last    map[uint64]pcommon.Timestamp
	evicted bounded.Tally
}

var streamSeed = maphash.MakeSeed()

// NewStreams returns the stream timestamps of one metrics pipeline.
func NewStreams() *Streams { return &Streams{last: map[uint64]pcommon.Timestamp{}} }

// TakeEvicted returns, and resets, the streams forgotten by maxStreams.
func (s *Streams) TakeEvicted() int64 { return s.evicted.Take() }

// Link adds to the data points of md, of the services in snap, at most perPoint
// exemplars each pointing at the slowest matching incident spans of the data
// point's window (a cumulative point's window reaches back lookback at
// most), and returns how many it added.
func Link(snap *Snapshot, md pmetric.Metrics, perPoint int, lookback time.Duration, streams *Streams) int64 {
	var chosen [8]exSpan
	l := linker{snap: snap, max: perPoint, lookback: int64(lookback), streams: streams, chosen: chosen[:0]}
	l.hash.SetSeed(streamSeed)
	return l.link(md)
}

// swap records ts as the stream's latest timestamp and returns the previous one.
func (s *Streams) swap(key uint64, ts pcommon.Timestamp) (pcommon.Timestamp, bool) {
	prev, ok := s.last[key]
	if !ok && len(s.last) >= maxStreams {
		for k := range s.last {
			delete(s.last, k)
			s.evicted.Add(1)
			break
		}
	}
	s.last[key] = ts
	return prev, ok
}

// dataPoint is what exemplars need of a histogram, exponential histogram or sum data point.
type dataPoint interface {
	Attributes() pcommon.Map
	StartTimestamp() pcommon.Timestamp
	Timestamp() pcommon.Timestamp
	Exemplars() pmetric.ExemplarSlice
}

// linker adds exemplars pointing at incident traces to one batch of metrics.
type linker struct {
	snap     *Snapshot
	max      int
	lookback int64
	streams  *Streams
	locked   bool
	hash     maphash.Hash
	chosen   []exSpan
	added    int64
}

// metricLink is what the linker knows of the metric being processed.
type metricLink struct {
	service, name string
	role          spanRole
	httpServer    bool
	cumulative    bool
	// nsPerUnit converts a duration to the metric's unit; 0 when the unit is not a time.
	nsPerUnit float64
	cands     []exSpan
}

// timeUnits are the metric units whose exemplar value is the span's duration.
var timeUnits = map[string]float64{"s": 1e9, "ms": 1e6, "us": 1e3, "µs": 1e3, "μs": 1e3, "ns": 1}

// link adds exemplars to the data points of md that belong to services of
// open incidents and returns how many it added.
func (l *linker) link(md pmetric.Metrics) int64 {
	defer func() {
		if l.locked {
			l.streams.mu.Unlock()
			l.locked = false
		}
	}()
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		svc, ok := rm.Resource().Attributes().Get("service.name")
		if !ok || svc.Type() != pcommon.ValueTypeStr {
			continue
		}
		roles := l.snap.byService[svc.Str()]
		if roles == nil {
			continue
		}
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				l.metric(svc.Str(), roles, ms.At(k))
			}
		}
	}
	return l.added
}

func (l *linker) metric(service string, roles *[numRoles][]exSpan, m pmetric.Metric) {
	ml := metricLink{service: service, name: m.Name(), role: metricRole(m.Name())}
	ml.cands = roles[ml.role]
	if len(ml.cands) == 0 {
		return
	}
	ml.httpServer = strings.HasPrefix(ml.name, "http.server.")
	ml.nsPerUnit = timeUnits[m.Unit()]
	switch m.Type() {
	case pmetric.MetricTypeHistogram:
		h := m.Histogram()
		if ml.nsPerUnit == 0 {
			return // e.g. body sizes: the trace does not tell the value
		}
		ml.cumulative = h.AggregationTemporality() == pmetric.AggregationTemporalityCumulative
		dps := h.DataPoints()
		for i := 0; i < dps.Len(); i++ {
			linkPoint(l, &ml, dps.At(i), false)
		}
	case pmetric.MetricTypeExponentialHistogram:
		h := m.ExponentialHistogram()
		if ml.nsPerUnit == 0 {
			return
		}
		ml.cumulative = h.AggregationTemporality() == pmetric.AggregationTemporalityCumulative
		dps := h.DataPoints()
		for i := 0; i < dps.Len(); i++ {
			linkPoint(l, &ml, dps.At(i), false)
		}
	case pmetric.MetricTypeSum:
		s := m.Sum()
		if !s.IsMonotonic() {
			return // a level (active requests), not a count of events
		}
		ml.cumulative = s.AggregationTemporality() == pmetric.AggregationTemporalityCumulative
		dps := s.DataPoints()
		for i := 0; i < dps.Len(); i++ {
			dp := dps.At(i)
			linkPoint(l, &ml, dp, dp.ValueType() == pmetric.NumberDataPointValueTypeInt)
		}
	default:
	}
}

// window returns the interval (lo, hi] of span end times whose traces fit
// the data point: its own interval for delta; for cumulative, the lookback
// before its timestamp, widened to the previous data point of the stream.
func window[T dataPoint](l *linker, ml *metricLink, dp T) (lo, hi int64) {
	hi = int64(dp.Timestamp())
	if !ml.cumulative {
		return int64(dp.StartTimestamp()), hi
	}
	lo = hi - l.lookback
	h := &l.hash
	h.Reset()
	h.WriteString(ml.service)
	h.WriteByte(0)
	h.WriteString(ml.name)
	for k, v := range dp.Attributes().All() {
		h.WriteByte(0)
		h.WriteString(k)
		h.WriteByte(0)
		switch v.Type() {
		case pcommon.ValueTypeStr:
			h.WriteString(v.Str())
		case pcommon.ValueTypeInt:
			maphash.WriteComparable(h, v.Int())
		default:
			h.WriteString(v.AsString())
		}
	}
	if !l.locked {
		l.streams.mu.Lock()
		l.locked = true
	}
	prev, ok := l.streams.swap(h.Sum64(), dp.Timestamp())
	if ok && int64(prev) < lo {
		lo = int64(prev)
	}
	return lo, hi
}

// filter holds the data point attributes a span must agree with.
type filter struct {
	a1, a2  string
	status  int64
	topOnly bool
}

func newFilter(ml *metricLink, attrs pcommon.Map) filter {
	var f filter
	switch ml.role {
	case roleServer:
		if !ml.httpServer {
			return filter{topOnly: true}
		}
		f.a1 = attrvalue.Str(attrs, "http.route")
		f.a2 = attrvalue.Str(attrs, "http.request.method", "http.method")
		if v, ok := attrs.Get("http.response.status_code"); ok {
			f.status = attrvalue.Int(v)
		}
		f.topOnly = f.a1 == "" && f.a2 == ""
	case roleClient:
		f.a1 = attrvalue.Str(attrs, "server.address")
		f.a2 = attrvalue.Str(attrs, "peer.service")
	case roleDB:
		f.a1 = attrvalue.Str(attrs, "db.operation.name")
		f.a2 = attrvalue.Str(attrs, "db.client.connection.pool.name")
	default:
	}
	return f
}

func agree(want, got string) bool { return want == "" || got == "" || want == got }

func (f *filter) match(e *exSpan) bool {
	if f.topOnly && !e.top {
		return false
	}
	return agree(f.a1, e.a1) && agree(f.a2, e.a2) && (f.status == 0 || e.status == 0 || f.status == e.status)
}

func linkPoint[T dataPoint](l *linker, ml *metricLink, dp T, intValue bool) {
	lo, hi := window(l, ml, dp)
	// Cheap first: is any candidate inside the window at all?
	inWindow := false
	for i := range ml.cands {
		if e := &ml.cands[i]; e.end > lo && e.end <= hi {
			inWindow = true
			break
		}
	}
	if !inWindow {
		return
	}
	f := newFilter(ml, dp.Attributes())
	exs := dp.Exemplars()
	l.chosen = l.chosen[:0]
	for i := range ml.cands {
		e := &ml.cands[i]
		if e.end <= lo || e.end > hi || !f.match(e) || l.isChosen(e.trace) || hasExemplar(exs, e.id) {
			continue
		}
		l.chosen = append(l.chosen, *e)
		if len(l.chosen) == l.max {
			break
		}
	}
	exs.EnsureCapacity(exs.Len() + len(l.chosen))
	for i := range l.chosen {
		e := &l.chosen[i]
		ex := exs.AppendEmpty()
		ex.SetTimestamp(pcommon.Timestamp(e.end))
		ex.SetTraceID(e.trace)
		ex.SetSpanID(e.id)
		switch {
		case ml.nsPerUnit == 0 && intValue:
			ex.SetIntValue(1)
		case ml.nsPerUnit == 0:
			ex.SetDoubleValue(1)
		case intValue:
			ex.SetIntValue(int64(math.Round(float64(e.dur) / ml.nsPerUnit)))
		default:
			ex.SetDoubleValue(float64(e.dur) / ml.nsPerUnit)
		}
	}
	l.added += int64(len(l.chosen))
}

func (l *linker) isChosen(id pcommon.TraceID) bool {
	for i := range l.chosen {
		if l.chosen[i].trace == id {
			return true
		}
	}
	return false
}

func hasExemplar(exs pmetric.ExemplarSlice, id pcommon.SpanID) bool {
	for i := 0; i < exs.Len(); i++ {
		if exs.At(i).SpanID() == id {
			return true
		}
	}
	return false
}
