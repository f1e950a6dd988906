//go:generate mdatagen metadata.yaml

package incidentpageexporter // import "github.com/otelcol-rca/otelcol-rca/exporter/incidentpageexporter"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otelcol-rca/otelcol-rca/exporter/incidentpageexporter/internal/metadata"
)

// NewFactory returns the factory of the incidentpage exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(metadata.Type, createDefaultConfig,
		exporter.WithTraces(createTraces, metadata.TracesStability),
		exporter.WithLogs(createLogs, metadata.LogsStability))
}

func createDefaultConfig() component.Config {
	server := confighttp.NewDefaultServerConfig()
	server.NetAddr.Endpoint = "127.0.0.1:55681"
	return &Config{ServerConfig: server, MaxIncidents: 200, Samples: 3, MaxSpans: 1000}
}

// One page per configured exporter: its traces and logs instances share it.
var (
	pagesMu sync.Mutex
	pages   = map[component.ID]*page{}
)

func pageFor(set exporter.Settings, cfg *Config) (*page, error) {
	pagesMu.Lock()
	defer pagesMu.Unlock()
	if p := pages[set.ID]; p != nil {
		return p, nil
	}
	p, err := newPage(cfg, set)
	if err != nil {
		return nil, err
	}
	pages[set.ID] = p
	return p, nil
}

func createTraces(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	p, err := pageFor(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewTraces(ctx, set, cfg, p.consumeTraces,
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithStart(p.start), exporterhelper.WithShutdown(p.shutdown))
}

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	p, err := pageFor(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewLogs(ctx, set, cfg, p.consumeLogs,
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithStart(p.start), exporterhelper.WithShutdown(p.shutdown))
}
