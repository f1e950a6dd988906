package profile // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/profile"

import (
	"math"
	"time"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/logtemplate"
)

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
// Paths rarely or never taken are evidence together when the operation's
// usual behaviour changed: the paths made of lines it wrote before (a step
// skipped, known steps in another mix) that it took in fewer than one span
// in ten before the window, or never, are taken by half of the window's
// spans at least, more often than its history makes likely (the
// beta-binomial test of errorsSurging, with the uninformed prior: half a
// span each way), and more often than paths at the bound of rarity would be
// less than once in 1/surprise windows. A step the code skips on every request (a usual line no
// longer written) then shows even when the operation skipped it once or
// twice before, and a new path shows with a minute of history; a path the
// workload takes more often, among those the operation always took, does
// not, nor do the first spans of a window, too few to tell, nor paths with
// lines never written before: a message whose words vary (a station's
// name, a count of items) makes those as easily as a new branch does, and
// is judged by the rule above, where new paths are rare.

// opKey is an operation in visits that began with entry: the paths of a
// handler shared by two endpoints are two sets.
type opKey struct{ service, entry, operation string }

type opState struct {
	first int64 // bucket of the first span with logs
	// spans counts its spans with logs; singles those whose pattern was
	// seen once.
	spans   counter
	singles int
	paths   []*patternState
	// lines are the templates its spans wrote.
	lines map[logtemplate.ID]struct{}
	// changed is pathsChanged's answer for the bucket judged.
	judged  int64
	changed bool
}

type patternKey struct {
	opKey
	pattern uint64
}

type patternState struct {
	first int64 // bucket of the first sighting
	spans counter
	known bool
	// recombined: every line of the path was written by the operation
	// before the path's first sighting.
	recombined bool
}

// maxLinesPerOperation bounds the templates remembered per operation; a
// path with a line beyond it is not a recombination.
const maxLinesPerOperation = 256

