// Package dashboards builds the Grafana dashboards of the otelcol-rca stack
// with the Grafana Foundation SDK. `go run ./cmd/gendashboards` writes them to
// grafana/dashboards; the tests check the committed JSON equals this output.
package dashboards

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Scenario is a seed scenario with its own RED dashboard.
type Scenario struct {
	UID, Title string
	// Entry is the service the user calls; Services are all services in the call graph.
	Entry    string
	Services []string
	// DBServices own a database/sql connection pool.
	DBServices []string
	extra      func(sel string) []panelSpec
}

type panelSpec struct {
	title, unit string
	targets     []promTarget
}

type promTarget struct {
	expr, legend string
	exemplar     bool
}

// Scenarios are the three seed scenarios (shared/seeds/scenarios.txt and the
// scenario receiver's built-ins checkout_payment_timeout,
// login_db_pool_exhaustion, catalog_slow_query).
var Scenarios = []Scenario{
	{
		UID: "rca-checkout-payment", Title: "Checkout / payment timeout (RED)",
		Entry:      "order",
		Services:   []string{"order", "payment", "inventory", "payment-gateway"},
		DBServices: []string{"payment", "inventory"},
		extra: func(sel string) []panelSpec {
			m := ServiceMetrics
			return []panelSpec{
				{"Payments succeeded vs failed", "reqps", []promTarget{
					{fmt.Sprintf("sum by (%s) (rate(%s[%s]))", LabelPaymentOutcome, m.PaymentRequests, rateInterval), "{{" + LabelPaymentOutcome + "}}", false},
				}},
				{"Payment processing latency", "s", append(quantileTargets(m.PaymentProcessingDuration, `job="payment"`, "job", "{{job}}"),
					promTarget{fmt.Sprintf("sum(rate(%[1]s_sum[%[2]s])) / sum(rate(%[1]s_count[%[2]s]))", m.PaymentProcessingDuration, rateInterval), "average", false})},
				{"Payment retries and timeouts", "reqps", []promTarget{
					{fmt.Sprintf("sum(rate(%s[%s]))", m.PaymentRetries, rateInterval), "retries", false},
					{fmt.Sprintf("sum(rate(%s[%s]))", m.PaymentTimeouts, rateInterval), "timeouts", false},
				}},
				{"Order processing duration", "s", quantileTargets(m.OrderProcessingDuration, `job="order"`, "job", "{{job}}")},
				{"Payment → gateway client latency p99", "s", []promTarget{
					{quantile(0.99, HTTPClientDuration, sel, "job, "+LabelServerAddr), "{{job}} → {{" + LabelServerAddr + "}}", true},
				}},
			}
		},
	},
	{
		UID: "rca-login-database", Title: "Login / database pool exhaustion (RED)",
		Entry:      "user",
		Services:   []string{"user", "database", "token"},
		DBServices: []string{"database"},
		extra: func(sel string) []panelSpec {
			m := ServiceMetrics
			return []panelSpec{
				{"Token generation duration", "s", quantileTargets(m.TokenGenerationDuration, `job="token"`, "job", "{{job}}")},
				{"Token generation failures", "reqps", []promTarget{
					{fmt.Sprintf("sum(rate(%s[%s]))", m.TokenGenerationFailures, rateInterval), "failures", false},
				}},
				{"Outbound call latency p99", "s", []promTarget{
					{quantile(0.99, HTTPClientDuration, sel, "job, "+LabelServerAddr), "{{job}} → {{" + LabelServerAddr + "}}", true},
				}},
			}
		},
	},
	{
		UID: "rca-catalog", Title: "Catalog slow query (RED)",
		Entry:      "catalog",
		Services:   []string{"catalog", "database"},
		DBServices: []string{"catalog", "database"},
		extra: func(sel string) []panelSpec {
			return []panelSpec{
				{"Latency by route p99", "s", []promTarget{
					{quantile(0.99, HTTPServerDuration, sel, "job, "+LabelRoute), "{{job}} {{" + LabelRoute + "}}", true},
				}},
			}
		},
	},
}

