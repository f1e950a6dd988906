package diagnosis // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/diagnosis"

import (
	"cmp"
	"slices"
	"time"
)

// PartKind says who owns a part of a request's latency.
type PartKind uint8

const (
	// PartVisit is a service's own work in one visit of a request: its entry
	// span's time not covered by its calls to other services.
	PartVisit PartKind = iota + 1
	// PartCall is the time a call to another service took beyond the
	// callee's own span: the network both ways, the callee's accept queue,
	// a delay on either pod. Both ends may own it.
	PartCall
)

// PartKey names a part: a visit of Service's Operation, or a call from
// Service to Peer's Operation.
type PartKey struct {
	Kind      PartKind
	Service   string
	Peer      string // the callee of a call; "" for a visit
	Operation string // the visit's entry span, or the callee's span
}

// Part is one part of a trace's latency.
type Part struct {
	Key   PartKey
	Value time.Duration
	// Span is the span that shows the part: the visit's entry span, the
	// callee's span of a call. Caller is the calling span of a call, else -1.
	Span, Caller int32
}

// Reference tells what a part usually takes and whether the services around
// a call are slow right now. The processor's profile implements it; Baselines
// that do not are diagnosed without it.
type Reference interface {
	// Usual is the part's usual latency (a high quantile of its recent
	// normal history, borrowed from its service or all parts while it has
	// too little of its own); false when nothing is known.
	Usual(k PartKey) (time.Duration, bool)
	// Breached tells whether a part that took v is far beyond its usual
	// latency: an anomaly on its own.
	Breached(k PartKey, v time.Duration) bool
	// CallerSlow and CalleeSlow are the shares, in [0, 1], of the recent
	// calls that took longer than usual among the caller's calls to other
	// services than the callee, and among the other callers' calls to the
	// callee; false when there were none.
	CallerSlow(caller, callee string) (float64, bool)
	CalleeSlow(caller, callee string) (float64, bool)
	// RecentBlame is the excess blamed on the service over the recent
	// window, by every trace decided in it.
	RecentBlame(service string) time.Duration
	// Saturated tells whether the service is at its CPU limit right now
	// (from its metrics).
	Saturated(service string) bool
	// NovelPattern tells whether the operation, in visits that began with
	// entry, never wrote this log pattern before, or rarely and now most
	// often (see Span.Pattern); false while it is too new to tell.
	NovelPattern(service, entry, operation string, pattern uint64) bool
}

// parts decomposes the trace into visits and calls, appended to dst.
func (d *Diagnoser) parts(spans []Span, dst []Part) []Part {
	for _, i := range d.order {
		s := &spans[i]
		if p := d.parent[i]; p >= 0 && spans[p].Service == s.Service {
			continue // inside a visit
		}
		// i enters a visit: collect the calls that leave it.
		d.calls = d.calls[:0]
		d.visit(spans, i, s.Service)
		dst = append(dst, Part{
			Key:   PartKey{Kind: PartVisit, Service: s.Service, Operation: s.Name},
			Value: time.Duration(max(0, s.duration()-d.covered(spans, i))),
			Span:  i, Caller: -1,
		})
		for _, c := range d.calls {
			callee := d.longestRemoteChild(spans, c)
			cs := &spans[callee]
			dst = append(dst, Part{
				Key:   PartKey{Kind: PartCall, Service: spans[c].Service, Peer: cs.Service, Operation: cs.Name},
				Value: time.Duration(max(0, spans[c].duration()-cs.duration())),
				Span:  callee, Caller: c,
			})
		}
	}
	return dst
}

// visit appends to d.calls the spans of service below i (i included) that
// have a child in another service.
func (d *Diagnoser) visit(spans []Span, i int32, service string) {
	remote := false
	for _, c := range d.children(i) {
		if spans[c].Service == service {
			d.visit(spans, c, service)
		} else {
			remote = true
		}
	}
	if remote {
		d.calls = append(d.calls, i)
	}
}