// ObservePattern records that a span of service's operation, in a visit
// that began with entry, wrote the log pattern, made of the templates
// lines, in a trace that ended at event time at.
func (p *Profile) ObservePattern(at time.Time, service, entry, operation string, pattern uint64, lines []logtemplate.ID) {
	idx := p.at(at)
	k := patternKey{opKey{service, entry, operation}, pattern}
	op := p.operations[k.opKey]
	ps := p.patterns[k]
	if op == nil || ps == nil {
		if p.opts.MaxKeys > 0 && len(p.patterns) >= p.opts.MaxKeys {
			p.rejected.Add(1)
			return
		}
		if op == nil {
			op = &opState{first: idx, lines: map[logtemplate.ID]struct{}{}}
			p.operations[k.opKey] = op
		}
		ps = &patternState{first: idx, recombined: true}
		for _, l := range lines {
			if _, ok := op.lines[l]; !ok {
				ps.recombined = false
				if len(op.lines) < maxLinesPerOperation {
					op.lines[l] = struct{}{}
				}
			}
		}
		p.patterns[k] = ps
		op.paths = append(op.paths, ps)
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
func (p *Profile) NovelPattern(service, entry, operation string, pattern uint64) bool {
	op, k, ps, ok := p.path(service, entry, operation, pattern)
	if !ok {
		return false
	}
	if (ps == nil || !p.learn(k, op, ps, p.last)) && p.newPathsSurging(op) {
		return true
	}
	return p.rarePath(op, ps) && p.pathsChanged(op)
}

// UnusualPattern tells whether a span of the operation took a path that is
// evidence once the operation's change is established (NovelPattern): one
// not known yet, of an operation whose new paths are rare, or a rare
// recombination of its lines. Most spans of a change of path take it before
// the window shows the change.
func (p *Profile) UnusualPattern(service, entry, operation string, pattern uint64) bool {
	op, k, ps, ok := p.path(service, entry, operation, pattern)
	if !ok {
		return false
	}
	if _, rare := newPathChance(op); rare && (ps == nil || !p.learn(k, op, ps, p.last)) {
		return true
	}
	return p.rarePath(op, ps)
}

// path returns a span's operation and its path (nil for a path never
// taken); ok is false while the operation is too new to judge.
func (p *Profile) path(service, entry, operation string, pattern uint64) (op *opState, k patternKey, ps *patternState, ok bool) {
	k = patternKey{opKey{service, entry, operation}, pattern}
	op = p.operations[k.opKey]
	if op == nil || p.last-op.first < buckets {
		return nil, k, nil, false
	}
	return op, k, p.patterns[k], true
}

// newPathsSurging: new paths are rare for the operation (Good-Turing's
// estimate of the chance that a span takes one, the share of its spans
// whose path was seen once, is below surprise), and the window's spans take
// paths not known yet, this one included, more often than that chance
// makes likely. One span on a path not seen in a hundred is not yet a
// change: the next hundred may well hold one.
func (p *Profile) newPathsSurging(op *opState) bool {
	chance, rare := newPathChance(op)
	if !rare {
		return false
	}
	spans, _ := op.spans.split(p.last)
	n := 1 // this span's
	for _, ps := range op.paths {
		if !ps.known {
			n += ps.spans.window(p.last)
		}
	}
	return binomialTail(n, spans+1, chance) < surprise
}

// newPathChance is Good-Turing's estimate of the chance that the
// operation's next span takes a path not seen yet; rare when below
// surprise, the only case in which a new path can be evidence.
func newPathChance(op *opState) (chance float64, rare bool) {
	chance = float64(max(op.singles, 1)) / float64(op.spans.total)
	return chance, chance < surprise
}

// rarePath: ps is a recombination of the operation's lines that it took in
// fewer than one span in ten before the window. The first span of a new
// path is none: its lines are not known yet.
func (p *Profile) rarePath(op *opState, ps *patternState) bool {
	if ps == nil {
		return false
	}
	_, before := op.spans.split(p.last)
	_, k := ps.spans.split(p.last)
	return rare(ps, k, before)
}

// rareShare: a path taken in fewer than one span in rareShare is rare.
const rareShare = 10

// rare: the path ps, taken k times in before spans of its operation's
// history, is a recombination of the operation's lines taken in fewer than
// one span in rareShare.
func rare(ps *patternState, k, before int) bool {
	return ps.recombined && rareShare*k < before
}

// pathsChanged: the operation's rare and new paths together are taken by
// half of the window's spans at least, beyond what its history makes likely
// and beyond what paths at the bound of rarity would give. Judged once a
// bucket: an operation may have many paths.
func (p *Profile) pathsChanged(op *opState) bool {
	if op.judged == p.last {
		return op.changed
	}
	op.judged, op.changed = p.last, false
	if !p.judgedAt(p.last) {
		return false
	}
	spans, before := op.spans.split(p.last)
	n, k := 0, 0
	for _, ps := range op.paths {
		if pn, pk := ps.spans.split(p.last); rare(ps, pk, before) {
			n, k = n+pn, k+pk
		}
	}
	op.changed = 2*n >= spans &&
		binomialTail(n, spans, 1.0/rareShare) < surprise &&
		betaBinomialTail(n, spans, 0.5+float64(k), 0.5+float64(before-k)) < surprise
	return op.changed
}

// binomialTail is P(X >= n) for X the successes in trials of chance p.
func binomialTail(n, trials int, p float64) float64 {
	if n <= 0 {
		return 1
	}
	if n > trials {
		return 0
	}
	// The terms from x = n on, each from the one before.
	lg := func(x float64) float64 { v, _ := math.Lgamma(x); return v }
	N, fn := float64(trials), float64(n)
	ways := math.Round(math.Exp(lg(N+1) - lg(fn+1) - lg(N-fn+1)))
	term := ways * math.Pow(p, fn) * math.Pow(1-p, N-fn)
	tail := 0.0
	for x := n; x <= trials && term > 0; x++ {
		tail += term
		fx := float64(x)
		term *= (N - fx) / (fx + 1) * p / (1 - p)
	}
	return min(1, tail)
}
