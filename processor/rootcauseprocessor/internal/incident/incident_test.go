package incident

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"go.uber.org/goleak"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/diagnosis"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2025, 3, 1, 12, 0, 10, 0, time.UTC)

func obs(n byte, start time.Time) Observation {
	return Observation{
		TraceID: pcommon.TraceID{n}, CulpritSpanID: pcommon.SpanID{n}, Start: start, End: start.Add(time.Second),
		Kind: diagnosis.KindError, CulpritService: "payment", CulpritOperation: "SELECT accounts", Dependency: "postgresql",
		Reason: "database connection timeout", Affected: []string{"order", "payment"},
		Candidates: []diagnosis.Candidate{
			{Name: "payment", Score: 1, Evidence: diagnosis.EvidenceOrigin},
			{Name: "postgresql", Score: 0.9, Evidence: diagnosis.EvidenceOrigin},
			{Name: "order", Score: 0.4, Evidence: diagnosis.EvidenceFailed},
			{Name: "inventory", Score: 0.05}, // on the trace, no evidence
		},
		Evidence: []string{"payment: Database connection timeout."},
	}
}

func TestLifecycle(t *testing.T) {
	s := New(Options{Window: time.Minute, ResolveAfter: 30 * time.Second, UpdateInterval: 10 * time.Second})
	now := t0
	id := rec(s, now, obs(1, t0))
	assert.Equal(t, ID("payment", t0.Truncate(time.Minute)), id)
	ev := s.Flush(now)
	require.Len(t, ev, 1)
	assert.Equal(t, StatusOpen, ev[0].Status)
	assert.Equal(t, []string{"payment", "postgresql", "order"}, names(ev[0].Candidates), "a bystander is not a candidate")
	assert.Equal(t, "failed in 1 of 1 traces", ev[0].Candidates[2].Evidence)

	assert.Equal(t, id, rec(s, now.Add(time.Second), obs(2, t0.Add(55*time.Second))), "same culprit within the window")
	assert.Equal(t, id, rec(s, now.Add(time.Second), obs(2, t0)), "a trace counts once")
	assert.Empty(t, s.Flush(now.Add(2*time.Second)), "updates are rate-limited")
	ev = s.Flush(now.Add(10 * time.Second))
	require.Len(t, ev, 1)
	assert.Equal(t, StatusUpdate, ev[0].Status)
	assert.Equal(t, 2, ev[0].TraceCount)
	assert.InDelta(t, 1/(1+0.4)*0.75, ev[0].Confidence, 1e-9)

	assert.True(t, s.AddEvidence(id, "order: Order processing delayed."))
	assert.Equal(t, 1, first(s.Active()))

	ev = s.Flush(now.Add(31 * time.Second))
	require.Len(t, ev, 1)
	assert.Equal(t, StatusResolved, ev[0].Status)
	assert.Contains(t, ev[0].Evidence, "order: Order processing delayed.")
	assert.Equal(t, 0, first(s.Active()))
	assert.Equal(t, []Total{{Service: "payment", Reason: "database connection timeout", Count: 1}}, s.Totals())
}

func TestDeterministicID(t *testing.T) {
	a := New(Options{Window: time.Minute, ResolveAfter: time.Minute})
	b := New(Options{Window: time.Minute, ResolveAfter: time.Minute})
	// Two collectors, different processing times, same telemetry: same ID.
	assert.Equal(t, rec(a, t0, obs(1, t0)), rec(b, t0.Add(7*time.Second), obs(1, t0)))
	assert.NotEqual(t, rec(a, t0, obs(3, t0.Add(5*time.Minute))), ID("payment", t0.Truncate(time.Minute)),
		"a trace beyond the window opens a new incident")
}

func first(open, _ int) int { return open }

func names(cs []Candidate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}

func TestSamplesKeepFirstAndLatest(t *testing.T) {
	s := New(Options{Window: time.Minute, ResolveAfter: time.Minute, MaxSamples: 4})
	var id string
	for n := byte(1); n <= 7; n++ {
		id = rec(s, t0, obs(n, t0.Add(time.Duration(n)*time.Second)))
	}
	in, ok := byTrace(s, pcommon.TraceID{7})
	require.True(t, ok)
	assert.Equal(t, id, in.ID)
	assert.Equal(t, []pcommon.TraceID{{1}, {2}, {6}, {7}}, in.TraceIDs)
	assert.Equal(t, []pcommon.SpanID{{1}, {2}, {6}, {7}}, in.SpanIDs)
	assert.Equal(t, 7, in.TraceCount)
}

