package logevidence

import (
	"fmt"
	"testing"

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
