package verdict

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/diagnosis"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/incident"
)

var at = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func observation(service string) incident.Observation {
	return incident.Observation{
		TraceID: pcommon.TraceID{1, 2, 3}, CulpritSpanID: pcommon.SpanID{4, 5},
		Start: at.Add(-2 * time.Second), End: at.Add(-time.Second),
		Kind: diagnosis.KindError, CulpritService: service, CulpritOperation: "POST /query", Dependency: "sqlite",
		Reason: "database connection timeout", ReasonFromLogs: true, Chronic: true,
		Candidates: []diagnosis.Candidate{{Name: service, Score: 0.9}, {Name: "user", Score: 0.25}},
		Affected:   []string{service, "user"}, Callers: []string{"gateway", "user"},
		Evidence: []string{service + ": Database connection timeout."},
	}
}

// Everything the stage's incident store reads of a trace arrives as the
// shard wrote it, beside the application's own logs, which stay.
func TestVerdictsAndTrafficRoundTrip(t *testing.T) {
	slow := observation("catalog")
	slow.Kind, slow.Dependency, slow.ReasonFromLogs, slow.Evidence, slow.Chronic = diagnosis.KindLatency, "", false, nil, false
	sent := Verdict{At: at, Observations: []incident.Observation{observation("database"), slow}, Changed: []string{"database"}}
	traffic := Traffic{At: at, Service: "database", Traces: 40, Normal: 31, Changed: true}

	w := NewWriter(map[string]string{"service.instance.id": "shard-1"})
	w.Verdict(sent)
	w.Traffic(traffic)
	require.Equal(t, 2, w.Len())

	ld := plog.NewLogs()
	app := ld.ResourceLogs().AppendEmpty()
	app.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("an application's log")
	w.Logs().ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())

	read := Extract(ld)
	assert.Zero(t, read.Refused)
	require.Len(t, read.Verdicts, 1)
	assert.Equal(t, sent, read.Verdicts[0])
	assert.Equal(t, []Traffic{traffic}, read.Traffic)
	assert.Equal(t, 1, ld.LogRecordCount(), "the application's record stays, the stream's are taken out")
}

// A malformed record is refused with the reason and never reaches the
// store; the others of the batch are read.
func TestMalformedRecordsAreRefusedWithTheReason(t *testing.T) {
	w := NewWriter(nil)
	bad := observation("database")
	bad.End = bad.Start.Add(-time.Second)
	w.Verdict(Verdict{At: at, Observations: []incident.Observation{bad}})
	w.Traffic(Traffic{At: at, Service: "database", Traces: 1, Normal: 2})
	w.Traffic(Traffic{At: at, Service: "user", Traces: 3, Normal: 3})
	lr := w.record(EventVerdict, at)
	lr.Body().SetStr("not a map")
	w.record("rca.unknown", at)

	read := Extract(w.Logs())
	assert.Equal(t, 4, read.Refused)
	require.Len(t, read.Errors, maxErrors)
	require.ErrorContains(t, read.Errors[0], "before start")
	require.ErrorContains(t, read.Errors[1], "2 normal")
	require.ErrorContains(t, read.Errors[2], "not a map")
	assert.Empty(t, read.Verdicts)
	assert.Equal(t, []Traffic{{At: at, Service: "user", Traces: 3, Normal: 3}}, read.Traffic)
	assert.Zero(t, w.Logs().LogRecordCount())
}
