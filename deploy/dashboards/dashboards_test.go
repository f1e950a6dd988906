package dashboards

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/prometheus/prometheus/promql/parser"
)

const committedDir = "../grafana/dashboards"

func generated(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := All()
	if err != nil {
		t.Fatalf("build dashboards: %v", err)
	}
	return files
}

func committed(t *testing.T) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(committedDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = raw
	}
	return out
}

func TestCommittedDashboardsMatchGenerator(t *testing.T) {
	gen, com := generated(t), committed(t)
	for name, want := range gen {
		got, ok := com[name]
		if !ok {
			t.Errorf("%s: missing from %s; run go run ./cmd/gendashboards", name, committedDir)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: differs from the generator output; run go run ./cmd/gendashboards", name)
		}
	}
	for name := range com {
		if _, ok := gen[name]; !ok {
			t.Errorf("%s: not produced by the generator; delete it or add it to dashboards.All", name)
		}
	}
}

// TestDashboardsMatchGrafanaModel decodes every committed dashboard strictly
// into the Foundation SDK's model of Grafana's dashboard schema. The only keys
// allowed beyond the model are the Elasticsearch annotation settings.
func TestDashboardsMatchGrafanaModel(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	for name, raw := range committed(t) {
		t.Run(name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			annos, _ := m["annotations"].(map[string]any)
			list, _ := annos["list"].([]any)
			if len(list) == 0 {
				t.Fatal("no annotations: every dashboard shows incidents on its time-series panels")
			}
			for _, a := range list {
				am := a.(map[string]any)
				for _, k := range ESAnnotationKeys {
					delete(am, k)
				}
			}
			stripped, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			var strict dashboard.Dashboard
			if err := realError(strict.UnmarshalJSONStrict(stripped)); err != nil {
				t.Fatalf("does not match Grafana's dashboard model: %v", err)
			}
			if err := strictPanels(m); err != nil {
				t.Fatalf("does not match Grafana's panel model: %v", err)
			}
			// The strict decoder of SDK v0.0.22 drops panels (a typed nil error
			// from PanelOrRowPanel), so the content checks use the lenient one.
			var d dashboard.Dashboard
			if err := json.Unmarshal(stripped, &d); err != nil {
				t.Fatalf("decode dashboard: %v", err)
			}
			if err := d.Validate(); err != nil {
				t.Fatalf("invalid dashboard: %v", err)
			}
			if d.Uid == nil || *d.Uid == "" {
				t.Fatal("dashboard has no uid")
			}
			var timeseries, exemplars int
			uids := map[string]bool{PrometheusUID: true, JaegerUID: true, ESLogsUID: true, ESIncidentsUID: true}
			for _, p := range d.Panels {
				if p.Panel == nil {
					continue
				}
				if p.Panel.Datasource == nil || p.Panel.Datasource.Uid == nil || !uids[*p.Panel.Datasource.Uid] {
					t.Errorf("panel %q: datasource is not a provisioned one", deref(p.Panel.Title))
				}
				if p.Panel.Type == "timeseries" {
					timeseries++
				}
			}
			for _, q := range mustProm(t, map[string][]byte{name: raw}) {
				if q.Exemplar {
					exemplars++
				}
			}
			if timeseries == 0 {
				t.Error("no time-series panels")
			}
			if exemplars == 0 {
				t.Error("no query asks for exemplars")
			}
		})
	}
}

func mustProm(t *testing.T, files map[string][]byte) []PromQuery {
	t.Helper()
	proms, _, err := ExtractQueries(files)
	if err != nil {
		t.Fatal(err)
	}
	return proms
}

// knownSeries are the series names the dashboards may select (metrics.go).
func knownSeries() map[string]bool {
	m := ServiceMetrics
	out := map[string]bool{}
	for _, h := range []string{HTTPServerDuration, HTTPClientDuration, DBOperationDuration, DBConnectionWait, m.OrderProcessingDuration, m.TokenGenerationDuration, m.PaymentProcessingDuration} {
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			out[h+suffix] = true
		}
	}
	for _, n := range []string{
		DBConnectionCount, DBConnectionTimeouts, RCAIncidents, RCAIncidentsActive,
		m.PaymentRequests, m.PaymentRetries, m.PaymentTimeouts, m.TokenGenerationFailures,
	} {
		out[n] = true
	}
	return out
}

var knownLabels = map[string]bool{
	"le": true, LabelJob: true, LabelRoute: true, LabelMethod: true, LabelStatusCode: true, LabelServerAddr: true,
	LabelDBOp: true, LabelPoolName: true, LabelPoolState: true, LabelCulprit: true, LabelReason: true, LabelPaymentOutcome: true,
}

