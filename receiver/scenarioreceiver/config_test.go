package scenarioreceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/confmap/xconfmap"

	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/internal/metadata"
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
			id: component.NewIDWithName(metadata.Type, "login"),
			expected: func(c *Config) {
				c.Scenario = "login_db_pool_exhaustion"
				c.Seed = 42
				c.TimeScale = 720
				c.GroundTruthPath = "/tmp/truth.jsonl"
			},
		},
		{
			id: component.NewIDWithName(metadata.Type, "custom"),
			expected: func(c *Config) {
				c.ScenarioFile = "examples/shop.yaml"
				c.Rate = 50
				c.StartAt = "13:59:30"
				c.FaultSchedule = []string{"at 30s for 1m", "every 10m for 1m"}
				c.Duration = 5 * time.Minute
				c.BatchInterval = 100 * time.Millisecond
				c.MetricsInterval = 5 * time.Second
			},
		},
		{id: component.NewIDWithName(metadata.Type, "unknown"), errSubstr: `scenario: unknown scenario "no_such_scenario"`},
		{id: component.NewIDWithName(metadata.Type, "typo"), errSubstr: "senario"},
		{id: component.NewIDWithName(metadata.Type, "bad_scale"), errSubstr: "time_scale: must be positive and at most 86400 (a simulated day a second), got -2"},
		{id: component.NewIDWithName(metadata.Type, "both"), errSubstr: "scenario and scenario_file: set one, not both"},
		{id: component.NewIDWithName(metadata.Type, "cycle"), errSubstr: "call graph cycle: a GET /a -> b GET /b -> a GET /a"},
		{id: component.NewIDWithName(metadata.Type, "missing_file"), errSubstr: `scenario_file "testdata/nope.yaml": read scenario`},
		{id: component.NewIDWithName(metadata.Type, "bad_window"), errSubstr: `fault_schedule[0]: window "at noon"`},
		{id: component.NewIDWithName(metadata.Type, "bad_start"), errSubstr: `start_at: time of day "25:00"`},
		{id: component.NewIDWithName(metadata.Type, "negative_rate"), errSubstr: "rate: must be within [0, 1e+06] requests a second, got -1"},
		{id: component.NewIDWithName(metadata.Type, "huge_rate"), errSubstr: "rate: must be within [0, 1e+06] requests a second, got 1e+12"},
		{id: component.NewIDWithName(metadata.Type, "no_unit"), errSubstr: "batch_interval: must be at least 1ms, got 5ns; a number without a unit is nanoseconds"},
		{id: component.NewIDWithName(metadata.Type, "bad_duration"), errSubstr: "duration"},
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
