package profile

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func utilization(service, name string, at time.Time, ratios ...float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	if service != "" {
		rm.Resource().Attributes().PutStr("service.name", service)
	}
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName(name)
	g := m.SetEmptyGauge()
	for _, r := range ratios {
		dp := g.DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(at))
		dp.SetDoubleValue(r)
	}
	return md
}

func TestSaturation(t *testing.T) {
	s := NewSaturation(2)
	s.Observe(utilization("food", "k8s.pod.cpu_limit_utilization", t0, 0.2, 0.97))
	s.Observe(utilization("order", "container.cpu.utilization", t0, 0.5))
	s.Observe(utilization("basic", "k8s.pod.memory_limit_utilization", t0, 0.99))
	s.Observe(utilization("", "k8s.pod.cpu_limit_utilization", t0, 0.99))

	assert.True(t, s.Saturated("food", t0.Add(30*time.Second), time.Minute), "the busiest pod of the service")
	assert.False(t, s.Saturated("food", t0.Add(2*time.Minute), time.Minute), "an old report says nothing now")
	assert.False(t, s.Saturated("order", t0, time.Minute), "half its limit")
	assert.False(t, s.Saturated("basic", t0, time.Minute), "memory is not CPU")

	s.Observe(utilization("food", "k8s.pod.cpu_limit_utilization", t0.Add(-time.Minute), 0.1))
	assert.True(t, s.Saturated("food", t0.Add(time.Second), time.Minute), "a late, older report does not replace the latest")
	s.Observe(utilization("travel", "process.cpu.utilization", t0, 0.9))
	assert.Equal(t, int64(1), s.TakeRejected(), "beyond two services")
	assert.False(t, (*Saturation)(nil).Saturated("food", t0, time.Minute))
}

// The level a service rose from is its last report below saturation, kept
// while it stays saturated.
func TestSaturationRemembersTheLevelBefore(t *testing.T) {
	s := NewSaturation(0)
	s.Observe(utilization("food", "k8s.pod.cpu_limit_utilization", t0, 0.01))
	_, ok := s.Before("food", t0)
	assert.False(t, ok, "nothing before the first report")
	s.Observe(utilization("food", "k8s.pod.cpu_limit_utilization", t0.Add(time.Minute), 0.07))
	s.Observe(utilization("food", "k8s.pod.cpu_limit_utilization", t0.Add(2*time.Minute), 0.997))
	s.Observe(utilization("food", "k8s.pod.cpu_limit_utilization", t0.Add(3*time.Minute), 0.999))
	before, ok := s.Before("food", t0.Add(3*time.Minute))
	assert.True(t, ok)
	assert.InDelta(t, 0.07, before, 1e-9)
}

// TestSaturationIsReadAtTheDecisionsTime: a minute of metrics that arrived
// ahead of its traces (one large batch) does not tell a decision of the
// minute's start what the CPU did at its end; each decision reads the report
// in effect at its own event time, as it would had the reports come as they
// were made.
func TestSaturationIsReadAtTheDecisionsTime(t *testing.T) {
	s := NewSaturation(0)
	for i, r := range []float64{0.02, 0.03, 0.99} {
		s.Observe(utilization("contacts", "k8s.pod.cpu_limit_utilization", t0.Add(time.Duration(i)*time.Minute), r))
	}
	assert.False(t, s.Saturated("contacts", t0.Add(90*time.Second), time.Minute), "at 1m30s the report in effect is the second")
	assert.True(t, s.Saturated("contacts", t0.Add(2*time.Minute), time.Minute))
	_, ok := s.Utilization("contacts", t0.Add(-time.Second), time.Minute)
	assert.False(t, ok, "nothing reported yet then")
	before, _ := s.Before("contacts", t0.Add(2*time.Minute))
	assert.InDelta(t, 0.03, before, 1e-9)
}

// A CPU report averages the interval since the service's previous one and
// comes up to another interval late: a report at the limit, risen from
// below it, describes a slow request from an interval before it to two
// after; a later report, not yet due at asOf, is not read.
func TestRoseNearReadsTheReportsThatMayDescribeATime(t *testing.T) {
	s := NewSaturation(0)
	base := time.Date(2026, 12, 7, 14, 49, 10, 0, time.UTC)
	for i, u := range []float64{0.01, 0.012, 0.999, 0.85} {
		s.put("food", base.Add(time.Duration(i)*time.Minute), u)
	}
	slow := base.Add(56 * time.Second) // 14:50:06, before the report at 14:51:10 rose
	ratio, normal, found, decided := s.RoseNear("food", slow, base.Add(3*time.Minute))
	require.True(t, found)
	assert.InDelta(t, 0.999, ratio, 1e-9)
	assert.InDelta(t, 0.012, normal, 1e-9)
	assert.True(t, decided)

	_, _, found, decided = s.RoseNear("food", slow, base.Add(90*time.Second))
	assert.False(t, found, "the report at its limit is not due yet")
	assert.False(t, decided)

	_, _, found, _ = s.RoseNear("food", base.Add(-30*time.Second), base.Add(3*time.Minute))
	assert.False(t, found, "two intervals after a request, a report does not describe it")
	_, _, found, _ = s.RoseNear("seat", slow, base.Add(3*time.Minute))
	assert.False(t, found)
}

// A service at its limit for minutes is no new change: a report describes
// a slow request as risen only within two intervals of the last report
// below the limit. Pods that report a moment apart do not shorten the
// interval.
func TestRoseNearOnlyWhileTheRiseIsRecent(t *testing.T) {
	s := NewSaturation(0)
	base := time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)
	for i, u := range []float64{0.02, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95} {
		s.put("food", base.Add(time.Duration(i)*time.Minute), u)
		s.put("food", base.Add(time.Duration(i)*time.Minute+2*time.Second), u/2) // a second pod
	}
	end := base.Add(10 * time.Minute)
	_, _, found, _ := s.RoseNear("food", base.Add(50*time.Second), end)
	assert.True(t, found, "the report that rose describes the minute before it")
	_, _, found, decided := s.RoseNear("food", base.Add(4*time.Minute), end)
	assert.False(t, found, "three minutes at the limit: no rise any more")
	assert.True(t, decided)
}
