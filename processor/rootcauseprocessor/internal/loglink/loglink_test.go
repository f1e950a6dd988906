package loglink

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/incidentrecord"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/incident"
)

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func traceID(b byte) pcommon.TraceID { return pcommon.TraceID{15: b} }

// record is one log record of service, in its own resource.
func record(ld plog.Logs, service string, trace pcommon.TraceID, sev plog.SeverityNumber, at time.Time, body string) {
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", service)
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTraceID(trace)
	lr.SetSeverityNumber(sev)
	lr.SetTimestamp(pcommon.NewTimestampFromTime(at))
	lr.Body().SetStr(body)
}

// tags is the link of every record of ld, by body: "match incident culprit".
func tags(ld plog.Logs) map[string]string {
	out := map[string]string{}
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				a := lr.Attributes()
				m, _ := a.Get(AttrMatch)
				id, _ := a.Get(incidentrecord.AttrID)
				c, _ := a.Get(incidentrecord.AttrCulpritService)
				out[lr.Body().Str()] = m.Str() + " " + id.Str() + " " + c.Str()
			}
		}
	}
	return out
}

func TestARecordTakesItsTracesDecisionWaitingForItIfNeeded(t *testing.T) {
	l := New[string](100, 100)
	l.Decided(traceID(1), &Decision{IncidentID: "inc1", Culprit: "payment"})
	l.Decided(traceID(2), nil) // normal

	ld := plog.NewLogs()
	record(ld, "order", traceID(1), plog.SeverityNumberError, t0, "anomalous")
	record(ld, "order", traceID(2), plog.SeverityNumberError, t0, "normal")
	record(ld, "order", traceID(3), plog.SeverityNumberInfo, t0, "undecided")
	st, held, overflow := l.Link(ld, t0, "pipeline", true)

	assert.Equal(t, map[string]string{"anomalous": "trace inc1 payment", "normal": "  "}, tags(ld), "the undecided record left the batch")
	assert.Equal(t, int64(1), st.Trace)
	assert.Equal(t, []MatchedError{{Incident: "inc1", Service: "order", Body: "anomalous", Culprit: false}}, st.Errors)
	assert.Equal(t, int64(1), held)
	assert.Zero(t, overflow)
	assert.Equal(t, int64(1), l.heldRecords.Load())

	buffered := func(pcommon.TraceID) bool { return true }
	batches, _, released := l.Release(t0.Add(time.Second), time.Minute, "", buffered, func(string) {})
	assert.Empty(t, batches, "nothing leaves before its trace is decided")
	assert.Zero(t, released)

	l.Decided(traceID(3), &Decision{IncidentID: "inc1", Culprit: "payment"})
	var acquired []string
	batches, st, released = l.Release(t0.Add(2*time.Second), time.Minute, "", buffered, func(to string) { acquired = append(acquired, to) })
	require.Len(t, batches, 1)
	assert.Equal(t, "pipeline", batches[0].To)
	assert.Equal(t, map[string]string{"undecided": "trace inc1 payment"}, tags(batches[0].Logs), "tagged on release")
	assert.Equal(t, int64(1), released)
	assert.Equal(t, int64(1), st.Trace)
	assert.Equal(t, []string{"pipeline"}, acquired, "the destination is acquired before its records leave")
	assert.Zero(t, l.heldRecords.Load())
}

func TestAWarningWithoutTraceContextJoinsItsServicesOpenWindow(t *testing.T) {
	l := New[string](100, 100)
	l.SetWindows([]incident.Window{{ID: "inc1", Culprit: "database", Services: []string{"database", "user"}, Start: t0, End: t0.Add(time.Minute)}})

	ld := plog.NewLogs()
	var none pcommon.TraceID
	record(ld, "user", none, plog.SeverityNumberWarn, t0.Add(10*time.Second), "in window")
	record(ld, "user", none, plog.SeverityNumberInfo, t0.Add(10*time.Second), "info")
	record(ld, "user", none, plog.SeverityNumberError, t0.Add(2*time.Minute), "after window")
	record(ld, "catalog", none, plog.SeverityNumberError, t0.Add(10*time.Second), "other service")
	st, _, _ := l.Link(ld, t0.Add(time.Minute), "pipeline", true)

	assert.Equal(t, map[string]string{
		"in window": "time_window inc1 database", "info": "  ", "after window": "  ", "other service": "  ",
	}, tags(ld))
	assert.Equal(t, int64(1), st.Window)
	assert.Empty(t, st.Errors, "a warning is not an error")

	l.SetWindows(nil)
	ld = plog.NewLogs()
	record(ld, "user", none, plog.SeverityNumberWarn, t0.Add(10*time.Second), "no incident open")
	l.Link(ld, t0.Add(time.Minute), "pipeline", true)
	assert.Equal(t, map[string]string{"no incident open": "  "}, tags(ld))
}

