package dashboards

import (
	"encoding/json"
	"fmt"
	"sort"
)

// PromQuery is one PromQL expression of a dashboard panel.
type PromQuery struct {
	Dashboard string `json:"dashboard"`
	Panel     string `json:"panel"`
	RefID     string `json:"refId"`
	// Expr is the expression as Grafana sends it, with Grafana macros.
	Expr string `json:"expr"`
	// Expanded is Expr with the macros replaced (ExpandMacros), ready for the Prometheus API.
	Expanded string `json:"expanded"`
	Exemplar bool   `json:"exemplar"`
}

// ESQuery is one Elasticsearch query or field reference of a dashboard.
type ESQuery struct {
	Dashboard, Where string
	// Lucene is a Lucene query string (empty for a bare field reference).
	Lucene string
	// Fields are field names referenced outside the Lucene string.
	Fields []string
}

type dashJSON struct {
	Title  string `json:"title"`
	Panels []struct {
		Title      string `json:"title"`
		Datasource struct {
			Type string `json:"type"`
		} `json:"datasource"`
		Targets []struct {
			RefID      string `json:"refId"`
			Expr       string `json:"expr"`
			Exemplar   bool   `json:"exemplar"`
			Query      string `json:"query"`
			TimeField  string `json:"timeField"`
			Datasource struct {
				Type string `json:"type"`
			} `json:"datasource"`
		} `json:"targets"`
		Transformations []struct {
			ID      string `json:"id"`
			Options struct {
				IncludeByName map[string]bool `json:"includeByName"`
			} `json:"options"`
		} `json:"transformations"`
		FieldConfig struct {
			Overrides []struct {
				Matcher struct {
					ID      string `json:"id"`
					Options string `json:"options"`
				} `json:"matcher"`
			} `json:"overrides"`
		} `json:"fieldConfig"`
	} `json:"panels"`
	Annotations struct {
		List []struct {
			Name       string `json:"name"`
			Datasource struct {
				Type string `json:"type"`
			} `json:"datasource"`
			Target struct {
				Query string `json:"query"`
			} `json:"target"`
			TimeField string `json:"timeField"`
			TextField string `json:"textField"`
			TagsField string `json:"tagsField"`
		} `json:"list"`
	} `json:"annotations"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Query      string `json:"query"`
			Datasource struct {
				Type string `json:"type"`
			} `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

// ExtractQueries returns the PromQL and Elasticsearch queries of rendered dashboards.
func ExtractQueries(files map[string][]byte) ([]PromQuery, []ESQuery, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var proms []PromQuery
	var ess []ESQuery
	for _, n := range names {
		var d dashJSON
		if err := json.Unmarshal(files[n], &d); err != nil {
			return nil, nil, fmt.Errorf("parse %s: %w", n, err)
		}
		for _, p := range d.Panels {
			for _, t := range p.Targets {
				typ := t.Datasource.Type
				if typ == "" {
					typ = p.Datasource.Type
				}
				switch typ {
				case "prometheus":
					proms = append(proms, PromQuery{Dashboard: d.Title, Panel: p.Title, RefID: t.RefID, Expr: t.Expr, Expanded: ExpandMacros(t.Expr), Exemplar: t.Exemplar})
				case "elasticsearch":
					ess = append(ess, ESQuery{Dashboard: d.Title, Where: "panel " + p.Title, Lucene: t.Query, Fields: nonEmpty(t.TimeField)})
				}
			}
			if p.Datasource.Type != "elasticsearch" {
				continue
			}
			var fields []string
			for _, tr := range p.Transformations {
				for f := range tr.Options.IncludeByName {
					fields = append(fields, f)
				}
			}
			for _, o := range p.FieldConfig.Overrides {
				if o.Matcher.ID == "byName" {
					fields = append(fields, o.Matcher.Options)
				}
			}
			sort.Strings(fields)
			if len(fields) > 0 {
				ess = append(ess, ESQuery{Dashboard: d.Title, Where: "panel " + p.Title + " columns", Fields: fields})
			}
		}
		for _, a := range d.Annotations.List {
			if a.Datasource.Type != "elasticsearch" {
				continue
			}
			ess = append(ess, ESQuery{
				Dashboard: d.Title, Where: "annotation " + a.Name, Lucene: a.Target.Query,
				Fields: nonEmpty(a.TimeField, a.TextField, a.TagsField),
			})
		}
		for _, v := range d.Templating.List {
			if v.Datasource.Type != "elasticsearch" {
				continue
			}
			var q struct {
				Field string `json:"field"`
				Query string `json:"query"`
			}
			if err := json.Unmarshal([]byte(v.Query), &q); err != nil {
				return nil, nil, fmt.Errorf("%s: variable %s: %w", n, v.Name, err)
			}
			ess = append(ess, ESQuery{Dashboard: d.Title, Where: "variable " + v.Name, Lucene: q.Query, Fields: nonEmpty(q.Field)})
		}
	}
	return proms, ess, nil
}

func nonEmpty(xs ...string) []string {
	var out []string
	for _, x := range xs {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

// PromQueries returns every PromQL expression of the generated dashboards.
func PromQueries() ([]PromQuery, error) {
	files, err := All()
	if err != nil {
		return nil, err
	}
	proms, _, err := ExtractQueries(files)
	return proms, err
}
