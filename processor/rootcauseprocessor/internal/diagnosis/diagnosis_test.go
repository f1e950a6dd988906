package diagnosis

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
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

// Java services recorded without span status or kinds: an exception in
// seat fails its request, and its caller travel fails in turn, each logging
// an ERROR. The spans in between say nothing, so the failure passes through
// them: seat is where it started.
func TestErrorPropagatesThroughSilentSpans(t *testing.T) {
	spans := []Span{
		sp(1, 0, "gateway", "/*", ptrace.SpanKindUnspecified, 0, 100),
		sp(2, 1, "travel", "/api/v1/travelservice/trips/left", ptrace.SpanKindUnspecified, 1, 99),
		sp(3, 2, "travel", "HTTP POST", ptrace.SpanKindUnspecified, 10, 90),
		sp(4, 3, "seat", "/api/v1/seatservice/seats/left_tickets", ptrace.SpanKindUnspecified, 11, 89),
	}
	logs := []Log{
		{Service: "travel", SpanID: spans[1].ID, Severity: 17, Body: "Request processing failed: 500 Internal Server Error from /api/v1/seatservice/seats/left_tickets"},
		{Service: "seat", SpanID: spans[3].ID, Severity: 17, Body: "Request processing failed: No instances available for ts-config-service"},
	}
	v := NewDiagnoser().Diagnose(spans, logs, fixed{})
	assert.Equal(t, KindError, v.Kind)
	assert.Equal(t, "seat", v.CulpritService)
	assert.Equal(t, []string{"travel", "gateway"}, v.Callers)
	assert.Contains(t, v.ErrorText, "No instances available")
	assert.True(t, v.ReasonFromLogs, "seat's own error is the reason, though it shares no word with the span's name")
	assert.Contains(t, v.Reason, "No instances available for ts-config-service")

	// A span that says it succeeded handled the failure below it: the
	// caller's own failure is then another one, and its own.
	spans[2].HTTPStatus = 200
	v = NewDiagnoser().Diagnose(spans, logs, fixed{})
	assert.Equal(t, "travel", v.CulpritService)
}

// gRPC services often record their outcome only as rpc.grpc.status_code:
// the cart's server span answered UNAVAILABLE, its caller's client span saw
// it, and the frontend failed in turn. The cart is where it started; a
// NOT_FOUND answered by the cart is no failure of it.
func TestGRPCStatusCodesTellAFailure(t *testing.T) {
	spans := []Span{
		sp(1, 0, "frontend", "GET /cart", ptrace.SpanKindServer, 0, 100),
		sp(2, 1, "frontend", "hipstershop.CartService/GetCart", ptrace.SpanKindClient, 10, 90),
		sp(3, 2, "cartservice", "hipstershop.CartService/GetCart", ptrace.SpanKindServer, 11, 89),
	}
	spans[0].HTTPStatus = 500
	spans[1].GRPCStatus, spans[1].HasGRPCStatus = 14, true
	spans[2].GRPCStatus, spans[2].HasGRPCStatus = 14, true
	v := NewDiagnoser().Diagnose(spans, nil, fixed{})
	assert.Equal(t, KindError, v.Kind)
	assert.Equal(t, "cartservice", v.CulpritService)
	assert.Equal(t, "gRPC UNAVAILABLE", v.ErrorText)
	assert.Contains(t, v.Reason, "gRPC UNAVAILABLE")

	spans[1].GRPCStatus, spans[2].GRPCStatus = 5, 5 // NOT_FOUND
	v = NewDiagnoser().Diagnose(spans, nil, fixed{})
	assert.Equal(t, "frontend", v.CulpritService, "the cart answered NOT_FOUND, as asked: the frontend's 500 is its own")
	assert.True(t, spans[2].succeeded())

	spans[1].GRPCStatus, spans[2].GRPCStatus = 0, 0
	spans[0].HTTPStatus = 200
	v = NewDiagnoser().Diagnose(spans, nil, fixed{})
	assert.False(t, v.Anomalous, "OK")
}

