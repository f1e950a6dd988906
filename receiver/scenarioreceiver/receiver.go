package scenarioreceiver // import "github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
)

// scenarioReceiver runs one simulation and feeds every signal pipeline it is in.
type scenarioReceiver struct {
	cfg    *Config
	set    receiver.Settings
	onLast func()

	mu      sync.Mutex
	traces  consumer.Traces
	metrics consumer.Metrics
	logs    consumer.Logs
	started int
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

func newScenarioReceiver(set receiver.Settings, cfg *Config, onLast func()) *scenarioReceiver {
	return &scenarioReceiver{cfg: cfg, set: set, onLast: onLast}
}

func (r *scenarioReceiver) setTraces(c consumer.Traces)   { r.mu.Lock(); r.traces = c; r.mu.Unlock() }
func (r *scenarioReceiver) setMetrics(c consumer.Metrics) { r.mu.Lock(); r.metrics = c; r.mu.Unlock() }
func (r *scenarioReceiver) setLogs(c consumer.Logs)       { r.mu.Lock(); r.logs = c; r.mu.Unlock() }

// Start starts the simulation with the first pipeline; later calls only count.
func (r *scenarioReceiver) Start(context.Context, component.Host) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started++
	if r.started > 1 {
		return nil
	}
	// The generator must outlive Start's context, so it gets its own.
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.done.Add(1)
	go func() {
		defer r.done.Done()
		<-ctx.Done()
	}()
	return nil
}

// Shutdown stops the simulation with the last pipeline. It is safe without
// Start and when called twice.
func (r *scenarioReceiver) Shutdown(context.Context) error {
	r.mu.Lock()
	if r.started == 0 {
		r.mu.Unlock()
		return nil
	}
	r.started--
	last := r.started == 0
	cancel := r.cancel
	r.mu.Unlock()
	if !last {
		return nil
	}
	cancel()
	r.done.Wait()
	r.onLast()
	return nil
}
