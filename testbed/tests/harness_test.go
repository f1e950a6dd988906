package tests

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/testbed/testbed"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// freePort returns a TCP port that is free on 127.0.0.1 right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// peer is a collector configuration compared in the load tests.
type peer struct {
	name  string // short id used in test names and the report
	label string // human-readable description
	// processors per pipeline (traces, metrics, logs).
	traces, metrics, logs []string
}

var (
	peerPassthrough = peer{
		name: "passthrough", label: "(a) otlp → batch → otlp",
		traces: []string{"batch"}, metrics: []string{"batch"}, logs: []string{"batch"},
	}
	peerTailSampling = peer{
		name: "tail_sampling", label: "(b) tail_sampling always_sample",
		traces: []string{"tail_sampling", "batch"}, metrics: []string{"batch"}, logs: []string{"batch"},
	}
	peerRootcause = peer{
		name: "rootcause", label: "(c) rootcause",
		traces:  []string{"rootcause", "batch"},
		metrics: []string{"rootcause", "batch"},
		logs:    []string{"rootcause", "batch"},
	}
	peers = []peer{peerPassthrough, peerTailSampling, peerRootcause}
)

// collectorConfig renders the collector configuration of a peer: the OTLP
// receiver fed by the load generator, the peer's processors in the traces,
// metrics and logs pipelines, and the OTLP exporter to the mock backend.
// rootcause and tail_sampling get the same decision_wait.
func collectorConfig(p peer, sender testbed.DataSender, receiver testbed.DataReceiver, decisionWait time.Duration) string {
	return fmt.Sprintf(`
receivers:%s
exporters:%s
processors:
  # Bounded batches for every peer: rootcause and tail_sampling release many
  # traces at once, and the mock backend's gRPC refuses messages over 4 MiB
  # (2048 of the golden data's largest spans, about 1.3 KB each, stay under).
  batch:
    send_batch_size: 2048
    send_batch_max_size: 2048
  rootcause:
    decision_wait: %s
    # The processor also emits its own incident metrics every update_interval;
    # they are not part of the load, so the runs keep them out of the counts.
    update_interval: 1h
  tail_sampling:
    decision_wait: %s
    policies:
      - name: all
        type: always_sample
service:
  telemetry:
    metrics:
      level: none
    logs:
      level: info
  pipelines:
    traces:
      receivers: [%[5]s]
      processors: [%[6]s]
      exporters: [%[7]s]
    metrics:
      receivers: [%[5]s]
      processors: [%[8]s]
      exporters: [%[7]s]
    logs:
      receivers: [%[5]s]
      processors: [%[9]s]
      exporters: [%[7]s]
`,
		sender.GenConfigYAMLStr(), receiver.GenConfigYAMLStr(),
		decisionWait, decisionWait,
		sender.ProtocolName(), strings.Join(p.traces, ", "), receiver.ProtocolName(),
		strings.Join(p.metrics, ", "), strings.Join(p.logs, ", "))
}

// newCollector returns the child-process runner of the built collector.
func newCollector(t *testing.T, config string) testbed.OtelcolRunner {
	t.Helper()
	requireCollector(t)
	runner := testbed.NewChildProcessCollector(testbed.WithAgentExePath(collectorPath))
	cleanup, err := runner.PrepareConfig(t, config)
	require.NoError(t, err)
	t.Cleanup(cleanup)
	return runner
}

// recorder keeps a copy of everything a sender delivered successfully to the
// collector, for the correctness comparison.
type recorder struct {
	mu      sync.Mutex
	traces  []ptrace.Traces
	metrics []pmetric.Metrics
	logs    []plog.Logs
}

type recordingTraceSender struct {
	testbed.TraceDataSender
	rec *recorder
}

func (s recordingTraceSender) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	cp := ptrace.NewTraces()
	td.CopyTo(cp)
	if err := s.TraceDataSender.ConsumeTraces(ctx, td); err != nil {
		return err
	}
	s.rec.mu.Lock()
	s.rec.traces = append(s.rec.traces, cp)
	s.rec.mu.Unlock()
	return nil
}

type recordingMetricSender struct {
	testbed.MetricDataSender
	rec *recorder
}

