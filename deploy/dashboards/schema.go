package dashboards

import "regexp"

// This file is the single source of truth for the Elasticsearch field names the
// dashboards may query. The names follow the rootcause processor's output schema
// (processor/rootcauseprocessor/README.md and output.go: incident records,
// tagged logs) as the
// elasticsearch exporter (contrib v0.148.0) serializes log records in its default
// `otel` mapping mode (internal/serializer/otelserializer/logs.go): record
// attributes under `attributes.`, resource attributes under
// `resource.attributes.`, a string body under `body.text`, the record's event
// name in `event_name`, timestamps in `@timestamp`, IDs as lower-case hex.
// TestElasticsearchFieldsAllowed fails when a query, annotation, table column
// or datasource setting names a field that is not listed here.

// Elasticsearch indices (data streams) the datasources read.
const (
	// LogsIndex matches every log data stream the exporter writes in otel mode
	// (logs-<dataset>.otel-<namespace>), application logs and incident records.
	LogsIndex = "logs-*.otel-*"
	// IncidentsIndex is where incident records are read. Today they land in
	// logs-generic.otel-default with the application logs (the processor's
	// scope name does not match the exporter's /receiver/ routing rule), so
	// every incident query filters on event_name. Once the processor sets the
	// resource attribute data_stream.dataset=rca.incidents on its incident
	// records, they get their own data stream and this can narrow to
	// "logs-rca.incidents.otel-*" (the exporter appends ".otel").
	IncidentsIndex = LogsIndex
)

// Elasticsearch document fields.
const (
	FieldTimestamp   = "@timestamp"
	FieldEventName   = "event_name"
	FieldBody        = "body.text"
	FieldSeverity    = "severity_text"
	FieldTraceID     = "trace_id"
	FieldSpanID      = "span_id"
	FieldServiceName = "resource.attributes.service.name"

	FieldIncidentID       = "attributes.rca.incident.id"
	FieldIncidentStatus   = "attributes.rca.incident.status"
	FieldCulpritService   = "attributes.rca.culprit.service"
	FieldCulpritOperation = "attributes.rca.culprit.operation"
	FieldReason           = "attributes.rca.reason"
	FieldConfidence       = "attributes.rca.confidence"
	FieldCandidates       = "attributes.rca.candidates"
	FieldTraceIDs         = "attributes.rca.trace_ids"
	FieldAffectedServices = "attributes.rca.affected.services"
	FieldWindowStart      = "attributes.rca.window.start"
	FieldWindowEnd        = "attributes.rca.window.end"
	FieldTraceCount       = "attributes.rca.trace_count"
	FieldMatch            = "attributes.rca.match"
	FieldIncidentKind     = "attributes.rca.incident.kind"
	FieldDependency       = "attributes.rca.culprit.dependency"
)

// Values of the schema that queries use.
const (
	IncidentEventName = "rca.incident"
	StatusOpen        = "open"
	StatusResolved    = "resolved"
)

// ElasticsearchFields is the allow-list of fields queries may name.
var ElasticsearchFields = map[string]bool{
	FieldTimestamp: true, FieldEventName: true, FieldBody: true, FieldSeverity: true,
	FieldTraceID: true, FieldSpanID: true, FieldServiceName: true,
	FieldIncidentID: true, FieldIncidentStatus: true, FieldCulpritService: true,
	FieldCulpritOperation: true, FieldReason: true, FieldConfidence: true,
	FieldCandidates: true, FieldTraceIDs: true, FieldAffectedServices: true,
	FieldWindowStart: true, FieldWindowEnd: true, FieldTraceCount: true, FieldMatch: true,
	FieldIncidentKind: true, FieldDependency: true,
}

// luceneField finds field names in Lucene queries: a name followed by a colon.
var luceneField = regexp.MustCompile(`(?:^|[\s(])(?:NOT\s+)?([@A-Za-z_][\w.@]*):`)

// LuceneFields returns the field names a Lucene query string names, in order.
func LuceneFields(q string) []string {
	var out []string
	for _, m := range luceneField.FindAllStringSubmatch(q, -1) {
		out = append(out, m[1])
	}
	return out
}
