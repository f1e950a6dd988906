package simulate

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/model"
)

func TestCustomExample(t *testing.T) {
	sc, err := model.Load("../examples/shop.yaml")
	require.NoError(t, err)
	// 60x: the shipping API is down 5-7 s, 15-17 s, 25-27 s real, the cart pool is exhausted from 30 s.
	e, err := New(sc, Options{Seed: 2, Start: t0, StartAt: 3 * time.Hour, TimeScale: 60, Rate: 50})
	require.NoError(t, err)
	c := run(t, e, 32*time.Second, 100*time.Millisecond)
	checkTraces(t, c)
	require.Len(t, c.truth, 3)
	g := c.truth[0]
	assert.Equal(t, "shipping_api_down", g.Fault)
	assert.Equal(t, "dependency_down", g.Kind)
	assert.Equal(t, "shipping-api", g.Dependency)
	assert.Equal(t, t0.Add(5*time.Second), g.Start)
	assert.Equal(t, t0.Add(7*time.Second), g.End)
	assert.NotEmpty(t, g.SampleTraceIDs)

	refused, parallel := 0, 0
	for _, fs := range c.spans() {
		s := fs.span
		if v, ok := s.Attributes().Get("peer.service"); ok && v.Str() == "shipping-api" && strings.Contains(s.Status().Message(), "connection refused") {
			st := s.StartTimestamp().AsTime()
			in := false
			for _, w := range c.truth {
				in = in || !st.Before(w.Start) && st.Before(w.End)
			}
			assert.True(t, in, "refused at %v", st)
			refused++
		}
		if s.Name() == "score candidates" {
			assert.Equal(t, ptrace.SpanKindInternal, s.Kind())
			parallel++
		}
	}
	assert.Positive(t, refused)
	assert.Positive(t, parallel)
	open := e.Flush(t0.Add(32 * time.Second))
	require.Len(t, open, 1, "the cart pool window is open")
	assert.Equal(t, "cart", open[0].CulpritService)
	assert.Equal(t, t0.Add(32*time.Second), open[0].End)
}

func TestStepFaults(t *testing.T) {
	sc, err := model.Parse([]byte(`
name: steps
traffic: {rate: 50, entrypoints: [{service: a, operation: GET /a}]}
dependencies: [{name: ext, latency: {p50: 10ms}}]
services:
  - name: a
    operations:
      - name: GET /a
        steps:
          - {name: compute, work: {p50: 1ms}}
          - call: {service: b, operation: GET /b}
            on_error: continue
          - call: {dependency: ext, operation: POST /x}
  - name: b
    operations: [{name: GET /b}]
faults:
  - {name: slow, kind: latency, target: {service: a, operation: compute}, windows: ["at 0s for 10s"], latency: {p50: 500ms}}
  - {name: reset, kind: error, target: {service: a, operation: GET /b}, windows: ["at 0s for 10s"]}
  - {name: gw, kind: error, target: {service: a, operation: POST /x}, status: 503, windows: ["at 0s for 10s"]}
`))
	require.NoError(t, err)
	e, err := New(sc, Options{Seed: 1, Start: t0})
	require.NoError(t, err)
	c := run(t, e, 20*time.Second, 100*time.Millisecond)
	checkTraces(t, c)
	require.Len(t, c.truth, 3)
	for _, fs := range c.spans() {
		s := fs.span
		inside := s.StartTimestamp().AsTime().Before(t0.Add(10 * time.Second))
		switch s.Name() {
		case "compute":
			assert.Equal(t, inside, dur(s) > 400*time.Millisecond)
		case "GET /b":
			if s.Kind() == ptrace.SpanKindClient {
				assert.Equal(t, inside, s.Status().Code() == ptrace.StatusCodeError)
			} else {
				assert.False(t, inside, "no server span when the connection is reset")
			}
		case "POST /x":
			code, _ := s.Attributes().Get("http.response.status_code")
			assert.Equal(t, inside, code.Int() == 503)
		}
	}
}
