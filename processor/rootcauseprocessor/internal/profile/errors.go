package profile // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/profile"

import (
	"math"
	"time"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/logtemplate"
)

// surprise is the chance, per window, that a service's usual errors open an
// incident.
const surprise = 0.01

type errorKey struct {
	service  string
	template logtemplate.ID
}

// counter counts events in the buckets of the window, and in all.
type counter struct {
	total  int
	recent [buckets]struct {
		idx int64
		n   int
	}
}

func (c *counter) add(idx int64) {
	b := &c.recent[idx%buckets]
	switch {
	case b.idx == idx:
	case b.idx > idx:
		return // older than the window
	default:
		b.idx, b.n = idx, 0
	}
	b.n++
	c.total++
}

// window is the count of the window that ends with bucket idx.
func (c *counter) window(idx int64) int {
	if c == nil {
		return 0
	}
	n := 0
	for i := range c.recent {
		if b := &c.recent[i]; b.idx > idx-buckets && b.idx <= idx {
			n += b.n
		}
	}
	return n
}

// split is the count of the window ending at idx and the count before it.
func (c *counter) split(idx int64) (window, history int) {
	if c == nil {
		return 0, 0
	}
	w := c.window(idx)
	return w, c.total - w
}

func (p *Profile) counter(m map[string]*counter, k string) *counter {
	c := m[k]
	if c == nil {
		if p.opts.MaxKeys > 0 && len(m) >= p.opts.MaxKeys {
			p.rejected.Add(1)
			return nil
		}
		c = &counter{}
		m[k] = c
	}
	return c
}

// ObserveTrace records a decided trace, failed or not, through services,
// ended at event time at: the denominators of the services' error ratios.
func (p *Profile) ObserveTrace(at time.Time, services []string) {
	idx := p.at(at)
	p.traces.add(idx)
	for _, svc := range services {
		if c := p.counter(p.traffic, svc); c != nil {
			c.add(idx)
		}
	}
}

// ObserveError records a failed trace blamed on service, ended at event time
// at; template is its error's (a log template, an exception), 0 when unknown.
// The trace itself goes to ObserveTrace too.
func (p *Profile) ObserveError(at time.Time, service string, template logtemplate.ID) {
	idx := p.at(at)
	k := errorKey{service, template}
	c := p.errors[k]
	if c == nil {
		if p.opts.MaxKeys > 0 && len(p.errors) >= p.opts.MaxKeys {
			p.rejected.Add(1)
			return
		}
		c = &counter{}
		p.errors[k] = c
		if len(p.errorKeys[service]) == 0 {
			if c := p.traffic[service]; c != nil {
				p.workedBefore[service] = max(0, c.total-1) // ObserveTrace counted this trace
			}
		}
		p.errorKeys[service] = append(p.errorKeys[service], template)
	}
	c.add(idx)
	g := p.templates[template]
	if g == nil {
		g = &counter{} // bounded with the errors: a template has one service at least
		p.templates[template] = g
	}
	g.add(idx)
}

// errorsSurging: the share of the service's traces that failed with one
// error template in the window is more than its history makes likely: a new
// error, or a known one surging, not the errors the service always logs,
// however busy it is (twice the traffic brings twice the chronic errors, at
// the same share).
//
// The history measures the share only as well as its size allows: one
// failure in one trace says little, sixty in six thousand say much. So the
// window's failures are judged against the share's predictive distribution,
// not a point estimate: a binomial count over the window's traces whose
// share has the Beta posterior of the history's failures and traces, a
// beta-binomial. The prior is the template's share of all traces of the
// history, with the weight of one trace: a template that every service logs
// now and then is less surprising in one more service than a template never
// seen, and the service's own history soon outweighs it. The failures are
// surprising when that would reach them less than once in 1/surprise windows.
func (p *Profile) errorsSurging(service string, idx int64) bool {
	surging, _ := p.errorChange(service, idx)
	return surging
}

