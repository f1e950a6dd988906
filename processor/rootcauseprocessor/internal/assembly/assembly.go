// Package assembly groups spans by trace ID until a trace is complete: no new
// span for the decision wait. Memory is bounded by the number of traces, the
// spans per trace and the number of decided trace IDs remembered.
package assembly // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/assembly"

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/bounded"
)

// Options bounds the buffer.
type Options struct {
	// DecisionWait is how long a trace waits after its last span.
	DecisionWait time.Duration
	// MaxTraces bounds the traces waiting; the least recently updated is evicted. Must be positive.
	MaxTraces int
	// MaxSpansPerTrace bounds the spans held per trace; more spans are passed through. Must be positive.
	MaxSpansPerTrace int
	// DecidedCacheSize bounds the decided trace IDs remembered for late spans. Zero disables the cache.
	DecidedCacheSize int
}

// Decision is what a decided trace tells its late spans.
type Decision interface {
	// TagLate adjusts a span that arrived after its trace was decided.
	TagLate(ptrace.Span)
}

// Stats counts what happened to spans and traces; the Buffer accumulates
// them until TakeStats.
type Stats struct {
	ZeroTraceID    int64 // spans with an all-zero trace ID: passed through
	Late           int64 // spans of an already decided trace: passed through, tagged
	Overflow       int64 // spans beyond MaxSpansPerTrace: passed through
	Evicted        int64 // traces evicted by MaxTraces: passed through undiagnosed
	DecidedEvicted int64 // decided IDs forgotten by DecidedCacheSize
	Traces         int64 // traces started
}

// Trace is one buffered trace. Data holds its spans, grouped by resource and scope.
type Trace struct {
	ID    pcommon.TraceID
	Data  ptrace.Traces
	Spans int
	Last  time.Time

	prev, next *Trace
	out        sink
}

// sink appends spans to a ptrace.Traces, copying the resource and scope of
// the input batch at most once per batch.
type sink struct {
	data   ptrace.Traces
	gen    uint64
	ri, si int
	rs     ptrace.ResourceSpans
	ss     ptrace.ScopeSpans
}

func (s *sink) resource(gen uint64, ri int, rs ptrace.ResourceSpans) ptrace.ResourceSpans {
	if s.gen != gen || s.ri != ri {
		s.rs = s.data.ResourceSpans().AppendEmpty()
		rs.Resource().CopyTo(s.rs.Resource())
		s.rs.SetSchemaUrl(rs.SchemaUrl())
		s.gen, s.ri, s.si = gen, ri, -1
	}
	return s.rs
}

func (s *sink) scope(gen uint64, ri, si int, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans) ptrace.SpanSlice {
	dst := s.resource(gen, ri, rs)
	if s.si != si {
		s.ss = dst.ScopeSpans().AppendEmpty()
		ss.Scope().CopyTo(s.ss.Scope())
		s.ss.SetSchemaUrl(ss.SchemaUrl())
		s.si = si
	}
	return s.ss.Spans()
}

// Buffer holds the traces waiting for their decision. It is not safe for concurrent use.
type Buffer struct {
	opts       Options
	traces     map[pcommon.TraceID]*Trace
	head, tail *Trace // least recently updated first

	decided *bounded.FIFO[pcommon.TraceID, Decision]

	gen   uint64
	stats Stats
}

// New returns an empty Buffer.
func New(opts Options) *Buffer {
	return &Buffer{
		opts:    opts,
		traces:  make(map[pcommon.TraceID]*Trace),
		decided: bounded.NewFIFO[pcommon.TraceID, Decision](opts.DecidedCacheSize),
	}
}

// Buffered reports whether the trace is waiting for its decision.
func (b *Buffer) Buffered(id pcommon.TraceID) bool {
	_, ok := b.traces[id]
	return ok
}

// Len returns the number of traces waiting.
func (b *Buffer) Len() int { return len(b.traces) }

// TakeStats returns the counts since the previous call.
func (b *Buffer) TakeStats() Stats {
	s := b.stats
	b.stats = Stats{}
	return s
}

// Add moves the spans of td into their traces, arrived at event time now.
// Spans that are not buffered (zero trace ID, late, overflow) and evicted
// traces are moved to the returned batch, to be forwarded now. td is left
// empty of spans.
func (b *Buffer) Add(td ptrace.Traces, now time.Time) ptrace.Traces {
	return b.AddBetween(td, now, now)
}

// AddBetween is Add for a batch that moved the event clock from floor to
// ceil: each span arrives at its own end time, within [floor, ceil]. A batch
// holding seconds of spans (a backlog, a recording, an exporter's large
// batch) then sets each trace's wait as a stream of small batches would,
// and its traces are decided at the same event times.
func (b *Buffer) AddBetween(td ptrace.Traces, floor, ceil time.Time) ptrace.Traces {
	if ceil.Before(floor) {
		// Before the first span the clock reads processing time; the batch
		// set it back to the telemetry's own.
		floor = ceil
	}
	arrival := func(span ptrace.Span) time.Time {
		end := time.Unix(0, int64(span.EndTimestamp()))
		switch {
		case span.EndTimestamp() == 0 || end.Before(floor):
			return floor
		case end.After(ceil):
			return ceil
		}
		return end.UTC()
	}
	b.gen++
	pass := sink{data: ptrace.NewTraces()}
	rss := td.ResourceSpans()
	for ri := 0; ri < rss.Len(); ri++ {
		rs := rss.At(ri)
		sss := rs.ScopeSpans()
		for si := 0; si < sss.Len(); si++ {
			ss := sss.At(si)
			if b.addScope(ri, rs, ss, arrival, &pass) {
				continue
			}
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				var dst ptrace.SpanSlice
				if t := b.route(span, arrival(span), &pass); t != nil {
					dst = t.out.scope(b.gen, ri, si, rs, ss)
					t.Spans++
				} else {
					dst = pass.scope(b.gen, ri, si, rs, ss)
				}
				span.MoveTo(dst.AppendEmpty())
			}
		}
	}
	return pass.data
}

