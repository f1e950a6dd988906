package simulate

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func TestMetricsFollowConventions(t *testing.T) {
	want := map[string]map[string][]string{
		"checkout_payment_timeout": {
			"order":     {"http.server.request.duration", "http.client.request.duration", "order.processing.duration", "order.orders"},
			"payment":   {"http.server.request.duration", "http.client.request.duration", "db.client.operation.duration", "db.client.connection.count", "db.client.connection.max", "db.client.connection.wait_time", "db.client.connection.timeouts", "payment.processing.duration", "payment.requests", "payment.retries", "payment.timeouts"},
			"inventory": {"http.server.request.duration", "db.client.operation.duration", "db.client.connection.count"},
		},
		"login_db_pool_exhaustion": {
			"user":     {"http.server.request.duration", "http.client.request.duration", "user.login.attempts"},
			"database": {"db.client.operation.duration", "db.client.connection.count", "db.client.connection.wait_time", "db.client.connection.timeouts", "database.queries"},
			"token":    {"http.server.request.duration", "token.generation.duration", "token.generation.failures"},
		},
		"catalog_slow_query": {
			"catalog": {"http.server.request.duration", "db.client.operation.duration", "db.client.connection.count"},
		},
	}
	startAt := map[string]time.Duration{"checkout_payment_timeout": 14 * time.Hour, "login_db_pool_exhaustion": 9 * time.Hour, "catalog_slow_query": 5 * time.Minute}
	for name, services := range want {
		t.Run(name, func(t *testing.T) {
			e, err := New(builtinScenario(t, name), Options{Seed: 1, Start: t0, StartAt: startAt[name], MetricsInterval: 10 * time.Second})
			require.NoError(t, err)
			c := run(t, e, 30*time.Second, 500*time.Millisecond)
			require.Len(t, c.metrics, 3)
			last := c.metrics[2]
			got := map[string]map[string]pmetric.Metric{}
			for i := 0; i < last.ResourceMetrics().Len(); i++ {
				rm := last.ResourceMetrics().At(i)
				svc, _ := rm.Resource().Attributes().Get("service.name")
				_, ok := rm.Resource().Attributes().Get("deployment.environment.name")
				assert.True(t, ok)
				got[svc.Str()] = map[string]pmetric.Metric{}
				ms := rm.ScopeMetrics().At(0).Metrics()
				for j := 0; j < ms.Len(); j++ {
					got[svc.Str()][ms.At(j).Name()] = ms.At(j)
				}
			}
			for svc, names := range services {
				for _, n := range names {
					assert.Contains(t, got[svc], n, svc)
				}
			}
			for _, ms := range got {
				if m, ok := ms["http.server.request.duration"]; ok {
					assert.Equal(t, "s", m.Unit())
					dp := m.Histogram().DataPoints().At(0)
					assert.Equal(t, pmetric.AggregationTemporalityCumulative, m.Histogram().AggregationTemporality())
					assert.Positive(t, dp.Count())
					_, ok := dp.Attributes().Get("http.route")
					assert.True(t, ok)
				}
			}
		})
	}
}
