package incidentalertexporter // import "github.com/otelcol-rca/otelcol-rca/exporter/incidentalertexporter"

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// The incident records of the rootcause processor (its README lists the
// attributes): an event name, and the attributes read here.
const (
	incidentEventName = "rca.incident"
	attrID            = "rca.incident.id"
	attrStatus        = "rca.incident.status"
	attrKind          = "rca.incident.kind"
	attrService       = "rca.culprit.service"
	attrOperation     = "rca.culprit.operation"
	attrDependency    = "rca.culprit.dependency"
	attrReason        = "rca.reason"
	attrConfidence    = "rca.confidence"
	attrCandidates    = "rca.candidates"
	attrScores        = "rca.candidate.scores"
	attrTraceIDs      = "rca.trace_ids"
	attrAffected      = "rca.affected.services"
	attrWindowStart   = "rca.window.start"
	attrTraceCount    = "rca.trace_count"

	statusResolved = "resolved"
	// shown bounds the candidates and trace IDs an alert lists.
	shown = 5
)

// alert is an Alertmanager API v2 postable alert.
type alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// record is what an alert says of an incident record.
type record struct {
	id, kind, service, operation, dependency, reason, summary string
	resolved                                                  bool
	at, start                                                 time.Time
	confidence                                                float64
	traceCount                                                int64
	candidates                                                []string
	scores                                                    []float64
	traceIDs, affected                                        []string
}

func isIncidentRecord(lr plog.LogRecord) bool {
	if lr.EventName() == incidentEventName {
		return true
	}
	_, ok := lr.Attributes().Get(attrID)
	return ok
}

func readRecord(lr plog.LogRecord) (record, error) {
	a := lr.Attributes()
	str := func(k string) string {
		if v, ok := a.Get(k); ok {
			return v.AsString()
		}
		return ""
	}
	strs := func(k string) []string {
		v, ok := a.Get(k)
		if !ok || v.Type() != pcommon.ValueTypeSlice {
			return nil
		}
		out := make([]string, 0, v.Slice().Len())
		for _, s := range v.Slice().All() {
			out = append(out, s.AsString())
		}
		return out
	}
	r := record{
		id: str(attrID), kind: str(attrKind), service: str(attrService), operation: str(attrOperation),
		dependency: str(attrDependency), reason: str(attrReason), summary: lr.Body().AsString(),
		resolved: str(attrStatus) == statusResolved, at: lr.Timestamp().AsTime(),
		candidates: strs(attrCandidates), traceIDs: strs(attrTraceIDs), affected: strs(attrAffected),
	}
	switch {
	case r.id == "":
		return r, errors.New("no " + attrID)
	case r.service == "":
		return r, fmt.Errorf("incident %s: no %s", r.id, attrService)
	}
	if lr.Timestamp() == 0 {
		r.at = lr.ObservedTimestamp().AsTime()
	}
	if v, ok := a.Get(attrConfidence); ok && v.Type() == pcommon.ValueTypeDouble {
		r.confidence = v.Double()
	}
	if v, ok := a.Get(attrTraceCount); ok && v.Type() == pcommon.ValueTypeInt {
		r.traceCount = v.Int()
	}
	if v, ok := a.Get(attrScores); ok && v.Type() == pcommon.ValueTypeSlice {
		for _, s := range v.Slice().All() {
			r.scores = append(r.scores, s.Double())
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, str(attrWindowStart)); err == nil {
		r.start = t
	}
	return r, nil
}

// alertOf builds the alert of an incident record at time now. Its labels
// identify the incident (they never change while its kind does not); the
// annotations carry what a person paged needs: the reason, the culprit,
// the candidates, sample traces and links to look next.
func (e *alertExporter) alertOf(r record, now time.Time) alert {
	a := alert{
		Labels: map[string]string{
			"alertname": e.cfg.AlertName, "incident_id": r.id, "service": r.service,
		},
		Annotations: map[string]string{"summary": r.summary, "description": r.reason},
		StartsAt:    r.start,
		EndsAt:      now.Add(e.ttl()),
	}
	if r.kind != "" {
		a.Labels["kind"] = r.kind
		if sev := e.cfg.Severity[r.kind]; sev != "" {
			a.Labels["severity"] = sev
		}
	}
	if r.resolved {
		a.EndsAt = r.at
	}
	if a.StartsAt.IsZero() || a.StartsAt.After(a.EndsAt) {
		a.StartsAt = r.at
	}
	culprit := r.service
	if r.operation != "" {
		culprit += " " + strconv.Quote(r.operation)
	}
	if r.dependency != "" {
		culprit += " → " + r.dependency
	}
	a.Annotations["culprit"] = culprit
	var cands []string
	for i, c := range r.candidates[:min(shown, len(r.candidates))] {
		if i < len(r.scores) {
			c += fmt.Sprintf(" (%.2f)", r.scores[i])
		}
		cands = append(cands, c)
	}
	put := func(k, v string) {
		if v != "" {
			a.Annotations[k] = v
		}
	}
	put("candidates", strings.Join(cands, ", "))
	put("trace_ids", strings.Join(r.traceIDs[:min(shown, len(r.traceIDs))], " "))
	put("affected_services", strings.Join(r.affected, ", "))
	put("trace_count", strconv.FormatInt(r.traceCount, 10))
	put("confidence", strconv.FormatFloat(r.confidence, 'f', 2, 64))
	fields := linkFields{IncidentID: r.id, Service: r.service, Operation: r.operation}
	if len(r.traceIDs) > 0 {
		fields.TraceID = r.traceIDs[0]
	}
	for name, t := range e.links {
		var b strings.Builder
		if err := t.Execute(&b, fields); err == nil {
			put(name, b.String())
		}
	}
	if e.generator != nil {
		var b strings.Builder
		if err := e.generator.Execute(&b, fields); err == nil {
			a.GeneratorURL = b.String()
		}
	}
	return a
}
