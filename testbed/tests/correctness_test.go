package tests

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/testbed/testbed"
	"github.com/stretchr/testify/require"
)

// correctnessDecisionWait is rootcause's decision_wait in the correctness
// tests, shorter than the default to keep them quick.
const correctnessDecisionWait = time.Second

// The correctness tests send one signal each through the built collector
// with rootcause in the traces, metrics and logs pipelines, and check with
// the testbed's validator (counts, and span by span for the golden traces)
// and an exact item-by-item comparison that nothing is lost or altered
// beyond rca.* attributes and exemplars.

func TestCorrectnessTraces(t *testing.T) {
	provider := testbed.NewGoldenDataProvider(
		filepath.Join(testdataDir, "generated_pict_pairs_traces.txt"),
		filepath.Join(testdataDir, "generated_pict_pairs_spans.txt"),
		"")
	rec := &recorder{}
	port := freePort(t)
	sender := recordingTraceSender{testbed.NewOTLPTraceDataSender(testbed.DefaultHost, port), rec}
	runCorrectness(t, provider, sender, rec, testbed.LoadOptions{DataItemsPerSecond: 1024, ItemsPerBatch: 1})
}

func TestCorrectnessMetrics(t *testing.T) {
	provider := testbed.NewGoldenDataProvider("", "", filepath.Join(testdataDir, "generated_pict_pairs_metrics.txt"))
	rec := &recorder{}
	port := freePort(t)
	sender := recordingMetricSender{testbed.NewOTLPMetricDataSender(testbed.DefaultHost, port), rec}
	runCorrectness(t, provider, sender, rec, testbed.LoadOptions{DataItemsPerSecond: 1024, ItemsPerBatch: 1})
}

func TestCorrectnessLogs(t *testing.T) {
	opts := testbed.LoadOptions{DataItemsPerSecond: 1000, ItemsPerBatch: 10}
	provider := testbed.NewPerfTestDataProvider(opts)
	rec := &recorder{}
	port := freePort(t)
	sender := recordingLogSender{testbed.NewOTLPLogsDataSender(testbed.DefaultHost, port), rec}
	runCorrectness(t, provider, sender, rec, opts)
}

func runCorrectness(t *testing.T, provider testbed.DataProvider, sender testbed.DataSender, rec *recorder, opts testbed.LoadOptions) {
	requireCollector(t)
	receiver := testbed.NewOTLPDataReceiver(freePort(t))
	runner := newCollector(t, collectorConfig(peerRootcause, sender, receiver, correctnessDecisionWait))
	validator := &rcaValidator{
		t:     t,
		inner: testbed.NewCorrectTestValidator(sender.ProtocolName(), receiver.ProtocolName(), provider),
		rec:   rec,
	}
	tc := testbed.NewTestCase(t, provider, sender, receiver, runner, validator, correctnessResults)
	defer tc.Stop()

	tc.StartBackend()
	tc.EnableRecording()
	tc.StartAgent()
	tc.StartLoad(opts)
	tc.Sleep(2 * time.Second)
	tc.StopLoad()

	// rootcause holds traces for decision_wait before it passes them on.
	if !tc.WaitForN(func() bool { return tc.LoadGenerator.DataItemsSent() == tc.MockBackend.DataItemsReceived() },
		correctnessDecisionWait+20*time.Second, "all data items received") {
		t.Errorf("not all items received: sent %d, received %d; see %s",
			tc.LoadGenerator.DataItemsSent(), tc.MockBackend.DataItemsReceived(), tc.ComposeTestResultFileName("agent.log"))
	}
	tc.StopAgent()
	require.Positive(t, tc.LoadGenerator.DataItemsSent(), "nothing was sent")
	tc.ValidateData()
}

// rcaValidator removes what rootcause may add (rca.* attributes at every
// level, exemplars) from the received data, then runs the testbed's
// validator and compares the received items with the sent ones, exactly.
type rcaValidator struct {
	t     *testing.T
	inner testbed.TestCaseValidator
	rec   *recorder
}

func (v *rcaValidator) Validate(tc *testbed.TestCase) {
	tc.MockBackend.ReceivedMetrics = withoutOwnMetrics(tc.MockBackend.ReceivedMetrics)
	tc.MockBackend.ReceivedLogs = withoutOwnLogs(tc.MockBackend.ReceivedLogs)
	for _, td := range tc.MockBackend.ReceivedTraces {
		stripTraces(td)
	}
	for _, md := range tc.MockBackend.ReceivedMetrics {
		stripMetrics(md)
	}
	for _, ld := range tc.MockBackend.ReceivedLogs {
		stripLogs(ld)
	}
	v.inner.Validate(tc)

	v.rec.mu.Lock()
	defer v.rec.mu.Unlock()
	compareItems(v.t, "span", canonicalSpans(v.rec.traces), canonicalSpans(tc.MockBackend.ReceivedTraces))
	compareItems(v.t, "metric data point", canonicalDataPoints(v.rec.metrics), canonicalDataPoints(tc.MockBackend.ReceivedMetrics))
	compareItems(v.t, "log record", canonicalLogRecords(v.rec.logs), canonicalLogRecords(tc.MockBackend.ReceivedLogs))
}

func (v *rcaValidator) RecordResults(tc *testbed.TestCase) { v.inner.RecordResults(tc) }