func TestImproveReason(t *testing.T) {
	s := New(Options{Window: time.Minute, ResolveAfter: time.Minute})
	o := obs(1, t0)
	o.Reason = "postgresql query failed: timeout"
	id := rec(s, t0, o)
	assert.True(t, s.ImproveReason(id, "database connection timeout"))
	assert.False(t, s.ImproveReason(id, "something else"), "a reason quoting a log stays")
	assert.False(t, s.ImproveReason("unknown", "x"))
	in, _ := byTrace(s, pcommon.TraceID{1})
	assert.Equal(t, "database connection timeout", in.Reason)

	o = obs(2, t0)
	o.Reason, o.ReasonFromLogs = "from a log", true
	o.CulpritService, o.Affected = "inventory", []string{"inventory", "order"}
	id = rec(s, t0, o)
	assert.False(t, s.ImproveReason(id, "x"))

	ws := s.OpenWindows()
	require.Len(t, ws, 2)
	assert.Equal(t, []string{"payment", "order", "payment"}, ws[0].Services)
	assert.Equal(t, t0.Add(-time.Minute), ws[0].Start)
	assert.Equal(t, t0.Add(time.Second+time.Minute), ws[0].End)
}

// rec records o and returns its incident's ID, published or not.
func rec(s *Store, now time.Time, o Observation) string {
	id, _ := s.Record(now, o)
	return id
}

// TestPublicationGate: a culprit's usual rate of errors never opens an
// incident; a burst well above it does, once MinTraces anomalous traces are
// MinShare of the culprit service's traffic.
func TestPublicationGate(t *testing.T) {
	s := New(Options{Window: time.Minute, ResolveAfter: 30 * time.Second, UpdateInterval: 10 * time.Second, MinTraces: 3, MinShare: 0.05})
	now := t0
	traffic := func(n int) {
		for range n {
			s.Seen(now, []string{"order", "payment"}, nil, true)
		}
	}
	// Background: 1 anomalous trace in 200 through payment, three times a minute.
	for i := range 3 {
		traffic(200)
		id, published := s.Record(now, obs(byte(1+i), now))
		assert.False(t, published, "background error %d", i)
		_, ok := byTrace(s, pcommon.TraceID{byte(1 + i)})
		assert.False(t, ok, "an unpublished incident is not looked up")
		assert.NotEmpty(t, id)
		now = now.Add(20 * time.Second)
	}
	assert.Empty(t, s.Flush(now), "no event for background noise")
	assert.Zero(t, first(s.Active()))

	// Noise idle for ResolveAfter is forgotten, counted, never resolved.
	now = now.Add(time.Minute)
	assert.Empty(t, s.Flush(now))
	assert.Equal(t, int64(1), s.TakeDiscarded())

	// The fault: most of payment's traffic fails.
	traffic(20)
	var published bool
	for i := range 5 {
		_, published = s.Record(now, obs(byte(10+i), now))
	}
	require.True(t, published)
	ev := s.Flush(now)
	require.Len(t, ev, 1)
	assert.Equal(t, StatusOpen, ev[0].Status)
	assert.Equal(t, 5, ev[0].TraceCount, "the traces before publication count")
	assert.Equal(t, 1, first(s.Active()))
}

// TestTheShareOfALowRateOperationCounts: a fault of payment's low-rate
// operation is a small share of payment's traffic while its other
// operation is busy, but most of its own: it is published; the same count
// of anomalous traces spread over the busy operation is not.
func TestTheShareOfALowRateOperationCounts(t *testing.T) {
	span := func(op string) []diagnosis.Span { return []diagnosis.Span{{Service: "payment", Name: op}} }
	for _, tc := range []struct {
		name      string
		operation string
		want      bool
	}{
		{"the low-rate operation fails", "SELECT accounts", true},
		{"the busy operation fails as often", "GET /balance", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Options{Window: time.Minute, ResolveAfter: 30 * time.Second, UpdateInterval: 10 * time.Second, MinTraces: 3, MinShare: 0.05})
			now := t0
			published := false
			for i := range 6 {
				for range 100 {
					s.Seen(now, []string{"payment"}, span("GET /balance"), true)
				}
				s.Seen(now, []string{"payment"}, span(tc.operation), false)
				o := obs(byte(1+i), now)
				o.CulpritOperation = tc.operation
				_, published = s.Record(now, o)
				now = now.Add(5 * time.Second)
			}
			assert.Equal(t, tc.want, published)
		})
	}
}

// TestOneIncidentPerCulprit: slow and failed traces of the same culprit are
// one incident, whose kind escalates to error.
func TestOneIncidentPerCulprit(t *testing.T) {
	s := New(Options{Window: time.Minute, ResolveAfter: 30 * time.Second, UpdateInterval: 10 * time.Second})
	slow := obs(1, t0)
	slow.Kind = diagnosis.KindLatency
	a := rec(s, t0, slow)
	b := rec(s, t0, obs(2, t0.Add(time.Second)))
	assert.Equal(t, a, b)
	ev := s.Flush(t0)
	require.Len(t, ev, 1)
	assert.Equal(t, diagnosis.KindError, ev[0].Kind)
}

