package simulate

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/builtin"
	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/model"
)

var t0 = time.Date(2026, 3, 2, 13, 0, 0, 0, time.UTC)

func builtinScenario(t testing.TB, name string) *model.Scenario {
	t.Helper()
	data, err := builtin.YAML(name)
	require.NoError(t, err)
	sc, err := model.Parse(data)
	require.NoError(t, err)
	return sc
}

// run steps an engine every step for d and collects everything it emits.
type collected struct {
	traces  []ptrace.Traces
	logs    []plog.Logs
	metrics []pmetric.Metrics
	truth   []GroundTruth
	stats   Stats
}

func run(t testing.TB, e *Engine, d, step time.Duration) *collected {
	t.Helper()
	c := &collected{}
	for now := t0; !now.After(t0.Add(d)); now = now.Add(step) {
		out := e.Advance(now)
		c.traces = append(c.traces, out.Traces)
		c.logs = append(c.logs, out.Logs)
		if out.Metrics.ResourceMetrics().Len() > 0 {
			c.metrics = append(c.metrics, out.Metrics)
		}
		c.truth = append(c.truth, out.Truth...)
		c.stats.Requests += out.Stats.Requests
		c.stats.Spans += out.Stats.Spans
		c.stats.LogRecords += out.Stats.LogRecords
		c.stats.DataPoints += out.Stats.DataPoints
		c.stats.FaultWindows += out.Stats.FaultWindows
	}
	return c
}
