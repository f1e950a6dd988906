package profile // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/profile"

import (
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/bounded"
)

// saturatedAt is the share of its CPU limit from which a pod is saturated:
// the kernel throttles a container that reaches its CFS quota, and at 80% of
// it bursts already do; its requests then wait for CPU, whatever they do.
const saturatedAt = 0.8

// Saturation remembers the latest CPU utilizations each service reported in
// its metrics, as a share of its limit. It is safe for concurrent use: the
// metrics pipelines write it, the decision loop reads it, at its own event
// time: the report in effect then, not a later one that arrived early in the
// same batch, so that a verdict does not depend on how the metrics were
// batched against the traces.
type Saturation struct {
	mu     sync.Mutex
	latest map[string]*reports
	max    int
	// rejected counts services not tracked because max was reached.
	rejected bounded.Tally
}

type sample struct {
	at    time.Time
	ratio float64
	// prev is the time of the service's report before it, zero when none.
	prev time.Time
	// normal is the latest earlier report below saturation, if any: what
	// the service used before it reached its limit; normalAt its time.
	normal    float64
	normalAt  time.Time
	hasNormal bool
}

// keptReports is how many of a service's latest reports are kept: enough
// for the decisions to read the one in effect at their time while a batch
// of a minute of metrics arrived ahead of its traces, and for a slow visit
// to find the report that describes it two intervals later (RoseNear) with
// reports of several pods interleaved.
const keptReports = 8

// reports are a service's latest reports, oldest first.
type reports struct {
	n    int
	kept [keptReports]sample
}

// at is the latest report at or before now, nil when none.
func (r *reports) at(now time.Time) *sample {
	for i := r.n - 1; i >= 0; i-- {
		if !r.kept[i].at.After(now) {
			return &r.kept[i]
		}
	}
	return nil
}

// NewSaturation tracks at most maxServices services; zero means no bound.
func NewSaturation(maxServices int) *Saturation {
	return &Saturation{latest: map[string]*reports{}, max: maxServices}
}

// isUtilization tells the metrics that report CPU use as a share of the
// limit (or of the available CPU): k8s.pod.cpu_limit_utilization,
// k8s.container.cpu_limit_utilization, container.cpu.utilization,
// process.cpu.utilization.
func isUtilization(name string) bool {
	return strings.HasSuffix(name, "cpu_limit_utilization") ||
		name == "container.cpu.utilization" || name == "process.cpu.utilization"
}

// Observe reads the CPU utilization gauges of md, by service.name.
func (s *Saturation) Observe(md pmetric.Metrics) {
	for _, rm := range md.ResourceMetrics().All() {
		v, ok := rm.Resource().Attributes().Get("service.name")
		if !ok || v.Str() == "" {
			continue
		}
		service := v.Str()
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Type() != pmetric.MetricTypeGauge || !isUtilization(m.Name()) {
					continue
				}
				for _, dp := range m.Gauge().DataPoints().All() {
					if dp.Timestamp() == 0 {
						continue // no time: it describes no interval
					}
					ratio := dp.DoubleValue()
					if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
						ratio = float64(dp.IntValue())
					}
					s.put(service, dp.Timestamp().AsTime(), ratio)
				}
			}
		}
	}
}

func (s *Saturation) put(service string, at time.Time, ratio float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.latest[service]
	if !ok {
		if s.max > 0 && len(s.latest) >= s.max {
			s.rejected.Add(1)
			return
		}
		r = &reports{}
		s.latest[service] = r
	}
	next := sample{at: at, ratio: ratio}
	if r.n > 0 {
		old := &r.kept[r.n-1]
		next.prev = old.at
		switch {
		case old.at.Equal(at) || !old.prev.IsZero() && at.Sub(old.at) < old.at.Sub(old.prev)/4:
			// Several pods of a service report a moment apart: one round,
			// the busiest of them (a round is well within the interval).
			old.ratio = max(ratio, old.ratio)
			return
		case old.at.After(at):
			return
		case old.ratio < saturatedAt:
			next.normal, next.normalAt, next.hasNormal = old.ratio, old.at, true
		default:
			next.normal, next.normalAt, next.hasNormal = old.normal, old.normalAt, old.hasNormal
		}
	}
	if r.n == keptReports {
		copy(r.kept[:], r.kept[1:])
		r.n--
	}
	r.kept[r.n] = next
	r.n++
}

