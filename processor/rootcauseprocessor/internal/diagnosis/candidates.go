package diagnosis // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/diagnosis"

import (
	"cmp"
	"slices"
)

// Scores of one trace's suspects. The culprit scores 1; the rest share what
// is left by how much they contributed.
const (
	scoreCulprit    = 1.0
	scoreFailed     = 0.5  // a failed span on the failure's way up, scaled by depth
	scoreOnPath     = 0.6  // a critical-path span, scaled by its excess over the largest
	scoreBystander  = 0.05 // any other span
	dependencyShare = 0.9  // an uninstrumented dependency, relative to its caller's span
)

// candidates scores every service and uninstrumented dependency in the trace.
func (d *Diagnoser) candidates(spans []Span, v *Verdict, b Baselines) []Candidate {
	maxDepth, maxExcess := int32(1), int64(1)
	for i := range spans {
		if d.ignored[i] {
			continue
		}
		maxDepth = max(maxDepth, d.depth[i])
		if d.onPath[i] {
			maxExcess = max(maxExcess, d.excess(spans, i, b))
		}
	}
	var out []Candidate
	bump := func(name string, score float64, ev Evidence) {
		if name == "" {
			return
		}
		for k := range out {
			if out[k].Name == name {
				out[k].Score = max(out[k].Score, score)
				out[k].Evidence |= ev
				return
			}
		}
		out = append(out, Candidate{Name: name, Score: score, Evidence: ev})
	}
	for i := range spans {
		if d.ignored[i] {
			continue
		}
		s := &spans[i]
		score, ev := scoreBystander, Evidence(0)
		switch {
		case i == v.Culprit:
			score, ev = scoreCulprit, EvidenceOrigin
		case v.Kind == KindError && d.failed[i]:
			score, ev = scoreFailed*float64(d.depth[i]+1)/float64(maxDepth+1), EvidenceFailed
		case d.onPath[i]:
			if e := d.excess(spans, i, b); e > 0 {
				score = max(score, scoreOnPath*float64(e)/float64(maxExcess))
				// More than twice its usual time, not merely its share of
				// the path.
				if typ, ok := b.Typical(s.Service, s.Name); ok && e > int64(typ) {
					ev = EvidenceSlow
				}
			}
		}
		bump(s.Service, score, ev)
		if s.outbound() && d.serverChild(spans, int32(i)) < 0 {
			bump(s.dependency(), score*dependencyShare, ev)
		}
	}
	// The services the trace blames for excess beyond their parts' usual
	// latency (the blame that picks a latency culprit) were slow in it:
	// scored by their share of the largest blame, as the critical path's.
	maxBlame := 0.0
	for _, bl := range v.Blames {
		maxBlame = max(maxBlame, float64(bl.Excess))
	}
	for _, bl := range v.Blames {
		if bl.Excess > 0 {
			bump(bl.Service, scoreOnPath*float64(bl.Excess)/maxBlame, EvidenceSlow)
		}
	}
	slices.SortFunc(out, func(a, b Candidate) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Name, b.Name))
	})
	return out
}

func (d *Diagnoser) excess(spans []Span, i int, b Baselines) int64 {
	e := d.cpSelf[i]
	if typ, ok := b.Typical(spans[i].Service, spans[i].Name); ok {
		e -= int64(typ)
	}
	return e
}
