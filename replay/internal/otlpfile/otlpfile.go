// Package otlpfile reads what the collector's file exporter writes: OTLP
// JSON, one export request per line, or OTLP protobuf, each message
// preceded by its length (4 bytes, big-endian), as recording batches.
package otlpfile // import "github.com/otelcol-rca/otelcol-rca/replay/internal/otlpfile"

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-rca/otelcol-rca/replay/internal/recording"
)

// Signal names what a protobuf file holds; JSON lines say it themselves.
type Signal string

const (
	Traces  Signal = "traces"
	Logs    Signal = "logs"
	Metrics Signal = "metrics"
)

// maxLine bounds one JSON line or protobuf message (the file exporter's
// requests are batches; 64 MiB is far above what OTLP receivers accept).
const maxLine = 64 << 20

// ReadJSON reads a file of OTLP JSON lines. Each line is a traces, logs or
// metrics export request, recognized by its first key. Empty lines are skipped.
func ReadJSON(path string) ([]recording.Batch, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var out []recording.Batch
	for line := 1; ; line++ {
		b, err := readLine(r)
		if len(bytes.TrimSpace(b)) > 0 {
			batch, perr := parseJSON(b)
			if perr != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, line, perr)
			}
			out = append(out, batch)
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
	}
}

func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxLine {
			return nil, fmt.Errorf("line longer than %d bytes", maxLine)
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, err
		}
	}
}

func parseJSON(b []byte) (recording.Batch, error) {
	// The first key tells the signal: resourceSpans, resourceLogs or resourceMetrics.
	switch {
	case bytes.Contains(firstKey(b), []byte("resourceSpans")):
		td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(b)
		if err != nil {
			return recording.Batch{}, fmt.Errorf("traces: %w", err)
		}
		return newBatch(td, plog.NewLogs(), pmetric.NewMetrics()), nil
	case bytes.Contains(firstKey(b), []byte("resourceLogs")):
		ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(b)
		if err != nil {
			return recording.Batch{}, fmt.Errorf("logs: %w", err)
		}
		return newBatch(ptrace.NewTraces(), ld, pmetric.NewMetrics()), nil
	case bytes.Contains(firstKey(b), []byte("resourceMetrics")):
		md, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(b)
		if err != nil {
			return recording.Batch{}, fmt.Errorf("metrics: %w", err)
		}
		return newBatch(ptrace.NewTraces(), plog.NewLogs(), md), nil
	default:
		return recording.Batch{}, errors.New("not an OTLP export request: expected resourceSpans, resourceLogs or resourceMetrics")
	}
}

// firstKey returns the JSON object's first key, quotes included.
func firstKey(b []byte) []byte {
	i := bytes.IndexByte(b, '"')
	if i < 0 {
		return nil
	}
	j := bytes.IndexByte(b[i+1:], '"')
	if j < 0 {
		return nil
	}
	return b[i : i+j+2]
}

// ReadProto reads a file of length-prefixed OTLP protobuf messages of one signal.
func ReadProto(path string, signal Signal) ([]recording.Batch, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var out []recording.Batch
	for msg := 1; ; msg++ {
		var size [4]byte
		if _, err := io.ReadFull(r, size[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("%s: message %d: length: %w", path, msg, err)
		}
		n := binary.BigEndian.Uint32(size[:])
		if n > maxLine {
			return nil, fmt.Errorf("%s: message %d: %d bytes is more than %d: not a length-prefixed OTLP file?", path, msg, n, maxLine)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("%s: message %d: truncated: %w", path, msg, err)
		}
		b, err := parseProto(buf, signal)
		if err != nil {
			return nil, fmt.Errorf("%s: message %d: %w", path, msg, err)
		}
		out = append(out, b)
	}
}

func parseProto(buf []byte, signal Signal) (recording.Batch, error) {
	switch signal {
	case Traces:
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(buf)
		return newBatch(td, plog.NewLogs(), pmetric.NewMetrics()), err
	case Logs:
		ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(buf)
		return newBatch(ptrace.NewTraces(), ld, pmetric.NewMetrics()), err
	case Metrics:
		md, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(buf)
		return newBatch(ptrace.NewTraces(), plog.NewLogs(), md), err
	default:
		return recording.Batch{}, fmt.Errorf("unknown signal %q: want traces, logs or metrics", signal)
	}
}

// newBatch dates a batch by its latest timestamp, as the collector that
// wrote the file received it.
func newBatch(td ptrace.Traces, ld plog.Logs, md pmetric.Metrics) recording.Batch {
	var latest int64
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				latest = max(latest, int64(s.EndTimestamp()))
			}
		}
	}
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				latest = max(latest, int64(lr.Timestamp()), int64(lr.ObservedTimestamp()))
			}
		}
	}
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				latest = max(latest, latestPoint(m))
			}
		}
	}
	return recording.Batch{Time: time.Unix(0, latest).UTC(), Traces: td, Logs: ld, Metrics: md}
}

func latestPoint(m pmetric.Metric) int64 {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return latestOf(m.Gauge().DataPoints().All())
	case pmetric.MetricTypeSum:
		return latestOf(m.Sum().DataPoints().All())
	case pmetric.MetricTypeHistogram:
		return latestOf(m.Histogram().DataPoints().All())
	case pmetric.MetricTypeExponentialHistogram:
		return latestOf(m.ExponentialHistogram().DataPoints().All())
	case pmetric.MetricTypeSummary:
		return latestOf(m.Summary().DataPoints().All())
	}
	return 0
}

// latestOf is the latest timestamp of data points of any type.
func latestOf[P interface{ Timestamp() pcommon.Timestamp }](points iter.Seq2[int, P]) int64 {
	var latest int64
	for _, dp := range points {
		latest = max(latest, int64(dp.Timestamp()))
	}
	return latest
}
