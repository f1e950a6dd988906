package rootcauseprocessor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/incidentrecord"
)

// foodRequest is a request to food that fails with msg, or succeeds when
// msg is "". It is as fast either way: food fails at once.
func foodRequest(n uint64, start time.Time, msg string) *traceBuilder {
	b := newTrace(n, start)
	g := b.span(nil, "gateway", "GET /foods", server, 0, 12)
	c := b.span(&g, "gateway", "GET /foods", client, 1, 11)
	if msg == "" {
		b.span(&c, "food", "GET /foods", server, 2, 10)
		return b
	}
	c.Status().SetCode(ptrace.StatusCodeError)
	f := b.span(&c, "food", "GET /foods", server, 2, 10, errorStatus(msg), attr("http.response.status_code", 500))
	b.log("food", plog.SeverityNumberError, msg, f)
	return b
}

// foodIncidents are the published incidents of food, by ID: their latest
// record.
func foodIncidents(t *testing.T, h *harness) map[string]incidentrecord.Record {
	out := map[string]incidentrecord.Record{}
	for _, ld := range h.lsink.AllLogs() {
		for rec, err := range incidentrecord.All(ld) {
			require.NoError(t, err)
			if rec.Service == "food" {
				out[rec.ID] = rec
			}
		}
	}
	return out
}

// TestAChronicErrorDoesNotCarryANewOneThroughTheGate: food has failed one
// request in two with the same error for minutes. Two requests failing with
// an error new to it are below min_traces (3), however many of its usual
// failures come with them; a third opens the incident. Before, the usual
// failures counted toward the new error's incident, which was published at
// the first new failure and outranked by its size the service that changed.
func TestAChronicErrorDoesNotCarryANewOneThroughTheGate(t *testing.T) {
	cfg := testConfig()
	cfg.MinTraces = 3
	h := newHarness(t, cfg)
	n := uint64(0)
	second := func(msgs ...string) {
		for _, msg := range msgs {
			n++
			b := foodRequest(n, h.clock.Now(), msg)
			h.consume(b.td, b.ld)
		}
		h.advance(time.Second)
	}
	const usual = "foodStoresListResult is null"
	// Three minutes of history: a standing condition at first (nothing to
	// judge it by), the service's usual failures after.
	for range 180 {
		second("", usual)
	}
	h.advance(cfg.ResolveAfter + cfg.DecisionWait)
	before := foodIncidents(t, h)

	const fresh = "NullPointerException in FoodController.getAllFood while reading the store list"
	second("", usual, fresh)
	for range 5 {
		second("", usual)
	}
	second("", usual, fresh)
	for range 5 {
		second("", usual)
	}
	h.advance(cfg.DecisionWait + cfg.UpdateInterval)
	assert.Equal(t, before, foodIncidents(t, h), "two new failures and the usual ones: no new incident")

	second("", usual, fresh)
	h.advance(cfg.DecisionWait + cfg.UpdateInterval)
	opened := 0
	for id, rec := range foodIncidents(t, h) {
		if _, ok := before[id]; ok {
			continue
		}
		opened++
		assert.Contains(t, rec.Reason, "FoodController.getAllFood")
		assert.False(t, rec.Standing)
	}
	assert.Equal(t, 1, opened, "the third new failure opens the incident")
}
