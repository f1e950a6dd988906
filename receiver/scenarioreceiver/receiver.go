package scenarioreceiver // import "github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"

	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/internal/metadata"
	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/simulate"
)

// scenarioReceiver runs one simulation and feeds every signal pipeline it is in.
type scenarioReceiver struct {
	cfg    *Config
	set    receiver.Settings
	onLast func()
	// now is the clock; tests replace it.
	now func() time.Time

	mu      sync.Mutex
	traces  consumer.Traces
	metrics consumer.Metrics
	logs    consumer.Logs
	started int
	cancel  context.CancelFunc
	done    sync.WaitGroup

	engine    *simulate.Engine
	obsrecv   *receiverhelper.ObsReport
	telemetry *metadata.TelemetryBuilder
	truth     *os.File
}

func newScenarioReceiver(set receiver.Settings, cfg *Config, onLast func()) *scenarioReceiver {
	return &scenarioReceiver{cfg: cfg, set: set, onLast: onLast, now: time.Now}
}

func (r *scenarioReceiver) setTraces(c consumer.Traces) { r.mu.Lock(); r.traces = c; r.mu.Unlock() }

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
	if err := r.setup(); err != nil {
		r.started--
		return errors.Join(err, r.closeAll())
	}
	// The generator must outlive Start's context, so it gets its own.
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.done.Add(1)
	go func() {
		defer r.done.Done()
		r.loop(ctx)
	}()
	return nil
}

func (r *scenarioReceiver) setup() error {
	sc, err := r.cfg.loadScenario()
	if err != nil {
		return err
	}
	opts, err := r.cfg.engineOptions(r.now())
	if err != nil {
		return err
	}
	if r.engine, err = simulate.New(sc, opts); err != nil {
		return fmt.Errorf("scenario %q: %w", sc.Name, err)
	}
	if r.obsrecv, err = receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID: r.set.ID, Transport: "scenario", ReceiverCreateSettings: r.set,
	}); err != nil {
		return err
	}
	if r.telemetry, err = metadata.NewTelemetryBuilder(r.set.TelemetrySettings); err != nil {
		return err
	}
	if r.cfg.GroundTruthPath != "" {
		f, err := os.OpenFile(r.cfg.GroundTruthPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("ground_truth_path: %w", err)
		}
		r.truth = f
	}
	return nil
}

func (r *scenarioReceiver) loop(ctx context.Context) {
	tick := time.NewTicker(r.cfg.BatchInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			r.writeTruth(r.engine.Flush(r.now()))
			return
		case <-tick.C:
			r.step(ctx)
		}
	}
}

// step advances the simulation to now and sends what became due.
func (r *scenarioReceiver) step(ctx context.Context) {
	out := r.engine.Advance(r.now())
	r.mu.Lock()
	traces, metrics, logs := r.traces, r.metrics, r.logs
	r.mu.Unlock()
	if traces != nil && out.Stats.Spans > 0 {
		c := r.obsrecv.StartTracesOp(ctx)
		err := traces.ConsumeTraces(c, out.Traces)
		r.obsrecv.EndTracesOp(c, metadata.Type.String(), out.Stats.Spans, err)
	}
	if logs != nil && out.Stats.LogRecords > 0 {
		c := r.obsrecv.StartLogsOp(ctx)
		err := logs.ConsumeLogs(c, out.Logs)
		r.obsrecv.EndLogsOp(c, metadata.Type.String(), out.Stats.LogRecords, err)
	}
	if metrics != nil && out.Stats.DataPoints > 0 {
		c := r.obsrecv.StartMetricsOp(ctx)
		err := metrics.ConsumeMetrics(c, out.Metrics)
		r.obsrecv.EndMetricsOp(c, metadata.Type.String(), out.Stats.DataPoints, err)
	}
	tb := r.telemetry
	tb.ReceiverScenarioRequests.Add(ctx, int64(out.Stats.Requests))
	tb.ReceiverScenarioSpans.Add(ctx, int64(out.Stats.Spans))
	tb.ReceiverScenarioLogRecords.Add(ctx, int64(out.Stats.LogRecords))
	tb.ReceiverScenarioDataPoints.Add(ctx, int64(out.Stats.DataPoints))
	tb.ReceiverScenarioFaultWindows.Add(ctx, int64(out.Stats.FaultWindows))
	tb.ReceiverScenarioSkippedRequests.Add(ctx, int64(out.Stats.SkippedRequests))
	tb.ReceiverScenarioPendingRequests.Record(ctx, int64(r.engine.Pending()))
	r.writeTruth(out.Truth)
}

func (r *scenarioReceiver) writeTruth(recs []simulate.GroundTruth) {
	if r.truth == nil {
		return
	}
	for _, g := range recs {
		line, err := json.Marshal(g)
		if err == nil {
			_, err = r.truth.Write(append(line, '\n'))
		}
		if err != nil {
			r.set.Logger.Error("Failed to write ground truth", zap.Error(err))
		}
	}
}

func (r *scenarioReceiver) closeAll() error {
	var errs []error
	if r.telemetry != nil {
		r.telemetry.Shutdown()
		r.telemetry = nil
	}
	if r.truth != nil {
		errs = append(errs, r.truth.Close())
		r.truth = nil
	}
	return errors.Join(errs...)
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
	err := r.closeAll()
	r.onLast()
	return err
}
