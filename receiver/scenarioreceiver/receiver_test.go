package scenarioreceiver

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/internal/metadatatest"
	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/simulate"
)

func TestReceiverProducesAllSignals(t *testing.T) {
	truthPath := filepath.Join(t.TempDir(), "truth.jsonl")
	cfg := createDefaultConfig().(*Config)
	cfg.Scenario = "catalog_slow_query"
	cfg.Rate = 200
	cfg.TimeScale = 60
	cfg.FaultSchedule = []string{"at 6s for 24s"} // 0.1 s to 0.5 s real
	cfg.BatchInterval = 20 * time.Millisecond
	cfg.MetricsInterval = 100 * time.Millisecond
	cfg.Duration = 700 * time.Millisecond
	cfg.GroundTruthPath = truthPath
	require.NoError(t, cfg.Validate())

	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tel)
	f := NewFactory()
	traces, logs, metrics := new(consumertest.TracesSink), new(consumertest.LogsSink), new(consumertest.MetricsSink)
	tr, err := f.CreateTraces(context.Background(), set, cfg, traces)
	require.NoError(t, err)
	lr, err := f.CreateLogs(context.Background(), set, cfg, logs)
	require.NoError(t, err)
	mr, err := f.CreateMetrics(context.Background(), set, cfg, metrics)
	require.NoError(t, err)
	host := componenttest.NewNopHost()
	require.NoError(t, tr.Start(context.Background(), host))
	require.NoError(t, lr.Start(context.Background(), host))
	require.NoError(t, mr.Start(context.Background(), host))

	require.Eventually(t, func() bool {
		_, err := os.Stat(truthPath)
		return err == nil && traces.SpanCount() > 150 && metrics.DataPointCount() > 0 && logs.LogRecordCount() > 0
	}, 10*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool {
		st, err := os.Stat(truthPath)
		return err == nil && st.Size() > 0
	}, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, tr.Shutdown(context.Background()))
	require.NoError(t, lr.Shutdown(context.Background()))
	require.NoError(t, mr.Shutdown(context.Background()))

	// Every request is one GET / with a SELECT: two spans and two logs.
	assert.Equal(t, traces.SpanCount(), logs.LogRecordCount())

	fh, err := os.Open(truthPath)
	require.NoError(t, err)
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	var recs []simulate.GroundTruth
	for sc.Scan() {
		var g simulate.GroundTruth
		require.NoError(t, json.Unmarshal(sc.Bytes(), &g))
		recs = append(recs, g)
	}
	require.Len(t, recs, 1)
	assert.Equal(t, "catalog", recs[0].CulpritService)
	assert.Equal(t, "latency", recs[0].Kind)
	assert.InDelta(t, 400*time.Millisecond, recs[0].End.Sub(recs[0].Start), float64(time.Millisecond))
	assert.NotEmpty(t, recs[0].SampleTraceIDs)

	spans := int64(traces.SpanCount())
	metadatatest.AssertEqualReceiverScenarioSpans(t, tel, []metricdata.DataPoint[int64]{{Value: spans}}, metricdatatestIgnore()...)
	got, err := tel.GetMetric("otelcol_receiver_accepted_spans")
	require.NoError(t, err)
	sum := got.Data.(metricdata.Sum[int64])
	assert.Equal(t, spans, sum.DataPoints[0].Value)
}

func TestReceiverStartFailsOnBadFile(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.GroundTruthPath = filepath.Join(t.TempDir(), "missing", "truth.jsonl")
	r, err := NewFactory().CreateTraces(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg, consumertest.NewNop())
	require.NoError(t, err)
	err = r.Start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, "ground_truth_path")
	require.NoError(t, r.Shutdown(context.Background()))
}

func metricdatatestIgnore() []metricdatatest.Option {
	return []metricdatatest.Option{metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars()}
}
