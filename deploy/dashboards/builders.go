package dashboards

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/elasticsearch"
	"github.com/grafana/grafana-foundation-sdk/go/logs"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Datasource UIDs, provisioned by grafana/provisioning/datasources/datasources.yaml.
const (
	PrometheusUID      = "prometheus"
	JaegerUID          = "jaeger"
	ESLogsUID          = "es-logs"
	ESIncidentsUID     = "es-incidents"
	IncidentsDashboard = "rca-incidents"
)

var (
	promDS      = dsRef("prometheus", PrometheusUID)
	logsDS      = dsRef("elasticsearch", ESLogsUID)
	incidentsDS = dsRef("elasticsearch", ESIncidentsUID)
)

func dsRef(typ, uid string) common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr(typ), Uid: cog.ToPtr(uid)}
}

// promQuery is a PromQL target; exemplars are requested for histogram queries.
func promQuery(ref, expr, legend string, exemplar bool) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		RefId(ref).
		Datasource(promDS).
		Expr(expr).
		LegendFormat(legend).
		Range().
		Exemplar(exemplar)
}

func tsPanel(title, unit string, w, h uint32, targets ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().
		Title(title).
		Datasource(promDS).
		Unit(unit).
		Span(w).
		Height(h).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		Legend(common.NewVizLegendOptionsBuilder().
			ShowLegend(true).
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom))
	for _, t := range targets {
		p.WithTarget(t)
	}
	return p
}

// Grafana macros in PromQL; ExpandMacros replaces them for tools that are not Grafana.
const rateInterval = "$__rate_interval"

// ExpandMacros substitutes Grafana's interval macros so an expression can be
// parsed by Prometheus or sent to its HTTP API directly.
func ExpandMacros(expr string) string {
	return strings.NewReplacer("$__rate_interval", "1m", "$__interval", "1m", "$__range", "5m").Replace(expr)
}

func rate(metric, selector string) string {
	return fmt.Sprintf("rate(%s{%s}[%s])", metric, selector, rateInterval)
}

// quantile is histogram_quantile over the _bucket series of a histogram.
func quantile(q float64, histogram, selector, by string) string {
	return fmt.Sprintf("histogram_quantile(%g, sum by (le, %s) (%s))", q, by, rate(histogram+"_bucket", selector))
}

func jobSelector(jobs []string) string {
	return fmt.Sprintf(`%s=~"%s"`, LabelJob, strings.Join(jobs, "|"))
}

// luceneQuery joins clauses with AND.
func luceneQuery(clauses ...string) string { return strings.Join(clauses, " AND ") }

func term(field, value string) string { return fmt.Sprintf(`%s:%q`, field, value) }

var isIncident = term(FieldEventName, IncidentEventName)

// incidentAnnotations are the dashboard-wide annotations: Grafana draws
// dashboard annotations on every time-series panel. The Elasticsearch-specific
// fields (timeField, textField, tagsField) are not part of the SDK's model;
// they are added by addESAnnotationFields.
func incidentAnnotations() []cog.Builder[dashboard.AnnotationQuery] {
	mk := func(name, status, color string) cog.Builder[dashboard.AnnotationQuery] {
		return dashboard.NewAnnotationQueryBuilder().
			Name(name).
			Datasource(incidentsDS).
			Enable(true).
			IconColor(color).
			Target(elasticsearch.NewDataqueryBuilder().
				RefId("Anno").
				Query(luceneQuery(isIncident, term(FieldIncidentStatus, status))))
	}
	return []cog.Builder[dashboard.AnnotationQuery]{
		mk("Incidents opened", StatusOpen, "red"),
		mk("Incidents resolved", StatusResolved, "green"),
	}
}

// esAnnotationFields are the Elasticsearch annotation settings per annotation name.
var esAnnotationFields = map[string]map[string]string{
	"Incidents opened":   {"timeField": FieldTimestamp, "textField": FieldReason, "tagsField": FieldCulpritService},
	"Incidents resolved": {"timeField": FieldTimestamp, "textField": FieldReason, "tagsField": FieldCulpritService},
}

// ESAnnotationKeys are the keys added to annotations beyond the SDK model.
var ESAnnotationKeys = []string{"timeField", "textField", "tagsField"}

// jaegerExploreURL opens a trace ID in Grafana Explore with the Jaeger datasource.
func jaegerExploreURL(traceIDExpr string) string {
	panes := fmt.Sprintf(`{"t":{"datasource":%q,"queries":[{"refId":"A","datasource":{"type":"jaeger","uid":%q},"query":"%s"}],"range":{"from":"now-1h","to":"now"}}}`,
		JaegerUID, JaegerUID, traceIDExpr)
	// The variable is substituted after escaping: Grafana interpolates ${...} in
	// the link before following it, and hex trace IDs need no escaping.
	const placeholder = "TRACEIDPLACEHOLDER"
	escaped := url.QueryEscape(strings.Replace(panes, traceIDExpr, placeholder, 1))
	return "/explore?schemaVersion=1&panes=" + strings.Replace(escaped, placeholder, traceIDExpr, 1)
}

