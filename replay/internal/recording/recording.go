// Package recording is the shape every replay source produces: telemetry in
// batches ordered by event time, as a live collector would have received it.
package recording // import "github.com/otelcol-rca/otelcol-rca/replay/internal/recording"

import (
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Batch is the telemetry of one step of event time. Any of its signals may be
// empty (zero value or no resources).
type Batch struct {
	// Time is the event time at which the batch would have been sent: the
	// latest timestamp in it (a span's end, a log record's or data point's time).
	Time    time.Time
	Traces  ptrace.Traces
	Logs    plog.Logs
	Metrics pmetric.Metrics
}