func quantileTargets(histogram, sel, by, legend string) []promTarget {
	var out []promTarget
	for _, q := range []float64{0.5, 0.95, 0.99} {
		out = append(out, promTarget{quantile(q, histogram, sel, by), fmt.Sprintf("p%g %s", q*100, legend), true})
	}
	return out
}

// redPanels are the RED and saturation panels of a scenario, in display order.
func redPanels(s Scenario) []panelSpec {
	sel := jobSelector(s.Services)
	dbSel := jobSelector(s.DBServices)
	count := HTTPServerDuration + "_count"
	panels := []panelSpec{
		{"Server latency (p50/p95/p99) by service", "s", quantileTargets(HTTPServerDuration, sel, "job", "{{job}}")},
		{"Error rate (5xx share) by service", "percentunit", []promTarget{{
			fmt.Sprintf(`sum by (job) (rate(%s{%s, %s=~"5.."}[%s])) / sum by (job) (%s)`,
				count, sel, LabelStatusCode, rateInterval, rate(count, sel)),
			"{{job}}", false,
		}}},
		{"Throughput by service and route", "reqps", []promTarget{{
			fmt.Sprintf("sum by (job, %s) (%s)", LabelRoute, rate(count, sel)), "{{job}} {{" + LabelRoute + "}}", false,
		}}},
		{"Responses by status code", "reqps", []promTarget{{
			fmt.Sprintf("sum by (job, %s) (%s)", LabelStatusCode, rate(count, sel)), "{{job}} {{" + LabelStatusCode + "}}", false,
		}}},
		{"Database operation latency p99", "s", []promTarget{
			{quantile(0.99, DBOperationDuration, dbSel, "job, "+LabelDBOp), "{{job}} {{" + LabelDBOp + "}}", true},
		}},
		{"Connection pool saturation (used / total)", "percentunit", []promTarget{{
			fmt.Sprintf(`sum by (job, %[1]s) (%[2]s{%[3]s, %[4]s="used"}) / sum by (job, %[1]s) (%[2]s{%[3]s})`,
				LabelPoolName, DBConnectionCount, dbSel, LabelPoolState),
			"{{job}} {{" + LabelPoolName + "}}", false,
		}}},
		{"Connection pool wait time p99", "s", []promTarget{
			{quantile(0.99, DBConnectionWait, dbSel, "job, "+LabelPoolName), "{{job}} {{" + LabelPoolName + "}}", true},
		}},
		{"Connection pool timeouts", "reqps", []promTarget{{
			fmt.Sprintf("sum by (job, %s) (%s)", LabelPoolName, rate(DBConnectionTimeouts, dbSel)), "{{job}} {{" + LabelPoolName + "}}", false,
		}}},
	}
	return append(panels, s.extra(sel)...)
}

func buildPanels(specs []panelSpec) []*timeseries.PanelBuilder {
	out := make([]*timeseries.PanelBuilder, 0, len(specs))
	for _, p := range specs {
		var ts []*prometheus.DataqueryBuilder
		for i, t := range p.targets {
			ts = append(ts, promQuery(string(rune('A'+i)), t.expr, t.legend, t.exemplar))
		}
		out = append(out, tsPanel(p.title, p.unit, 12, 8, ts...))
	}
	return out
}

func redDashboard(s Scenario) (dashboard.Dashboard, error) {
	b := dashboard.NewDashboardBuilder(s.Title).
		Uid(s.UID).
		Tags([]string{"otelcol-rca", "red"}).
		Refresh("10s").
		Time("now-30m", "now").
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Annotations(incidentAnnotations()).
		Link(dashboard.NewDashboardLinkBuilder("Incidents").
			Type(dashboard.DashboardLinkTypeLink).
			Url("/d/" + IncidentsDashboard).
			KeepTime(true).
			IncludeVars(false)).
		WithRow(rcaRow("RED: " + s.Entry + " and downstream"))
	for _, p := range buildPanels(redPanels(s)) {
		b.WithPanel(p)
	}
	b.WithRow(rcaRow("Root cause analysis")).
		WithPanel(incidentCountPanel(fmt.Sprintf(`%s=~"%s"`, LabelCulprit, strings.Join(s.Services, "|")))).
		WithPanel(activeIncidentsPanel())
	return b.Build()
}

