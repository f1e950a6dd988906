// Package replay runs recorded telemetry through the rootcause processor, in
// event time and as fast as it can, and reports the incidents it would have
// raised. The processor is hosted in-process through its factory, exactly as
// the collector hosts it (one shared instance behind a traces, a metrics and
// a logs pipeline), so that a replay needs no build of the distribution and
// runs at the processor's own speed.
package replay // import "github.com/otelcol-rca/otelcol-rca/replay"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/metric/noop"
	nooptrace "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor"
	"github.com/otelcol-rca/otelcol-rca/replay/internal/recording"
)

// Batch is the telemetry of one step of event time.
type Batch = recording.Batch

// Incident is one incident record the processor emitted.
type Incident struct {
	// At is the record's time: the event time at which the processor emitted it.
	At               time.Time
	ID               string
	Status           string // open, update, resolved
	Kind             string // error, latency
	CulpritService   string
	CulpritOperation string
	Reason           string
	Candidates       []string
	Scores           []float64
	Affected         []string
	TraceCount       int64
	// Share is the largest share of the culprit's traces the incident hurt.
	Share       float64
	WindowStart time.Time
	WindowEnd   time.Time
}

// Result sums up a replay.
type Result struct {
	// Incidents are the incident records in emission order.
	Incidents []Incident
	// Spans, Logs and DataPoints count what was sent to the processor.
	Spans, Logs, DataPoints int64
	// Elapsed is the processing time the replay took.
	Elapsed time.Duration
}

// Run sends every batch next returns to a new rootcause processor configured
// with cfg, in order, then shuts it down (deciding what it still buffers).
// onIncident, when set, sees each incident record as it is emitted.
func Run(ctx context.Context, cfg *rootcauseprocessor.Config, logger *zap.Logger, next func() (Batch, bool), onIncident func(Incident)) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, fmt.Errorf("rootcause config: %w", err)
	}
	start := time.Now()
	var res Result
	records := &incidentSink{onIncident: onIncident}
	f := rootcauseprocessor.NewFactory()
	set := processor.Settings{
		ID: component.NewID(f.Type()),
		TelemetrySettings: component.TelemetrySettings{
			Logger:         logger,
			MeterProvider:  noop.NewMeterProvider(),
			TracerProvider: nooptrace.NewTracerProvider(),
		},
		BuildInfo: component.NewDefaultBuildInfo(),
	}
	// What the processor forwards is not needed: only its incident records.
	discardTraces, _ := consumer.NewTraces(func(context.Context, ptrace.Traces) error { return nil })
	discardMetrics, _ := consumer.NewMetrics(func(context.Context, pmetric.Metrics) error { return nil })
	incidentLogs, _ := consumer.NewLogs(records.consume)
	tp, err := f.CreateTraces(ctx, set, cfg, discardTraces)
	if err != nil {
		return res, fmt.Errorf("create traces processor: %w", err)
	}
	mp, err := f.CreateMetrics(ctx, set, cfg, discardMetrics)
	if err != nil {
		return res, fmt.Errorf("create metrics processor: %w", err)
	}
	lp, err := f.CreateLogs(ctx, set, cfg, incidentLogs)
	if err != nil {
		return res, fmt.Errorf("create logs processor: %w", err)
	}
	comps := []component.Component{tp, mp, lp}
	host := nopHost{}
	for _, c := range comps {
		if err := c.Start(ctx, host); err != nil {
			return res, fmt.Errorf("start rootcause: %w", err)
		}
	}
	var runErr error
	for {
		if err := ctx.Err(); err != nil {
			runErr = err
			break
		}
		b, ok := next()
		if !ok {
			break
		}
		if err := send(ctx, b, tp, mp, lp, &res); err != nil {
			runErr = err
			break
		}
	}
	// Shutdown in the collector's order: the logs pipeline last, so that the
	// records of the traces decided at shutdown still reach it.
	var errs []error
	for _, c := range comps {
		errs = append(errs, c.Shutdown(ctx))
	}
	res.Incidents = records.take()
	res.Elapsed = time.Since(start)
	return res, errors.Join(append([]error{runErr}, errs...)...)
}

