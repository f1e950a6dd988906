package rootcauseprocessor

import (
	"context"
	"encoding/binary"
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
// opens then, on the service, with those requests, its CPU as evidence and
// in its reason. Without the report, with one below the limit, or with the
// service at its limit all along (no change), the same requests open
// nothing.
func TestACPUReportAfterTheSlowRequestsNamesTheirCause(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reports []float64 // every minute from t0; the last after the slow requests
		want    bool
	}{
		{"at its limit", []float64{0.02, 0.02, 0.97}, true},
		{"below its limit", []float64{0.02, 0.02, 0.30}, false},
		{"no report", nil, false},
		{"at its limit for minutes", []float64{0.97, 0.97, 0.97}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MinTraces, cfg.MinShare = 3, 0.05
			cfg.ResolveAfter = createDefaultConfig().(*Config).ResolveAfter
			h := newHarness(t, cfg)
			r := rand.New(rand.NewPCG(5, 6))
			ledger := func(n uint64, at time.Time, own float64) {
				b := newTrace(n, at)
				root := b.span(nil, "shop", "GET /cart", server, 0, 12+own+jitter(r, 2))
				call := b.span(&root, "shop", "POST /entries", client, 2, 9+own)
				b.span(&call, "ledger", "POST /entries", server, 3, 8+own)
				h.consume(b.td, plog.NewLogs())
			}
			shop := func(n uint64, at time.Time) {
				b := newTrace(n, at)
				b.span(nil, "shop", "GET /", server, 0, 10+jitter(r, 2))
				h.consume(b.td, plog.NewLogs())
			}
			t0 := epoch
			report := func(i int) {
				if i < len(tc.reports) {
					require.NoError(t, h.metrics.ConsumeMetrics(context.Background(), cpuReport("ledger", t0.Add(time.Duration(i)*time.Minute), tc.reports[i])))
				}
			}
			if tc.name == "at its limit for minutes" {
				// Below its limit 3 minutes before, at it since: no change now.
				for m, u := range []float64{0.02, 0.97, 0.97} {
					require.NoError(t, h.metrics.ConsumeMetrics(context.Background(), cpuReport("ledger", t0.Add(time.Duration(m-3)*time.Minute), u)))
				}
			}
			for i := range 300 { // a minute of normal requests through ledger
				at := t0.Add(time.Duration(i) * 200 * time.Millisecond)
				if i == 0 {
					report(0)
				}
				ledger(uint64(i+1), at, jitter(r, 2))
				h.advance(200 * time.Millisecond)
			}
			report(1)
			// Two requests slowed 60×, fewer than min_traces, then shop's
			// traffic alone; the report of the minute comes 50 s after them.
			slowAt := t0.Add(62 * time.Second)
			ledger(1001, slowAt, 300)
			ledger(1002, slowAt.Add(8*time.Second), 300)
			for i := range 400 {
				at := slowAt.Add(time.Duration(i) * 200 * time.Millisecond)
				if at.Equal(t0.Add(2 * time.Minute)) {
					report(2)
				}
				shop(uint64(2000+i), at)
				h.advance(200 * time.Millisecond)
			}
			var ledgerIncident map[string]any
			for _, rec := range h.incidentRecords() {
				if a := rec.Attributes().AsRaw(); a["rca.culprit.service"] == "ledger" {
					ledgerIncident = a
				}
			}
			if !tc.want {
				assert.Nil(t, ledgerIncident, "slow requests no rise of the CPU explains open no incident")
				return
			}
			require.NotNil(t, ledgerIncident, "the CPU report names the cause of the slow requests")
			assert.EqualValues(t, 2, ledgerIncident["rca.trace_count"], "the two slowed requests, no normal one")
			ids := fmt.Sprint(ledgerIncident["rca.trace_ids"])
			assert.Contains(t, ids, traceIDHex(1001))
			assert.Contains(t, ids, traceIDHex(1002))
			assert.Contains(t, ledgerIncident["rca.reason"], "its CPU at 97% of its limit, up from 2%")
			assert.Contains(t, fmt.Sprint(ledgerIncident), "at its CPU limit")
		})
	}
}

// traceIDHex is the hex trace ID newTrace gives trace n.
func traceIDHex(n uint64) string {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], 0x5eed)
	binary.BigEndian.PutUint64(id[8:], n)
	return id.String()
}
