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

// codeFaults is a checkout that asks pricing for a price, then charges
// payment with it: pricing throws in the first window, returns a wrong
// price in the second.
const codeFaults = `
name: code
traffic: {rate: 50, entrypoints: [{service: checkout, operation: POST /checkout}]}
services:
  - name: checkout
    operations:
      - name: POST /checkout
        steps:
          - call: {service: pricing, operation: GET /price}
          - call: {service: payment, operation: POST /charge}
        logs: {error: [{severity: ERROR, body: "checkout failed with status {status}"}]}
  - name: pricing
    operations:
      - name: GET /price
        steps: [{name: load rules, work: {p50: 2ms}}]
  - name: payment
    operations:
      - name: POST /charge
        bad_input: {error_rate: 0.4, status: 422, message: amount must be positive, logs: {error: [{severity: WARN, body: "rejected charge: amount must be positive"}]}}
faults:
  - {name: throws, kind: exception, target: {service: pricing, operation: GET /price}, windows: ["at 0s for 5s"], exception_type: NullPointerException, message: rules is null}
  - {name: wrong, kind: bad_response, target: {service: pricing, operation: GET /price}, windows: ["at 10s for 5s"], error_rate: 0.5, message: price is negative}
`

// TestCodeLevelFaults: an exception fails its operation at once, before its
// work, with an exception event and an ERROR log in its own service; a bad
// response leaves the culprit's telemetry as usual while its caller warns,
// passes the wrong value on (the next service rejects 40% of it as bad
// input) and fails at its end in half the requests: 70% fail in all. Both are recorded as their
// own kind, on the culprit service.
func TestCodeLevelFaults(t *testing.T) {
	sc, err := model.Parse([]byte(codeFaults))
	require.NoError(t, err)
	e, err := New(sc, Options{Seed: 3, Start: t0})
	require.NoError(t, err)
	c := run(t, e, 20*time.Second, 100*time.Millisecond)
	checkTraces(t, c)
	require.Len(t, c.truth, 2)
	assert.Equal(t, model.KindException, c.truth[0].Kind)
	assert.Equal(t, model.KindBadResponse, c.truth[1].Kind)
	for _, g := range c.truth {
		assert.Equal(t, "pricing", g.CulpritService)
	}

	in := func(s ptrace.Span, from, to time.Duration) bool {
		st := s.StartTimestamp().AsTime()
		return !st.Before(t0.Add(from)) && st.Before(t0.Add(to))
	}
	var thrown, work, charged, chargesAfterWrong, rejected, failedAfterWrong, okAfterWrong int
	for _, fs := range c.spans() {
		s := fs.span
		switch {
		case fs.svc == "pricing" && s.Kind() == ptrace.SpanKindServer && s.Events().Len() > 0:
			assert.True(t, in(s, 0, 5*time.Second+time.Millisecond), "thrown inside the fault's window")
			require.Equal(t, ptrace.StatusCodeError, s.Status().Code())
			require.Equal(t, 1, s.Events().Len())
			ev := s.Events().At(0)
			assert.Equal(t, "exception", ev.Name())
			typ, _ := ev.Attributes().Get("exception.type")
			assert.Equal(t, "NullPointerException", typ.Str())
			thrown++
		case fs.svc == "pricing" && s.Name() == "load rules" && in(s, 0, 5*time.Second):
			work++
		case fs.svc == "pricing" && s.Kind() == ptrace.SpanKindServer && in(s, 10*time.Second, 15*time.Second):
			assert.NotEqual(t, ptrace.StatusCodeError, s.Status().Code(), "a wrong value is a success to its service")
		case fs.svc == "payment" && s.Kind() == ptrace.SpanKindServer && in(s, 0, 5*time.Second):
			charged++
		case fs.svc == "payment" && s.Kind() == ptrace.SpanKindServer && in(s, 10*time.Second, 15*time.Second):
			chargesAfterWrong++
			code, _ := s.Attributes().Get("http.response.status_code")
			if code.Int() == 422 {
				rejected++
			}
		case fs.svc == "checkout" && s.Kind() == ptrace.SpanKindServer && in(s, 10*time.Second, 15*time.Second):
			if s.Status().Code() == ptrace.StatusCodeError {
				failedAfterWrong++
			} else {
				okAfterWrong++
			}
		}
	}
	assert.Positive(t, thrown)
	assert.Zero(t, work, "the exception came before the operation's work")
	assert.Zero(t, charged, "checkout stops when pricing throws")
	assert.InDelta(t, 0.4, float64(rejected)/float64(chargesAfterWrong), 0.15, "the wrong price reaches payment as bad input")
	assert.InDelta(t, 0.7, float64(failedAfterWrong)/float64(failedAfterWrong+okAfterWrong), 0.15)

	var npe, warned int
	for _, l := range c.logRecords() {
		body := l.rec.Body().Str()
		switch {
		case l.svc == "pricing" && strings.Contains(body, "NullPointerException: rules is null"):
			assert.Equal(t, "ERROR", l.rec.SeverityText())
			npe++
		case l.svc == "checkout" && strings.HasPrefix(body, "Invalid response from pricing GET /price: price is negative"):
			assert.Equal(t, "WARN", l.rec.SeverityText())
			warned++
		case l.svc == "pricing":
			assert.NotContains(t, body, "negative", "the culprit of a bad response logs nothing about it")
		}
	}
	assert.InDelta(t, thrown, npe, 2, "one ERROR log for each exception")
	assert.InDelta(t, chargesAfterWrong, warned, 2, "one warning for each wrong value passed on")
}

func TestCodeLevelFaultsNeedAnOperation(t *testing.T) {
	_, err := model.Parse([]byte(`
name: bad
traffic: {rate: 1, entrypoints: [{service: a, operation: GET /a}]}
dependencies: [{name: ext}]
services: [{name: a, operations: [{name: GET /a}]}]
faults: [{name: f, kind: bad_response, target: {dependency: ext}, windows: ["at 0s for 1s"]}]
`))
	require.ErrorContains(t, err, `faults[0].target.service: required for kind "bad_response"`)
}
