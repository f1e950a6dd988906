package incidentpageexporter // import "github.com/otelcol-rca/otelcol-rca/exporter/incidentpageexporter"

import (
	"encoding/json"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	ttemplate "text/template"
	"time"
)

// handler serves the page: the incident list (/), one incident (/incidents/ID),
// and the same as JSON (/api/incidents, /api/incidents/ID). Server-rendered,
// no script, no CDN: it works offline and in any browser.
type handler struct {
	store             *store
	traceURL, dashURL *ttemplate.Template
	mux               *http.ServeMux
}

func newHandler(s *store, cfg *Config) (*handler, error) {
	h := &handler{store: s, mux: http.NewServeMux()}
	var err error
	if cfg.TraceURL != "" {
		if h.traceURL, err = parseLink("trace_url", cfg.TraceURL); err != nil {
			return nil, err
		}
	}
	if cfg.DashboardURL != "" {
		if h.dashURL, err = parseLink("dashboard_url", cfg.DashboardURL); err != nil {
			return nil, err
		}
	}
	h.mux.HandleFunc("GET /{$}", h.listPage)
	h.mux.HandleFunc("GET /incidents/{id}", h.incidentPage)
	h.mux.HandleFunc("GET /api/incidents", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, h.store.list()) })
	h.mux.HandleFunc("GET /api/incidents/{id}", func(w http.ResponseWriter, r *http.Request) {
		in, ok := h.store.get(r.PathValue("id"))
		if !ok {
			http.Error(w, "no incident "+r.PathValue("id"), http.StatusNotFound)
			return
		}
		writeJSON(w, in)
	})
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	h.mux.ServeHTTP(w, r)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (h *handler) link(t *ttemplate.Template, f linkFields) string {
	if t == nil {
		return ""
	}
	var b strings.Builder
	if err := t.Execute(&b, f); err != nil {
		return ""
	}
	return b.String()
}

func (h *handler) listPage(w http.ResponseWriter, _ *http.Request) {
	render(w, listTemplate, map[string]any{"Incidents": h.store.list()})
}

// bar is a span's place in its trace's waterfall, in percent of the trace.
type bar struct {
	Span
	Left, Width float64
	Duration    time.Duration
}

func (h *handler) incidentPage(w http.ResponseWriter, r *http.Request) {
	in, ok := h.store.get(r.PathValue("id"))
	if !ok {
		http.Error(w, "no incident "+r.PathValue("id"), http.StatusNotFound)
		return
	}
	type sample struct {
		TraceID, TraceURL string
		Duration          time.Duration
		Bars              []bar
	}
	var samples []sample
	for _, tr := range in.Samples {
		s := sample{TraceID: tr.TraceID, TraceURL: h.link(h.traceURL, linkFields{IncidentID: in.ID, TraceID: tr.TraceID})}
		var first, last time.Time
		for _, sp := range tr.Spans {
			if first.IsZero() || sp.Start.Before(first) {
				first = sp.Start
			}
			if sp.End.After(last) {
				last = sp.End
			}
		}
		s.Duration = last.Sub(first)
		total := float64(s.Duration)
		for _, sp := range tr.Spans {
			b := bar{Span: sp, Duration: sp.End.Sub(sp.Start)}
			if total > 0 {
				b.Left = 100 * float64(sp.Start.Sub(first)) / total
				b.Width = max(0.3, 100*float64(sp.End.Sub(sp.Start))/total)
			}
			s.Bars = append(s.Bars, b)
		}
		samples = append(samples, s)
	}
	var window time.Duration // shown when the record dates both ends
	if !in.WindowStart.IsZero() && in.WindowEnd.After(in.WindowStart) {
		window = in.WindowEnd.Sub(in.WindowStart)
	}
	render(w, incidentTemplate, map[string]any{
		"In": in, "Samples": samples, "Window": window,
		"Dashboard": h.link(h.dashURL, linkFields{IncidentID: in.ID}),
	})
}

