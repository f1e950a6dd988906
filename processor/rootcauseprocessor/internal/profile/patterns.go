package profile // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/profile"

import "time"

// A span's log pattern is the set of log templates it wrote: the path its
// code took. An operation takes few paths (the Train Ticket services take one
// to eight each); a path it never took before (an exception caught, a wrong
// value returned, a step skipped) is a change in what the code does, even
// when nothing else fails and nothing is slow. Writing nothing is a path too
// (the caller says when a span's silence is known: see the processor).
//
// A new path is evidence only where new paths are rare: Good-Turing's
// estimate of the chance that the operation's next span takes a path not
// seen yet is the share of its spans whose path was seen only once, and it
// must be below surprise (so an operation needs 1/surprise spans of history,
// and one that logs a variable number of items, a new pattern each time, is
// never judged). A pattern is known once its first sighting left the window
// while its service's errors were not surging: a path taken now and then is
// learned after a window, a fault's new path is not learned while it lasts.
//
// A known path is evidence when the operation's usual path changed: one it
// took in less than half its spans before the window is taken by half of the
// window's spans at least, more often than its history makes likely (the
// beta-binomial test of errorsSurging, with the uninformed prior: half a
// span each way). A step the code skips on every request (a usual line no
// longer written) then shows even when the operation skipped it once or
// twice before; a path the workload takes more often, among those it
// always took, is still the rarer one or was seen in half the history.

type opKey struct{ service, operation string }

type opState struct {
	first int64 // bucket of the first span with logs
	// spans counts its spans with logs; singles those whose pattern was
	// seen once.
	spans   counter
	singles int
}

type patternKey struct {
	opKey
	pattern uint64
}

type patternState struct {
	first int64 // bucket of the first sighting
	spans counter
	known bool
}

// ObservePattern records that a span of service's operation wrote the log
// pattern, in a trace that ended at event time at.
func (p *Profile) ObservePattern(at time.Time, service, operation string, pattern uint64) {
	idx := p.at(at)
	k := patternKey{opKey{service, operation}, pattern}
	op := p.operations[k.opKey]
	ps := p.patterns[k]
	if op == nil || ps == nil {
		if p.opts.MaxKeys > 0 && len(p.patterns) >= p.opts.MaxKeys {
			p.rejected.Add(1)
			return
		}
		if op == nil {
			op = &opState{first: idx}
			p.operations[k.opKey] = op
		}
		ps = &patternState{first: idx}
		p.patterns[k] = ps
	}
	op.spans.add(idx)
	ps.spans.add(idx)
	switch ps.spans.total {
	case 1:
		op.singles++
	case 2:
		op.singles--
	}
	p.learn(k, op, ps, idx)
}

// learn marks a pattern known once its first sighting left the window and
// its service is not surging at idx. The paths of the operation's first
// window are known once it left, surging or not: they are all the history
// there is (not judged yet, they cannot be a change, and a service whose
// errors surge from the start would otherwise never learn its usual path).
func (p *Profile) learn(k patternKey, op *opState, ps *patternState, idx int64) bool {
	if !ps.known && idx-ps.first >= buckets && (ps.first-op.first < buckets || !p.errorsSurging(k.service, idx)) {
		ps.known = true
	}
	return ps.known
}

// NovelPattern implements diagnosis.Reference.
func (p *Profile) NovelPattern(service, operation string, pattern uint64) bool {
	op := p.operations[opKey{service, operation}]
	if op == nil || p.last-op.first < buckets {
		return false // too new to judge
	}
	k := patternKey{opKey{service, operation}, pattern}
	ps := p.patterns[k]
	if ps != nil && p.learn(k, op, ps, p.last) {
		return p.usualPathChanged(op, ps)
	}
	// New paths are evidence where they are rare.
	return float64(max(op.singles, 1)) < surprise*float64(op.spans.total)
}

// usualPathChanged: the known path ps, taken in less than half of the
// operation's spans before the window, is taken in half of the window's
// spans at least, beyond what its history makes likely.
func (p *Profile) usualPathChanged(op *opState, ps *patternState) bool {
	history := p.historyBuckets(p.last)
	if history < buckets/2 {
		return false
	}
	n, k := ps.spans.split(p.last)
	spans, before := op.spans.split(p.last)
	if 2*n < spans || 10*k >= before || 2*int64(spans)*history < int64(before)*buckets {
		return false
	}
	return betaBinomialTail(n, spans, 0.5+float64(k), 0.5+float64(before-k)) < surprise
}
