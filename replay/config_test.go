package replay

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadConfigFromTheShippedCollectorConfig(t *testing.T) {
	cfg, err := LoadConfig(context.Background(), filepath.Join("..", "otelcol-config.yaml"), "")
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "c.yaml")
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	t.Setenv("RCA_WAIT", "3s")
	cfg, err := LoadConfig(context.Background(), write("processors:\n  rootcause/a:\n    decision_wait: ${env:RCA_WAIT}\n  batch:\n"), "")
	require.NoError(t, err)
	assert.Equal(t, 3*time.Second, cfg.DecisionWait, "env resolved as the collector does")

	_, err = LoadConfig(context.Background(), write("processors:\n  rootcause/a:\n  rootcause/b:\n"), "")
	require.ErrorContains(t, err, "several rootcause processors")
	cfg, err = LoadConfig(context.Background(), write("processors:\n  rootcause/a:\n  rootcause/b:\n    min_traces: 7\n"), "rootcause/b")
	require.NoError(t, err)
	assert.Equal(t, 7, cfg.MinTraces)

	_, err = LoadConfig(context.Background(), write("processors:\n  rootcause:\n    decision_wait: -1s\n"), "")
	require.ErrorContains(t, err, "decision_wait")
	_, err = LoadConfig(context.Background(), write("processors:\n  rootcause:\n    decison_wait: 1s\n"), "") //nolint:misspell // the typo under test
	require.ErrorContains(t, err, "decison_wait")                                                             //nolint:misspell // the typo under test
	_, err = LoadConfig(context.Background(), write("processors:\n  batch:\n"), "")
	require.ErrorContains(t, err, "no rootcause processor")
}