// TestOneIncidentPerService: traces blaming different operations of the same
// service are one incident, named after its most frequent operation.
func TestOneIncidentPerService(t *testing.T) {
	s := New(Options{Window: time.Minute, ResolveAfter: 30 * time.Second, UpdateInterval: 10 * time.Second})
	server := obs(1, t0)
	server.CulpritOperation, server.Dependency = "POST /query/credentials", ""
	a := rec(s, t0, server)
	for i := range 3 {
		assert.Equal(t, a, rec(s, t0, obs(byte(2+i), t0.Add(time.Second))))
	}
	ev := s.Flush(t0)
	require.Len(t, ev, 1)
	assert.Equal(t, "SELECT accounts", ev[0].CulpritOperation)
	assert.Equal(t, "postgresql", ev[0].Dependency)
	assert.Equal(t, 4, ev[0].TraceCount)
}

// TestWindowStartsWithTheBurst: an isolated anomalous trace long before a
// burst of the same culprit does not stretch the published incident's window.
func TestWindowStartsWithTheBurst(t *testing.T) {
	s := New(Options{Window: time.Minute, ResolveAfter: 2 * time.Minute, UpdateInterval: 10 * time.Second, MinTraces: 3})
	rec(s, t0, obs(1, t0))
	burst := t0.Add(70 * time.Second)
	for i := range 3 {
		rec(s, burst, obs(byte(2+i), burst.Add(-40*time.Second+time.Duration(i)*time.Second)))
	}
	ev := s.Flush(burst)
	require.Len(t, ev, 1)
	assert.Equal(t, burst.Add(-40*time.Second), ev[0].WindowStart)
	assert.Equal(t, 4, ev[0].TraceCount)
}

// TestAStragglerJustBeforeTheBurstDoesNotDateIt: one anomalous trace ten
// seconds before a dense burst (a fault's first side effect elsewhere, or
// chance) is a pause short of a quarter window, but long against the
// burst's own pace: the incident starts with the burst. (MinTraces 10 holds
// publication until the burst has shown its pace, as MinShare does on a busy
// service.)
func TestAStragglerJustBeforeTheBurstDoesNotDateIt(t *testing.T) {
	s := New(Options{Window: time.Minute, ResolveAfter: 2 * time.Minute, UpdateInterval: 10 * time.Second, MinTraces: 10})
	rec(s, t0, obs(1, t0))
	burst := t0.Add(10 * time.Second)
	var now time.Time
	for i := range 20 {
		now = burst.Add(time.Duration(i) * 400 * time.Millisecond)
		rec(s, now, obs(byte(2+i), now))
	}
	ev := s.Flush(now)
	require.Len(t, ev, 1)
	assert.Equal(t, burst, ev[0].WindowStart, "the straggler ten seconds before dated the incident")
	assert.Equal(t, 21, ev[0].TraceCount, "the straggler still counts in the incident")
}

func TestSymptomsFoldIntoTheOpenIncident(t *testing.T) {
	s := New(Options{Window: time.Minute, ResolveAfter: 2 * time.Minute, UpdateInterval: time.Second})
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	db := obs(1, t0)
	db.CulpritService, db.Affected = "database", []string{"database", "user"}
	dbID, published := s.Record(t0, db)
	require.True(t, published)

	// The token service fails because the database returned partial data:
	// the database, whose incident is open, failed in the same trace.
	tok := obs(2, t0.Add(time.Second))
	tok.CulpritService, tok.CulpritOperation, tok.Affected = "token", "POST /token", []string{"database", "token", "user"}
	id, published := s.Record(t0.Add(time.Second), tok)
	assert.True(t, published)
	assert.Equal(t, dbID, id, "the symptom joins the cause's incident")

	// A failure whose trace merely went through the database is its own
	// incident, and so is one whose culprit the database calls.
	other := obs(3, t0.Add(2*time.Second))
	other.CulpritService, other.Affected = "catalog", []string{"catalog", "user"}
	callee := obs(4, t0.Add(2*time.Second))
	callee.CulpritService, callee.Affected, callee.Callers = "disk", []string{"database", "disk"}, []string{"user", "database"}
	calleeID, _ := s.Record(t0.Add(2*time.Second), callee)
	assert.NotEqual(t, dbID, calleeID, "a caller is never the cause of its callee's trouble")
	otherID, _ := s.Record(t0.Add(2*time.Second), other)
	assert.NotEqual(t, dbID, otherID)

	evs := s.Flush(t0.Add(3 * time.Second))
	var in Incident
	for _, ev := range evs {
		if ev.ID == dbID {
			in = ev
		}
	}
	assert.Equal(t, "database", in.CulpritService)
	assert.Equal(t, 2, in.TraceCount)
	assert.Contains(t, in.Affected, "token")
}