// usualRef is a Reference where every part usually takes 10ms and breaches
// beyond 50ms.
type usualRef struct{ fixed }

func (usualRef) Usual(PartKey) (time.Duration, bool)              { return 10 * time.Millisecond, true }
func (usualRef) Breached(_ PartKey, v time.Duration) bool         { return v > 50*time.Millisecond }
func (usualRef) CallerSlow(string, string) (float64, bool)        { return 0, false }
func (usualRef) CalleeSlow(string, string) (float64, bool)        { return 0, false }
func (usualRef) RecentBlame(string) time.Duration                 { return 0 }
func (usualRef) Saturated(string) bool                            { return false }
func (usualRef) NovelPattern(_, _, _ string, pattern uint64) bool { return pattern == novelPattern }

// novelPattern is the log pattern usualRef has never seen.
const novelPattern = 7

// A request that failed in food and was slowed by travel's own work is two
// anomalies: the failure, and beside it the delay.
// tripTrace is gateway → travel's GET /trips (ending at travelEnd) → its
// call to food's GET /foods from callStart to callEnd, the gateway ending
// at end; food's span is the last one.
func tripTrace(end, travelEnd, callStart, callEnd int64) []Span {
	return []Span{
		sp(1, 0, "gateway", "/*", ptrace.SpanKindUnspecified, 0, end),
		sp(2, 1, "travel", "GET /trips", ptrace.SpanKindUnspecified, 1, travelEnd),
		sp(3, 2, "travel", "HTTP GET", ptrace.SpanKindUnspecified, callStart, callEnd),
		sp(4, 3, "food", "GET /foods", ptrace.SpanKindUnspecified, callStart+1, callEnd-1),
	}
}

func TestAFailedTraceSlowedElsewhereNamesBoth(t *testing.T) {
	spans := tripTrace(400, 350, 300, 340) // travel: 300ms of its own
	logs := []Log{{Service: "food", SpanID: spans[3].ID, Severity: 17, Body: "foodStoresListResult is null"}}
	v := NewDiagnoser().Diagnose(spans, logs, usualRef{fixed{}})
	assert.Equal(t, KindError, v.Kind)
	assert.Equal(t, "food", v.CulpritService)
	assert.Equal(t, "travel", v.Slow.Service)
	assert.Equal(t, 1, v.Slow.Culprit)
	assert.Equal(t, []string{"gateway"}, v.Slow.Callers)
	assert.Contains(t, v.Slow.Reason, "slow GET /trips")
	assert.NotContains(t, v.Slow.Delayed, "food", "food failed at once: the time travel lost is not its doing")
	assert.Contains(t, v.Slow.Delayed, "travel")
	i := slices.IndexFunc(v.Candidates, func(c Candidate) bool { return c.Name == "travel" })
	require.GreaterOrEqual(t, i, 0)
	assert.Equal(t, EvidenceSlow, v.Candidates[i].Evidence, "the failure's candidates name the service that slowed it, and why")
	assert.InDelta(t, scoreOnPath, v.Candidates[i].Score, 1e-9, "the most blamed for the delay")
	assert.True(t, v.Slowed("travel"), "300ms of its own, far beyond its usual 10ms")
	assert.False(t, v.Slowed("food"), "food failed at once")

	// Travel's time lost after food failed early is travel waiting and
	// retrying around the failure: food's doing too.
	retry := tripTrace(400, 350, 5, 15)
	logs[0].SpanID = retry[3].ID
	v = NewDiagnoser().Diagnose(retry, logs, usualRef{fixed{}})
	assert.Equal(t, "travel", v.Slow.Service)
	assert.Contains(t, v.Slow.Delayed, "food")

	// Without the delay, the failure alone.
	spans = tripTrace(60, 58, 10, 50)
	logs[0].SpanID = spans[3].ID
	v = NewDiagnoser().Diagnose(spans, logs, usualRef{fixed{}})
	assert.Equal(t, "food", v.CulpritService)
	assert.Equal(t, -1, v.Slow.Culprit)
}

