package diagnosis

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fixed map[string]time.Duration

func (f fixed) Threshold(service, op string) (time.Duration, bool) {
	d, ok := f["th:"+service+op]
	return d, ok
}

func (f fixed) Typical(service, op string) (time.Duration, bool) {
	d, ok := f["typ:"+service+op]
	return d, ok
}

func sp(id, parent byte, svc, name string, kind ptrace.SpanKind, start, end int64) Span {
	return Span{
		ID: pcommon.SpanID{id}, Parent: pcommon.SpanID{parent}, Service: svc, Name: name, Kind: kind,
		Start: start * int64(time.Millisecond), End: end * int64(time.Millisecond),
	}
}

func TestLatencyCulpritOnCriticalPath(t *testing.T) {
	spans := []Span{
		sp(1, 0, "front", "GET /", ptrace.SpanKindServer, 0, 500),
		sp(2, 1, "front", "call a", ptrace.SpanKindClient, 10, 400), // waited for
		sp(3, 2, "a", "GET /a", ptrace.SpanKindServer, 11, 399),
		sp(4, 3, "a", "SELECT x", ptrace.SpanKindClient, 20, 390),
		sp(5, 1, "front", "call b", ptrace.SpanKindClient, 10, 300), // parallel, not on the path
	}
	spans[3].DBSystem = "postgresql"
	spans[4].PeerService = "b"
	b := fixed{"th:frontGET /": 100 * time.Millisecond, "typ:aSELECT x": 10 * time.Millisecond}
	v := NewDiagnoser().Diagnose(spans, nil, b)
	assert.True(t, v.Anomalous)
	assert.Equal(t, KindLatency, v.Kind)
	assert.Equal(t, 3, v.Culprit)
	assert.Equal(t, "a", v.CulpritService)
	assert.Equal(t, "postgresql", v.Dependency)
	assert.Equal(t, "slow postgresql SELECT x query", v.Reason)
	assert.Equal(t, "a", v.Candidates[0].Name)
}

func TestNormalTrace(t *testing.T) {
	spans := []Span{sp(1, 0, "front", "GET /", ptrace.SpanKindServer, 0, 50)}
	v := NewDiagnoser().Diagnose(spans, nil, fixed{"th:frontGET /": 100 * time.Millisecond})
	assert.False(t, v.Anomalous)
	assert.Equal(t, []time.Duration{50 * time.Millisecond}, v.Exclusive)
}

func TestErrorHandledOnTheWayUpIsNotTheOrigin(t *testing.T) {
	spans := []Span{
		sp(1, 0, "front", "GET /", ptrace.SpanKindServer, 0, 500),
		sp(2, 1, "front", "cache get", ptrace.SpanKindClient, 1, 2), // failed, handled
		sp(3, 1, "front", "render", ptrace.SpanKindInternal, 3, 400),
		sp(4, 3, "front", "template", ptrace.SpanKindInternal, 4, 300),
	}
	spans[0].StatusError = true
	spans[2].StatusError = true
	spans[3].StatusError = true
	spans[3].StatusMessage = "template not found"
	spans[1].StatusError = true
	spans[1].DBSystem = "redis"
	// The cache miss is at the same depth as render but its chain also reaches
	// the root; the deeper template failure wins.
	v := NewDiagnoser().Diagnose(spans, []Log{{Service: "front", Severity: 17, Body: "Template not found: product.html."}}, fixed{})
	assert.Equal(t, KindError, v.Kind)
	assert.Equal(t, 3, v.Culprit)
	assert.Equal(t, "template not found: product.html", v.Reason)
}