func TestRecordsBeyondTheHeldBoundGoOnUntaggedAndCounted(t *testing.T) {
	l := New[string](100, 2)
	ld := plog.NewLogs()
	for i := range 3 {
		record(ld, "order", traceID(byte(10+i)), plog.SeverityNumberInfo, t0, string(rune('a'+i)))
	}
	_, held, overflow := l.Link(ld, t0, "pipeline", true)
	assert.Equal(t, int64(2), held)
	assert.Equal(t, int64(1), overflow, "counted, not dropped")
	assert.Equal(t, 1, ld.LogRecordCount(), "the record that could not wait goes on now")

	ld = plog.NewLogs()
	record(ld, "order", traceID(20), plog.SeverityNumberInfo, t0, "no trace pipeline")
	_, held, overflow = l.Link(ld, t0, "pipeline", false)
	assert.Zero(t, held+overflow, "without a pipeline that decides traces, nothing waits")
	assert.Equal(t, 1, ld.LogRecordCount())
}

func TestHeldRecordsLeaveAfterTheWaitOrWithTheirPipeline(t *testing.T) {
	l := New[string](100, 100)
	ld := plog.NewLogs()
	record(ld, "order", traceID(1), plog.SeverityNumberInfo, t0, "a")
	l.Link(ld, t0, "first", true)
	ld = plog.NewLogs()
	record(ld, "order", traceID(2), plog.SeverityNumberInfo, t0, "b")
	l.Link(ld, t0, "second", true)

	stillBuffered := map[pcommon.TraceID]bool{traceID(1): true}
	buffered := func(id pcommon.TraceID) bool { return stillBuffered[id] }
	noop := func(string) {}

	batches, _, _ := l.Release(t0.Add(30*time.Second), time.Minute, "", buffered, noop)
	assert.Empty(t, batches, "within the wait")

	batches, _, released := l.Release(t0.Add(2*time.Minute), time.Minute, "", buffered, noop)
	require.Len(t, batches, 1, "after the wait, the record whose trace is no longer buffered")
	assert.Equal(t, "second", batches[0].To)
	assert.Equal(t, map[string]string{"b": "  "}, tags(batches[0].Logs), "untagged: its trace was never decided")
	assert.Equal(t, int64(1), released)

	batches, _, _ = l.Release(t0.Add(3*time.Minute), time.Minute, "first", buffered, noop)
	require.Len(t, batches, 1, "its pipeline's shutdown takes the record whose trace is still buffered")
	assert.Equal(t, "first", batches[0].To)
	assert.Zero(t, l.heldRecords.Load())
}

func TestDecisionsAreBoundedAndForgottenOldestFirst(t *testing.T) {
	l := New[string](2, 100)
	for i := range 3 {
		l.Decided(traceID(byte(i+1)), &Decision{IncidentID: "inc", Culprit: "payment"})
	}
	assert.Equal(t, int64(1), l.TakeEvicted())
	assert.Zero(t, l.TakeEvicted(), "taken once")

	ld := plog.NewLogs()
	record(ld, "order", traceID(1), plog.SeverityNumberInfo, t0, "forgotten")
	record(ld, "order", traceID(3), plog.SeverityNumberInfo, t0, "remembered")
	_, held, _ := l.Link(ld, t0, "pipeline", true)
	assert.Equal(t, int64(1), held, "the forgotten trace's record waits as undecided")
	assert.Equal(t, map[string]string{"remembered": "trace inc payment"}, tags(ld))
}