// basicCalls is a trace where basic calls station, train and price in turn;
// slow lists the callees whose call takes 80ms while their own span takes
// 5ms (the time is lost between the two ends), the others take 6ms.
func basicCalls(slow ...string) []Span {
	spans := []Span{
		sp(1, 0, "gateway", "/*", ptrace.SpanKindUnspecified, 0, 300),
		sp(2, 1, "basic", "/basic/travels", ptrace.SpanKindUnspecified, 1, 0), // ends after its calls
	}
	at := int64(2)
	for i, callee := range []string{"station", "train", "price"} {
		d := int64(6)
		if slices.Contains(slow, callee) {
			d = 80
		}
		client, server := byte(10+2*i), byte(11+2*i)
		spans = append(spans,
			sp(client, 2, "basic", "HTTP POST", ptrace.SpanKindUnspecified, at, at+d),
			sp(server, client, callee, "POST /"+callee, ptrace.SpanKindUnspecified, at+1, at+6))
		at += d + 1
	}
	spans[1].End = (at + 2) * int64(time.Millisecond)
	spans[0].End = (at + 4) * int64(time.Millisecond)
	return spans
}

// The calls of one trace say which end a lost time belongs to before the
// window does: every call of basic slow, whatever it calls, is basic's
// (its CPU, its connection pool, its network); one of its calls slow while
// the others are not is that callee's.
func TestTheTracesOwnCallsTellWhichEndIsSlow(t *testing.T) {
	v := NewDiagnoser().Diagnose(basicCalls("station", "train", "price"), nil, usualRef{fixed{}})
	require.Equal(t, KindLatency, v.Kind)
	assert.Equal(t, "basic", v.CulpritService, "all of basic's calls lost time: the caller is slow")

	v = NewDiagnoser().Diagnose(basicCalls("price"), nil, usualRef{fixed{}})
	require.Equal(t, KindLatency, v.Kind)
	assert.Equal(t, "price", v.CulpritService, "only the call into price lost time: the callee is slow")
}

func TestASlowRequestIsExplainedByItsSlowdownNotByRoutineWarnings(t *testing.T) {
	spans := []Span{
		sp(1, 0, "front", "GET /", ptrace.SpanKindServer, 0, 500),
		sp(2, 1, "front", "call a", ptrace.SpanKindClient, 10, 400),
		sp(3, 2, "a", "verify", ptrace.SpanKindServer, 11, 399),
	}
	b := fixed{"th:frontGET /": 100 * time.Millisecond, "typ:averify": 10 * time.Millisecond}
	routine := Log{Service: "a", Severity: plog.SeverityNumberWarn, Body: "[verify][Verify code start]"}
	v := NewDiagnoser().Diagnose(spans, []Log{routine}, b)
	assert.Equal(t, KindLatency, v.Kind)
	assert.False(t, v.ReasonFromLogs, "a warning every request logs does not explain a slow one")
	assert.Equal(t, "slow verify", v.Reason)
	assert.Contains(t, v.Evidence, "a: [verify][Verify code start]", "the warning is still evidence")

	slow := Log{Service: "a", Severity: plog.SeverityNumberWarn, Body: "verify took 380ms, over its 50ms budget"}
	v = NewDiagnoser().Diagnose(spans, []Log{routine, slow}, b)
	assert.True(t, v.ReasonFromLogs)
	assert.Equal(t, "verify took 380ms, over its 50ms budget", v.Reason)
}