func send(ctx context.Context, b Batch, tp processor.Traces, mp processor.Metrics, lp processor.Logs, res *Result) error {
	// Logs and metrics first: they are the evidence the decisions read (a
	// trace's logs, the CPU reports in effect at its time) and, live, leave
	// the services at about the time of the spans.
	if b.Logs != (plog.Logs{}) && b.Logs.ResourceLogs().Len() > 0 {
		res.Logs += int64(b.Logs.LogRecordCount())
		if err := lp.ConsumeLogs(ctx, b.Logs); err != nil {
			return fmt.Errorf("consume logs: %w", err)
		}
	}
	if b.Metrics != (pmetric.Metrics{}) && b.Metrics.ResourceMetrics().Len() > 0 {
		res.DataPoints += int64(b.Metrics.DataPointCount())
		if err := mp.ConsumeMetrics(ctx, b.Metrics); err != nil {
			return fmt.Errorf("consume metrics: %w", err)
		}
	}
	if b.Traces != (ptrace.Traces{}) && b.Traces.ResourceSpans().Len() > 0 {
		res.Spans += int64(b.Traces.SpanCount())
		if err := tp.ConsumeTraces(ctx, b.Traces); err != nil {
			return fmt.Errorf("consume traces: %w", err)
		}
	}
	return nil
}

type nopHost struct{}

func (nopHost) GetExtensions() map[component.ID]component.Component { return nil }

// incidentSink keeps the rca.incident records of the logs pipeline and
// drops the application logs.
type incidentSink struct {
	onIncident func(Incident)
	mu         sync.Mutex
	incidents  []Incident
}

func (s *incidentSink) consume(_ context.Context, ld plog.Logs) error {
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				if lr.EventName() != rootcauseprocessor.IncidentEventName {
					continue
				}
				in := parseIncident(lr)
				s.mu.Lock()
				s.incidents = append(s.incidents, in)
				s.mu.Unlock()
				if s.onIncident != nil {
					s.onIncident(in)
				}
			}
		}
	}
	return nil
}

func (s *incidentSink) take() []Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.incidents
	s.incidents = nil
	return out
}

// IncidentsOf reads the incident records among ld's log records, in order:
// what a collector's logs pipeline exported (its file exporter's output).
func IncidentsOf(ld plog.Logs) []Incident {
	var s incidentSink
	_ = s.consume(context.Background(), ld)
	return s.take()
}

func parseIncident(lr plog.LogRecord) Incident {
	a := lr.Attributes()
	str := func(k string) string {
		if v, ok := a.Get(k); ok {
			return v.AsString()
		}
		return ""
	}
	at := func(k string) time.Time {
		t, _ := time.Parse(time.RFC3339Nano, str(k))
		return t
	}
	in := Incident{
		At:               lr.Timestamp().AsTime(),
		ID:               str("rca.incident.id"),
		Status:           str("rca.incident.status"),
		Kind:             str("rca.incident.kind"),
		CulpritService:   str("rca.culprit.service"),
		CulpritOperation: str("rca.culprit.operation"),
		Reason:           str("rca.reason"),
		WindowStart:      at("rca.window.start"),
		WindowEnd:        at("rca.window.end"),
	}
	if v, ok := a.Get("rca.trace_count"); ok {
		in.TraceCount = v.Int()
	}
	if v, ok := a.Get("rca.traffic_share"); ok {
		in.Share = v.Double()
	}
	if v, ok := a.Get("rca.candidates"); ok {
		for _, c := range v.Slice().All() {
			in.Candidates = append(in.Candidates, c.Str())
		}
	}
	if v, ok := a.Get("rca.candidate.scores"); ok {
		for _, c := range v.Slice().All() {
			in.Scores = append(in.Scores, c.Double())
		}
	}
	if v, ok := a.Get("rca.affected.services"); ok {
		for _, c := range v.Slice().All() {
			in.Affected = append(in.Affected, c.Str())
		}
	}
	return in
}
