package simulate

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

type flatSpan struct {
	svc  string
	span ptrace.Span
}

func (c *collected) spans() []flatSpan {
	var out []flatSpan
	for _, tr := range c.traces {
		for i := 0; i < tr.ResourceSpans().Len(); i++ {
			rs := tr.ResourceSpans().At(i)
			svc, _ := rs.Resource().Attributes().Get("service.name")
			ss := rs.ScopeSpans().At(0).Spans()
			for j := 0; j < ss.Len(); j++ {
				out = append(out, flatSpan{svc.Str(), ss.At(j)})
			}
		}
	}
	return out
}

type flatLog struct {
	svc string
	rec plog.LogRecord
}

func (c *collected) logRecords() []flatLog {
	var out []flatLog
	for _, l := range c.logs {
		for i := 0; i < l.ResourceLogs().Len(); i++ {
			rl := l.ResourceLogs().At(i)
			svc, _ := rl.Resource().Attributes().Get("service.name")
			lr := rl.ScopeLogs().At(0).LogRecords()
			for j := 0; j < lr.Len(); j++ {
				out = append(out, flatLog{svc.Str(), lr.At(j)})
			}
		}
	}
	return out
}

func dur(s ptrace.Span) time.Duration {
	return s.EndTimestamp().AsTime().Sub(s.StartTimestamp().AsTime())
}

// checkTraces verifies what any instrumented system guarantees: one root per
// trace, parents that exist and cover their children, server spans with the
// HTTP attributes, and logs that point at an existing span of the same trace.
func checkTraces(t *testing.T, c *collected) map[pcommon.TraceID][]flatSpan {
	t.Helper()
	byID := map[pcommon.SpanID]flatSpan{}
	traces := map[pcommon.TraceID][]flatSpan{}
	for _, fs := range c.spans() {
		byID[fs.span.SpanID()] = fs
		traces[fs.span.TraceID()] = append(traces[fs.span.TraceID()], fs)
	}
	for id, spans := range traces {
		roots := 0
		for _, fs := range spans {
			s := fs.span
			if s.ParentSpanID().IsEmpty() {
				roots++
				continue
			}
			p, ok := byID[s.ParentSpanID()]
			require.True(t, ok, "parent of %s", s.Name())
			require.Equal(t, id, p.span.TraceID())
			require.LessOrEqual(t, p.span.StartTimestamp(), s.StartTimestamp(), "%s starts before its parent %s", s.Name(), p.span.Name())
			require.GreaterOrEqual(t, p.span.EndTimestamp(), s.EndTimestamp(), "%s ends after its parent %s", s.Name(), p.span.Name())
			if s.Kind() == ptrace.SpanKindServer {
				require.Equal(t, ptrace.SpanKindClient, p.span.Kind())
			}
		}
		require.Equal(t, 1, roots)
	}
	for _, fs := range c.spans() {
		s := fs.span
		switch s.Kind() {
		case ptrace.SpanKindServer:
			for _, k := range []string{"http.request.method", "http.route", "http.response.status_code"} {
				_, ok := s.Attributes().Get(k)
				require.True(t, ok, k)
			}
		case ptrace.SpanKindClient:
			_, peer := s.Attributes().Get("peer.service")
			_, db := s.Attributes().Get("db.system.name")
			require.True(t, peer || db, s.Name())
		}
		for k := range s.Attributes().All() {
			require.NotContains(t, k, "fault")
		}
	}
	for _, l := range c.logRecords() {
		fs, ok := byID[l.rec.SpanID()]
		require.True(t, ok, l.rec.Body().Str())
		require.Equal(t, fs.span.TraceID(), l.rec.TraceID())
		require.Equal(t, fs.svc, l.svc)
	}
	return traces
}

// window returns the real time range of the single ground truth record.
func window(t *testing.T, c *collected) (time.Time, time.Time) {
	t.Helper()
	require.Len(t, c.truth, 1)
	return c.truth[0].Start, c.truth[0].End
}

// maxRootLatency returns the slowest root span starting in [from, to).
func maxRootLatency(c *collected, svc string, from, to time.Time) (time.Duration, int) {
	var m time.Duration
	n := 0
	for _, fs := range c.spans() {
		s := fs.span
		st := s.StartTimestamp().AsTime()
		if fs.svc == svc && s.Kind() == ptrace.SpanKindServer && !st.Before(from) && st.Before(to) {
			m = max(m, dur(s))
			n++
		}
	}
	return m, n
}

func logBodies(c *collected) map[string]map[string]int {
	out := map[string]map[string]int{}
	for _, l := range c.logRecords() {
		if out[l.svc] == nil {
			out[l.svc] = map[string]int{}
		}
		out[l.svc][l.rec.Body().Str()]++
		if l.rec.TraceID().IsEmpty() || l.rec.SpanID().IsEmpty() {
			panic("log without trace context")
		}
	}
	return out
}

