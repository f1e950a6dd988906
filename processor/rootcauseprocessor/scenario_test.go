package rootcauseprocessor

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

type scenario struct {
	name       string
	build      func(n uint64, start time.Time, r *rand.Rand, faulty bool) *traceBuilder
	service    string
	operation  string
	dependency string
	reason     string
}

var scenarios = []scenario{
	{
		name: "S1 checkout", build: checkout,
		service: "payment", operation: "SELECT accounts", dependency: "postgresql",
		reason: "database connection timeout during payment gateway authentication",
	},
	{
		name: "S2 login", build: login,
		service: "database", operation: "SELECT users", dependency: "postgresql",
		reason: "database connection timeout while querying user credentials (database connection pool reached max connections, waiting)",
	},
	{
		name: "S3 catalog", build: catalog,
		service: "catalog", operation: "SELECT products", dependency: "postgresql",
		reason: "slow postgresql SELECT products query",
	},
}

const requestEvery = 200 * time.Millisecond

func TestScenarios(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			cfg := testConfig()
			// The publication gate as shipped: noise must not open incidents,
			// the seed faults must.
			cfg.MinTraces, cfg.MinShare = defaultMinTraces, defaultMinShare
			h := newHarness(t, cfg)
			r := rand.New(rand.NewPCG(1, 2))
			sent := 0
			n := uint64(0)
			request := func(faulty bool) *traceBuilder {
				n++
				b := sc.build(n, h.clock.Now(), r, faulty)
				sent += b.td.SpanCount()
				h.consume(b.td, b.ld)
				h.advance(requestEvery)
				return b
			}

			// Fault-free traffic: baselines warm up, no incident.
			for range 100 {
				request(false)
			}
			h.advance(cfg.DecisionWait + time.Second)
			require.Empty(t, h.incidentRecords(), "no incident during fault-free traffic")
			for _, td := range h.tsink.AllTraces() {
				forEachSpan(td, func(_ string, s ptrace.Span) {
					_, tagged := s.Attributes().Get(attrCulprit)
					require.False(t, tagged)
				})
			}

			// The fault starts.
			faultAt := h.clock.Now()
			first := request(true)
			var openedAt time.Time
			// A trace of the published incident: the first ones come before
			// min_traces is reached and name their culprit only.
			var later *traceBuilder
			for i := range 40 {
				if openedAt.IsZero() && len(h.incidentRecords()) > 0 {
					openedAt = h.clock.Now()
				}
				b := request(true)
				if i == 9 {
					later = b
				}
			}
			h.advance(cfg.DecisionWait + time.Second)

			recs := h.incidentRecords()
			require.NotEmpty(t, recs)
			require.False(t, openedAt.IsZero())
			assert.LessOrEqual(t, openedAt.Sub(faultAt), cfg.DecisionWait+2*time.Second+h.shared.tickInterval(), "raised within decision_wait + 2s and a step of the event-time grid")

			open := recs[0]
			a := open.Attributes().AsRaw()
			assert.Equal(t, "open", a["rca.incident.status"])
			assert.Equal(t, sc.service, a["rca.culprit.service"])
			assert.Equal(t, sc.operation, a["rca.culprit.operation"])
			assert.Equal(t, sc.dependency, a["rca.culprit.dependency"])
			assert.Equal(t, sc.reason, a["rca.reason"])
			assert.Equal(t, sc.service, a["rca.candidates"].([]any)[0])
			assert.Equal(t, first.id.String(), a["rca.trace_ids"].([]any)[0])
			assert.Equal(t, "otelcol-rca", h.incidentResource()["service.name"])
			assert.Equal(t, "rca.incidents", h.incidentResource()["data_stream.dataset"])
			t.Logf("%s", open.Body().Str())

			// One incident for the whole fault, updated.
			id := a["rca.incident.id"]
			for _, rec := range recs {
				assert.Equal(t, id, rec.Attributes().AsRaw()["rca.incident.id"])
			}

			// Tags: the faulty trace's root names the incident, its culprit span is marked.
			var root, culprit ptrace.Span
			forwarded := 0
			for _, td := range h.tsink.AllTraces() {
				forwarded += td.SpanCount()
				forEachSpan(td, func(service string, s ptrace.Span) {
					if s.TraceID() != later.id {
						return
					}
					if s.ParentSpanID().IsEmpty() {
						root = s
					}
					if v, ok := s.Attributes().Get(attrCulprit); ok && v.Bool() {
						culprit = s
						assert.Equal(t, sc.service, service)
					}
				})
			}
			assert.Equal(t, sent, forwarded, "no span is dropped")
			assert.Equal(t, id, mustStr(t, root.Attributes(), attrIncidentID))
			assert.Equal(t, sc.service, mustStr(t, root.Attributes(), attrCulpritService))
			assert.Equal(t, sc.operation, mustStr(t, root.Attributes(), attrCulpritOperation))
			assert.Equal(t, sc.operation, culprit.Name())

			// The faulty trace's logs come out tagged with the incident.
			tagged := 0
			for _, lr := range h.appRecords() {
				if lr.TraceID() == later.id {
					assert.Equal(t, id, mustStr(t, lr.Attributes(), attrIncidentID))
					assert.Equal(t, "trace", mustStr(t, lr.Attributes(), attrMatch))
					tagged++
				}
			}
			assert.Equal(t, later.ld.LogRecordCount(), tagged)

			// The fault ends; the incident resolves.
			for range 10 {
				request(false)
			}
			h.advance(cfg.ResolveAfter + cfg.DecisionWait)
			recs = h.incidentRecords()
			last := recs[len(recs)-1].Attributes().AsRaw()
			assert.Equal(t, "resolved", last["rca.incident.status"])
			assert.EqualValues(t, 41, last["rca.trace_count"])
		})
	}
}

func forEachSpan(td ptrace.Traces, f func(service string, s ptrace.Span)) {
	for _, rs := range td.ResourceSpans().All() {
		service := ""
		if v, ok := rs.Resource().Attributes().Get("service.name"); ok {
			service = v.Str()
		}
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				f(service, s)
			}
		}
	}
}

func mustStr(t *testing.T, m pcommon.Map, k string) string {
	t.Helper()
	v, ok := m.Get(k)
	require.True(t, ok, "attribute %q missing", k)
	return v.Str()
}

// incidentResource returns the resource attributes of the incident records.
func (h *harness) incidentResource() map[string]any {
	for _, ld := range h.lsink.AllLogs() {
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				if sl.LogRecords().Len() > 0 && sl.LogRecords().At(0).EventName() == IncidentEventName {
					return rl.Resource().Attributes().AsRaw()
				}
			}
		}
	}
	return nil
}
