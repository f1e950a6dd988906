// Package svcmetrics holds what the services share to emit the seed scenarios'
// service-specific metrics (payment.requests, order.processing.duration, ...)
// with the names, units, attributes and bucket boundaries that the scenario
// receiver's built-ins use, so that one set of dashboards reads both.
package svcmetrics

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// Bounds are the explicit histogram bucket boundaries in seconds, the scenario
// receiver's (the semantic conventions' HTTP buckets extended to 60 s), so that
// a 10 s+ payment still lands in a bucket of its own and shows in percentiles.
var Bounds = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 15, 20, 30, 60}

// Outcomes, the values of the scenarios' *.outcome attributes.
const (
	Success = "success"
	Failure = "failure"
)

// Outcome is the outcome of a request answered with status: success below 400,
// as the scenario receiver decides it.
func Outcome(status int) string {
	if status < 400 {
		return Success
	}
	return Failure
}

// Duration creates a histogram in seconds with Bounds. The histogram is usable
// even when err is not nil (a no-op one if the meter returned none).
func Duration(m metric.Meter, name, desc string) (metric.Float64Histogram, error) {
	h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
		metric.WithExplicitBucketBoundaries(Bounds...))
	if h == nil {
		h = noop.Float64Histogram{}
	}
	return h, err
}

// Counter creates a monotonic counter. The counter is usable even when err is
// not nil (a no-op one if the meter returned none).
func Counter(m metric.Meter, name, unit, desc string) (metric.Int64Counter, error) {
	c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	if c == nil {
		c = noop.Int64Counter{}
	}
	return c, err
}

// Observe wraps h and calls record once h has answered, with the status it
// answered (200 when it wrote no header) and how long it took in seconds.
func Observe(h http.HandlerFunc, record func(ctx context.Context, status int, seconds float64)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h(sw, r)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		record(r.Context(), status, time.Since(start).Seconds())
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
