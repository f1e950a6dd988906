package rootcauseprocessor

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
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
		assert.True(t, strings.Contains(reason, "never took before") && strings.Contains(reason, "No contacts according to contacts id"), reason)
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
