package dashboards

// Prometheus names of the metrics the dashboards query, as the prometheus
// exporter (contrib v0.148.0, default translation UnderscoreEscapingWithSuffixes)
// exposes them: dots become underscores, the unit is appended ("s" ->
// "_seconds", annotations such as "{request}" are dropped), monotonic sums get
// "_total", histograms expose _bucket/_sum/_count. service.name becomes the
// `job` label (service.namespace/service.name when a namespace is set), which
// survives the scrape only with honor_labels: true (deploy/prometheus).

// Semantic-convention metrics: the dashboards depend on these first.
const (
	HTTPServerDuration   = "http_server_request_duration_seconds"
	HTTPClientDuration   = "http_client_request_duration_seconds"
	DBOperationDuration  = "db_client_operation_duration_seconds"
	DBConnectionCount    = "db_client_connection_count"
	DBConnectionWait     = "db_client_connection_wait_time_seconds"
	DBConnectionTimeouts = "db_client_connection_timeouts_total"
)

// Metrics of the rootcause processor (resource service.name otelcol-rca).
const (
	RCAIncidents       = "rca_incidents_total"
	RCAIncidentsActive = "rca_incidents_active"
)

// Labels (translated attribute names).
const (
	LabelJob        = "job"
	LabelRoute      = "http_route"
	LabelMethod     = "http_request_method"
	LabelStatusCode = "http_response_status_code"
	LabelServerAddr = "server_address"
	LabelDBOp       = "db_operation_name"
	// LabelPaymentOutcome is success or failure on PaymentRequests.
	LabelPaymentOutcome = "payment_outcome"
	LabelPoolName       = "db_client_connection_pool_name"
	LabelPoolState      = "db_client_connection_state"
	LabelCulprit        = "rca_culprit_service"
	LabelReason         = "rca_reason"
)

// ServiceMetrics are the service-specific metric names, the seed scenarios'
// metrics as the scenario receiver's built-ins emit them (payment.requests
// with payment.outcome, payment.processing.duration, ...). Adjust them here
// and run `go run ./cmd/gendashboards`.
var ServiceMetrics = struct {
	PaymentRequests           string // counter, by LabelPaymentOutcome
	PaymentProcessingDuration string // histogram base name, seconds
	PaymentRetries            string // counter
	PaymentTimeouts           string // counter
	OrderProcessingDuration   string // histogram base name, seconds
	TokenGenerationDuration   string // histogram base name, seconds
	TokenGenerationFailures   string // counter
}{
	PaymentRequests:           "payment_requests_total",
	PaymentProcessingDuration: "payment_processing_duration_seconds",
	PaymentRetries:            "payment_retries_total",
	PaymentTimeouts:           "payment_timeouts_total",
	OrderProcessingDuration:   "order_processing_duration_seconds",
	TokenGenerationDuration:   "token_generation_duration_seconds",
	TokenGenerationFailures:   "token_generation_failures_total",
}