func TestCheckoutPaymentTimeout(t *testing.T) {
	// 13:59 at 60x: one fault-free scenario minute (one real second), then the
	// 14:00-15:00 window plays in one real minute.
	e, err := New(builtinScenario(t, "checkout_payment_timeout"), Options{Seed: 7, Start: t0, StartAt: 13*time.Hour + 59*time.Minute, TimeScale: 60})
	require.NoError(t, err)
	c := run(t, e, 3*time.Minute, 200*time.Millisecond)
	checkTraces(t, c)
	from, to := window(t, c)
	assert.Equal(t, t0.Add(time.Second), from)
	assert.Equal(t, t0.Add(61*time.Second), to)
	g := c.truth[0]
	assert.Equal(t, "payment", g.CulpritService)
	assert.Equal(t, "pool_exhaustion", g.Kind)
	assert.Len(t, g.SampleTraceIDs, 10)

	before, n := maxRootLatency(c, "payment", t0, from)
	require.Positive(t, n)
	assert.Less(t, before, 5*time.Second)
	during, _ := maxRootLatency(c, "payment", from.Add(10*time.Second), to)
	assert.Greater(t, during, 10*time.Second)
	orderDuring, _ := maxRootLatency(c, "order", from.Add(10*time.Second), to)
	assert.Greater(t, orderDuring, 10*time.Second)
	after, n := maxRootLatency(c, "payment", to.Add(time.Second), t0.Add(3*time.Minute))
	require.Positive(t, n)
	assert.Less(t, after, 5*time.Second)

	logs := logBodies(c)
	for svc, lines := range map[string][]string{
		"payment": {"ERROR: Database connection timeout during payment gateway authentication.", "INFO: Retrying payment gateway request due to connection timeout."},
		"order":   {"INFO: Payment service timeout, retrying.", "WARN: Order processing delayed due to payment timeout."},
	} {
		for _, l := range lines {
			assert.Positive(t, logs[svc][l], "%s: %s", svc, l)
		}
	}

	// Inside the window the payment DB span waits for the pool and fails with an
	// exception, and some inventory calls time out after the delayed payment.
	var dbTimeouts, inventoryTimeouts int
	for _, fs := range c.spans() {
		s := fs.span
		if s.Status().Code() != ptrace.StatusCodeError || s.Kind() != ptrace.SpanKindClient {
			continue
		}
		if v, ok := s.Attributes().Get("db.system.name"); ok && fs.svc == "payment" {
			assert.Equal(t, "postgresql", v.Str())
			require.Equal(t, 1, s.Events().Len())
			assert.Equal(t, "exception", s.Events().At(0).Name())
			assert.Regexp(t, "connection timeout|context deadline exceeded", s.Status().Message())
			dbTimeouts++
		}
		if v, ok := s.Attributes().Get("peer.service"); ok && v.Str() == "inventory" {
			inventoryTimeouts++
		}
	}
	assert.Positive(t, dbTimeouts)
	assert.Positive(t, inventoryTimeouts)
}

func TestLoginDBPoolExhaustion(t *testing.T) {
	e, err := New(builtinScenario(t, "login_db_pool_exhaustion"), Options{Seed: 3, Start: t0, StartAt: 8*time.Hour + 59*time.Minute, TimeScale: 60})
	require.NoError(t, err)
	c := run(t, e, 2*time.Minute, 200*time.Millisecond)
	checkTraces(t, c)
	from, to := window(t, c)
	assert.Equal(t, t0.Add(time.Second), from)
	assert.Equal(t, t0.Add(31*time.Second), to)
	assert.Equal(t, "database", c.truth[0].CulpritService)

	logs := logBodies(c)
	for svc, lines := range map[string][]string{
		"user":     {"ERROR: Database query timed out while validating user credentials.", "INFO: User login failed due to timeout during database query."},
		"database": {"ERROR: Database connection timeout while querying user credentials.", "INFO: Database connection pool reached max connections, waiting."},
		"token":    {"ERROR: Token generation failed because user data was incomplete.", "INFO: User login failed, skipping token generation."},
	} {
		for _, l := range lines {
			assert.Positive(t, logs[svc][l], "%s: %s", svc, l)
		}
	}
	// 500s with the vague message only inside the window.
	for _, fs := range c.spans() {
		s := fs.span
		if fs.svc != "user" || s.Kind() != ptrace.SpanKindServer || s.Status().Code() != ptrace.StatusCodeError {
			continue
		}
		assert.Equal(t, "something went wrong", s.Status().Message())
		code, _ := s.Attributes().Get("http.response.status_code")
		assert.Equal(t, int64(500), code.Int())
		st := s.StartTimestamp().AsTime()
		assert.True(t, !st.Before(from) && st.Before(to), "500 outside the window at %v", st)
	}
	before, _ := maxRootLatency(c, "user", t0, from)
	during, _ := maxRootLatency(c, "user", from, to)
	after, _ := maxRootLatency(c, "user", to.Add(time.Second), t0.Add(2*time.Minute))
	assert.Less(t, before, time.Second)
	assert.Greater(t, during, 2*time.Second)
	assert.Less(t, after, time.Second)
}

