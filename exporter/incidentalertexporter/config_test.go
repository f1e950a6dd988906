package incidentalertexporter

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/xconfmap"
)

func load(t *testing.T, raw map[string]any) (*Config, error) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, confmap.NewFromStringMap(raw).Unmarshal(cfg))
	return cfg, xconfmap.Validate(cfg)
}

func TestConfigDefaultsNeedOnlyAnEndpoint(t *testing.T) {
	cfg, err := load(t, map[string]any{"endpoint": "http://127.0.0.1:9093"})
	require.NoError(t, err)
	assert.Equal(t, "RootCauseIncident", cfg.AlertName)
	assert.Equal(t, time.Minute, cfg.ResendInterval)
	assert.Equal(t, "critical", cfg.Severity["error"])
	assert.True(t, cfg.QueueSettings.HasValue(), "a sending queue by default: Alertmanager down never blocks the pipeline")
}

func TestConfigErrorsNameTheProblem(t *testing.T) {
	for name, tc := range map[string]struct {
		raw  map[string]any
		want string
	}{
		"no endpoint":        {map[string]any{}, "endpoint: required"},
		"not a URL":          {map[string]any{"endpoint": "alertmanager:9093"}, `"alertmanager:9093" is not an http(s) URL`},
		"duration, no unit":  {map[string]any{"endpoint": "http://am:9093", "resend_interval": 60}, "resend_interval: must be at least 1s"},
		"broken template":    {map[string]any{"endpoint": "http://am:9093", "links": map[string]any{"jaeger_url": "http://j/trace/{{.TraceID"}}, "links: jaeger_url"},
		"unknown field":      {map[string]any{"endpoint": "http://am:9093", "links": map[string]any{"page": "http://p/{{.Incident}}"}}, "fields: .IncidentID, .TraceID"},
		"no alert name":      {map[string]any{"endpoint": "http://am:9093", "alert_name": ""}, "alert_name: must not be empty"},
		"no room for alerts": {map[string]any{"endpoint": "http://am:9093", "max_alerts": 0}, "max_alerts: must be at least 1"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := load(t, tc.raw)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
