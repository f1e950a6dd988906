package rootcauseprocessor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// A slow service at its CPU limit says so in its incident's reason, and from
// which level it rose: the first metric a person checks for a CPU fault.
func TestASaturatedCulpritSaysHowClose(t *testing.T) {
	h := newHarness(t, testConfig())
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 450 {
		at := epoch.Add(time.Duration(i) * 200 * time.Millisecond)
		faulty := i >= 400
		if i == 300 || i == 400 {
			md := pmetric.NewMetrics()
			rm := md.ResourceMetrics().AppendEmpty()
			rm.Resource().Attributes().PutStr("service.name", "catalog")
			g := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
			g.SetName("k8s.pod.cpu_limit_utilization")
			dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
			dp.SetTimestamp(pcommon.NewTimestampFromTime(at))
			dp.SetDoubleValue(0.05)
			if faulty {
				dp.SetDoubleValue(0.97)
			}
			require.NoError(t, h.metrics.ConsumeMetrics(context.Background(), md))
		}
		b := catalog(uint64(i+1), at, r, faulty)
		h.consume(b.td, b.ld)
		h.advance(200 * time.Millisecond)
	}
	h.advance(h.shared.cfg.DecisionWait + 2*h.shared.tickInterval())
	recs := h.incidentRecords()
	require.NotEmpty(t, recs)
	a := recs[0].Attributes().AsRaw()
	assert.Equal(t, "catalog", a["rca.culprit.service"])
	assert.Contains(t, a["rca.reason"], "its CPU at 97% of its limit, up from 5%")
}

// cpuReport is a pod's CPU report for service: utilization of its limit at at.
func cpuReport(service string, at time.Time, utilization float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", service)
	g := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	g.SetName("k8s.pod.cpu_limit_utilization")
	dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(at))
	dp.SetDoubleValue(utilization)
	return md
}

// A low-rate service slowed by a CPU hog sends too few slow requests to
// open an incident (min_traces); its pod's CPU report, which comes after
// them (it averages the minute before it), names their cause: the incident
// opens then, on the service, with its CPU as evidence. Without the report,
// or with one below the limit, the same requests open nothing.
func TestACPUReportAfterTheSlowRequestsNamesTheirCause(t *testing.T) {
	for _, tc := range []struct {
		name   string
		report float64 // 0: none
		want   bool
	}{
		{"at its limit", 0.97, true},
		{"below its limit", 0.30, false},
		{"no report", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MinTraces, cfg.MinShare = 3, 0.05
			h := newHarness(t, cfg)
			r := rand.New(rand.NewPCG(5, 6))
			ledger := func(n uint64, at time.Time, own float64) {
				b := newTrace(n, at)
				root := b.span(nil, "shop", "GET /cart", server, 0, 12+own+jitter(r, 2))
				call := b.span(&root, "shop", "POST /entries", client, 2, 9+own)
				b.span(&call, "ledger", "POST /entries", server, 3, 8+own)
				h.consume(b.td, plog.NewLogs())
			}
			t0 := epoch
			require.NoError(t, h.metrics.ConsumeMetrics(context.Background(), cpuReport("ledger", t0, 0.02)))
			for i := range 300 {
				ledger(uint64(i+1), t0.Add(time.Duration(i)*200*time.Millisecond), jitter(r, 2))
				h.advance(200 * time.Millisecond)
			}
			// Two requests slowed 60× within a minute: fewer than min_traces.
			slowAt := t0.Add(62 * time.Second)
			ledger(1001, slowAt, 300)
			ledger(1002, slowAt.Add(10*time.Second), 300)
			for i := range 100 { // the rest of the traffic: normal requests of shop alone
				b := newTrace(uint64(2000+i), slowAt.Add(time.Duration(i)*200*time.Millisecond))
				b.span(nil, "shop", "GET /", server, 0, 10+jitter(r, 2))
				h.consume(b.td, plog.NewLogs())
				h.advance(200 * time.Millisecond)
				if i == 60 && tc.report > 0 {
					require.NoError(t, h.metrics.ConsumeMetrics(context.Background(), cpuReport("ledger", t0.Add(2*time.Minute), tc.report)))
				}
			}
			// Time passes with traffic after the report, so that it is in effect.
			for i := range 100 {
				b := newTrace(uint64(3000+i), t0.Add(2*time.Minute).Add(time.Duration(i)*200*time.Millisecond))
				b.span(nil, "shop", "GET /", server, 0, 10+jitter(r, 2))
				h.consume(b.td, plog.NewLogs())
				h.advance(200 * time.Millisecond)
			}
			var ledgerIncident map[string]any
			for _, rec := range h.incidentRecords() {
				if a := rec.Attributes().AsRaw(); a["rca.culprit.service"] == "ledger" {
					ledgerIncident = a
				}
			}
			if !tc.want {
				assert.Nil(t, ledgerIncident, "slow requests no report explains open no incident")
				return
			}
			require.NotNil(t, ledgerIncident, "the CPU report names the cause of the slow requests")
			assert.Contains(t, ledgerIncident["rca.reason"], "its CPU at 97% of its limit, up from 2%")
			assert.Contains(t, fmt.Sprint(ledgerIncident), "at its CPU limit")
		})
	}
}