// covered is the time of entry span i covered by the visit's calls.
func (d *Diagnoser) covered(spans []Span, i int32) int64 {
	s := &spans[i]
	d.intervals = d.intervals[:0]
	for _, c := range d.calls {
		st, en := max(spans[c].Start, s.Start), min(spans[c].End, s.End)
		if en > st {
			d.intervals = append(d.intervals, [2]int64{st, en})
		}
	}
	slices.SortFunc(d.intervals, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	var total, cursor int64
	for _, iv := range d.intervals {
		st := max(iv[0], cursor)
		if iv[1] > st {
			total += iv[1] - st
			cursor = iv[1]
		}
	}
	return total
}

// longestRemoteChild is the longest child of c in another service (a call
// retried has several).
func (d *Diagnoser) longestRemoteChild(spans []Span, c int32) int32 {
	best := int32(-1)
	for _, k := range d.children(c) {
		if spans[k].Service != spans[c].Service && (best < 0 || spans[k].duration() > spans[best].duration()) {
			best = k
		}
	}
	return best
}

// partExcess is a part's time beyond its usual latency.
func partExcess(p *Part, ref Reference) (time.Duration, bool) {
	usual, ok := ref.Usual(p.Key)
	if !ok {
		return 0, false
	}
	return max(0, p.Value-usual), true
}

// Blame is the excess of a trace's parts over their usual latency that a
// service explains, and its span that explains the most of it.
type Blame struct {
	Service string
	Excess  time.Duration
	Span    int32
}

// blameParts blames the trace's parts' excess on services: a visit's on its
// service; a call's on both ends, each by how slow its other calls of the
// same direction are (a delay at one end shows in that end's other calls
// too; an end whose other calls are normal is cleared; an end with no other
// calls gets an even share; with no evidence at either end, the callee
// takes it). The evidence of an end is the larger of two shares: over the
// recent window, and in this trace, whose other calls show a fault from its
// first request on, before it weighs in a window of normal calls. The
// result is in d.blames.
func (d *Diagnoser) blameParts(spans []Span, parts []Part, ref Reference) {
	d.blames = d.blames[:0]
	// Each part's excess, once: -1 when the part has no usual latency yet.
	d.excesses = d.excesses[:0]
	for k := range parts {
		excess, ok := partExcess(&parts[k], ref)
		if !ok {
			excess = -1
		}
		d.excesses = append(d.excesses, excess)
	}
	d.countSlowCalls(parts)
	for k := range parts {
		p := &parts[k]
		excess := d.excesses[k]
		if excess <= 0 {
			continue
		}
		if p.Key.Kind == PartVisit {
			d.blame(spans, p.Span, int64(excess))
			continue
		}
		wCaller, okCaller := ref.CallerSlow(p.Key.Service, p.Key.Peer)
		wCallee, okCallee := ref.CalleeSlow(p.Key.Service, p.Key.Peer)
		pair := d.slowCalls[[2]string{p.Key.Service, p.Key.Peer}]
		if w, ok := pair.otherShare(d.slowCalls[[2]string{p.Key.Service, ""}]); ok {
			wCaller, okCaller = max(wCaller, w), true
		}
		if w, ok := pair.otherShare(d.slowCalls[[2]string{"", p.Key.Peer}]); ok {
			wCallee, okCallee = max(wCallee, w), true
		}
		switch {
		case !okCaller && !okCallee, wCaller+wCallee == 0:
			// No evidence at either end: a call waits for its callee's
			// answer, and is the callee's, as a slow call is usually read.
			wCaller, wCallee = 0, 1
		case !okCaller:
			wCaller = 0.5
		case !okCallee:
			wCallee = 0.5
		}
		share := wCallee / (wCaller + wCallee)
		d.blame(spans, p.Span, int64(float64(excess)*share))
		d.blame(spans, p.Caller, int64(float64(excess)*(1-share)))
	}
}

// callCount counts calls, and those that took longer than usual.
type callCount struct{ n, over int }

// otherShare is the share of slow calls among all's calls other than c's.
func (c callCount) otherShare(all callCount) (float64, bool) {
	n := all.n - c.n
	if n <= 0 {
		return 0, false
	}
	return float64(all.over-c.over) / float64(n), true
}

// countSlowCalls counts the trace's calls with a usual latency and its slow
// ones (d.excesses above 0) by caller and callee ({caller, callee}), by caller
// alone ({caller, ""}) and by callee alone ({"", callee}).
func (d *Diagnoser) countSlowCalls(parts []Part) {
	if d.slowCalls == nil {
		d.slowCalls = map[[2]string]callCount{}
	}
	clear(d.slowCalls)
	for k := range parts {
		p := &parts[k]
		excess := d.excesses[k]
		if p.Key.Kind != PartCall || excess < 0 {
			continue
		}
		for _, key := range [3][2]string{{p.Key.Service, p.Key.Peer}, {p.Key.Service, ""}, {"", p.Key.Peer}} {
			c := d.slowCalls[key]
			c.n++
			if excess > 0 {
				c.over++
			}
			d.slowCalls[key] = c
		}
	}
}

// partCulprit returns the span of the service, among those this trace
// blames, that explains the most excess over the recent window, this trace
// included: one slow request blames what it saw, many requests through a
// fault agree on it. -1 when no part exceeds its usual latency.
//
// A service at its CPU limit comes first: its requests wait for CPU, which
// explains their delay, and the delay it causes shows as much in its callers'
// waiting as in its own time.
func (d *Diagnoser) partCulprit(ref Reference) int32 {
	best, bestScore, bestSaturated := -1, time.Duration(0), false
	for k := range d.blames {
		if d.blames[k].total <= 0 {
			continue
		}
		saturated := ref.Saturated(d.blames[k].service)
		score := ref.RecentBlame(d.blames[k].service) + time.Duration(d.blames[k].total)
		if best < 0 || saturated && !bestSaturated || saturated == bestSaturated && score > bestScore {
			best, bestScore, bestSaturated = k, score, saturated
		}
	}
	if best < 0 || d.blames[best].total <= 0 {
		return -1
	}
	return d.blames[best].span
}

// failedAfterDelay tells whether failed span c failed because it waited for
// the delay blamed on the service of lc: it failed soon after the delay came
// back to it, sooner than the delay lasted. A timeout fires when the wait is
// over; a failure long after a delay was over, for a reason of its own, is
// its own. The delay comes back to c through c's own span on the way to each
// slow part of the service below c (its outbound call; c's child on the way
// when c called out directly), the last of them to end: a response delayed
// on the way back, a callee's callee and a retried call are all waited for
// until then. The delay lasted what the trace blames on the service.
func (d *Diagnoser) failedAfterDelay(spans []Span, parts []Part, c, lc int32) bool {
	service := spans[lc].Service
	var allowance int64
	for k := range d.blames {
		if d.blames[k].service == service {
			allowance = d.blames[k].total
		}
	}
	back, found := int64(0), false
	slow := func(i int32) {
		if i < 0 || spans[i].Service != service {
			return
		}
		// Up from the slow span to c, noting where it came back: the first
		// span of c's service on the way, else c's child on the way.
		via := int32(-1)
		at := i
		for ; at >= 0 && at != c; at = d.parent[at] {
			if via < 0 && (spans[at].Service == spans[c].Service || d.parent[at] == c) {
				via = at
			}
		}
		if at != c || via < 0 {
			return // not below c
		}
		back, found = max(back, min(spans[via].End, spans[c].End)), true
	}
	for k := range parts {
		if k >= len(d.excesses) || d.excesses[k] <= 0 {
			continue
		}
		slow(parts[k].Span)
		slow(parts[k].Caller)
	}
	return found && spans[c].End-back <= allowance
}

// of: the part is the service's: one of its visits, or a call into it or
// out of it.
func (p *Part) of(service string) bool {
	return p.Key.Kind == PartVisit && p.Key.Service == service ||
		p.Key.Kind == PartCall && (p.Key.Peer == service || p.Key.Service == service)
}

// breachedParts: one of the service's parts (its visits, the calls into it
// or out of it) is far beyond its usual latency.
func breachedParts(parts []Part, service string, ref Reference) bool {
	for k := range parts {
		if p := &parts[k]; p.of(service) && ref.Breached(p.Key, p.Value) {
			return true
		}
	}
	return false
}

// partReason explains a culprit service by its part furthest beyond its usual
// latency, with the numbers a person can check against the service's
// dashboards: what it took now and what it usually stays under.
func partReason(spans []Span, parts []Part, service string, ref Reference) string {
	best, bestExcess := -1, time.Duration(0)
	for k := range parts {
		p := &parts[k]
		if !p.of(service) {
			continue
		}
		if e, ok := partExcess(p, ref); ok && e > bestExcess {
			best, bestExcess = k, e
		}
	}
	if best < 0 {
		return ""
	}
	p := &parts[best]
	usual, _ := ref.Usual(p.Key)
	now, was := p.Value.Round(time.Millisecond), usual.Round(time.Millisecond)
	if p.Key.Kind == PartVisit {
		return SlowVisitReason(p.Key.Operation, now, was)
	}
	return "slow calls from " + p.Key.Service + " to " + p.Key.Peer + " " + p.Key.Operation + ": " + now.String() +
		" beyond the callee's own time, usually under " + was.String() + " (p99)"
}

// SlowVisitReason says that a visit of operation took took of its service's
// own time where it usually stays under usual.
func SlowVisitReason(operation string, took, usual time.Duration) string {
	return "slow " + operation + ": " + took.Round(time.Millisecond).String() + " of its own time, usually under " + usual.Round(time.Millisecond).String() + " (p99)"
}