func render(w http.ResponseWriter, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := t.Execute(w, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

var funcs = template.FuncMap{
	"short":  func(id string) string { return id[:min(8, len(id))] },
	"when":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"mul100": func(f float64) float64 { return 100 * f },
	"dur":    readableDuration,
}

// readableDuration is how the page writes a duration, everywhere, as
// Jaeger writes it: two decimals in the largest unit below a minute (1.6s,
// 800.67ms), whole microseconds below a millisecond (24µs: Jaeger's
// resolution), nanoseconds below a microsecond, and from a minute on whole
// units of the two largest (1m 16s, 1h 5m); never nine digits. A value
// that rounds up to the next unit is written in it (1s, not 1000ms).
func readableDuration(d time.Duration) string {
	if d < 0 {
		return "-" + readableDuration(-max(d, -math.MaxInt64))
	}
	if d < time.Microsecond {
		return d.String() // 0s, 512ns
	}
	i := slices.IndexFunc(durationUnits, func(u durationUnit) bool { return d >= u.unit })
	r := d.Round(durationUnits[i].precision)
	if i > 0 && r >= durationUnits[i-1].unit {
		i--
		r = r.Round(durationUnits[i].precision)
	}
	u := durationUnits[i]
	if u.unit < time.Minute {
		return strconv.FormatFloat(float64(r)/float64(u.unit), 'f', -1, 64) + u.name
	}
	next := durationUnits[i+1]
	out := strconv.FormatInt(int64(r/u.unit), 10) + u.name
	if rest := r % u.unit / next.unit; rest > 0 {
		out += " " + strconv.FormatInt(int64(rest), 10) + next.name
	}
	return out
}

type durationUnit struct {
	unit, precision time.Duration
	name            string
}

// durationUnits are the units of readableDuration, largest first, each
// with what it is rounded to.
var durationUnits = []durationUnit{
	{24 * time.Hour, time.Hour, "d"},
	{time.Hour, time.Minute, "h"},
	{time.Minute, time.Second, "m"},
	{time.Second, 10 * time.Millisecond, "s"},
	{time.Millisecond, 10 * time.Microsecond, "ms"},
	{time.Microsecond, time.Microsecond, "µs"},
}

const style = `<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse}td,th{padding:.3em .6em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
.open,.update{color:#b00020;font-weight:bold}.resolved{color:#2e7d32}
.wf{position:relative;height:1.4em;background:#f4f4f4;min-width:30em}
.bar{position:absolute;top:.2em;height:1em;background:#7aa6d8}
.bar.error{background:#e57373}.bar.culprit{background:#b00020;outline:2px solid #000}
tr.culprit td{font-weight:bold}
</style>`

var listTemplate = template.Must(template.New("list").Funcs(funcs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>otelcol-rca incidents</title>` + style + `</head><body>
<h1>Incidents</h1>
{{if not .Incidents}}<p>No incident yet.</p>{{else}}
<table><tr><th>Incident</th><th>Status</th><th>Culprit</th><th>Reason</th><th>Traces</th><th>Since</th></tr>
{{range .Incidents}}<tr><td><a href="incidents/{{.ID}}">{{short .ID}}</a></td><td class="{{.Status}}">{{.Status}}{{if .Standing}} (standing){{end}}</td>
<td>{{.Service}}{{if .Operation}} “{{.Operation}}”{{end}}{{if .Dependency}} → {{.Dependency}}{{end}}</td>
<td>{{.Reason}}</td><td>{{.TraceCount}}</td><td>{{when .WindowStart}}</td></tr>
{{end}}</table>{{end}}
<p><a href="api/incidents">JSON</a></p>
</body></html>`))

var incidentTemplate = template.Must(template.New("incident").Funcs(funcs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Incident {{short .In.ID}}: {{.In.Service}}</title>` + style + `</head><body>
<p><a href="../">All incidents</a></p>
<h1>Incident {{short .In.ID}} <span class="{{.In.Status}}">{{.In.Status}}</span></h1>
{{if .In.Standing}}<p id="standing">A standing condition: {{.In.Service}} has failed this way since the collector started, so nothing yet says it changed. It pages no one; it becomes an incident if its failures change.</p>{{end}}
<table>
<tr><th>Culprit</th><td id="culprit">{{.In.Service}}{{if .In.Operation}} “{{.In.Operation}}”{{end}}{{if .In.Dependency}} → {{.In.Dependency}}{{end}}</td></tr>
<tr><th>Reason</th><td id="reason">{{.In.Reason}}</td></tr>
<tr><th>Kind</th><td>{{.In.Kind}}, confidence {{printf "%.2f" .In.Confidence}}, {{.In.TraceCount}} traces ({{printf "%.0f" (mul100 .In.Share)}}% of {{.In.Service}}'s requests at worst)</td></tr>
<tr><th>Affected</th><td>{{range $i, $s := .In.Affected}}{{if $i}}, {{end}}{{$s}}{{end}}</td></tr>
<tr><th>Window</th><td>{{when .In.WindowStart}} – {{when .In.WindowEnd}}{{if .Window}} ({{dur .Window}}){{end}}</td></tr>
{{if .Dashboard}}<tr><th>Dashboard</th><td><a href="{{.Dashboard}}">open</a></td></tr>{{end}}
</table>
<h2>Candidates</h2>
<table id="candidates"><tr><th>Service</th><th>Score</th><th>Evidence</th></tr>
{{range .In.Candidates}}<tr><td>{{.Name}}</td><td>{{printf "%.2f" .Score}}</td><td>{{.Evidence}}</td></tr>{{end}}</table>
{{if .In.Evidence}}<h2>Evidence</h2><ul id="evidence">{{range .In.Evidence}}<li><code>{{.}}</code></li>{{end}}</ul>{{end}}
<h2>Timeline</h2>
<table id="timeline"><tr><th>At</th><th>Record</th><th>Traces</th></tr>
{{range .In.Timeline}}<tr><td>{{when .At}}</td><td class="{{.Status}}">{{.Status}}</td><td>{{.TraceCount}}</td></tr>{{end}}</table>
<h2>Sample traces</h2>
{{if not .Samples}}<p>None yet: no trace of this incident has reached the page.</p>{{end}}
{{range .Samples}}<h3>Trace <code>{{.TraceID}}</code>, {{dur .Duration}}{{if .TraceURL}} <a href="{{.TraceURL}}">in the trace backend</a>{{end}}</h3>
<table class="waterfall"><tr><th>Service</th><th>Span</th><th>Duration</th><th></th></tr>
{{range .Bars}}<tr{{if .Culprit}} class="culprit" id="culprit-span"{{end}}><td>{{.Service}}</td>
<td style="padding-left:{{.Depth}}em">{{.Name}}{{if .Culprit}} ← culprit{{end}}</td><td>{{dur .Duration}}</td>
<td><div class="wf"><div class="bar{{if .Error}} error{{end}}{{if .Culprit}} culprit{{end}}" style="left:{{printf "%.2f" .Left}}%;width:{{printf "%.2f" .Width}}%"></div></div></td></tr>
{{end}}</table>{{end}}
</body></html>`))
