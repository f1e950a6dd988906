//go:generate mdatagen metadata.yaml

// Package scenarioreceiver generates realistic, correlated traces, metrics and
// logs for fault scenarios, with the ground truth kept outside the telemetry.
package scenarioreceiver // import "github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver"

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/internal/metadata"
)

// NewFactory returns the factory of the scenario receiver.
func NewFactory() receiver.Factory {
	f := &factory{instances: map[component.ID]*scenarioReceiver{}}
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithTraces(f.createTraces, metadata.TracesStability),
		receiver.WithMetrics(f.createMetrics, metadata.MetricsStability),
		receiver.WithLogs(f.createLogs, metadata.LogsStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		Seed:            1,
		TimeScale:       1,
		BatchInterval:   200 * time.Millisecond,
		MetricsInterval: 10 * time.Second,
	}
}

// factory keeps one receiver per component ID, so that the traces, metrics and
// logs of one simulated request come from the same simulation.
type factory struct {
	mu        sync.Mutex
	instances map[component.ID]*scenarioReceiver
}

func (f *factory) instance(set receiver.Settings, cfg component.Config) *scenarioReceiver {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.instances[set.ID]; ok {
		return r
	}
	r := newScenarioReceiver(set, cfg.(*Config), func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.instances, set.ID)
	})
	f.instances[set.ID] = r
	return r
}

func (f *factory) createTraces(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Traces) (receiver.Traces, error) {
	r := f.instance(set, cfg)
	r.setTraces(next)
	return r, nil
}

func (f *factory) createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	r := f.instance(set, cfg)
	r.setMetrics(next)
	return r, nil
}

func (f *factory) createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	r := f.instance(set, cfg)
	r.setLogs(next)
	return r, nil
}
