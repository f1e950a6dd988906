package rootcauseprocessor // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor"

import (
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/incidentrecord"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/incident"
)

const (
	selfService = "otelcol-rca"
	scopeName   = "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor"
	// IncidentEventName is the event name of the incident records.
	IncidentEventName = incidentrecord.EventName
	// candidatesShown bounds the candidates listed in a record.
	candidatesShown = 10
)

func newResource(r pcommon.Resource, scope pcommon.InstrumentationScope) {
	r.Attributes().PutStr("service.name", selfService)
	scope.SetName(scopeName)
}

// incidentLogs builds one rca.incident log record per event, on a resource
// with the configured extra attributes.
func incidentLogs(events []incident.Incident, now time.Time, resourceAttrs map[string]string) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	sl := rl.ScopeLogs().AppendEmpty()
	newResource(rl.Resource(), sl.Scope())
	for k, v := range resourceAttrs {
		if v != "" {
			rl.Resource().Attributes().PutStr(k, v)
		}
	}
	for i := range events {
		in := &events[i]
		lr := sl.LogRecords().AppendEmpty()
		if in.Status == incident.StatusResolved {
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
			lr.SetSeverityText("INFO")
		} else {
			lr.SetSeverityNumber(plog.SeverityNumberWarn)
			lr.SetSeverityText("WARN")
		}
		if len(in.TraceIDs) > 0 {
			lr.SetTraceID(in.TraceIDs[0])
			lr.SetSpanID(in.SpanIDs[0])
		}
		rec := incidentrecord.Record{
			ID: in.ID, Status: string(in.Status), Kind: in.Kind.String(), Standing: in.Standing,
			Service: in.CulpritService, Operation: in.CulpritOperation, Dependency: in.Dependency,
			Reason: in.Reason, Summary: body(in), At: now,
			Confidence: round(in.Confidence), Share: round(in.Share), TraceCount: int64(in.TraceCount),
			Affected: in.Affected, Evidence: in.Evidence, WindowStart: in.WindowStart, WindowEnd: in.WindowEnd,
		}
		for k, c := range in.Candidates {
			if k == candidatesShown {
				break
			}
			rec.Candidates = append(rec.Candidates, incidentrecord.Candidate{Name: c.Name, Score: round(c.Score), Evidence: c.Evidence})
		}
		for k := range in.TraceIDs {
			rec.TraceIDs = append(rec.TraceIDs, in.TraceIDs[k].String())
			rec.SpanIDs = append(rec.SpanIDs, in.SpanIDs[k].String())
		}
		rec.Write(lr)
	}
	return ld
}

func round(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// body is the record's one-line summary.
func body(in *incident.Incident) string {
	var b strings.Builder
	what := "Incident"
	if in.Standing {
		what = "Standing condition" // failing since the collector started: not judged a change yet
	}
	fmt.Fprintf(&b, "%s %s %s: %s", what, in.ID[:min(8, len(in.ID))], in.Status, in.CulpritService)
	if in.CulpritOperation != "" {
		fmt.Fprintf(&b, " %q", in.CulpritOperation)
	}
	if in.Dependency != "" {
		fmt.Fprintf(&b, " (%s)", in.Dependency)
	}
	fmt.Fprintf(&b, " - %s; %s, %d traces, confidence %.2f", in.Reason, in.Kind, in.TraceCount, in.Confidence)
	if len(in.Affected) > 0 {
		fmt.Fprintf(&b, ", affects %s", strings.Join(in.Affected, ", "))
	}
	return b.String()
}

// incidentMetrics builds rca.incidents (opened, cumulative), rca.incidents.active
// and rca.incidents.standing.
func incidentMetrics(totals []incident.Total, active, standing int, start, now time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	sm := rm.ScopeMetrics().AppendEmpty()
	newResource(rm.Resource(), sm.Scope())
	st, ts := pcommon.NewTimestampFromTime(start), pcommon.NewTimestampFromTime(now)

	m := sm.Metrics().AppendEmpty()
	m.SetName("rca.incidents")
	m.SetDescription("Incidents opened, by culprit service and reason.")
	m.SetUnit("{incidents}")
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for _, t := range totals {
		dp := sum.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(st)
		dp.SetTimestamp(ts)
		dp.SetIntValue(t.Count)
		dp.Attributes().PutStr(incidentrecord.AttrCulpritService, t.Service)
		dp.Attributes().PutStr(incidentrecord.AttrReason, t.Reason)
	}

	for _, gauge := range []struct {
		name, description string
		value             int
	}{
		{"rca.incidents.active", "Incidents open now (standing conditions excluded).", active},
		{"rca.incidents.standing", "Standing conditions open now: failures steady since the collector started, not judged a change yet.", standing},
	} {
		g := sm.Metrics().AppendEmpty()
		g.SetName(gauge.name)
		g.SetDescription(gauge.description)
		g.SetUnit("{incidents}")
		dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetIntValue(int64(gauge.value))
	}
	return md
}