func TestCatalogSlowQuery(t *testing.T) {
	// The window is "every 20m for 5m from 5m": at 60x, 5 s to 10 s real.
	e, err := New(builtinScenario(t, "catalog_slow_query"), Options{Seed: 5, Start: t0, TimeScale: 60})
	require.NoError(t, err)
	c := run(t, e, 19*time.Second, 100*time.Millisecond)
	checkTraces(t, c)
	from, to := window(t, c)
	assert.Equal(t, t0.Add(5*time.Second), from)
	assert.Equal(t, t0.Add(10*time.Second), to)
	assert.Equal(t, "catalog", c.truth[0].CulpritService)
	assert.Equal(t, "SELECT products", c.truth[0].CulpritOperation)
	for _, fs := range c.spans() {
		s := fs.span
		assert.NotEqual(t, ptrace.StatusCodeError, s.Status().Code())
		if s.Name() != "SELECT products" {
			continue
		}
		st := s.StartTimestamp().AsTime()
		inside := !st.Before(from) && st.Before(to)
		if inside {
			assert.Greater(t, dur(s), 300*time.Millisecond)
		} else {
			assert.Less(t, dur(s), 300*time.Millisecond)
		}
	}
	finished := 0
	for _, l := range c.logRecords() {
		if b := l.rec.Body().Str(); len(b) > 28 && b[:28] == "INFO: Product query finished" {
			finished++
		}
	}
	assert.Positive(t, finished)
}

func TestRateHeldSteady(t *testing.T) {
	for _, tt := range []struct {
		scenario string
		rate     float64
	}{{"catalog_slow_query", 0}, {"catalog_slow_query", 200}, {"checkout_payment_timeout", 50}} {
		t.Run(tt.scenario, func(t *testing.T) {
			// 03:00 is far from the checkout's peak: only the diurnal shape applies.
			e, err := New(builtinScenario(t, tt.scenario), Options{Seed: 11, Start: t0, StartAt: 3 * time.Hour, Rate: tt.rate})
			require.NoError(t, err)
			want := e.RateAt(0) * 60
			c := run(t, e, 61*time.Second, 250*time.Millisecond)
			roots := 0
			for _, fs := range c.spans() {
				if fs.span.ParentSpanID().IsEmpty() && fs.span.StartTimestamp().AsTime().Before(t0.Add(60*time.Second)) {
					roots++
				}
			}
			assert.InEpsilon(t, want, float64(roots), 0.1)
		})
	}
}

func TestDeterministic(t *testing.T) {
	var firsts []pcommon.TraceID
	for range 2 {
		e, err := New(builtinScenario(t, "checkout_payment_timeout"), Options{Seed: 42, Start: t0, StartAt: 14 * time.Hour})
		require.NoError(t, err)
		c := run(t, e, 5*time.Second, 100*time.Millisecond)
		firsts = append(firsts, c.spans()[0].span.TraceID())
	}
	assert.Equal(t, firsts[0], firsts[1])
}

// At 720x the daily window comes back every two real minutes; the window ends
// do not convert exactly between the clocks, which must not repeat a record.
func TestGroundTruthAtHighTimeScale(t *testing.T) {
	e, err := New(builtinScenario(t, "checkout_payment_timeout"), Options{Seed: 1, Start: t0, StartAt: 13*time.Hour + 59*time.Minute, TimeScale: 720, Rate: 5})
	require.NoError(t, err)
	c := run(t, e, 4*time.Minute, time.Second)
	require.Len(t, c.truth, 2)
	day := time.Duration(float64(24*time.Hour) / 720)
	assert.Equal(t, c.truth[0].Start.Add(day), c.truth[1].Start)
	assert.InDelta(t, float64(5*time.Second), float64(c.truth[1].End.Sub(c.truth[1].Start)), float64(time.Millisecond))
}

func TestMaxCatchUp(t *testing.T) {
	e, err := New(builtinScenario(t, "catalog_slow_query"), Options{Seed: 1, Start: t0, Rate: 100, MaxCatchUp: 10 * time.Second})
	require.NoError(t, err)
	out := e.Advance(t0.Add(time.Minute))
	assert.InEpsilon(t, 5000, out.Stats.SkippedRequests, 0.05)
	assert.InEpsilon(t, 1000, out.Stats.Requests+e.Pending(), 0.1, "only the last 10 s are generated")
}
