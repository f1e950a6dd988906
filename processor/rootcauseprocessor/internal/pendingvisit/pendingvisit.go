// Package pendingvisit keeps a service's recent visits for evidence that
// comes after their traces were decided. A pod's CPU report describes the
// minute before it, so the requests a CPU hog slowed are decided before the
// report that explains them arrives. An operation's change of path is
// established only once half a window of its spans took it, so the spans
// that began it are decided as normal. Traces of a low-rate service hurt
// this way are often too few to make an incident by themselves, or come
// late; the evidence names their cause once it comes.
package pendingvisit // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/pendingvisit"

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/bounded"
)

// Visit is one span of a service kept for evidence to come: one that took
// longer than usual (its own time, the span's duration less its calls',
// beyond what the operation usually takes), or one that took an unusual
// path.
type Visit struct {
	TraceID    pcommon.TraceID
	SpanID     pcommon.SpanID
	Operation  string
	Start, End time.Time // the trace's root span, trace time
	At         time.Time // the visit's end (a slow visit), or its decision (a path)
	Decided    time.Time // when its trace was decided, in event time
	Took       time.Duration
	Usual      time.Duration
	// Pattern is the span's log pattern, the path its code took; Reason
	// says what the span did, for the incident that blames it.
	Pattern uint64
	Reason  string
	// Callers are the services on the path from the root to the visit.
	Callers []string
	// Counted: the trace is counted in its service's incident already (its
	// verdict blamed the service); evidence found later corroborates it.
	Counted bool
	// Utilization and RoseFrom are what the evidence that blamed the visit
	// says: its service's CPU, as a share of its limit, and the level it
	// rose from. Set by the judge of Settle.
	Utilization, RoseFrom float64
}

// Judgment is what the evidence known now says of a kept visit.
type Judgment int

const (
	// Wait: no evidence about the visit's time yet; keep it.
	Wait Judgment = iota
	// Forget: the evidence came and does not explain it, or waiting for it
	// is over.
	Forget
	// Blame: the evidence explains it; it is returned and forgotten.
	Blame
)

// Log keeps at most PerService visits of each of at most Services keys (a
// service, or one of its operations), the latest. It is not safe for concurrent use: the decision loop owns it.
type Log struct {
	perService int
	services   *bounded.FIFO[string, []Visit]
	// forgotten counts visits dropped unjudged: the oldest of a service
	// with PerService waiting, or all of a service no longer tracked.
	forgotten bounded.Tally
}

// New returns an empty log.
func New(services, perService int) *Log {
	return &Log{perService: max(1, perService), services: bounded.NewFIFO[string, []Visit](services)}
}

// Add keeps v, a visit of service.
func (l *Log) Add(service string, v Visit) {
	vs, _ := l.services.Get(service)
	if len(vs) == l.perService {
		vs = append(vs[:0], vs[1:]...)
		l.forgotten.Add(1)
	}
	if old, ok := l.services.Put(service, append(vs, v)); ok {
		l.forgotten.Add(int64(len(old)))
	}
}

// Settle judges every kept visit and returns those blamed, by service, in
// the order they were added; those blamed or forgotten are no longer kept.
func (l *Log) Settle(judge func(service string, v *Visit) Judgment) map[string][]Visit {
	var out map[string][]Visit
	for service, vs := range l.services.All() {
		kept := vs[:0]
		for i := range vs {
			switch judge(service, &vs[i]) {
			case Wait:
				kept = append(kept, vs[i])
			case Blame:
				if out == nil {
					out = map[string][]Visit{}
				}
				out[service] = append(out[service], vs[i])
			}
		}
		clear(vs[len(kept):])
		// A service left with none stays tracked: deleting it from the
		// FIFO would leave its slot to evict a live one later.
		l.services.Put(service, kept)
	}
	return out
}

// DropBefore forgets, without counting them, the visits of key that ended
// before t: the evidence for them was due by then and did not come, as a
// judge would Forget them.
func (l *Log) DropBefore(key string, t time.Time) {
	vs, ok := l.services.Get(key)
	if !ok || len(vs) == 0 || !vs[0].At.Before(t) {
		return
	}
	kept := vs[:0]
	for _, v := range vs {
		if !v.At.Before(t) {
			kept = append(kept, v)
		}
	}
	clear(vs[len(kept):])
	l.services.Put(key, kept)
}

// SettleKey is Settle for the visits of one key only: the evidence came for
// it alone.
func (l *Log) SettleKey(key string, judge func(v *Visit) Judgment) []Visit {
	vs, ok := l.services.Get(key)
	if !ok {
		return nil
	}
	var out []Visit
	kept := vs[:0]
	for i := range vs {
		switch judge(&vs[i]) {
		case Wait:
			kept = append(kept, vs[i])
		case Blame:
			out = append(out, vs[i])
		}
	}
	clear(vs[len(kept):])
	l.services.Put(key, kept)
	return out
}

// TakeForgotten returns, and resets, the visits dropped unjudged.
func (l *Log) TakeForgotten() int64 { return l.forgotten.Take() }