func link(title, u string) map[string]any {
	return map[string]any{"title": title, "url": u, "targetBlank": false}
}

func rcaRow(title string) *dashboard.RowBuilder { return dashboard.NewRowBuilder(title) }

func incidentCountPanel(selector string) *timeseries.PanelBuilder {
	return tsPanel("RCA incidents opened, by culprit", "short", 12, 8,
		promQuery("A", fmt.Sprintf("sum by (%s, %s) (increase(%s{%s}[%s]))", LabelCulprit, LabelReason, RCAIncidents, selector, rateInterval),
			"{{"+LabelCulprit+"}} {{"+LabelReason+"}}", false),
	).DrawStyle(common.GraphDrawStyleBars)
}

func activeIncidentsPanel() *timeseries.PanelBuilder {
	return tsPanel("Active incidents", "short", 12, 8,
		promQuery("A", fmt.Sprintf("sum(%s)", RCAIncidentsActive), "active", false))
}

func incidentLogsPanel(title, query string, ds common.DataSourceRef) *logs.PanelBuilder {
	return logs.NewPanelBuilder().
		Title(title).
		Datasource(ds).
		Span(24).
		Height(10).
		ShowTime(true).
		WrapLogMessage(true).
		EnableLogDetails(true).
		SortOrder(common.LogsSortOrderDescending).
		WithTarget(elasticsearch.NewDataqueryBuilder().
			RefId("A").
			Datasource(ds).
			TimeField(FieldTimestamp).
			Query(query).
			Metrics([]elasticsearch.MetricAggregation{{Logs: &elasticsearch.Logs{
				Type: elasticsearch.MetricAggregationTypeLogs, Id: "1",
				Settings: &elasticsearch.ElasticsearchLogsSettings{Limit: cog.ToPtr("500")},
			}}}))
}

// incidentTableColumns are the raw-data columns of the incidents table, in order, with their titles.
var incidentTableColumns = []struct{ Field, Title string }{
	{FieldTimestamp, "Time"},
	{FieldIncidentID, "Incident"},
	{FieldIncidentStatus, "Status"},
	{FieldCulpritService, "Culprit service"},
	{FieldCulpritOperation, "Culprit operation"},
	{FieldDependency, "Dependency"},
	{FieldIncidentKind, "Kind"},
	{FieldReason, "Reason"},
	{FieldConfidence, "Confidence"},
	{FieldTraceCount, "Traces"},
	{FieldTraceIDs, "Trace IDs"},
	{FieldAffectedServices, "Affected services"},
	{FieldTraceID, "Example trace"},
}

func incidentTable() *table.PanelBuilder {
	include := make([]string, 0, len(incidentTableColumns))
	index := map[string]int{}
	for i, c := range incidentTableColumns {
		include = append(include, c.Field)
		index[c.Field] = i
	}
	// Titles and links are overrides by field name rather than an organize
	// rename, so the matchers keep naming the Elasticsearch fields.
	props := map[string][]dashboard.DynamicConfigValue{
		FieldIncidentID: {{Id: "links", Value: []any{
			link("Show logs of incident ${__value.raw}", "/d/"+IncidentsDashboard+"?var-incident=${__value.raw}&${__url_time_range}"),
		}}},
		FieldTraceIDs: {{Id: "links", Value: []any{link("Open trace in Jaeger", jaegerExploreURL("${__value.raw}"))}}},
		FieldTraceID:  {{Id: "links", Value: []any{link("Open trace in Jaeger", jaegerExploreURL("${__value.raw}"))}}},
		FieldConfidence: {
			{Id: "unit", Value: "percentunit"},
			{Id: "custom.cellOptions", Value: map[string]any{"type": "color-background", "mode": "gradient"}},
			{Id: "min", Value: 0},
			{Id: "max", Value: 1},
		},
	}
	p := table.NewPanelBuilder().
		Title("Incidents").
		Description("Incident records written by the rootcause processor (event_name rca.incident), one row per open/update/resolved record. Click an incident ID to filter the logs below; click a trace ID to open it in Jaeger.").
		Datasource(incidentsDS).
		Span(24).
		Height(10).
		Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{}).CountRows(false)).
		WithTarget(elasticsearch.NewDataqueryBuilder().
			RefId("A").
			Datasource(incidentsDS).
			TimeField(FieldTimestamp).
			Query(isIncident).
			Metrics([]elasticsearch.MetricAggregation{{RawData: &elasticsearch.RawData{
				Type: elasticsearch.MetricAggregationTypeRawData, Id: "1",
				Settings: &elasticsearch.ElasticsearchRawDataSettings{Size: cog.ToPtr("500")},
			}}})).
		WithTransformation(dashboard.DataTransformerConfig{
			Id: "organize",
			Options: map[string]any{
				"includeByName": boolSet(include),
				"indexByName":   index,
			},
		})
	for _, c := range incidentTableColumns {
		p.OverrideByName(c.Field, append([]dashboard.DynamicConfigValue{{Id: "displayName", Value: c.Title}}, props[c.Field]...))
	}
	return p
}

func boolSet(keys []string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}