// A request failed by one service and slowed by another counts in both
// incidents when the slow service stands out on its own; its index and tags
// name the failure's. While it does not, the delay is the failure's symptom
// and the trace counts once.
func TestATraceHurtTwiceCountsInBothIncidents(t *testing.T) {
	s := New(Options{Window: time.Minute, ResolveAfter: 30 * time.Second, UpdateInterval: 10 * time.Second})
	slow := func(n byte) Observation {
		o := obs(n, t0)
		o.Kind, o.CulpritService, o.CulpritOperation, o.Dependency = diagnosis.KindLatency, "travel", "GET /trips", ""
		o.Reason, o.Candidates = "slow GET /trips", []diagnosis.Candidate{{Name: "travel", Score: 1}}
		return o
	}
	id, _ := s.Record(t0, obs(1, t0), slow(1))
	ev := s.Flush(t0)
	require.Len(t, ev, 1, "travel has not stood out: its delay is payment's symptom")
	assert.Equal(t, 1, ev[0].TraceCount)

	alone := slow(2)
	alone.Affected = []string{"travel"}
	s.Record(t0, alone) // travel's own slow request
	again, _ := s.Record(t0, obs(3, t0), slow(3))
	assert.Equal(t, id, again)
	s.Record(t0, obs(3, t0), slow(3))
	counts := map[string]int{}
	for _, in := range s.Flush(t0.Add(10 * time.Second)) {
		counts[in.CulpritService] = in.TraceCount
	}
	assert.Equal(t, map[string]int{"payment": 2, "travel": 2}, counts, "a trace recorded twice counts once in each")
	in, ok := byTrace(s, pcommon.TraceID{3})
	require.True(t, ok)
	assert.Equal(t, "payment", in.CulpritService)
}

// Evidence that comes later for a service of a trace recorded already (its
// change of path established, its CPU report) counts the trace for that
// service once: not again when the service's incident counts it already,
// as the delay of a trace failed by another, or by earlier late evidence.
func TestLateEvidenceCountsATraceOncePerIncident(t *testing.T) {
	s := New(Options{Window: time.Minute, ResolveAfter: 30 * time.Second, UpdateInterval: 10 * time.Second})
	travel := func(n byte) Observation {
		o := obs(n, t0)
		o.Kind, o.CulpritService, o.CulpritOperation, o.Dependency = diagnosis.KindLatency, "travel", "GET /trips", ""
		o.Reason, o.Affected = "slow GET /trips", []string{"travel"}
		o.Candidates = []diagnosis.Candidate{{Name: "travel", Score: 1, Evidence: diagnosis.EvidenceOrigin}}
		return o
	}
	late := func(n byte) Observation {
		o := travel(n)
		o.Kind, o.Reason, o.Late = diagnosis.KindError, "queryInfo left its usual path", true
		return o
	}
	s.Record(t0, travel(9)) // travel's own incident, open
	s.Record(t0, obs(1, t0), travel(1))
	s.Record(t0, late(1))
	s.Record(t0, obs(2, t0))
	s.Record(t0, late(2))
	s.Record(t0, late(2))
	counts := map[string]int{}
	for _, in := range s.Flush(t0) {
		counts[in.CulpritService] = in.TraceCount
	}
	assert.Equal(t, map[string]int{"payment": 2, "travel": 3}, counts, "travel counts its own trace, the delay of trace 1 and trace 2 once")
}

