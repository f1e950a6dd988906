package logevidence

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/diagnosis"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/logtemplate"
)

// A chatty trace's INFO lines must not crowd out the ERROR that says what
// failed: a Train Ticket trace logs up to 184 lines, and one error in eight
// came after the sixteenth.
func TestEvidenceKeepsTheMostSevereRecords(t *testing.T) {
	e := New(10, logtemplate.New(0))
	id := pcommon.TraceID{15: 1}
	info := func(i int) diagnosis.Log {
		return diagnosis.Log{Service: "travel", Severity: plog.SeverityNumberInfo, Body: fmt.Sprintf("step %d", i)}
	}
	for i := range maxLogsPerTrace + 4 {
		e.put(id, info(i), 0)
	}
	e.put(id, diagnosis.Log{Service: "travel", Severity: plog.SeverityNumberError, Body: "Request processing failed"}, 0)
	e.put(id, info(99), 0)
	logs, _ := e.Take(id)
	require.Len(t, logs, maxLogsPerTrace)
	var bodies []string
	for _, l := range logs {
		bodies = append(bodies, l.Body)
	}
	assert.Contains(t, bodies, "Request processing failed")
	assert.NotContains(t, bodies, "step 0", "the error took the place of the oldest INFO line")
	assert.Contains(t, bodies, "step 1")
	assert.NotContains(t, bodies, "step 99", "a line no more severe than the kept ones displaces none")
}

// A span no record names wrote nothing only once its service's records from
// before it began and after its end have come: until the later ones, its
// own may still be on their way; without the earlier ones, the service's
// records were not collected yet. An
// ERROR line is no step of the usual path (a service that stops failing
// did not change its code), but it shows the service's records flow.
func TestASpansSilenceIsKnownOnceItsServicesLaterRecordsCame(t *testing.T) {
	e := New(10, logtemplate.New(0))
	record := func(service string, sev plog.SeverityNumber, at float64, span byte) plog.Logs {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", service)
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetTraceID(pcommon.TraceID{15: span})
		lr.SetSpanID(pcommon.SpanID{7: span})
		lr.SetSeverityNumber(sev)
		lr.SetTimestamp(pcommon.Timestamp(int64(at)))
		lr.Body().SetStr(fmt.Sprintf("step %d done", span))
		return ld
	}
	assert.False(t, e.WroteNothing("route", 90e9, 100e9, 5*time.Second), "route never logged: its silence says nothing")
	e.Add(record("route", plog.SeverityNumberInfo, 60e9, 1))
	assert.False(t, e.WroteNothing("route", 90e9, 100e9, 5*time.Second), "no record after the span's end yet")
	assert.False(t, e.WroteNothing("price", 40e9, 50e9, 5*time.Second), "another service's records say nothing of price")
	e.Add(record("route", plog.SeverityNumberError, 103e9, 2))
	assert.True(t, e.WroteNothing("route", 90e9, 100e9, 5*time.Second))
	assert.False(t, e.WroteNothing("route", 50e9, 55e9, 5*time.Second), "route's records from before that span never came: not collected yet")
	assert.False(t, e.WroteNothing("route", 70e9, 80e9, 5*time.Second), "no record within the wait after its end: its own may come later still")

	_, patterns := e.Take(pcommon.TraceID{15: 2})
	assert.Empty(t, patterns, "an ERROR line is not a step of the path")
	_, patterns = e.Take(pcommon.TraceID{15: 1})
	assert.Len(t, patterns[pcommon.SpanID{7: 1}], 1)
}

// A record that names its code location (code.* attributes, both
// generations of names) has its statement as its template: two messages of
// one statement are one step of the path, whatever their words.
func TestARecordsCodeLocationIsItsTemplate(t *testing.T) {
	for _, names := range [][3]string{{"code.filepath", "code.lineno", ""}, {"code.file.path", "code.line.number", ""}, {"code.namespace", "code.lineno", "code.function"}} {
		e := New(10, logtemplate.New(0))
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "travel")
		for i, body := range []string{"[queryInfo][Trips of shanghai suzhou]", "[queryInfo][Trips of nanjing shanghai hongqiao]"} {
			lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
			lr.SetTraceID(pcommon.TraceID{15: byte(i + 1)})
			lr.SetSpanID(pcommon.SpanID{7: byte(i + 1)})
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
			lr.Body().SetStr(body)
			lr.Attributes().PutStr(names[0], "travel.TravelServiceImpl")
			lr.Attributes().PutInt(names[1], 372)
			if names[2] != "" {
				lr.Attributes().PutStr(names[2], "queryInfo")
			}
		}
		e.Add(ld)
		_, a := e.Take(pcommon.TraceID{15: 1})
		_, b := e.Take(pcommon.TraceID{15: 2})
		assert.Equal(t, a[pcommon.SpanID{7: 1}], b[pcommon.SpanID{7: 2}], "%v", names)
	}
}
