package rootcauseprocessor // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/metadata"
)

// sharedProcessor is the single rootcause instance behind every pipeline that
// names the same component ID. It starts with the first pipeline and stops
// with the last one.
type sharedProcessor struct {
	cfg       *Config
	set       processor.Settings
	telemetry *metadata.TelemetryBuilder
	onLast    func()

	mu      sync.Mutex
	started int
}

func newSharedProcessor(set processor.Settings, cfg *Config, onLast func()) (*sharedProcessor, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &sharedProcessor{cfg: cfg, set: set, telemetry: tb, onLast: onLast}, nil
}

func (p *sharedProcessor) start(context.Context, component.Host) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.started++
	return nil
}

func (p *sharedProcessor) shutdown(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started == 0 {
		return nil
	}
	p.started--
	if p.started == 0 {
		p.telemetry.Shutdown()
		p.onLast()
	}
	return nil
}

// signalProcessor adapts the shared instance to one pipeline's signal.
type signalProcessor struct {
	shared *sharedProcessor
}

func (s signalProcessor) Start(ctx context.Context, host component.Host) error {
	return s.shared.start(ctx, host)
}

func (s signalProcessor) Shutdown(ctx context.Context) error { return s.shared.shutdown(ctx) }

func (signalProcessor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

type tracesProcessor struct {
	signalProcessor
	next consumer.Traces
}

func (p *sharedProcessor) tracesProcessor(next consumer.Traces) *tracesProcessor {
	return &tracesProcessor{signalProcessor{p}, next}
}

func (t *tracesProcessor) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	return t.next.ConsumeTraces(ctx, td)
}

type metricsProcessor struct {
	signalProcessor
	next consumer.Metrics
}

func (p *sharedProcessor) metricsProcessor(next consumer.Metrics) *metricsProcessor {
	return &metricsProcessor{signalProcessor{p}, next}
}

func (m *metricsProcessor) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	return m.next.ConsumeMetrics(ctx, md)
}

type logsProcessor struct {
	signalProcessor
	next consumer.Logs
}

func (p *sharedProcessor) logsProcessor(next consumer.Logs) *logsProcessor {
	return &logsProcessor{signalProcessor{p}, next}
}

func (l *logsProcessor) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	return l.next.ConsumeLogs(ctx, ld)
}