// The symptom can stand out before its cause: token's failures pass the
// publication gate while the database's, with as many traces, has not
// changed enough yet. Token is held back, and its traces join the
// database's incident once that opens: one incident per fault, whichever
// stood out first.
func TestASymptomWaitsForItsCause(t *testing.T) {
	dbChanged := false
	opts := Options{
		Window: time.Minute, ResolveAfter: 2 * time.Minute, UpdateInterval: time.Second, MinTraces: 3,
		Changed: func(service string, _ time.Time) bool { return service != "database" || dbChanged },
	}
	s := New(opts)
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	n := byte(0)
	db := func() Observation {
		n++
		o := obs(n, now)
		o.CulpritService, o.Affected = "database", []string{"database", "user"}
		return o
	}
	tok := func() Observation {
		n++
		o := obs(n, now)
		o.CulpritService, o.CulpritOperation, o.Affected, o.Callers = "token", "POST /token", []string{"database", "token", "user"}, []string{"user"}
		return o
	}
	for range 3 {
		s.Record(now, db())
	}
	for range 3 {
		_, published := s.Record(now, tok())
		assert.False(t, published, "token is the database's symptom")
	}
	dbChanged = true
	_, published := s.Record(now, db())
	require.True(t, published)
	id, published := s.Record(now, tok())
	assert.True(t, published)
	ev := s.Flush(now)
	require.Len(t, ev, 1)
	assert.Equal(t, "database", ev[0].CulpritService)
	assert.Equal(t, ev[0].ID, id)
	assert.Contains(t, ev[0].Affected, "token")

	// A smaller unpublished incident holds back one whose traces it
	// misbehaved in for a while only (a quarter of the window): its cause
	// explains at least what its symptom does, so if it stays smaller it is
	// not the cause.
	dbChanged = false
	s2 := New(opts)
	s2.Record(now, db())
	for range 3 {
		s2.Record(now, tok())
	}
	assert.Empty(t, s2.Flush(now), "the first seconds of a fault are a race between cause and symptom")
	assert.Empty(t, s2.Flush(now.Add(opts.Window/4-time.Second)))
	ev = s2.Flush(now.Add(opts.Window / 4))
	require.Len(t, ev, 1)
	assert.Equal(t, "token", ev[0].CulpritService)

	// A cause that wins the race within that time takes the symptom's
	// traces, though it had fewer when the symptom was ready.
	s3 := New(opts)
	s3.Record(now, db())
	for range 3 {
		s3.Record(now, tok())
	}
	dbChanged = true
	later := now.Add(opts.Window / 8)
	for range 2 {
		s3.Record(later, db())
	}
	_, published = s3.Record(later, tok())
	assert.True(t, published, "folded into the database's incident")
	ev = s3.Flush(now.Add(opts.Window))
	require.Len(t, ev, 1)
	assert.Equal(t, "database", ev[0].CulpritService)
	assert.Contains(t, ev[0].Affected, "token")
}

// TestShareIsTheWorstPartOfTheCulpritsTraffic: an incident says how much of
// its culprit's requests it hurt over a window at its worst: not the first
// failure alone (one of one), not diluted by the normal traffic after.
func TestShareIsTheWorstPartOfTheCulpritsTraffic(t *testing.T) {
	s := New(Options{Window: time.Minute, ResolveAfter: 2 * time.Minute, UpdateInterval: 10 * time.Second, MinTraces: 3})
	var now time.Time
	for i := range 240 {
		now = t0.Add(time.Duration(i) * time.Second)
		s.Seen(now, []string{"order", "payment"}, nil, true)
		if i >= 30 && i < 120 && i%4 == 0 {
			rec(s, now, obs(byte(i), now)) // for 90 s, one request in four fails
		}
	}
	ev := s.Flush(now)
	require.NotEmpty(t, ev)
	assert.InDelta(t, 0.25, ev[len(ev)-1].Share, 0.02, "a quarter of payment's requests failed while the fault lasted")
}

// TestTextFromTheTelemetryIsBoundedAndValid: a reason taken from a log body
// can be any bytes of any length; the incident keeps valid UTF-8, at most
// maxText bytes, cut on a character.
func TestTextFromTheTelemetryIsBoundedAndValid(t *testing.T) {
	s := New(Options{Window: time.Minute, ResolveAfter: 2 * time.Minute, UpdateInterval: 10 * time.Second, MinTraces: 1})
	o := obs(1, t0)
	o.Reason = "bad \xff byte; " + strings.Repeat("é", 2000)
	evidence := []string{"payment: \xfe" + strings.Repeat("x", 5000)}
	o.Evidence = evidence
	rec(s, t0, o)
	ev := s.Flush(t0)
	require.Len(t, ev, 1)
	for _, text := range append([]string{ev[0].Reason}, ev[0].Evidence...) {
		assert.True(t, utf8.ValidString(text), "invalid UTF-8 kept: %q", text[:20])
		assert.LessOrEqual(t, len(text), maxText)
		assert.True(t, strings.HasSuffix(text, "…"), "a cut text says it was cut")
	}
	assert.True(t, strings.HasPrefix(ev[0].Reason, "bad \uFFFD byte"))
	assert.Equal(t, "payment: \xfe"+strings.Repeat("x", 5000), evidence[0], "the caller's evidence is not modified")
}

