package scenarioreceiver

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/internal/metadata"
)

// BenchmarkReceiverStep measures the receiver's batch step with its
// observability, on a fake clock: one op is one second of traffic at 3000
// requests/s of the checkout scenario, outside its fault window.
func BenchmarkReceiverStep(b *testing.B) {
	cfg := createDefaultConfig().(*Config)
	cfg.Rate = 3000
	cfg.StartAt = "03:00"
	cfg.MetricsInterval = time.Second
	now := time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)
	r := newScenarioReceiver(receivertest.NewNopSettings(metadata.Type), cfg, func() {})
	r.now = func() time.Time { return now }
	if err := r.setup(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r.closeAll() })
	spans := 0
	counter, err := consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error {
		spans += td.SpanCount()
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	r.setTraces(counter)
	r.setMetrics(consumertest.NewNop())
	r.setLogs(consumertest.NewNop())
	ctx := context.Background()
	now = now.Add(5 * time.Second)
	r.step(ctx)
	spans = 0
	start := time.Now()
	for b.Loop() {
		for range 5 {
			now = now.Add(200 * time.Millisecond)
			r.step(ctx)
		}
	}
	b.ReportMetric(float64(spans)/time.Since(start).Seconds(), "spans/s")
}
