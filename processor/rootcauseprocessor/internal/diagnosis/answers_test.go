package diagnosis

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// checkout asks pricing for a price, then fails at its end: the price it
// got was wrong. Pricing's own spans say nothing is wrong; checkout's
// warning names it.
func wrongPrice() []Span {
	spans := []Span{
		sp(1, 0, "checkout", "POST /checkout", ptrace.SpanKindServer, 0, 100),
		sp(2, 1, "checkout", "GET /price", ptrace.SpanKindClient, 5, 20),
		sp(3, 2, "pricing", "GET /price", ptrace.SpanKindServer, 6, 19),
		sp(4, 1, "checkout", "POST /charge", ptrace.SpanKindClient, 30, 60),
		sp(5, 4, "payment", "POST /charge", ptrace.SpanKindServer, 31, 59),
	}
	spans[0].StatusError, spans[0].HTTPStatus = true, 500
	return spans
}

func TestAFailureThatFollowsAWrongAnswerIsTheCallees(t *testing.T) {
	spans := wrongPrice()
	logs := []Log{{Service: "checkout", SpanID: spans[0].ID, Severity: 13, Body: "Invalid response from pricing GET /price: price is negative"}}
	v := NewDiagnoser().Diagnose(spans, logs, fixed{})
	assert.Equal(t, KindError, v.Kind)
	assert.Equal(t, "pricing", v.CulpritService, "checkout says pricing's answer failed it")
	assert.Equal(t, "GET /price answered checkout with a value it could not use: invalid response from pricing GET /price: price is negative", v.Reason)
	assert.Equal(t, logs[0].Body, v.ErrorText)
	assert.Equal(t, []string{"checkout"}, v.Callers)
}

func TestAFailureIsNotAWrongAnswerWhenTheNamedServiceWasNotAnsweringIt(t *testing.T) {
	for name, tc := range map[string]struct {
		body  string
		setup func([]Span)
	}{
		// Service discovery failed: the named service was never called.
		"never called": {body: "Request processing failed: No instances available for ts-basic-service"},
		// The named callee failed itself: that failure is the origin.
		"the callee failed": {body: "Invalid response from pricing", setup: func(s []Span) { s[2].StatusError, s[2].HTTPStatus = true, 503 }},
		// A word that merely contains the name.
		"not the name": {body: "pricingRules is null"},
	} {
		spans := wrongPrice()
		if tc.setup != nil {
			tc.setup(spans)
		}
		logs := []Log{{Service: "checkout", SpanID: spans[0].ID, Severity: 17, Body: tc.body}}
		v := NewDiagnoser().Diagnose(spans, logs, fixed{})
		if tc.setup != nil {
			assert.Equal(t, "pricing", v.CulpritService, "%s: where the failure started", name)
		} else {
			assert.Equal(t, "checkout", v.CulpritService, name)
		}
		assert.Nil(t, v.WrongAnswer, name)
	}
}

func TestNamesService(t *testing.T) {
	assert.True(t, namesService("Get Route By Ids Failed from ts-route-service.", "ts-route-service"))
	assert.True(t, namesService("PRICING returned -3", "pricing"))
	assert.False(t, namesService("pricingRules is null", "pricing"))
	assert.False(t, namesService("a b c", "b"), "too short to tell")
}