// TestAFloodOfSmallIncidentsKeepsTheLargeOne: a flood of services, each
// with a few failures (a fault everywhere, or forged telemetry), fills the
// store: it evicts its own small incidents, never the large incident being
// worked on, and its series fold into one.
func TestAFloodOfSmallIncidentsKeepsTheLargeOne(t *testing.T) {
	s := New(Options{Window: time.Minute, ResolveAfter: 2 * time.Minute, UpdateInterval: 10 * time.Second, MinTraces: 3, MaxIncidents: 50})
	now := t0
	var real string
	for i := range 20 {
		real = rec(s, now, obs(byte(i), now))
	}
	n := 1000
	now = madeUpServices(s, now, &n)
	ev := s.Flush(now)
	open := map[string]int{}
	for _, in := range ev {
		open[in.ID] = in.TraceCount
	}
	assert.Equal(t, 20, open[real], "the large incident was evicted by the flood")
	assert.LessOrEqual(t, len(s.Totals()), 51, "the series are bounded")
	assert.Positive(t, s.TakeEvicted())
}

// TestMadeUpServicesCannotFloodTheIncidentList: services never seen working
// that fail from their first request (500 made-up names) publish at most
// MaxNewServiceIncidents incidents per window, the others are held and
// counted, and a known service's incident is published meanwhile.
func TestMadeUpServicesCannotFloodTheIncidentList(t *testing.T) {
	s := New(Options{Window: time.Minute, ResolveAfter: 2 * time.Minute, UpdateInterval: 10 * time.Second, MinTraces: 3, MaxNewServiceIncidents: 5})
	now := t0
	s.Seen(now, []string{"order", "payment"}, nil, true)
	n := 1000
	flood := func() { now = madeUpServices(s, now, &n) }
	published := func(events []Incident) (fakes int, real bool) {
		for _, in := range events {
			if in.Status != StatusOpen {
				continue
			}
			if in.CulpritService == "payment" {
				real = true
			} else {
				fakes++
			}
		}
		return fakes, real
	}

	flood()
	for i := range 3 {
		now = now.Add(time.Millisecond)
		rec(s, now, obs(byte(i+1), now))
	}
	fakes, real := published(s.Flush(now))
	assert.Equal(t, 5, fakes, "new services published within the budget")
	assert.True(t, real, "the known service's incident is published during the flood")
	assert.Equal(t, int64(495), s.TakeHeld(), "each held incident counted once")

	now = now.Add(time.Minute)
	flood()
	fakes, _ = published(s.Flush(now))
	assert.Equal(t, 5, fakes, "a window later, the flood goes on: the same budget")
}

// madeUpServices records, from now on, 4 failed traces of each of 500
// made-up services (numbered from *n on) with long made-up reasons, as the
// processor would see them: never in a normal trace. It returns the time of
// the last.
func madeUpServices(s *Store, now time.Time, n *int) time.Time {
	for svc := range 500 {
		for range 4 {
			now = now.Add(time.Millisecond)
			o := obs(0, now)
			o.TraceID = pcommon.TraceID{byte(*n >> 8), byte(*n), 1}
			*n++
			o.CulpritService = fmt.Sprintf("fake-%d", svc)
			o.Reason = fmt.Sprintf("%d %s", svc, strings.Repeat("x", 100))
			o.Affected = []string{o.CulpritService}
			s.Seen(now, []string{o.CulpritService}, nil, false)
			rec(s, now, o)
		}
	}
	return now
}

// byTrace is the published incident a trace was recorded in.
func byTrace(s *Store, id pcommon.TraceID) (Incident, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, ok := s.traces.Get(id)
	if !ok || !rs[0].published {
		return Incident{}, false
	}
	return rs[0].snapshot(), true
}

// TestCandidatesAreWeighedAgainstNormalTraffic: two names are suspects of
// every anomalous trace, but the gateway also carried a hundred normal
// requests in the window while the seat service carried nothing else: seat
// explains the anomaly, the gateway is on everyone's path.
func TestCandidatesAreWeighedAgainstNormalTraffic(t *testing.T) {
	s := New(Options{Window: time.Minute, ResolveAfter: time.Minute, UpdateInterval: time.Second})
	for range 100 {
		s.Seen(t0, []string{"gateway"}, nil, true)
	}
	for i := range byte(4) {
		o := obs(i+1, t0)
		o.CulpritService, o.Dependency = "seat", ""
		o.Candidates = []diagnosis.Candidate{{Name: "gateway", Score: 0.9, Evidence: diagnosis.EvidenceFailed}, {Name: "seat", Score: 0.8, Evidence: diagnosis.EvidenceOrigin | diagnosis.EvidenceSlow}}
		s.Seen(t0, []string{"gateway", "seat"}, nil, true)
		s.Record(t0, o)
	}
	ev := s.Flush(t0)
	require.Len(t, ev, 1)
	assert.Equal(t, []string{"seat", "gateway"}, names(ev[0].Candidates))
	assert.InDelta(t, 0.8, ev[0].Candidates[0].Score, 1e-9, "all of seat's requests are the incident's")
	assert.InDelta(t, 0.9*4/104.0, ev[0].Candidates[1].Score, 1e-9)
	assert.Equal(t, "started the failure or delay in 4 of 4 traces, slower than usual in 4", ev[0].Candidates[0].Evidence)
}