// Before is the service's utilization in its last report below saturation
// before the one in effect at now: the level it rose from. False when none
// is known.
func (s *Saturation) Before(service string, now time.Time) (float64, bool) {
	x, ok := s.reportAt(service, now)
	return x.normal, ok && x.hasNormal
}

// reportAt is a copy of the service's latest report at or before now.
func (s *Saturation) reportAt(service string, now time.Time) (sample, bool) {
	if s == nil {
		return sample{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.latest[service]; r != nil {
		if x := r.at(now); x != nil {
			return *x, true
		}
	}
	return sample{}, false
}

// RoseNear finds the service's CPU report at its limit, risen there from
// below it, that may describe event time t: a report averages the
// utilization over the interval since the service's previous report, so one
// describes the interval before it, and its collection lags by up to
// another interval, so a report from one interval before t to two after it
// may. The interval is the longest gap between the service's kept reports
// (pods that report a moment apart make short gaps). Risen means a report
// below the limit came at most two intervals before it: a service that
// stays at its limit is no new change, whatever it was before. Ratio is its
// utilization, normal the level it rose from. Only the reports of event
// time asOf or before count, so that the answer does not depend on how the
// metrics were batched against the traces. Decided is true once no later
// report can describe t.
func (s *Saturation) RoseNear(service string, t, asOf time.Time) (ratio, normal float64, found, decided bool) {
	if s == nil {
		return 0, 0, false, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.latest[service]
	if r == nil {
		return 0, 0, false, false
	}
	var interval time.Duration
	for i := 0; i < r.n; i++ {
		x := &r.kept[i]
		if x.at.After(asOf) {
			break
		}
		if x.prev.IsZero() {
			continue // no interval known: the service's first report
		}
		interval = max(interval, x.at.Sub(x.prev))
		if !x.at.Before(t.Add(2 * interval)) {
			decided = true
		}
		risen := x.hasNormal && x.at.Sub(x.normalAt) <= 2*interval
		if !found && x.ratio >= saturatedAt && risen && !x.at.Before(t.Add(-interval)) && !x.at.After(t.Add(2*interval)) {
			ratio, normal, found = x.ratio, x.normal, true
		}
	}
	return ratio, normal, found, decided
}

// Reports tells whether the service reported its CPU utilization at event
// time asOf or before (so that metrics batched ahead of traces do not
// change the answer).
func (s *Saturation) Reports(service string, asOf time.Time) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.latest[service]
	return r != nil && r.n > 0 && !r.kept[0].at.After(asOf)
}

// AtLimit tells whether a utilization of ratio of the CPU limit saturates
// the pod.
func AtLimit(ratio float64) bool { return ratio >= saturatedAt }

// Saturated reports whether the service's latest report, at most within
// before now, had it at its CPU limit.
func (s *Saturation) Saturated(service string, now time.Time, within time.Duration) bool {
	u, ok := s.Utilization(service, now, within)
	return ok && u >= saturatedAt
}

// Utilization is the share of its CPU limit the service's latest report at
// or before now, at most within old, showed; false when there is none.
func (s *Saturation) Utilization(service string, now time.Time, within time.Duration) (float64, bool) {
	x, ok := s.reportAt(service, now)
	if !ok || x.at.Before(now.Add(-within)) {
		return 0, false
	}
	return x.ratio, true
}

// TakeRejected returns, and resets, the services not tracked.
func (s *Saturation) TakeRejected() int64 { return s.rejected.Take() }
