// Package loglink links application log records to incidents. A record with
// trace context takes its trace's decision (rca.match=trace), waiting for it
// while the trace is still buffered; a WARN+ record without trace context
// takes the open incident of its service whose window holds it
// (rca.match=time_window). The Linker owns what that needs: the decisions of
// recently decided traces, the records held for a decision, and the view of
// the open incidents' windows. It is safe for concurrent use.
package loglink // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/loglink"

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/incidentrecord"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/bounded"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/incident"
)

// The attribute a linked record gets beside the incident ID and culprit, and
// its values: how the record was linked.
const (
	AttrMatch       = "rca.match"
	MatchTrace      = "trace"
	MatchTimeWindow = "time_window"
)

// Decision is what an anomalous trace's records are tagged with.
type Decision struct {
	// IncidentID is empty while the trace's incident is not published.
	IncidentID string
	Culprit    string
}

// Stats is what linking did.
type Stats struct {
	Trace, Window int64
	// Errors are the linked ERROR+ records: their incident's evidence.
	Errors []MatchedError
}

// MatchedError is one linked ERROR+ record.
type MatchedError struct {
	Incident, Service, Body string
	// Culprit: the record is the culprit service's own.
	Culprit bool
}

// Batch is released records, for the destination they came from.
type Batch[To comparable] struct {
	To   To
	Logs plog.Logs
}

// Linker links records of destinations To (the logs pipelines).
type Linker[To comparable] struct {
	// Lock order: heldMu, then decidedMu (Release); Link takes them one
	// after the other.
	decidedMu sync.RWMutex
	decided   *bounded.FIFO[pcommon.TraceID, *Decision]
	evicted   bounded.Tally

	windows atomic.Pointer[windows]

	heldMu sync.Mutex
	held   []heldItem[To]
	// heldRecords counts the held records, reserved before they join held.
	heldRecords atomic.Int64
	maxHeld     int
}

type heldItem[To comparable] struct {
	to To
	ld plog.Logs // a single ResourceLogs, in arrival order
	at time.Time // processing time it arrived
}

// windows is the immutable view of the open incidents, per involved service.
type windows struct {
	byService map[string][]incident.Window
}

// New returns a Linker that remembers the decisions of maxDecisions traces
// and holds at most maxHeld records for a decision (zero: none).
func New[To comparable](maxDecisions, maxHeld int) *Linker[To] {
	return &Linker[To]{decided: bounded.NewFIFO[pcommon.TraceID, *Decision](maxDecisions), maxHeld: maxHeld}
}

// Decided records a trace's decision; nil: the trace was normal.
func (l *Linker[To]) Decided(id pcommon.TraceID, d *Decision) {
	l.decidedMu.Lock()
	defer l.decidedMu.Unlock()
	if _, forgot := l.decided.Put(id, d); forgot {
		l.evicted.Add(1)
	}
}

// TakeEvicted returns, and resets, the decisions forgotten for room.
func (l *Linker[To]) TakeEvicted() int64 { return l.evicted.Take() }

// SetWindows replaces the open incidents' windows records are linked to.
func (l *Linker[To]) SetWindows(ws []incident.Window) {
	if len(ws) == 0 {
		l.windows.Store(nil)
		return
	}
	w := &windows{byService: map[string][]incident.Window{}}
	for _, iw := range ws {
		for _, s := range iw.Services {
			w.byService[s] = append(w.byService[s], iw)
		}
	}
	l.windows.Store(w)
}

// Link tags the records of ld linked to an incident and, when hold, moves
// the resources whose records wait for a trace decision out of ld into the
// held records of to; the rest of ld is to be forwarded now. It returns what
// it linked, the records it held, and the waiting records it could not hold
// (beyond maxHeld: forwarded untagged).
func (l *Linker[To]) Link(ld plog.Logs, now time.Time, to To, hold bool) (st Stats, held, overflow int64) {
	hold = hold && l.maxHeld > 0
	wins := l.windows.Load()
	var items []heldItem[To]
	l.decidedMu.RLock()
	ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		waiting := l.tag(rl, now, wins, &st)
		if waiting == 0 || !hold {
			return false
		}
		records := 0
		for _, sl := range rl.ScopeLogs().All() {
			records += sl.LogRecords().Len()
		}
		if !l.reserve(records) {
			overflow += waiting
			return false
		}
		held += int64(records)
		item := heldItem[To]{to: to, ld: plog.NewLogs(), at: now}
		rl.MoveTo(item.ld.ResourceLogs().AppendEmpty())
		items = append(items, item)
		return true
	})
	l.decidedMu.RUnlock()
	if len(items) > 0 {
		l.heldMu.Lock()
		l.held = append(l.held, items...)
		l.heldMu.Unlock()
	}
	return st, held, overflow
}

// reserve counts n more held records unless that exceeds maxHeld.
func (l *Linker[To]) reserve(n int) bool {
	for {
		cur := l.heldRecords.Load()
		if cur+int64(n) > int64(l.maxHeld) {
			return false
		}
		if l.heldRecords.CompareAndSwap(cur, cur+int64(n)) {
			return true
		}
	}
}