func (s recordingMetricSender) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	cp := pmetric.NewMetrics()
	md.CopyTo(cp)
	if err := s.MetricDataSender.ConsumeMetrics(ctx, md); err != nil {
		return err
	}
	s.rec.mu.Lock()
	s.rec.metrics = append(s.rec.metrics, cp)
	s.rec.mu.Unlock()
	return nil
}

type recordingLogSender struct {
	testbed.LogDataSender
	rec *recorder
}

func (s recordingLogSender) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	cp := plog.NewLogs()
	ld.CopyTo(cp)
	if err := s.LogDataSender.ConsumeLogs(ctx, ld); err != nil {
		return err
	}
	s.rec.mu.Lock()
	s.rec.logs = append(s.rec.logs, cp)
	s.rec.mu.Unlock()
	return nil
}

// multiSignalLoad is a testbed.LoadGenerator that sends traces, metrics and
// logs at the same time to the same OTLP endpoint, one testbed
// ProviderSender per signal. Start's options are the trace options; the log
// and metric rates are derived from them.
type multiSignalLoad struct {
	traces, metrics, logs testbed.LoadGenerator
	logRatio, metricRatio float64
}

// metricPointsPerItem is how many data points the testbed's perf data
// provider generates per requested metric item.
const metricPointsPerItem = 7

func newMultiSignalLoad(t *testing.T, host string, port int, opts testbed.LoadOptions, logRatio, metricRatio float64) *multiSignalLoad {
	t.Helper()
	mk := func(o testbed.LoadOptions, s testbed.DataSender) testbed.LoadGenerator {
		lg, err := testbed.NewLoadGenerator(testbed.NewPerfTestDataProvider(o), s)
		require.NoError(t, err)
		return lg
	}
	return &multiSignalLoad{
		traces:      mk(opts, testbed.NewOTLPTraceDataSender(host, port)),
		metrics:     mk(metricOptions(opts, metricRatio), testbed.NewOTLPMetricDataSender(host, port)),
		logs:        mk(logOptions(opts, logRatio), testbed.NewOTLPLogsDataSender(host, port)),
		logRatio:    logRatio,
		metricRatio: metricRatio,
	}
}

func logOptions(o testbed.LoadOptions, ratio float64) testbed.LoadOptions {
	return testbed.LoadOptions{
		DataItemsPerSecond: int(float64(o.DataItemsPerSecond) * ratio),
		ItemsPerBatch:      o.ItemsPerBatch,
		Parallel:           o.Parallel,
	}
}

func metricOptions(o testbed.LoadOptions, ratio float64) testbed.LoadOptions {
	// The perf provider sends 7 points per metric: ask for 1/7 of the items
	// so that the data point rate is ratio × the span rate.
	perBatch := max(1, o.ItemsPerBatch/10)
	return testbed.LoadOptions{
		DataItemsPerSecond: int(float64(o.DataItemsPerSecond) * ratio / metricPointsPerItem),
		ItemsPerBatch:      perBatch,
		Parallel:           1,
	}
}

func (m *multiSignalLoad) all() []testbed.LoadGenerator {
	return []testbed.LoadGenerator{m.traces, m.metrics, m.logs}
}

func (m *multiSignalLoad) Start(o testbed.LoadOptions) {
	m.traces.Start(o)
	m.metrics.Start(metricOptions(o, m.metricRatio))
	m.logs.Start(logOptions(o, m.logRatio))
}

func (m *multiSignalLoad) Stop() {
	for _, g := range m.all() {
		g.Stop()
	}
}

func (m *multiSignalLoad) IsReady() bool { return m.traces.IsReady() }

func (m *multiSignalLoad) DataItemsSent() uint64 {
	var n uint64
	for _, g := range m.all() {
		n += g.DataItemsSent()
	}
	return n
}

func (m *multiSignalLoad) IncDataItemsSent() { m.traces.IncDataItemsSent() }

func (m *multiSignalLoad) PermanentErrors() uint64 {
	var n uint64
	for _, g := range m.all() {
		n += g.PermanentErrors()
	}
	return n
}

func (m *multiSignalLoad) GetStats() string {
	return fmt.Sprintf("traces %s, metrics %s, logs %s", m.traces.GetStats(), m.metrics.GetStats(), m.logs.GetStats())
}

var _ testbed.LoadGenerator = (*multiSignalLoad)(nil)