func TestPromQLParses(t *testing.T) {
	proms := mustProm(t, committed(t))
	if len(proms) == 0 {
		t.Fatal("no PromQL expressions found")
	}
	series := knownSeries()
	for _, q := range proms {
		expr, err := parser.ParseExpr(q.Expanded)
		if err != nil {
			t.Errorf("%s / %s / %s: %q does not parse: %v", q.Dashboard, q.Panel, q.RefID, q.Expanded, err)
			continue
		}
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			switch n := n.(type) {
			case *parser.VectorSelector:
				if !series[n.Name] {
					t.Errorf("%s / %s: unknown series %q (declare it in metrics.go)", q.Dashboard, q.Panel, n.Name)
				}
				for _, m := range n.LabelMatchers {
					if m.Name != "__name__" && !knownLabels[m.Name] {
						t.Errorf("%s / %s: unknown label %q", q.Dashboard, q.Panel, m.Name)
					}
				}
			case *parser.AggregateExpr:
				for _, l := range n.Grouping {
					if !knownLabels[l] {
						t.Errorf("%s / %s: unknown grouping label %q", q.Dashboard, q.Panel, l)
					}
				}
			}
			return nil
		})
		if q.Exemplar && !strings.Contains(q.Expr, "_bucket") {
			t.Errorf("%s / %s: exemplars requested on a query without histogram buckets", q.Dashboard, q.Panel)
		}
	}
}

func TestPromQueriesListed(t *testing.T) {
	listed, err := PromQueries()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(listed), len(mustProm(t, committed(t))); got != want {
		t.Fatalf("PromQueries lists %d expressions, the committed dashboards hold %d", got, want)
	}
	for _, q := range listed {
		if strings.Contains(q.Expanded, "$") {
			t.Errorf("%q still holds a Grafana macro", q.Expanded)
		}
	}
}

func TestLuceneFields(t *testing.T) {
	got := LuceneFields(`event_name:"rca.incident" AND attributes.rca.incident.id:$incident AND NOT event_name:"x"`)
	want := []string{"event_name", "attributes.rca.incident.id", "event_name"}
	if !slices.Equal(got, want) {
		t.Fatalf("LuceneFields = %v, want %v", got, want)
	}
}

func TestElasticsearchFieldsAllowed(t *testing.T) {
	_, ess, err := ExtractQueries(committed(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(ess) == 0 {
		t.Fatal("no Elasticsearch queries found")
	}
	var kinds []string
	for _, q := range ess {
		kinds = append(kinds, strings.Fields(q.Where)[0])
		fields := append(LuceneFields(q.Lucene), q.Fields...)
		if q.Lucene != "" && len(LuceneFields(q.Lucene)) == 0 {
			t.Errorf("%s / %s: query %q names no field", q.Dashboard, q.Where, q.Lucene)
		}
		for _, f := range fields {
			if !ElasticsearchFields[f] {
				t.Errorf("%s / %s: field %q is not in the allow-list (schema.go)", q.Dashboard, q.Where, f)
			}
		}
	}
	sort.Strings(kinds)
	for _, k := range []string{"annotation", "panel", "variable"} {
		if !slices.Contains(kinds, k) {
			t.Errorf("no Elasticsearch %s query was checked", k)
		}
	}
}

// strictPanels decodes each panel strictly on its own: the dashboard's strict
// decoder does not report panel errors (see realError).
func strictPanels(m map[string]any) error {
	panels, _ := m["panels"].([]any)
	var errs []error
	for i, p := range panels {
		raw, err := json.Marshal(p)
		if err != nil {
			return err
		}
		if pm, _ := p.(map[string]any); pm["type"] == "row" {
			var r dashboard.RowPanel
			err = realError(r.UnmarshalJSONStrict(raw))
		} else {
			var pp dashboard.Panel
			err = realError(pp.UnmarshalJSONStrict(raw))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("panels[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// realError drops the empty cog.BuildErrors the SDK's strict decoder returns
// as a non-nil error when it found nothing wrong.
func realError(err error) error {
	var be cog.BuildErrors
	if errors.As(err, &be) && len(be) == 0 {
		return nil
	}
	return err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// TestStrictModelCatchesMistakes guards the strict checks above: a misspelt
// dashboard, panel, option or query key must fail them.
func TestStrictModelCatchesMistakes(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	for _, tc := range []struct {
		name   string
		mutate func(m map[string]any)
	}{
		{"dashboard", func(m map[string]any) { m["refreshh"] = "1m" }},
		{"panel", func(m map[string]any) { panel(m, 1)["titel"] = "x" }},
		{"options", func(m map[string]any) { panel(m, 1)["options"].(map[string]any)["showHeaderr"] = true }},
		{"query", func(m map[string]any) { panel(m, 1)["targets"].([]any)[0].(map[string]any)["queryy"] = "x" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(committed(t)["incidents.json"], &m); err != nil {
				t.Fatal(err)
			}
			m["annotations"] = map[string]any{"list": []any{}}
			tc.mutate(m)
			bad, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			var d dashboard.Dashboard
			if realError(d.UnmarshalJSONStrict(bad)) == nil && strictPanels(m) == nil {
				t.Fatal("strict decoding accepted an unknown field")
			}
		})
	}
}

func panel(m map[string]any, i int) map[string]any {
	return m["panels"].([]any)[i].(map[string]any)
}