func allServices() []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range Scenarios {
		for _, svc := range s.Services {
			if !seen[svc] {
				seen[svc] = true
				out = append(out, svc)
			}
		}
	}
	return out
}

func incidentsDashboard() (dashboard.Dashboard, error) {
	sel := jobSelector(allServices())
	count := HTTPServerDuration + "_count"
	variable := dashboard.NewQueryVariableBuilder("incident").
		Label("Incident").
		Datasource(incidentsDS).
		Query(dashboard.StringOrMap{String: cog.ToPtr(fmt.Sprintf(`{"find": "terms", "field": %q, "query": %q}`, FieldIncidentID, isIncident))}).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalDesc).
		IncludeAll(true).
		AllValue("*")
	b := dashboard.NewDashboardBuilder("Incidents").
		Uid(IncidentsDashboard).
		Description("Incidents found by the otelcol-rca rootcause processor, with the telemetry that explains them.").
		Tags([]string{"otelcol-rca", "incidents"}).
		Refresh("10s").
		Time("now-1h", "now").
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Annotations(incidentAnnotations()).
		WithVariable(variable).
		WithRow(rcaRow("Incidents")).
		WithPanel(incidentTable()).
		WithPanel(activeIncidentsPanel()).
		WithPanel(incidentCountPanel(fmt.Sprintf(`%s!=""`, LabelCulprit))).
		WithRow(rcaRow("Symptoms across services"))
	for _, p := range buildPanels([]panelSpec{
		{"Server latency p99 by service", "s", []promTarget{{quantile(0.99, HTTPServerDuration, sel, "job"), "{{job}}", true}}},
		{"Error rate (5xx share) by service", "percentunit", []promTarget{{
			fmt.Sprintf(`sum by (job) (rate(%s{%s, %s=~"5.."}[%s])) / sum by (job) (%s)`, count, sel, LabelStatusCode, rateInterval, rate(count, sel)),
			"{{job}}", false,
		}}},
	}) {
		b.WithPanel(p)
	}
	b.WithRow(rcaRow("Logs of the selected incident")).
		WithPanel(incidentLogsPanel("Incident records ($incident)",
			luceneQuery(isIncident, FieldIncidentID+":$incident"), incidentsDS)).
		WithPanel(incidentLogsPanel("Application logs tagged with $incident",
			luceneQuery(FieldIncidentID+":$incident", "NOT "+isIncident), logsDS))
	return b.Build()
}

// All returns every dashboard, keyed by file name, as the JSON Grafana provisions.
func All() (map[string][]byte, error) {
	out := map[string][]byte{}
	add := func(name string, d dashboard.Dashboard, err error) error {
		if err != nil {
			return fmt.Errorf("build %s: %w", name, err)
		}
		raw, err := render(d)
		if err != nil {
			return fmt.Errorf("render %s: %w", name, err)
		}
		out[name] = raw
		return nil
	}
	d, err := incidentsDashboard()
	if err := add("incidents.json", d, err); err != nil {
		return nil, err
	}
	for _, s := range Scenarios {
		d, err := redDashboard(s)
		if err := add(s.UID+".json", d, err); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// render marshals a dashboard and adds the Elasticsearch annotation settings
// the SDK's model does not carry.
func render(d dashboard.Dashboard) ([]byte, error) {
	raw, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if annos, ok := m["annotations"].(map[string]any); ok {
		list, _ := annos["list"].([]any)
		for _, a := range list {
			am, _ := a.(map[string]any)
			name, _ := am["name"].(string)
			for k, v := range esAnnotationFields[name] {
				am[k] = v
			}
		}
	}
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