// addScope moves a whole scope when all its spans belong to one buffered
// trace, the common case for a service's batch of one request.
func (b *Buffer) addScope(ri int, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, arrival func(ptrace.Span) time.Time, pass *sink) bool {
	spans := ss.Spans()
	n := spans.Len()
	if n == 0 {
		return true
	}
	id := spans.At(0).TraceID()
	if id.IsEmpty() {
		return false
	}
	now := arrival(spans.At(0))
	for k := 1; k < n; k++ {
		if spans.At(k).TraceID() != id {
			return false
		}
		if at := arrival(spans.At(k)); at.After(now) {
			now = at
		}
	}
	if _, ok := b.decided.Get(id); ok {
		return false
	}
	t := b.traces[id]
	if t != nil && t.Spans+n > b.opts.MaxSpansPerTrace || t == nil && n > b.opts.MaxSpansPerTrace {
		return false
	}
	if t == nil {
		t = b.start(id, now, pass)
	} else {
		b.touch(t, now)
	}
	ss.MoveTo(t.out.resource(b.gen, ri, rs).ScopeSpans().AppendEmpty())
	t.out.si = -1
	t.Spans += n
	return true
}

// route returns the trace a span joins, or nil when it is passed through.
func (b *Buffer) route(span ptrace.Span, now time.Time, pass *sink) *Trace {
	id := span.TraceID()
	if id.IsEmpty() {
		b.stats.ZeroTraceID++
		return nil
	}
	if d, ok := b.decided.Get(id); ok {
		b.stats.Late++
		if d != nil {
			d.TagLate(span)
		}
		return nil
	}
	t := b.traces[id]
	if t == nil {
		return b.start(id, now, pass)
	}
	if t.Spans >= b.opts.MaxSpansPerTrace {
		b.stats.Overflow++
		return nil
	}
	b.touch(t, now)
	return t
}

func (b *Buffer) start(id pcommon.TraceID, now time.Time, pass *sink) *Trace {
	for len(b.traces) >= b.opts.MaxTraces && b.head != nil {
		old := b.head
		b.remove(old)
		b.remember(old.ID, nil)
		old.Data.ResourceSpans().MoveAndAppendTo(pass.data.ResourceSpans())
		pass.gen = 0 // the sink's current resource may have moved
		b.stats.Evicted++
	}
	t := &Trace{ID: id, Data: ptrace.NewTraces(), Last: now}
	t.out.data = t.Data
	b.traces[id] = t
	b.insert(t)
	b.stats.Traces++
	return t
}

func (b *Buffer) touch(t *Trace, now time.Time) {
	if !now.After(t.Last) {
		return // an earlier span of a batch: the trace waits for its latest
	}
	t.Last = now
	if b.tail != t {
		b.unlink(t)
		b.insert(t)
	}
}

// insert keeps the list in the order of Last, oldest first, for Expired and
// the eviction of the least recently updated trace: from the tail back,
// which is where spans arriving in time order go.
func (b *Buffer) insert(t *Trace) {
	after := b.tail
	for after != nil && after.Last.After(t.Last) {
		after = after.prev
	}
	if after == b.tail {
		b.pushBack(t)
		return
	}
	t.prev = after
	if after != nil {
		t.next = after.next
		after.next = t
	} else {
		t.next = b.head
		b.head = t
	}
	t.next.prev = t
}

func (b *Buffer) pushBack(t *Trace) {
	t.prev, t.next = b.tail, nil
	if b.tail != nil {
		b.tail.next = t
	} else {
		b.head = t
	}
	b.tail = t
}

func (b *Buffer) unlink(t *Trace) {
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		b.head = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	} else {
		b.tail = t.prev
	}
	t.prev, t.next = nil, nil
}

func (b *Buffer) remove(t *Trace) {
	b.unlink(t)
	delete(b.traces, t.ID)
}

// Expired removes and appends to dst the traces whose last span is at least
// DecisionWait old; they count as decided (without a Decision) until
// SetDecision.
func (b *Buffer) Expired(now time.Time, dst []*Trace) []*Trace {
	for t := b.head; t != nil && !now.Before(t.Last.Add(b.opts.DecisionWait)); t = b.head {
		b.remove(t)
		b.remember(t.ID, nil)
		dst = append(dst, t)
	}
	return dst
}

// Drain removes and appends to dst every trace, for shutdown.
func (b *Buffer) Drain(dst []*Trace) []*Trace {
	for t := b.head; t != nil; t = b.head {
		b.remove(t)
		dst = append(dst, t)
	}
	return dst
}

// SetDecision sets the decision late spans of a decided trace receive.
func (b *Buffer) SetDecision(id pcommon.TraceID, d Decision) {
	if _, ok := b.decided.Get(id); ok {
		b.decided.Put(id, d)
	}
}

func (b *Buffer) remember(id pcommon.TraceID, d Decision) {
	if _, forgot := b.decided.Put(id, d); forgot {
		b.stats.DecidedEvicted++
	}
}
