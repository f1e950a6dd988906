//go:generate mdatagen metadata.yaml

// Package rootcauseprocessor finds the root cause of slow and failed requests
// inside the telemetry pipeline and tags traces, metrics and logs with it.
package rootcauseprocessor // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor"

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/metadata"
)

const (
	defaultDecisionWait     = 5 * time.Second
	defaultMaxTraces        = 50_000
	defaultMaxClockSkew     = time.Minute
	defaultMaxSpansPerTrace = 5000
	defaultDecidedCacheSize = 100_000
	defaultIncidentWindow   = time.Minute
	defaultResolveAfter     = 2 * time.Minute
	defaultUpdateInterval   = 30 * time.Second
	defaultMinTraces        = 3
	defaultMinShare         = 0.05
	defaultMaxExemplars     = 5
	defaultExemplarLookback = time.Minute
	defaultMaxHeldLogs      = 10_000
	// defaultDataset routes the incident records to their own Elasticsearch data stream.
	defaultDataset = "rca.incidents"
)

// NewFactory returns the factory of the rootcause processor.
func NewFactory() processor.Factory {
	f := &factory{instances: map[component.ID]*sharedProcessor{}}
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithTraces(f.createTraces, metadata.TracesStability),
		processor.WithMetrics(f.createMetrics, metadata.MetricsStability),
		processor.WithLogs(f.createLogs, metadata.LogsStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		DecisionWait:     defaultDecisionWait,
		MaxClockSkew:     defaultMaxClockSkew,
		MaxTraces:        defaultMaxTraces,
		MaxSpansPerTrace: defaultMaxSpansPerTrace,
		DecidedCacheSize: defaultDecidedCacheSize,
		Baseline: BaselineConfig{
			Quantile:      0.99,
			Multiplier:    2,
			MinExcess:     10 * time.Millisecond,
			Warmup:        50,
			MaxOperations: 10_000,
			// Far more than a service's routes and queries (the names the
			// conventions ask for), far fewer than the IDs an instrumentation
			// that puts them into span names makes up.
			MaxOperationsPerService: 1000,
		},
		Mode:           ModeStandalone,
		IncidentWindow: defaultIncidentWindow,
		ResolveAfter:   defaultResolveAfter,
		UpdateInterval: defaultUpdateInterval,
		MinTraces:      defaultMinTraces,
		MinShare:       defaultMinShare,

		MaxNewServiceIncidents: 10,

		MaxExemplarsPerDataPoint: defaultMaxExemplars,
		ExemplarLookback:         defaultExemplarLookback,
		MaxHeldLogs:              defaultMaxHeldLogs,
		IncidentRecords: IncidentRecordsConfig{
			ResourceAttributes: map[string]string{"data_stream.dataset": defaultDataset},
		},
	}
}

// factory keeps one processor per component ID: the traces, metrics and logs
// pipelines that name the same rootcause processor share its incident state.
type factory struct {
	mu        sync.Mutex
	instances map[component.ID]*sharedProcessor
}

func (f *factory) instance(set processor.Settings, cfg component.Config) (*sharedProcessor, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.instances[set.ID]; ok {
		return p, nil
	}
	p, err := newSharedProcessor(set, cfg.(*Config), func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.instances, set.ID)
	})
	if err != nil {
		return nil, err
	}
	f.instances[set.ID] = p
	return p, nil
}

func (f *factory) createTraces(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	if m := cfg.(*Config).Mode; m == ModeIncidents {
		return nil, fmt.Errorf("mode %s takes no traces pipeline: the gateways route traces to the rootcause shards (mode %s)", m, ModeShard)
	}
	p, err := f.instance(set, cfg)
	if err != nil {
		return nil, err
	}
	return p.tracesProcessor(next), nil
}

func (f *factory) createMetrics(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	p, err := f.instance(set, cfg)
	if err != nil {
		return nil, err
	}
	return p.metricsProcessor(next), nil
}

func (f *factory) createLogs(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	p, err := f.instance(set, cfg)
	if err != nil {
		return nil, err
	}
	return p.logsProcessor(next), nil
}