// TestOnlyNamesWithEvidenceAreCandidates: a service on every trace of an
// incident but with nothing against it (no failure, no delay) is not listed,
// however few other names there are: a ranking of names in alphabetical
// order would read as evidence. Neither is one whose score rounds to 0.
func TestOnlyNamesWithEvidenceAreCandidates(t *testing.T) {
	s := New(Options{Window: time.Minute, ResolveAfter: time.Minute, UpdateInterval: time.Second})
	for range 10_000 {
		s.Seen(t0, []string{"gateway"}, nil, true)
	}
	for i := range byte(4) {
		o := obs(i+1, t0)
		o.CulpritService, o.Dependency = "seat", ""
		o.Candidates = []diagnosis.Candidate{
			{Name: "seat", Score: 1, Evidence: diagnosis.EvidenceOrigin},
			{Name: "auth", Score: 0.05},                                       // a bystander
			{Name: "gateway", Score: 0.4, Evidence: diagnosis.EvidenceFailed}, // failed, but 4 of its 10,004 traces
		}
		s.Seen(t0, []string{"gateway", "seat", "auth"}, nil, true)
		s.Record(t0, o)
	}
	ev := s.Flush(t0)
	require.Len(t, ev, 1)
	assert.Equal(t, []string{"seat"}, names(ev[0].Candidates))
}

// TestAnIncidentResolvesWhenItsCulpritIsBackToNormal: after the fault, the
// culprit's chronic errors keep coming, one every few seconds, as they did
// before it; the incident resolves once the culprit has stopped standing
// out for ResolveAfter, not never.
func TestAnIncidentResolvesWhenItsCulpritIsBackToNormal(t *testing.T) {
	changed := true
	s := New(Options{
		Window: time.Minute, ResolveAfter: 30 * time.Second, UpdateInterval: time.Second, MinTraces: 1,
		Changed: func(string, time.Time) bool { return changed },
	})
	now := t0
	n := byte(0)
	record := func() string {
		n++
		id, _ := s.Record(now, obs(n, now))
		return id
	}
	id := record()
	require.Len(t, s.Flush(now), 1)
	changed = false // the fault ends; the chronic errors go on
	var resolvedAt time.Duration
	for step := time.Duration(0); step <= 2*time.Minute; step += 5 * time.Second {
		now = t0.Add(step)
		assert.Equal(t, id, record(), "the chronic errors join the open incident while it lasts")
		for _, ev := range s.Flush(now) {
			if ev.ID == id && ev.Status == StatusResolved {
				resolvedAt = step
			}
		}
		if resolvedAt > 0 {
			break
		}
	}
	assert.Equal(t, 30*time.Second, resolvedAt, "resolved ResolveAfter after the culprit stopped standing out")
}

// TestAnIncidentOutlivesARestart: a collector restarted during a fault
// keeps the fault's incident (same ID, no second open record); one restarted
// after the fault ended resolves it, with its resolved record.
func TestAnIncidentOutlivesARestart(t *testing.T) {
	opts := Options{Window: time.Minute, ResolveAfter: 30 * time.Second, UpdateInterval: 10 * time.Second}
	before := New(opts)
	id := rec(before, t0, obs(1, t0))
	require.Len(t, before.Flush(t0), 1)
	saved := before.Save()
	require.Len(t, saved, 1)

	t.Run("the fault goes on", func(t *testing.T) {
		after := New(opts)
		require.Equal(t, 1, after.Restore(saved))
		assert.Equal(t, 1, first(after.Active()))
		assert.Equal(t, id, rec(after, t0.Add(20*time.Second), obs(2, t0.Add(50*time.Second))), "the same incident")
		ev := after.Flush(t0.Add(21 * time.Second))
		require.Len(t, ev, 1)
		assert.Equal(t, StatusUpdate, ev[0].Status, "no second open record")
		assert.Equal(t, 2, ev[0].TraceCount)
		assert.Zero(t, after.Restore(saved), "an incident known already is not restored twice")
	})
	t.Run("the fault ended while the collector was down", func(t *testing.T) {
		after := New(opts)
		require.Equal(t, 1, after.Restore(saved))
		ev := after.Flush(t0.Add(5 * time.Minute))
		require.Len(t, ev, 1)
		assert.Equal(t, StatusResolved, ev[0].Status)
		assert.Equal(t, id, ev[0].ID)
		assert.Zero(t, first(after.Active()))
	})
}

