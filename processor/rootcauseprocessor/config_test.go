package rootcauseprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/confmap/xconfmap"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	tests := []struct {
		id        component.ID
		expected  func(*Config)
		errSubstr string
	}{
		{id: component.NewID(metadata.Type), expected: func(*Config) {}},
		{
			id: component.NewIDWithName(metadata.Type, "custom"),
			expected: func(c *Config) {
				c.DecisionWait = 2 * time.Second
				c.MaxTraces = 1000
				c.MaxSpansPerTrace = 200
				c.DecidedCacheSize = 0
				c.Objectives = []Objective{
					{Service: "payment", Operation: "POST /pay", Latency: 300 * time.Millisecond},
					{Service: "catalog", Latency: time.Second},
				}
				c.Baseline = BaselineConfig{Quantile: 0.95, Multiplier: 1.5, MinExcess: 20 * time.Millisecond, Warmup: 10, MaxOperations: 100, MaxOperationsPerService: 20}
				c.IncidentWindow = 30 * time.Second
				c.ResolveAfter = time.Minute
				c.UpdateInterval = 10 * time.Second
				c.MaxExemplarsPerDataPoint = 3
				c.ExemplarLookback = 30 * time.Second
				c.LogWait = time.Second
				c.MaxHeldLogs = 100
				c.IncidentRecords.ResourceAttributes = map[string]string{"data_stream.dataset": "", "data_stream.namespace": "prod"}
			},
		},
		{id: component.NewIDWithName(metadata.Type, "shard"), expected: func(c *Config) { c.Mode = ModeShard }},
		{id: component.NewIDWithName(metadata.Type, "bad_mode"), errSubstr: `mode: must be standalone, shard or incidents, got "gateway"`},
		{id: component.NewIDWithName(metadata.Type, "bad_wait"), errSubstr: "decision_wait: must be positive, got -1s"},
		{id: component.NewIDWithName(metadata.Type, "typo"), errSubstr: "decision_wiat"},
		{id: component.NewIDWithName(metadata.Type, "bad_quantile"), errSubstr: "baseline.quantile: must be in (0, 1), got 1.5"},
		{id: component.NewIDWithName(metadata.Type, "bad_objective"), errSubstr: "objectives[0].service: must not be empty"},
		{id: component.NewIDWithName(metadata.Type, "bad_objective"), errSubstr: "objectives[0].latency: must be positive, got 0s"},
		{id: component.NewIDWithName(metadata.Type, "bad_spans"), errSubstr: "max_spans_per_trace: must be at least 1, got 0"},
		{id: component.NewIDWithName(metadata.Type, "bad_logs"), errSubstr: "max_held_logs: must not be negative, got -1"},
		{id: component.NewIDWithName(metadata.Type, "bad_logs"), errSubstr: "log_wait: must not be negative, got -1s"},
		{id: component.NewIDWithName(metadata.Type, "bad_gate"), errSubstr: "min_traces: must be at least 1, got 0"},
		{id: component.NewIDWithName(metadata.Type, "bad_gate"), errSubstr: "min_share: must be within [0, 1], got 1.5"},
		// A number without a unit is nanoseconds: named as the likely mistake.
		{id: component.NewIDWithName(metadata.Type, "no_unit"), errSubstr: "decision_wait: 5ns is below 1ms; a number without a unit is nanoseconds: write the unit"},
		{id: component.NewIDWithName(metadata.Type, "no_unit"), errSubstr: "incident_window: 60ns is below 1s"},
		// Sizes that would hold gigabytes are refused, not preallocated.
		{id: component.NewIDWithName(metadata.Type, "too_big"), errSubstr: "decided_cache_size: must be at most 10000000, got 50000000"},
		{id: component.NewIDWithName(metadata.Type, "too_big"), errSubstr: "decision_wait: must be at most 10m0s, got 1h0m0s"},
		// A fraction is not truncated, nor a number too large for an
		// integer wrapped around (it was reported as -9223372036854775808).
		{id: component.NewIDWithName(metadata.Type, "fraction"), errSubstr: "max_spans_per_trace: must be a whole number, got 2.5"},
		{id: component.NewIDWithName(metadata.Type, "fraction"), errSubstr: "baseline.warmup: must be a whole number, got 1.5"},
		{id: component.NewIDWithName(metadata.Type, "overflow"), errSubstr: "max_traces: must be a whole number no larger than 9223372036854775807, got 1e+20"},
		{id: component.NewIDWithName(metadata.Type, "overflow"), errSubstr: "decided_cache_size: must be a whole number no larger than 9223372036854775807, got 10000000000000000000"},
		{id: component.NewIDWithName(metadata.Type, "overflow"), errSubstr: "min_traces: must be a whole number no smaller than -9223372036854775808, got -1e+20"},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			err = sub.Unmarshal(cfg)
			if err == nil {
				err = xconfmap.Validate(cfg)
			}
			if tt.errSubstr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.errSubstr)
				return
			}
			require.NoError(t, err)
			want := createDefaultConfig().(*Config)
			tt.expected(want)
			assert.Equal(t, want, cfg)
		})
	}
}
