package simulate

import (
	"testing"
	"time"
)

// BenchmarkEngine measures generation on one core: spans with their logs and
// metrics, built as pdata, with a metrics export every simulated second. One
// op is one simulated second at 3000 requests/s, below the pools' capacity.
func BenchmarkEngine(b *testing.B) {
	for _, name := range []string{"checkout_payment_timeout", "login_db_pool_exhaustion", "catalog_slow_query"} {
		b.Run(name, func(b *testing.B) {
			e, err := New(builtinScenario(b, name), Options{Seed: 1, Start: t0, StartAt: 3 * time.Hour, Rate: 3000, MetricsInterval: time.Second})
			if err != nil {
				b.Fatal(err)
			}
			now := t0.Add(5 * time.Second)
			e.Advance(now)
			spans, logs, points := 0, 0, 0
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				now = now.Add(time.Second)
				out := e.Advance(now)
				spans += out.Stats.Spans
				logs += out.Stats.LogRecords
				points += out.Stats.DataPoints
			}
			el := time.Since(start).Seconds()
			b.ReportMetric(float64(spans)/el, "spans/s")
			b.ReportMetric(float64(logs)/el, "logs/s")
			b.ReportMetric(float64(points)/el, "points/s")
		})
	}
}