func TestSpansWithoutKindsAreReadByTheirServiceBoundaries(t *testing.T) {
	none := ptrace.SpanKindUnspecified
	spans := []Span{
		sp(1, 0, "gateway", "GET /order", none, 0, 500),
		sp(2, 1, "gateway", "route", none, 1, 499),              // calls order: a client
		sp(3, 2, "order", "GET /order", none, 2, 498),           // entered from the gateway
		sp(4, 3, "order", "load", none, 3, 100),                 // inside order
		sp(5, 3, "order", "call price", none, 100, 490),         // calls price
		sp(6, 5, "price", "GET /price", none, 101, 489),         // entered from order
		sp(7, 0xee, "stock", "GET /stock", none, 10, 20),        // parent outside the trace
		sp(8, 4, "order", "cache", ptrace.SpanKindClient, 4, 5), // has a kind: kept
		sp(9, 0, "report", "POST /report", none, 0, 40),         // a root that calls another service directly
		sp(10, 9, "mail", "POST /mail", none, 1, 39),
		sp(11, 8, "order", "cache hit", none, 4, 5),  // below an explicit client, same service
		sp(10, 9, "mail", "POST /mail", none, 1, 39), // a repeated ID: ignored, left as sent
	}
	NewDiagnoser().Diagnose(spans, nil, fixed{})
	want := []ptrace.SpanKind{
		ptrace.SpanKindServer, ptrace.SpanKindClient, ptrace.SpanKindServer, ptrace.SpanKindInternal,
		ptrace.SpanKindClient, ptrace.SpanKindServer, ptrace.SpanKindServer, ptrace.SpanKindClient,
		ptrace.SpanKindServer, ptrace.SpanKindServer, ptrace.SpanKindInternal, ptrace.SpanKindUnspecified,
	}
	for i, k := range want {
		assert.Equal(t, k, spans[i].Kind, "span %d (%s %s)", i+1, spans[i].Service, spans[i].Name)
	}
}

// visitRef is usualRef with a usual visit time per service.
type visitRef struct {
	usualRef
	visits map[string]time.Duration
}

func (r visitRef) Usual(k PartKey) (time.Duration, bool) {
	if u, ok := r.visits[k.Service]; ok && k.Kind == PartVisit {
		return u, true
	}
	return r.usualRef.Usual(k)
}

func (r visitRef) Breached(k PartKey, v time.Duration) bool {
	u, _ := r.Usual(k)
	return v > 5*u
}

