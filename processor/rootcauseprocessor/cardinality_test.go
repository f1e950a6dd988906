package rootcauseprocessor

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/incidentrecord"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/metadatatest"
)

// TestMadeUpOperationNamesDoNotBlindTheBaselines: traces full of unique span
// names (an ID in the name, or a client sending made-up names on purpose),
// in one service and across many, once filled the learned operations for
// good, and a real operation that came later was never learned: its fault
// went unseen. Now a service's names beyond its limit fold into "(other)"
// and a full table forgets what has no traffic, so the real operation is
// learned and its slow requests open an incident; both bounds are counted.
func TestMadeUpOperationNamesDoNotBlindTheBaselines(t *testing.T) {
	cfg := testConfig()
	cfg.Baseline.MaxOperations = 200
	cfg.Baseline.MaxOperationsPerService = 50
	h := newHarness(t, cfg)

	id := uint64(0)
	next := func() uint64 { id++; return id }
	// One service with a new name per request...
	for range 2 {
		b := newTrace(next(), h.clock.Now().Add(-50*time.Millisecond))
		root := b.span(nil, "spammy", "GET /", server, 0, 40)
		for i := range 300 {
			b.span(&root, "spammy", fmt.Sprintf("GET /session/%d-%d", id, i), ptrace.SpanKindInternal, 1, 2)
		}
		h.consume(b.td, b.ld)
	}
	// ...and many services with names of their own.
	for i := range 250 {
		b := newTrace(next(), h.clock.Now().Add(-50*time.Millisecond))
		b.span(nil, fmt.Sprintf("fake-%d", i), "GET /x", server, 0, 10)
		h.consume(b.td, b.ld)
	}
	h.advance(cfg.DecisionWait + time.Second)
	require.Empty(t, h.incidentRecords())

	for i := range 3 * cfg.Baseline.Warmup {
		b := shopTraceOf(next(), h.clock.Now().Add(-30*time.Millisecond), 20+float64(i%5))
		h.consume(b.td, b.ld)
		h.advance(100 * time.Millisecond)
	}
	for range 3 {
		b := shopTraceOf(next(), h.clock.Now().Add(-500*time.Millisecond), 400)
		h.consume(b.td, b.ld)
		h.advance(100 * time.Millisecond)
	}
	h.advance(cfg.DecisionWait + time.Second)

	recs := h.incidentRecords()
	require.Len(t, recs, 1, "catalog's operation was learned after the flood of names, and its fault seen")
	assert.Equal(t, "catalog", mustStr(t, recs[0].Attributes(), incidentrecord.AttrCulpritService))
	assert.Equal(t, "GET /items", mustStr(t, recs[0].Attributes(), incidentrecord.AttrCulpritOperation))
	// Both bounds are counted, and nothing else was forgotten: spammy's 600
	// made-up names less the 31 held at once beside its root's "GET /"
	// (a service's first 32 names), and the operations the full table of 200
	// forgot or could not learn (profiles and log templates).
	metadatatest.AssertEqualProcessorRootcauseCacheEvictions(t, h.tel, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("cache", "baselines")), Value: 603},
		{Attributes: attribute.NewSet(attribute.String("cache", "operation_names")), Value: 569},
	}, metricdatatest.IgnoreTimestamp())
}
