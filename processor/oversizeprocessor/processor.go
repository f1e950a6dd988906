package oversizeprocessor // import "github.com/otelcol-rca/otelcol-rca/processor/oversizeprocessor"

import (
	"context"
	"iter"
	"math/bits"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.uber.org/zap"

	"github.com/otelcol-rca/otelcol-rca/processor/oversizeprocessor/internal/metadata"
)

type oversize struct {
	max       int
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	spans     ptrace.ProtoMarshaler
	logs      plog.ProtoMarshaler
}

func newOversize(set processor.Settings, cfg *Config) (*oversize, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &oversize{max: cfg.MaxBytes, logger: set.Logger, telemetry: tb}, nil
}

func (p *oversize) shutdown(context.Context) error {
	p.telemetry.Shutdown()
	return nil
}

// field is the bytes a length-delimited protobuf field of size bytes takes
// in its parent: its tag, its length and itself.
func field(size int) int { return 1 + (bits.Len64(uint64(size)|1)+6)/7 + size }

// alone is the size of a request holding one item of itemSize with its
// scope and resource: envelopes are what the resource's and the scope's
// messages take beyond their children.
func alone(resourceEnvelope, scopeEnvelope, itemSize int) int {
	return field(resourceEnvelope + field(scopeEnvelope+field(itemSize)))
}

// slice is a pdata slice: ResourceSpansSlice, SpanSlice, LogRecordSlice...
type slice[T any] interface {
	All() iter.Seq2[int, T]
	RemoveIf(func(T) bool)
}

// envelope is what a message of size bytes takes beyond its children.
func envelope[T any](size int, children slice[T], childSize func(T) int) int {
	for _, c := range children.All() {
		size -= field(childSize(c))
	}
	return size
}

// dropAlone removes the items too large to send alone under the resource's
// and scope's envelopes, reporting each; it returns how many.
func dropAlone[T any](p *oversize, items slice[T], size func(T) int, resourceEnvelope, scopeEnvelope int, report func(T, int)) int64 {
	var dropped int64
	items.RemoveIf(func(item T) bool {
		n := alone(resourceEnvelope, scopeEnvelope, size(item))
		if n <= p.max {
			return false
		}
		dropped++
		report(item, n)
		return true
	})
	return dropped
}

func (p *oversize) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	var dropped int64
	for _, rs := range td.ResourceSpans().All() {
		rsEnvelope := envelope(p.spans.ResourceSpansSize(rs), rs.ScopeSpans(), p.spans.ScopeSpansSize)
		for _, ss := range rs.ScopeSpans().All() {
			ssEnvelope := envelope(p.spans.ScopeSpansSize(ss), ss.Spans(), p.spans.SpanSize)
			dropped += dropAlone(p, ss.Spans(), p.spans.SpanSize, rsEnvelope, ssEnvelope, func(s ptrace.Span, size int) {
				p.logger.Warn("Dropped a span larger than max_bytes alone: the exporters could not send it",
					zap.Int("bytes", size), zap.Int("max_bytes", p.max), zap.String("trace_id", s.TraceID().String()),
					zap.String("span_id", s.SpanID().String()), zap.String("name", s.Name()))
			})
		}
	}
	if dropped > 0 {
		p.telemetry.ProcessorOversizeDroppedSpans.Add(ctx, dropped)
	}
	return td, nil
}

func (p *oversize) processLogs(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	var dropped int64
	for _, rl := range ld.ResourceLogs().All() {
		rlEnvelope := envelope(p.logs.ResourceLogsSize(rl), rl.ScopeLogs(), p.logs.ScopeLogsSize)
		for _, sl := range rl.ScopeLogs().All() {
			slEnvelope := envelope(p.logs.ScopeLogsSize(sl), sl.LogRecords(), p.logs.LogRecordSize)
			dropped += dropAlone(p, sl.LogRecords(), p.logs.LogRecordSize, rlEnvelope, slEnvelope, func(r plog.LogRecord, size int) {
				p.logger.Warn("Dropped a log record larger than max_bytes alone: the exporters could not send it",
					zap.Int("bytes", size), zap.Int("max_bytes", p.max), zap.String("trace_id", r.TraceID().String()))
			})
		}
	}
	if dropped > 0 {
		p.telemetry.ProcessorOversizeDroppedLogRecords.Add(ctx, dropped)
	}
	return ld, nil
}
