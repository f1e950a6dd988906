package rootcauseprocessor

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
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
