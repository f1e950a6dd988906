// Package telemetry sets up the OpenTelemetry SDK of a service from the standard
// OTEL_* environment variables: traces, metrics (including Go runtime metrics) and
// logs, W3C trace-context and baggage propagation, and an slog logger whose records
// go both to stderr and, with their trace context, to the OTel log pipeline.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/contrib/instrumentation/runtime"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	lognoop "go.opentelemetry.io/otel/log/noop"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Options configures Setup.
type Options struct {
	// ServiceName is the service.name used when OTEL_SERVICE_NAME and
	// OTEL_RESOURCE_ATTRIBUTES do not set one. Required.
	ServiceName string
	// Stderr receives the human-readable copy of every log record. Nil means os.Stderr.
	Stderr io.Writer
	// Level is the minimum level of the stderr copy. The zero value is slog.LevelInfo.
	Level slog.Level
	// Disabled turns off export entirely (no-op providers), as OTEL_SDK_DISABLED=true does.
	// Logs still go to Stderr.
	Disabled bool
}

// Telemetry holds the providers a service instruments itself with.
type Telemetry struct {
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	LoggerProvider otellog.LoggerProvider
	Propagator     propagation.TextMapPropagator

	shutdowns []func(context.Context) error
}

// Setup builds the providers, installs them as the OTel globals and returns them.
// The caller must call Shutdown before exiting so that buffered telemetry is flushed.
func Setup(ctx context.Context, opts Options) (*Telemetry, error) {
	if opts.ServiceName == "" {
		return nil, errors.New("telemetry: service name is required")
	}
	stderr := opts.Stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	t := &Telemetry{Propagator: prop}
	text := slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: opts.Level})

	disabled, err := sdkDisabled(opts.Disabled)
	if err != nil {
		return nil, err
	}
	if disabled {
		t.TracerProvider = tracenoop.NewTracerProvider()
		t.MeterProvider = metricnoop.NewMeterProvider()
		t.LoggerProvider = lognoop.NewLoggerProvider()
		t.Logger = slog.New(text).With("service", opts.ServiceName)
		otel.SetTextMapPropagator(prop)
		return t, nil
	}

	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", opts.ServiceName)),
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
		resource.WithProcessPID(),
		resource.WithHost(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}

	spanExp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("telemetry: span exporter: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(spanExp))
	t.shutdowns = append(t.shutdowns, tp.Shutdown)

	reader, err := autoexport.NewMetricReader(ctx)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("telemetry: metric reader: %w", err), t.Shutdown(ctx))
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(reader))
	t.shutdowns = append(t.shutdowns, mp.Shutdown)

	logExp, err := autoexport.NewLogExporter(ctx)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("telemetry: log exporter: %w", err), t.Shutdown(ctx))
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewBatchProcessor(logExp)))
	t.shutdowns = append(t.shutdowns, lp.Shutdown)

	if err := runtime.Start(runtime.WithMeterProvider(mp)); err != nil {
		return nil, errors.Join(fmt.Errorf("telemetry: runtime metrics: %w", err), t.Shutdown(ctx))
	}

	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	otel.SetTextMapPropagator(prop)
	t.TracerProvider, t.MeterProvider, t.LoggerProvider = tp, mp, lp
	bridge := otelslog.NewHandler("github.com/otelcol-rca/otelcol-rca/services/"+opts.ServiceName,
		otelslog.WithLoggerProvider(lp))
	t.Logger = slog.New(slog.NewMultiHandler(text, bridge))
	return t, nil
}

// Shutdown flushes and stops every provider; it is safe to call more than once.
// The logger provider is shut down last so that records logged while the other
// providers flush are still exported.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, fn := range t.shutdowns {
		if err := fn(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	t.shutdowns = nil
	return errors.Join(errs...)
}

func sdkDisabled(forced bool) (bool, error) {
	if forced {
		return true, nil
	}
	v := strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED"))
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("telemetry: OTEL_SDK_DISABLED: want true or false, got %q", v)
	}
	return b, nil
}