// Release takes the held resources ready to go, tagged, batched per
// destination in arrival order: those whose trace-linked records are all
// decided, those that waited wait while buffered reports none of their
// traces still buffered (a trace's logs wait with it, however long its
// spans take), and every one of only (its pipeline's shutdown; the zero To
// for none). acquire is called, with the held records locked, once for each
// destination of the batches, before they leave the held records: a
// destination that stops takes the same lock to wait for them.
func (l *Linker[To]) Release(now time.Time, wait time.Duration, only To, buffered func(pcommon.TraceID) bool, acquire func(To)) (batches []Batch[To], st Stats, released int64) {
	l.heldMu.Lock()
	if len(l.held) == 0 {
		l.heldMu.Unlock()
		return nil, st, 0
	}
	var zero To
	var out []heldItem[To]
	keep := l.held[:0]
	l.decidedMu.RLock()
	for _, it := range l.held {
		if only != zero && it.to == only || l.allDecided(it.ld) || now.Sub(it.at) >= wait && !anyBuffered(it.ld, buffered) {
			out = append(out, it)
			released += int64(it.ld.LogRecordCount())
			continue
		}
		keep = append(keep, it)
	}
	l.decidedMu.RUnlock()
	clear(l.held[len(keep):])
	l.held = keep
	l.heldRecords.Add(-released)
	var acquired []To
	for _, it := range out {
		if !slices.Contains(acquired, it.to) {
			acquire(it.to)
			acquired = append(acquired, it.to)
		}
	}
	l.heldMu.Unlock()
	if len(out) == 0 {
		return nil, st, 0
	}

	index := map[To]int{}
	l.decidedMu.RLock()
	for _, it := range out {
		rl := it.ld.ResourceLogs().At(0)
		// Records without trace context were tagged on arrival; retag only
		// the trace-linked ones.
		l.tag(rl, now, nil, &st)
		i, ok := index[it.to]
		if !ok {
			i = len(batches)
			index[it.to] = i
			batches = append(batches, Batch[To]{To: it.to, Logs: plog.NewLogs()})
		}
		it.ld.ResourceLogs().MoveAndAppendTo(batches[i].Logs.ResourceLogs())
	}
	l.decidedMu.RUnlock()
	return batches, st, released
}

// tag tags the records of rl that belong to an incident: those of a decided
// anomalous trace, and WARN+ records without trace context of an involved
// service inside an open incident's window. It returns the records whose
// trace is not decided yet. The caller holds decidedMu.
func (l *Linker[To]) tag(rl plog.ResourceLogs, now time.Time, wins *windows, st *Stats) (waiting int64) {
	service := ""
	if v, ok := rl.Resource().Attributes().Get("service.name"); ok {
		service = v.Str()
	}
	var svcWins []incident.Window
	if wins != nil {
		svcWins = wins.byService[service]
	}
	for _, sl := range rl.ScopeLogs().All() {
		for _, lr := range sl.LogRecords().All() {
			if id := lr.TraceID(); !id.IsEmpty() {
				d, ok := l.decided.Get(id)
				switch {
				case !ok:
					waiting++
				case d != nil && !tagged(lr):
					tagLog(lr, d.IncidentID, d.Culprit, MatchTrace)
					st.Trace++
					st.matchedError(lr, d.IncidentID, service, d.Culprit)
				default:
				}
				continue
			}
			if len(svcWins) == 0 || lr.SeverityNumber() < plog.SeverityNumberWarn {
				continue
			}
			at := lr.Timestamp()
			if at == 0 {
				at = lr.ObservedTimestamp()
			}
			t := now
			if at != 0 {
				t = at.AsTime()
			}
			if w := latestWindow(svcWins, t); w != nil {
				tagLog(lr, w.ID, w.Culprit, MatchTimeWindow)
				st.Window++
				st.matchedError(lr, w.ID, service, w.Culprit)
			}
		}
	}
	return waiting
}

func (st *Stats) matchedError(lr plog.LogRecord, id, service, culprit string) {
	if lr.SeverityNumber() >= plog.SeverityNumberError {
		st.Errors = append(st.Errors, MatchedError{Incident: id, Service: service, Body: lr.Body().AsString(), Culprit: service == culprit})
	}
}

// latestWindow returns the window containing t that ends last, nil when none does.
func latestWindow(ws []incident.Window, t time.Time) *incident.Window {
	var best *incident.Window
	for i := range ws {
		w := &ws[i]
		if t.Before(w.Start) || t.After(w.End) {
			continue
		}
		if best == nil || w.End.After(best.End) {
			best = w
		}
	}
	return best
}

func tagged(lr plog.LogRecord) bool {
	_, ok := lr.Attributes().Get(AttrMatch)
	return ok
}

func tagLog(lr plog.LogRecord, id, culprit, match string) {
	a := lr.Attributes()
	a.EnsureCapacity(a.Len() + 3)
	a.PutStr(incidentrecord.AttrID, id)
	a.PutStr(incidentrecord.AttrCulpritService, culprit)
	a.PutStr(AttrMatch, match)
}

// allDecided tells whether every trace-linked record of ld has a decision.
// The caller holds decidedMu.
func (l *Linker[To]) allDecided(ld plog.Logs) bool {
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				if id := lr.TraceID(); !id.IsEmpty() {
					if _, ok := l.decided.Get(id); !ok {
						return false
					}
				}
			}
		}
	}
	return true
}

// anyBuffered reports whether a trace of ld still waits for its decision.
func anyBuffered(ld plog.Logs, buffered func(pcommon.TraceID) bool) bool {
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				if id := lr.TraceID(); !id.IsEmpty() && buffered(id) {
					return true
				}
			}
		}
	}
	return false
}
