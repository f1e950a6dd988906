package rootcauseprocessor

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/incidentrecord"
)

// contactsLookup is a Java-style trace, without span kinds, status or HTTP
// codes, as the Train Ticket recordings have them: preserve asks contacts
// for a passenger's contacts. With a wrong value returned, contacts skips
// its repository lookup and logs that it found nothing; preserve goes on and
// logs its step as failed, at INFO or, when callerError, at ERROR.
func contactsLookup(n uint64, start time.Time, wrongReturn, callerError bool) *traceBuilder {
	b := newTrace(n, start)
	const none = ptrace.SpanKindUnspecified
	p := b.span(nil, "preserve", "PreserveController.preserve", none, 0, 40)
	c := b.span(&p, "preserve", "HTTP GET", none, 5, 25)
	k := b.span(&c, "contacts", "ContactsController.findContactsById", none, 6, 24)
	b.log("preserve", plog.SeverityNumberInfo, "PreserveServiceImpl#70 [preserve][Step 1][Check Security Complete]", p)
	b.log("contacts", plog.SeverityNumberInfo, "ContactsServiceImpl#31 [findContactsById][Find contacts by id][Id: 4d2a46c7]", k)
	switch {
	case !wrongReturn:
		b.log("contacts", plog.SeverityNumberInfo, "ContactsServiceImpl#34 [findContactsById][contactsRepository.findById]", k)
		b.log("preserve", plog.SeverityNumberInfo, "PreserveServiceImpl#92 [preserve][Step 2][Find contacts Complete]", p)
	case callerError:
		b.log("contacts", plog.SeverityNumberInfo, "ContactsServiceImpl#38 [findContactsById][No contacts according to contacts id]", k)
		b.log("preserve", plog.SeverityNumberError, "PreserveServiceImpl#88 [preserve][Step 2][Find contacts Fail][contacts is null]", p)
	default:
		b.log("contacts", plog.SeverityNumberInfo, "ContactsServiceImpl#38 [findContactsById][No contacts according to contacts id]", k)
		b.log("preserve", plog.SeverityNumberInfo, "PreserveServiceImpl#88 [preserve][Step 2][Find contacts Fail][contacts is null]", p)
	}
	return b
}

// A code-level fault that fails nothing and slows nothing (a wrong value
// returned) shows only in the path the code takes: contacts, which logged
// the same two lines in every request for three minutes, now logs another.
// The incident names contacts, not its caller, and quotes the new path.
func TestANewCodePathIsNamed(t *testing.T) {
	for _, callerError := range []bool{false, true} {
		cfg := testConfig()
		cfg.MinTraces, cfg.MinShare = 3, 0.05
		h := newHarness(t, cfg)
		for i := range 1200 {
			at := epoch.Add(time.Duration(i) * 200 * time.Millisecond)
			faulty := at.Sub(epoch) >= 180*time.Second && i%2 == 0
			h.consume(contactsLookup(uint64(i+1), at, faulty, callerError).td, contactsLookup(uint64(i+1), at, faulty, callerError).ld)
			h.advance(200 * time.Millisecond)
		}
		h.advance(cfg.DecisionWait + 2*h.shared.tickInterval())
		recs := h.incidentRecords()
		require.NotEmpty(t, recs, "callerError=%v", callerError)
		culprits := map[string]string{}
		for _, lr := range recs {
			a := lr.Attributes().AsRaw()
			culprits[a["rca.culprit.service"].(string)] = a["rca.reason"].(string)
		}
		assert.Len(t, culprits, 1, "callerError=%v: one incident, %v", callerError, culprits)
		reason, ok := culprits["contacts"]
		require.True(t, ok, "callerError=%v: %v", callerError, culprits)
		if callerError {
			// The caller's ERROR line says what it could not use, from the
			// first failed request; the path contacts took shows once a
			// few requests took it.
			assert.True(t, strings.Contains(reason, "answered preserve with a value it could not use") || strings.Contains(reason, "No contacts according to contacts id"), reason)
			continue
		}
		assert.True(t, strings.Contains(reason, "left its usual path") && strings.Contains(reason, "No contacts according to contacts id"), reason)
	}
}