// TestAStandingConditionAlertsOnlyOnceItChanges: a collector that has just
// started cannot tell a service's steady errors from new ones: their
// incident is published as a standing condition (shown, counted apart, not
// alerted, not counted as opened) until the history is long enough to judge
// a change, and becomes an alerting incident only if its culprit changed.
func TestAStandingConditionAlertsOnlyOnceItChanges(t *testing.T) {
	judged, changed := false, true
	s := New(Options{
		Window: time.Minute, ResolveAfter: 5 * time.Minute, UpdateInterval: time.Second,
		Judged:  func(string, time.Time) bool { return judged },
		Changed: func(string, time.Time) bool { return changed },
	})
	id := rec(s, t0, obs(1, t0))
	ev := s.Flush(t0)
	require.Len(t, ev, 1)
	assert.Equal(t, StatusOpen, ev[0].Status)
	assert.True(t, ev[0].Standing, "nothing to judge the errors against yet")
	open, standing := s.Active()
	assert.Equal(t, 1, open)
	assert.Equal(t, 1, standing)
	assert.Empty(t, s.Totals(), "a standing condition is not an incident opened")

	// Judged, and the errors go on as they were since the start: no change.
	judged, changed = true, false
	rec(s, t0.Add(time.Second), obs(2, t0.Add(time.Second)))
	ev = s.Flush(t0.Add(2 * time.Second))
	require.Len(t, ev, 1)
	assert.True(t, ev[0].Standing)
	// Then they surge: the condition is now an alerting incident, with the
	// same ID, counted as opened.
	changed = true
	rec(s, t0.Add(3*time.Second), obs(3, t0.Add(3*time.Second)))
	ev = s.Flush(t0.Add(4 * time.Second))
	require.Len(t, ev, 1)
	assert.Equal(t, id, ev[0].ID)
	assert.Equal(t, StatusUpdate, ev[0].Status)
	assert.False(t, ev[0].Standing)
	_, standing = s.Active()
	assert.Zero(t, standing)
	assert.Len(t, s.Totals(), 1)
}

// TestAChronicErrorJoinsButNeverMakesAnIncident: the errors a service logs at
// its usual rate open no incident however many of them come, and do not help
// a new error past the gate; once the new error opens an incident, the
// chronic ones during it join it, and a chronic failure that is another
// incident's symptom folds into it.
func TestAChronicErrorJoinsButNeverMakesAnIncident(t *testing.T) {
	s := New(Options{Window: time.Minute, ResolveAfter: 30 * time.Second, UpdateInterval: time.Second, MinTraces: 3})
	chronic := func(n byte, at time.Time) Observation {
		o := obs(n, at)
		o.CulpritService, o.Reason, o.Chronic = "food", "foodStoresListResult is null", true
		o.Affected, o.Candidates = []string{"food"}, []diagnosis.Candidate{{Name: "food", Score: 1, Evidence: diagnosis.EvidenceOrigin}}
		return o
	}
	now := t0
	for i := range 10 {
		id, published := s.Record(now, chronic(byte(1+i), now))
		assert.Empty(t, id, "a chronic failure has no incident to name")
		assert.False(t, published)
		now = now.Add(time.Second)
	}
	assert.Empty(t, s.Flush(now), "ten chronic failures open nothing")

	// A new error of the same service: two of them are not enough with the
	// chronic ones, three are.
	fresh := func(n byte, at time.Time) Observation {
		o := chronic(n, at)
		o.Reason, o.Chronic = "NullPointerException", false
		return o
	}
	_, published := s.Record(now, fresh(20, now))
	assert.False(t, published)
	id, published := s.Record(now, chronic(30, now))
	assert.Empty(t, id, "a chronic failure does not join an unpublished incident")
	assert.False(t, published)
	_, published = s.Record(now, fresh(21, now))
	assert.False(t, published, "the chronic failures do not count toward the gate")
	id, published = s.Record(now, fresh(22, now))
	require.True(t, published)
	joined, published := s.Record(now, chronic(23, now))
	assert.True(t, published)
	assert.Equal(t, id, joined, "a chronic failure during the incident joins it")
	evs := s.Flush(now)
	require.Len(t, evs, 1)
	assert.Equal(t, 4, evs[0].TraceCount)
	assert.Equal(t, "NullPointerException", evs[0].Reason)

	// Another service's chronic failure in a trace where food failed too is
	// food's incident's symptom.
	symptom := chronic(24, now)
	symptom.CulpritService, symptom.Affected = "station", []string{"food", "station"}
	got, _ := s.Record(now, symptom)
	assert.Equal(t, id, got)
}