// A failure is the symptom of a delay below it (a timeout, a circuit breaker)
// when it came soon after the delay ended. One that came long after the
// delay was over, for a reason of its own, is its own.
func TestAFailureIsTheSymptomOfADelayOnlyWhenItFollowsTheDelay(t *testing.T) {
	// preserve calls seat, which takes 83ms of its own (usually 10ms), then
	// works on (usually 200ms of its own) and fails.
	trace := func(preserveEnd int64) []Span {
		return []Span{
			sp(1, 0, "gateway", "/*", ptrace.SpanKindUnspecified, 0, preserveEnd+5),
			sp(2, 1, "preserve", "POST /preserve", ptrace.SpanKindUnspecified, 1, preserveEnd),
			sp(3, 2, "preserve", "HTTP POST", ptrace.SpanKindUnspecified, 10, 95),
			sp(4, 3, "seat", "POST /seats", ptrace.SpanKindUnspecified, 11, 94),
		}
	}
	ref := visitRef{visits: map[string]time.Duration{"preserve": 220 * time.Millisecond, "gateway": 10 * time.Millisecond}}

	late := trace(300)
	logs := []Log{{Service: "preserve", SpanID: late[1].ID, Severity: 17, Body: "No instances available for ts-travel2-service"}}
	v := NewDiagnoser().Diagnose(late, logs, ref)
	require.Equal(t, KindError, v.Kind)
	assert.Equal(t, "preserve", v.CulpritService, "it failed 206ms after seat's 73ms delay was over")
	assert.Equal(t, "seat", v.Slow.Service, "the delay is an anomaly beside the failure")

	soon := trace(100)
	logs[0].SpanID = soon[1].ID
	logs[0].Body = "Read timed out"
	v = NewDiagnoser().Diagnose(soon, logs, ref)
	require.Equal(t, KindError, v.Kind)
	assert.Equal(t, "seat", v.CulpritService, "it failed 6ms after seat's delay: it waited for it")

	timedOut := func(spans []Span, failed int) Verdict {
		t.Helper()
		v := NewDiagnoser().Diagnose(spans, []Log{{Service: spans[failed].Service, SpanID: spans[failed].ID, Severity: 17, Body: "Read timed out"}}, ref)
		require.Equal(t, KindError, v.Kind)
		return v
	}
	// A delay on the way back: seat answered at once, its answer took 391ms
	// to arrive, and preserve failed 5ms after it did.
	v = timedOut([]Span{
		sp(1, 0, "gateway", "/*", ptrace.SpanKindUnspecified, 0, 420),
		sp(2, 1, "preserve", "POST /preserve", ptrace.SpanKindUnspecified, 1, 415),
		sp(3, 2, "preserve", "HTTP POST", ptrace.SpanKindUnspecified, 10, 410),
		sp(4, 3, "seat", "POST /seats", ptrace.SpanKindUnspecified, 11, 20),
	}, 1)
	assert.Equal(t, "seat", v.CulpritService, "a delay on the way back is waited for until the answer arrives")

	// A delay one service further down: the gateway waited for preserve,
	// which waited for seat (39ms beyond its usual) and then did its usual
	// work; the gateway failed as soon as preserve answered.
	v = timedOut([]Span{
		sp(1, 0, "gateway", "/*", ptrace.SpanKindUnspecified, 0, 102),
		sp(2, 1, "gateway", "HTTP POST", ptrace.SpanKindUnspecified, 5, 101),
		sp(3, 2, "preserve", "POST /preserve", ptrace.SpanKindUnspecified, 6, 100),
		sp(4, 3, "preserve", "HTTP POST", ptrace.SpanKindUnspecified, 10, 61),
		sp(5, 4, "seat", "POST /seats", ptrace.SpanKindUnspecified, 11, 60),
	}, 0)
	assert.Equal(t, "seat", v.CulpritService, "the delay came back through preserve")

	// Three slow attempts, with backoffs between them; the failure came
	// right after the last.
	v = timedOut([]Span{
		sp(1, 0, "gateway", "/*", ptrace.SpanKindUnspecified, 0, 605),
		sp(2, 1, "preserve", "POST /preserve", ptrace.SpanKindUnspecified, 1, 600),
		sp(3, 2, "preserve", "HTTP POST", ptrace.SpanKindUnspecified, 10, 110),
		sp(4, 3, "seat", "POST /seats", ptrace.SpanKindUnspecified, 11, 109),
		sp(5, 2, "preserve", "HTTP POST", ptrace.SpanKindUnspecified, 210, 310),
		sp(6, 5, "seat", "POST /seats", ptrace.SpanKindUnspecified, 211, 309),
		sp(7, 2, "preserve", "HTTP POST", ptrace.SpanKindUnspecified, 510, 598),
		sp(8, 7, "seat", "POST /seats", ptrace.SpanKindUnspecified, 511, 597),
	}, 1)
	assert.Equal(t, "seat", v.CulpritService, "retried until the last slow attempt")
}

// A span failed by its new path alone, in a visit whose first span wrote the
// error line, takes its words from that line: the path is how it failed,
// the line what. Without such a line, the new path is the failure's words.
func TestANewPathSaysWhatItsVisitsErrorLineSays(t *testing.T) {
	spans := []Span{
		sp(1, 0, "gateway", "/*", ptrace.SpanKindUnspecified, 0, 40),
		sp(2, 1, "preserve", "POST /preserve", ptrace.SpanKindUnspecified, 1, 39),
		sp(3, 2, "preserve", "PreserveController.preserve", ptrace.SpanKindUnspecified, 2, 38),
	}
	spans[2].Pattern = novelPattern
	logs := []Log{{Service: "preserve", SpanID: spans[1].ID, Severity: 17, Body: "Request processing failed: contacts is null"}}
	v := NewDiagnoser().Diagnose(spans, logs, usualRef{fixed{}})
	assert.Equal(t, KindError, v.Kind)
	assert.Equal(t, "preserve", v.CulpritService)
	assert.Equal(t, "Request processing failed: contacts is null", v.ErrorText)

	spans[2].Entry = ""
	v = NewDiagnoser().Diagnose(spans, nil, usualRef{fixed{}})
	assert.Equal(t, NewPatternText+"PreserveController.preserve", v.ErrorText)
	assert.Equal(t, "gateway POST /preserve", spans[2].Entry, "its visit began with POST /preserve, called by gateway")
}