// Before an operation has a history long enough to say that new paths are
// rare, a path it has not taken yet is nothing: a fresh deployment's
// first minutes open no incident.
func TestNewPathsOfAYoungOperationAreNothing(t *testing.T) {
	cfg := testConfig()
	cfg.MinTraces, cfg.MinShare = 3, 0.05
	h := newHarness(t, cfg)
	for i := range 300 {
		at := epoch.Add(time.Duration(i) * 200 * time.Millisecond)
		b := contactsLookup(uint64(i+1), at, i%3 == 0, false)
		h.consume(b.td, b.ld)
		h.advance(200 * time.Millisecond)
	}
	h.advance(cfg.DecisionWait + 2*h.shared.tickInterval())
	assert.Empty(t, h.incidentRecords())
}

// routeLookup is travel asking route for routes, Java-style as above; route
// logs one INFO line per lookup, except when skipped (an exception thrown
// and caught before the line, the spans unchanged). Route's other
// operation logs on in every request; when routeLogsLost, none of route's
// records arrive.
func routeLookup(n uint64, start time.Time, skipped, routeLogsLost bool) *traceBuilder {
	b := newTrace(n, start)
	const none = ptrace.SpanKindUnspecified
	tr := b.span(nil, "travel", "TravelController.queryInfo", none, 0, 40)
	c := b.span(&tr, "travel", "HTTP POST", none, 5, 25)
	ids := b.span(&c, "route", "RouteController.queryByIds", none, 6, 24)
	c2 := b.span(&tr, "travel", "HTTP GET", none, 26, 38)
	one := b.span(&c2, "route", "RouteController.queryById", none, 27, 37)
	b.log("travel", plog.SeverityNumberInfo, "TravelServiceImpl#457 [queryInfo][Query trips]", tr)
	if !routeLogsLost {
		if !skipped {
			b.log("route", plog.SeverityNumberInfo, "RouteController#53 [queryByIds][Query routes][RouteIds: 3]", ids)
		}
		b.log("route", plog.SeverityNumberInfo, "RouteController#47 [queryById][Query route][RouteId: 92708982]", one)
	}
	return b
}

// A step its code skips on every request (a usual line no longer written)
// is a change even when nothing fails and nothing is slow: route wrote
// its line in all but one of its lookups for three minutes, and now writes
// none. The incident names route and says the line is missing. Route's
// records that stop arriving altogether (a log pipeline that lags or
// broke) say nothing: the silence of a span is known only once its
// service's later records came.
func TestASkippedLogLineIsNamed(t *testing.T) {
	for _, lost := range []bool{false, true} {
		cfg := testConfig()
		cfg.MinTraces, cfg.MinShare = 3, 0.05
		h := newHarness(t, cfg)
		for i := range 1200 {
			at := epoch.Add(time.Duration(i) * 200 * time.Millisecond)
			fault := at.Sub(epoch) >= 180*time.Second
			b := routeLookup(uint64(i+1), at, fault || i == 400, fault && lost)
			h.consume(b.td, b.ld)
			h.advance(200 * time.Millisecond)
		}
		h.advance(cfg.DecisionWait + 2*h.shared.tickInterval())
		recs := h.incidentRecords()
		if lost {
			assert.Empty(t, recs, "route's records stopped coming: its spans' silence is unknown")
			continue
		}
		require.NotEmpty(t, recs)
		culprits := map[string]string{}
		for _, lr := range recs {
			a := lr.Attributes().AsRaw()
			culprits[a["rca.culprit.service"].(string)] = a["rca.reason"].(string)
		}
		assert.Equal(t, map[string]string{"route": "RouteController.queryByIds left its usual path: it wrote no log line"}, culprits)
	}
}