// errorChange is errorsSurging, and whether the service failed in the
// window at all (surging or as usual).
func (p *Profile) errorChange(service string, idx int64) (surging, failing bool) {
	for _, t := range p.errorKeys[service] {
		s, f := p.templateChange(service, t, idx)
		if s {
			return true, true
		}
		failing = failing || f
	}
	return false, failing
}

// templateChange is errorChange for one of the service's error templates.
func (p *Profile) templateChange(service string, t logtemplate.ID, idx int64) (surging, failing bool) {
	n, k := p.errors[errorKey{service, t}].split(idx)
	if n == 0 {
		return false, false
	}
	if !p.judgedAt(idx) {
		return true, true // nothing to compare with
	}
	traces, tracesBefore := p.traffic[service].split(idx)
	_, allBefore := p.traces.split(idx)
	_, shared := p.templates[t].split(idx)
	prior := (float64(shared) + 0.5) / (float64(allBefore) + 1)
	a := prior + float64(k)
	b := 1 - prior + float64(max(0, tracesBefore-k))
	return betaBinomialTail(n, max(n, traces), a, b) < surprise, true
}

// TemplateSurging is errorsSurging for one of the service's error templates,
// judged over the window that ends at now (as Changed judges it): true while
// the history is too short to judge, and when the template has no count in
// the window (refused by MaxKeys, or recorded later than the window): an
// error not known to be usual is not taken for a usual one.
func (p *Profile) TemplateSurging(service string, t logtemplate.ID, now time.Time) bool {
	surging, counted := p.templateChange(service, t, min(now.UnixNano()/p.width, p.last))
	return surging || !counted
}

// judgedAt tells whether the history before the window ending at bucket
// idx holds half a window at least: enough to tell a change from what the
// services always do.
func (p *Profile) judgedAt(idx int64) bool {
	inWindow := int64(0)
	for _, b := range p.seen {
		if b > idx-buckets && b <= idx {
			inWindow++
		}
	}
	return p.observed-inWindow >= buckets/2
}

// Judged is the incident store's test of a standing condition: false for a
// service that may have failed this way since the collector started, while
// the history is too short to judge whether that is a change (its errors
// can be neither usual nor new yet); true once it is long enough, and for a
// service that worked before it failed for longer than its current error
// rate makes likely: failing at that rate all along, it would have worked
// through that many requests less than once in 1/surprise.
func (p *Profile) Judged(service string, now time.Time) bool {
	idx := min(now.UnixNano()/p.width, p.last)
	if p.judgedAt(idx) {
		return true
	}
	worked, ok := p.workedBefore[service]
	if !ok {
		return true // no error: nothing standing
	}
	traces := p.traffic[service].window(idx)
	failed := 0
	for _, t := range p.errorKeys[service] {
		failed += p.errors[errorKey{service, t}].window(idx)
	}
	if traces == 0 || failed == 0 {
		return false
	}
	rate := min(1, float64(failed)/float64(traces))
	return worked > 0 && math.Pow(1-rate, float64(worked)) < surprise
}

// betaBinomialTail is P(X >= n) for X the failures among trials whose
// failure probability has the Beta(a, b) distribution.
func betaBinomialTail(n, trials int, a, b float64) float64 {
	if n <= 0 {
		return 1
	}
	if n > trials {
		return 0
	}
	N := float64(trials)
	lb := func(x, y float64) float64 {
		gx, _ := math.Lgamma(x)
		gy, _ := math.Lgamma(y)
		gxy, _ := math.Lgamma(x + y)
		return gx + gy - gxy
	}
	term := math.Exp(lb(a, b+N) - lb(a, b)) // P(X = 0)
	cdf := 0.0
	for x := 0; x < n; x++ {
		cdf += term
		fx := float64(x)
		term *= (N - fx) / (fx + 1) * (a + fx) / (b + N - fx - 1)
	}
	return max(0, 1-cdf)
}
