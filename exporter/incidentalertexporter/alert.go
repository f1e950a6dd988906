package incidentalertexporter // import "github.com/otelcol-rca/otelcol-rca/exporter/incidentalertexporter"

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/incidentrecord"
)

// shown bounds the candidates and trace IDs an alert lists.
const shown = 5

// alert is an Alertmanager API v2 postable alert.
type alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// alertOf builds the alert of an incident record at time now. Its labels
// identify the incident (they never change while its kind does not); the
// annotations carry what a person paged needs: the reason, the culprit,
// the candidates, sample traces and links to look next.
func (e *alertExporter) alertOf(r incidentrecord.Record, now time.Time) alert {
	a := alert{
		Labels: map[string]string{
			"alertname": e.cfg.AlertName, "incident_id": r.ID, "service": r.Service,
		},
		Annotations: map[string]string{"summary": r.Summary, "description": r.Reason},
		StartsAt:    r.WindowStart,
		EndsAt:      now.Add(e.ttl()),
	}
	if r.Kind != "" {
		a.Labels["kind"] = r.Kind
		if sev := e.cfg.Severity[r.Kind]; sev != "" {
			a.Labels["severity"] = sev
		}
	}
	if r.Status == incidentrecord.StatusResolved {
		a.EndsAt = r.At
	}
	if a.StartsAt.IsZero() || a.StartsAt.After(a.EndsAt) {
		a.StartsAt = r.At
	}
	culprit := r.Service
	if r.Operation != "" {
		culprit += " " + strconv.Quote(r.Operation)
	}
	if r.Dependency != "" {
		culprit += " → " + r.Dependency
	}
	a.Annotations["culprit"] = culprit
	var cands []string
	for _, c := range r.Candidates[:min(shown, len(r.Candidates))] {
		cands = append(cands, fmt.Sprintf("%s (%.2f)", c.Name, c.Score))
	}
	put := func(k, v string) {
		if v != "" {
			a.Annotations[k] = v
		}
	}
	put("candidates", strings.Join(cands, ", "))
	put("trace_ids", strings.Join(r.TraceIDs[:min(shown, len(r.TraceIDs))], " "))
	put("affected_services", strings.Join(r.Affected, ", "))
	put("trace_count", strconv.FormatInt(r.TraceCount, 10))
	put("confidence", strconv.FormatFloat(r.Confidence, 'f', 2, 64))
	fields := linkFields{IncidentID: r.ID, Service: r.Service, Operation: r.Operation}
	if len(r.TraceIDs) > 0 {
		fields.TraceID = r.TraceIDs[0]
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
