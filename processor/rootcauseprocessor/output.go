package rootcauseprocessor // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor"

import (
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/incident"
)

const (
	selfService = "otelcol-rca"
	scopeName   = "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor"
	// IncidentEventName is the event name of the incident records.
	IncidentEventName = "rca.incident"
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
	ts := pcommon.NewTimestampFromTime(now)
	for i := range events {
		in := &events[i]
		lr := sl.LogRecords().AppendEmpty()
		lr.SetEventName(IncidentEventName)
		lr.SetTimestamp(ts)
		lr.SetObservedTimestamp(ts)
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
		lr.Body().SetStr(body(in))

		a := lr.Attributes()
		a.PutStr("rca.incident.id", in.ID)
		a.PutStr("rca.incident.status", string(in.Status))
		a.PutStr("rca.incident.kind", in.Kind.String())
		a.PutStr("rca.culprit.service", in.CulpritService)
		a.PutStr("rca.culprit.operation", in.CulpritOperation)
		if in.Dependency != "" {
			a.PutStr("rca.culprit.dependency", in.Dependency)
		}
		a.PutStr("rca.reason", in.Reason)
		a.PutDouble("rca.confidence", round(in.Confidence))
		cands := a.PutEmptySlice("rca.candidates")
		scores := a.PutEmptySlice("rca.candidate.scores")
		for k, c := range in.Candidates {
			if k == candidatesShown {
				break
			}
			cands.AppendEmpty().SetStr(c.Name)
			scores.AppendEmpty().SetDouble(round(c.Score))
		}
		traceIDs := a.PutEmptySlice("rca.trace_ids")
		for _, id := range in.TraceIDs {
			traceIDs.AppendEmpty().SetStr(id.String())
		}
		spanIDs := a.PutEmptySlice("rca.span_ids")
		for _, id := range in.SpanIDs {
			spanIDs.AppendEmpty().SetStr(id.String())
		}
		strs(a.PutEmptySlice("rca.affected.services"), in.Affected)
		strs(a.PutEmptySlice("rca.evidence.logs"), in.Evidence)
		a.PutStr("rca.window.start", in.WindowStart.UTC().Format(time.RFC3339Nano))
		a.PutStr("rca.window.end", in.WindowEnd.UTC().Format(time.RFC3339Nano))
		a.PutInt("rca.trace_count", int64(in.TraceCount))
		a.PutDouble("rca.traffic_share", round(in.Share))
	}
	return ld
}

func strs(s pcommon.Slice, values []string) {
	for _, v := range values {
		s.AppendEmpty().SetStr(v)
	}
}

func round(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// body is the record's one-line summary.
func body(in *incident.Incident) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Incident %s %s: %s", in.ID[:min(8, len(in.ID))], in.Status, in.CulpritService)
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

// incidentMetrics builds rca.incidents (opened, cumulative) and rca.incidents.active.
func incidentMetrics(totals []incident.Total, active int, start, now time.Time) pmetric.Metrics {
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
		dp.Attributes().PutStr("rca.culprit.service", t.Service)
		dp.Attributes().PutStr("rca.reason", t.Reason)
	}

	g := sm.Metrics().AppendEmpty()
	g.SetName("rca.incidents.active")
	g.SetDescription("Incidents open now.")
	g.SetUnit("{incidents}")
	dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(ts)
	dp.SetIntValue(int64(active))
	return md
}
