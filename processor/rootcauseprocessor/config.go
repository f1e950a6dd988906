package rootcauseprocessor // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor"

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/xconfmap"
)

// Mode is the role of a rootcause processor in a deployment.
type Mode string

const (
	// ModeStandalone does everything in one collector: the default.
	ModeStandalone Mode = "standalone"
	// ModeShard assembles and diagnoses the traces a gateway routes to it by
	// trace ID, tags and forwards them, and writes a verdict per anomalous
	// trace and the traffic of each service to its logs pipelines, for the
	// incident stage, instead of keeping incidents of its own.
	ModeShard Mode = "shard"
	// ModeIncidents is the incident stage: it reads the shards' verdicts and
	// traffic from its logs pipelines and keeps the incidents of every shard:
	// their records, metrics, exemplars and time-window log tags. It takes
	// no traces pipeline.
	ModeIncidents Mode = "incidents"
)

// Config defines the configuration of the rootcause processor.
type Config struct {
	// Mode is the processor's role: standalone, shard or incidents (see the
	// README: scaling out past one collector). Default: standalone.
	Mode Mode `mapstructure:"mode"`

	// DecisionWait is how long after the last span of a trace the processor waits
	// before it diagnoses the trace. Default: 5s.
	DecisionWait time.Duration `mapstructure:"decision_wait"`

	// MaxClockSkew is how far in the future of the collector's clock a span's
	// end time may be and still move the event-time clock (see README: event
	// time). Later timestamps come from a host with a wrong clock; their spans
	// are diagnosed but do not move time. Default: 1m.
	MaxClockSkew time.Duration `mapstructure:"max_clock_skew"`

	// MaxTraces is the maximum number of traces buffered while they wait for their
	// decision. When it is reached the least recently updated trace is evicted:
	// forwarded at once without a diagnosis. It also bounds the traces whose logs
	// are kept as evidence. Default: 50000.
	MaxTraces int `mapstructure:"max_traces"`

	// MaxSpansPerTrace is the maximum number of spans buffered per trace. Further
	// spans are forwarded at once, untagged, and the trace is diagnosed without
	// them. Default: 5000.
	MaxSpansPerTrace int `mapstructure:"max_spans_per_trace"`

	// DecidedCacheSize is the number of decided trace IDs remembered so that late
	// spans join their trace's decision instead of starting a new trace, and so
	// that logs of decided traces are tagged at once instead of waiting
	// log_wait. 0 disables it. Default: 100000.
	DecidedCacheSize int `mapstructure:"decided_cache_size"`

	// Objectives are latency objectives for server spans. A server span slower
	// than the objective of its service and operation breaches it. Operations
	// without an objective use the learned baseline. Default: none.
	Objectives []Objective `mapstructure:"objectives"`

	// Baseline configures the learned latency objectives.
	Baseline BaselineConfig `mapstructure:"baseline"`

	// Storage is the ID of a storage extension (file_storage) that keeps the
	// open incidents and the learned baselines across a restart: the same
	// fault keeps its incident and ID, incidents that ended while the
	// collector was down get their resolved record, and spans are judged at
	// once. Saved every update_interval and at shutdown. An ID that is not
	// among service::extensions fails the start (Validate cannot see them).
	// Default: none (a restart forgets them).
	Storage *component.ID `mapstructure:"storage"`

	// IncidentWindow groups anomalous traces with the same culprit into one
	// incident: a trace joins an open incident when it starts at most this long
	// after the incident's last trace. It is also the time bucket of the
	// incident ID. Default: 1m.
	IncidentWindow time.Duration `mapstructure:"incident_window"`

	// ResolveAfter resolves an incident when no anomalous trace joined it for
	// this long. Default: 2m.
	ResolveAfter time.Duration `mapstructure:"resolve_after"`

	// MinTraces is the number of anomalous traces with the same culprit,
	// within the last incident_window, before an incident is published. A
	// lone failed or slow request is not an incident. Default: 3.
	MinTraces int `mapstructure:"min_traces"`

	// MinShare is the share, in [0, 1], of the traces through the culprit
	// service within the last incident_window that must be anomalous with this
	// culprit before the incident is published, so that a service's usual
	// rate of errors and slow requests never opens one. 0 disables the check.
	// Default: 0.05.
	MinShare float64 `mapstructure:"min_share"`

	// MaxNewServiceIncidents bounds the incidents published within an
	// incident_window whose culprit has never been seen in a normal trace
	// (a deployment brings a few; made-up service names, thousands). The
	// others wait until the budget allows or their service is seen working.
	// Default: 10.
	MaxNewServiceIncidents int `mapstructure:"max_new_service_incidents"`

	// UpdateInterval is the minimum time between two update records of an
	// incident, and the interval of the incident metrics. Default: 30s.
	UpdateInterval time.Duration `mapstructure:"update_interval"`

	// MaxExemplarsPerDataPoint bounds the exemplars the processor adds to one
	// histogram or monotonic sum data point of a service involved in an
	// incident, slowest trace first. Exemplars already on the data point are
	// kept and not counted. 0 disables exemplars. Default: 5.
	MaxExemplarsPerDataPoint int `mapstructure:"max_exemplars_per_data_point"`

	// ExemplarLookback: a cumulative data point gets exemplars of incident
	// traces whose span ended at most this long before the data point's
	// timestamp, or since the previous data point of the same stream when that
	// one is older. Traces are decided decision_wait after their last span, so
	// the lookback lets the next data points carry them. Default: 1m.
	ExemplarLookback time.Duration `mapstructure:"exemplar_lookback"`

	// LogWait is the longest a log record with a trace ID waits for the
	// decision of its trace before it is forwarded untagged. 0 means
	// decision_wait. Default: 0.
	LogWait time.Duration `mapstructure:"log_wait"`

	// MaxHeldLogs bounds the log records waiting for their trace's decision.
	// Beyond it, records are forwarded at once, untagged, and counted. 0
	// disables waiting. Default: 10000.
	MaxHeldLogs int `mapstructure:"max_held_logs"`

	// IncidentRecords configures the rca.incident log records.
	IncidentRecords IncidentRecordsConfig `mapstructure:"incident_records"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// IncidentRecordsConfig configures the incident records.
type IncidentRecordsConfig struct {
	// ResourceAttributes are added to the resource of the incident records,
	// besides service.name. An empty value removes the attribute. Default:
	// data_stream.dataset: rca.incidents, so that the Elasticsearch exporter
	// writes the records to their own data stream (logs-rca.incidents*).
	ResourceAttributes map[string]string `mapstructure:"resource_attributes"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// Objective is the latency objective of a service's operation.
type Objective struct {
	// Service is the service.name of the server span. Required.
	Service string `mapstructure:"service"`
	// Operation is the span name (e.g. "POST /checkout"); empty means every
	// operation of the service.
	Operation string `mapstructure:"operation"`
	// Latency is the longest acceptable duration. Required, positive.
	Latency time.Duration `mapstructure:"latency"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// BaselineConfig configures the learned baselines: per service and operation,
// a streaming quantile sketch (DDSketch, 1% relative accuracy) of the span
// durations of traces judged normal.
type BaselineConfig struct {
	// Quantile of the learned latency a server span is compared with. Default: 0.99.
	Quantile float64 `mapstructure:"quantile"`
	// Multiplier: a server span breaches when it is slower than the quantile
	// times Multiplier. Must be at least 1. Default: 2.
	Multiplier float64 `mapstructure:"multiplier"`
	// MinExcess: ...and slower than the quantile plus MinExcess, so that very
	// fast operations do not alert on tiny absolute changes. Default: 10ms (the publication gate,
	// min_traces and min_share, keeps isolated jitter from opening incidents).
	MinExcess time.Duration `mapstructure:"min_excess"`
	// Warmup is the number of normal observations an operation needs before its
	// learned baseline is used. Default: 50.
	Warmup int `mapstructure:"warmup"`
	// MaxOperations bounds the service/operation pairs learned: beyond it the
	// pair observed least recently is forgotten. Default: 10000.
	MaxOperations int `mapstructure:"max_operations"`
	// MaxOperationsPerService bounds the span names of one service that are
	// learned as operations of their own (beyond its first 32, a name from
	// its second sighting); its other names are learned and judged together
	// as the operation "(other)". Default: 1000.
	MaxOperationsPerService int `mapstructure:"max_operations_per_service"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var (
	_ xconfmap.Validator  = (*Config)(nil)
	_ confmap.Unmarshaler = (*Config)(nil)
)

// Unmarshal refuses a number that does not fit its integer setting before
// decoding: the decoder truncates a fraction (2.5 becomes 2) and wraps a
// number too large for an int (YAML reads 99999999999999999999 as a float),
// and Validate would see only the result.
func (cfg *Config) Unmarshal(conf *confmap.Conf) error {
	if err := errors.Join(wholeNumbers(conf, reflect.TypeFor[Config](), nil)...); err != nil {
		return err
	}
	return conf.Unmarshal(cfg)
}

// wholeNumbers checks the values conf gives the integer fields of struct
// type t, and of its nested structs, path being the keys above them.
// Durations are left to Validate, which names a number without a unit.
func wholeNumbers(conf *confmap.Conf, t reflect.Type, path []string) []error {
	var errs []error
	for f := range t.Fields() {
		tag, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		keys := append(slices.Clone(path), tag)
		switch f.Type.Kind() {
		case reflect.Struct:
			errs = append(errs, wholeNumbers(conf, f.Type, keys)...)
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			if f.Type == reflect.TypeFor[time.Duration]() {
				continue
			}
			if err := wholeNumber(conf.Get(strings.Join(keys, confmap.KeyDelimiter)), f.Type.Bits()); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", strings.Join(keys, "."), err))
			}
		}
	}
	return errs
}

// wholeNumber reports why v, as YAML decoded it, is not a signed integer of
// the given bits; other types are left to the decoder.
func wholeNumber(v any, bits int) error {
	limit := math.Ldexp(1, bits-1) // the smallest value too large
	switch n := v.(type) {
	case float64:
		switch {
		case n != math.Trunc(n):
			return fmt.Errorf("must be a whole number, got %v", n)
		case n >= limit:
			return fmt.Errorf("must be a whole number no larger than %d, got %v", uint64(limit)-1, n)
		case n < -limit:
			return fmt.Errorf("must be a whole number no smaller than -%d, got %v", uint64(limit), n)
		}
	case uint64:
		if n >= uint64(limit) {
			return fmt.Errorf("must be a whole number no larger than %d, got %d", uint64(limit)-1, n)
		}
	}
	return nil
}

// maxEntries is the ceiling of the bounds on traces, decided IDs and held logs.
const maxEntries = 10_000_000

// Validate checks that the configuration is usable.
func (cfg *Config) Validate() error {
	var errs []error
	// A bare number is nanoseconds: "decision_wait: 5" is 5ns, never what
	// was meant. Every duration has a floor far above that, and a ceiling
	// beyond which it holds data or state for no use.
	duration := func(key string, v, floor, ceiling time.Duration) {
		switch {
		case v <= 0:
			errs = append(errs, fmt.Errorf("%s: must be positive, got %v", key, v))
		case v < floor:
			errs = append(errs, fmt.Errorf("%s: %v is below %v; a number without a unit is nanoseconds: write the unit (e.g. 5s)", key, v, floor))
		case v > ceiling:
			errs = append(errs, fmt.Errorf("%s: must be at most %v, got %v", key, ceiling, v))
		}
	}
	// Sizes are bounds, never preallocated; above their ceiling a bound
	// stops protecting memory (at 100 B or more per entry, 10M entries is 1
	// GB and more) and memory_limiter refuses data first.
	size := func(key string, v, floor, ceiling int) {
		switch {
		case v < floor:
			errs = append(errs, fmt.Errorf("%s: must be at least %d, got %d", key, floor, v))
		case v > ceiling:
			errs = append(errs, fmt.Errorf("%s: must be at most %d, got %d", key, ceiling, v))
		}
	}
	switch cfg.Mode {
	case ModeStandalone, ModeShard, ModeIncidents:
	default:
		errs = append(errs, fmt.Errorf("mode: must be %s, %s or %s, got %q", ModeStandalone, ModeShard, ModeIncidents, cfg.Mode))
	}
	duration("decision_wait", cfg.DecisionWait, time.Millisecond, 10*time.Minute)
	duration("max_clock_skew", cfg.MaxClockSkew, time.Millisecond, 24*time.Hour)
	size("max_traces", cfg.MaxTraces, 1, maxEntries)
	size("max_spans_per_trace", cfg.MaxSpansPerTrace, 1, 1_000_000)
	size("decided_cache_size", cfg.DecidedCacheSize, 0, maxEntries)
	for i, o := range cfg.Objectives {
		if o.Service == "" {
			errs = append(errs, fmt.Errorf("objectives[%d].service: must not be empty", i))
		}
		duration(fmt.Sprintf("objectives[%d].latency", i), o.Latency, time.Microsecond, 24*time.Hour)
	}
	b := cfg.Baseline
	if b.Quantile <= 0 || b.Quantile >= 1 {
		errs = append(errs, fmt.Errorf("baseline.quantile: must be in (0, 1), got %v", b.Quantile))
	}
	if b.Multiplier < 1 {
		errs = append(errs, fmt.Errorf("baseline.multiplier: must be at least 1, got %v", b.Multiplier))
	}
	if b.MinExcess < 0 {
		errs = append(errs, fmt.Errorf("baseline.min_excess: must not be negative, got %v", b.MinExcess))
	}
	size("baseline.warmup", b.Warmup, 1, maxEntries)
	size("baseline.max_operations", b.MaxOperations, 1, 1_000_000)
	size("baseline.max_operations_per_service", b.MaxOperationsPerService, 1, 1_000_000)
	duration("incident_window", cfg.IncidentWindow, time.Second, 24*time.Hour)
	duration("resolve_after", cfg.ResolveAfter, time.Millisecond, 7*24*time.Hour)
	duration("update_interval", cfg.UpdateInterval, time.Millisecond, 24*time.Hour)
	if cfg.MinTraces < 1 {
		errs = append(errs, fmt.Errorf("min_traces: must be at least 1, got %d", cfg.MinTraces))
	}
	size("max_new_service_incidents", cfg.MaxNewServiceIncidents, 1, maxEntries)
	if cfg.MinShare < 0 || cfg.MinShare > 1 {
		errs = append(errs, fmt.Errorf("min_share: must be within [0, 1], got %v", cfg.MinShare))
	}
	if cfg.MaxExemplarsPerDataPoint < 0 {
		errs = append(errs, fmt.Errorf("max_exemplars_per_data_point: must not be negative, got %d", cfg.MaxExemplarsPerDataPoint))
	}
	duration("exemplar_lookback", cfg.ExemplarLookback, time.Millisecond, 24*time.Hour)
	switch {
	case cfg.LogWait < 0:
		errs = append(errs, fmt.Errorf("log_wait: must not be negative, got %v", cfg.LogWait))
	case cfg.LogWait > 0:
		duration("log_wait", cfg.LogWait, time.Millisecond, 10*time.Minute)
	}
	if cfg.MaxHeldLogs < 0 {
		errs = append(errs, fmt.Errorf("max_held_logs: must not be negative, got %d", cfg.MaxHeldLogs))
	} else {
		size("max_held_logs", cfg.MaxHeldLogs, 0, maxEntries)
	}
	for k := range cfg.IncidentRecords.ResourceAttributes {
		if k == "" || k == "service.name" {
			errs = append(errs, fmt.Errorf("incident_records.resource_attributes: key %q not allowed", k))
		}
	}
	return errors.Join(errs...)
}

// logWait is the effective log_wait.
func (cfg *Config) logWait() time.Duration {
	if cfg.LogWait > 0 {
		return cfg.LogWait
	}
	return cfg.DecisionWait
}