// A change of path is established only once enough of its operation's spans
// took it, so the spans that began it were decided as normal; they count for
// its incident once it is: route's lookups, one every 2 s, skip their line
// for 40 s from 3 minutes on, and every skipped lookup is a trace of
// route's incident, the first one among them.
func TestTheSpansThatBeganAChangeOfPathCountForIt(t *testing.T) {
	cfg := testConfig()
	cfg.MinTraces, cfg.MinShare = 3, 0.05
	h := newHarness(t, cfg)
	// The fault lasts 40 s; the lookups after it write their line again (a
	// span's silence is known once its service's later records came).
	const every, faultFrom, faultTo, lookups = 2 * time.Second, 180 * time.Second, 220 * time.Second, 130
	var faulty []pcommon.TraceID
	for i := range lookups {
		at := epoch.Add(time.Duration(i) * every)
		fault := at.Sub(epoch) >= faultFrom && at.Sub(epoch) < faultTo
		b := routeLookup(uint64(i+1), at, fault || i == 20, false)
		if fault {
			faulty = append(faulty, b.id)
		}
		h.consume(b.td, b.ld)
		h.advance(every)
	}
	h.advance(cfg.DecisionWait + 2*h.shared.tickInterval())
	for _, c := range []component.Component{h.traces, h.metrics, h.logs} {
		require.NoError(t, c.Shutdown(context.Background()))
	}
	recs := h.incidentRecords()
	require.NotEmpty(t, recs)
	last, err := incidentrecord.Read(recs[len(recs)-1])
	require.NoError(t, err)
	assert.Equal(t, "route", last.Service)
	assert.Equal(t, int64(len(faulty)), last.TraceCount, "every skipped lookup counts")
	require.NotEmpty(t, last.TraceIDs)
	assert.Equal(t, faulty[0].String(), last.TraceIDs[0], "the first sample is the fault's first request")
	for _, lr := range recs {
		rec, err := incidentrecord.Read(lr)
		require.NoError(t, err)
		assert.Equal(t, "route", rec.Service, "no other incident")
	}
}

// contactsDown is preserve asking contacts, which fails when down;
// preserve then falls back to its cached contacts, a path of its own it
// never took before, and succeeds.
func contactsDown(n uint64, start time.Time, down bool) *traceBuilder {
	b := newTrace(n, start)
	const none = ptrace.SpanKindUnspecified
	p := b.span(nil, "preserve", "PreserveController.preserve", none, 0, 40)
	c := b.span(&p, "preserve", "HTTP GET", none, 5, 25)
	var opts []spanOpt
	if down {
		opts = append(opts, errorStatus("contacts store unavailable"))
	}
	k := b.span(&c, "contacts", "ContactsController.findContactsById", none, 6, 24, opts...)
	b.log("preserve", plog.SeverityNumberInfo, "PreserveServiceImpl#70 [preserve][Step 1][Check Security Complete]", p)
	b.log("contacts", plog.SeverityNumberInfo, "ContactsServiceImpl#31 [findContactsById][Find contacts by id][Id: 4d2a46c7]", k)
	if down {
		b.log("contacts", plog.SeverityNumberError, "ContactsServiceImpl#36 [findContactsById][contacts store unavailable]", k)
		b.log("preserve", plog.SeverityNumberInfo, "PreserveServiceImpl#95 [preserve][Step 2][Use cached contacts]", p)
	} else {
		b.log("preserve", plog.SeverityNumberInfo, "PreserveServiceImpl#92 [preserve][Step 2][Find contacts Complete]", p)
	}
	return b
}

// A caller that takes another path because its callee failed it is that
// failure's symptom, from the fault's first request to its last: no
// incident names it, however its new path is counted.
func TestACallersFallbackIsItsCalleesFailure(t *testing.T) {
	cfg := testConfig()
	cfg.MinTraces, cfg.MinShare = 3, 0.05
	h := newHarness(t, cfg)
	for i := range 1200 {
		at := epoch.Add(time.Duration(i) * 200 * time.Millisecond)
		b := contactsDown(uint64(i+1), at, at.Sub(epoch) >= 180*time.Second)
		h.consume(b.td, b.ld)
		h.advance(200 * time.Millisecond)
	}
	h.advance(cfg.DecisionWait + 2*h.shared.tickInterval())
	recs := h.incidentRecords()
	require.NotEmpty(t, recs)
	for _, lr := range recs {
		rec, err := incidentrecord.Read(lr)
		require.NoError(t, err)
		assert.Equal(t, "contacts", rec.Service, "preserve fell back because contacts failed")
	}
}
