package profile // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/profile"

import "time"

// A span's log pattern is the set of log templates it wrote: the path its
// code took. An operation takes few paths (the Train Ticket services take one
// to eight each); a path it never took before (an exception caught, a wrong
// value returned, a step skipped) is a change in what the code does, even
// when nothing else fails and nothing is slow.
//
// A new path is evidence only where new paths are rare: Good-Turing's
// estimate of the chance that the operation's next span takes a path not
// seen yet is the share of its spans whose path was seen only once, and it
// must be below surprise (so an operation needs 1/surprise spans of history,
// and one that logs a variable number of items, a new pattern each time, is
// never judged). A pattern is known once its first sighting left the window
// while its service's errors were not surging: a path taken now and then is
// learned after a window, a fault's new path is not learned while it lasts.

type opKey struct{ service, operation string }

type opState struct {
	first int64 // bucket of the first span with logs
	// n counts its spans with logs, singles those whose pattern was seen once.
	n, singles int
}

type patternKey struct {
	opKey
	pattern uint64
}

type patternState struct {
	first int64 // bucket of the first sighting
	n     int
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
	op.n++
	ps.n++
	switch ps.n {
	case 1:
		op.singles++
	case 2:
		op.singles--
	}
	p.learn(k, ps, idx)
}

// learn marks a pattern known once its first sighting left the window and
// its service is not surging at idx.
func (p *Profile) learn(k patternKey, ps *patternState, idx int64) bool {
	if !ps.known && idx-ps.first >= buckets && !p.errorsSurging(k.service, idx) {
		ps.known = true
	}
	return ps.known
}

// NovelPattern implements diagnosis.Reference.
func (p *Profile) NovelPattern(service, operation string, pattern uint64) bool {
	op := p.operations[opKey{service, operation}]
	if op == nil || p.last-op.first < buckets || float64(max(op.singles, 1)) >= surprise*float64(op.n) {
		return false // too new to judge, or new paths are not rare
	}
	k := patternKey{opKey{service, operation}, pattern}
	ps := p.patterns[k]
	if ps == nil {
		return true
	}
	return !p.learn(k, ps, p.last)
}
