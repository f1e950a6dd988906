// Package httpx holds the HTTP plumbing the services share: an instrumented
// server with graceful shutdown, an instrumented JSON client, and error helpers.
package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Instrumentation carries the providers that otelhttp uses. Nil fields mean the globals.
type Instrumentation struct {
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator
}

func (in Instrumentation) options() []otelhttp.Option {
	var opts []otelhttp.Option
	if in.TracerProvider != nil {
		opts = append(opts, otelhttp.WithTracerProvider(in.TracerProvider))
	}
	if in.MeterProvider != nil {
		opts = append(opts, otelhttp.WithMeterProvider(in.MeterProvider))
	}
	if in.Propagator != nil {
		opts = append(opts, otelhttp.WithPropagators(in.Propagator))
	}
	return opts
}

// Handler wraps a service's mux with otelhttp. Spans are named after the matched
// route pattern ("POST /pay"); health and admin endpoints are not traced.
func (in Instrumentation) Handler(service string, mux *http.ServeMux) http.Handler {
	opts := append(in.options(),
		otelhttp.WithFilter(func(r *http.Request) bool {
			return r.URL.Path != "/healthz" && !strings.HasPrefix(r.URL.Path, "/admin/")
		}),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			if r.Pattern != "" {
				return r.Pattern
			}
			return r.Method
		}),
	)
	return otelhttp.NewHandler(mux, service, opts...)
}

// Client returns an HTTP client whose requests are traced and carry trace context
// and baggage. peer names the service called (the spans' peer.service), which
// matters most when that service exports no telemetry of its own. timeout bounds
// a whole request; zero means no bound beyond the context.
func (in Instrumentation) Client(peer string, timeout time.Duration) *http.Client {
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConns = 256
	base.MaxIdleConnsPerHost = 64
	opts := append(in.options(),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }),
		otelhttp.WithSpanOptions(trace.WithAttributes(attribute.String("peer.service", peer))),
	)
	return &http.Client{Transport: otelhttp.NewTransport(base, opts...), Timeout: timeout}
}

// StatusError is a non-2xx answer from another service.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("status %d: %s", e.Code, strings.TrimSpace(e.Body))
}

// IsTimeout reports whether err is a deadline or network timeout, as opposed to
// an error answer or a cancellation by the caller.
func IsTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// PostJSON sends in as JSON and decodes a 2xx JSON answer into out (unless out is nil).
// A non-2xx answer is a *StatusError.
func PostJSON(ctx context.Context, c *http.Client, url string, header http.Header, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return &StatusError{Code: resp.StatusCode, Body: string(data)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

// DecodeJSON reads a JSON request body into v, answering 400 itself on failure.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	if err := dec.Decode(v); err != nil {
		WriteError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

// WriteJSON answers with v as JSON.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError answers {"error": msg}.
func WriteError(w http.ResponseWriter, code int, msg string) {
	WriteJSON(w, code, map[string]string{"error": msg})
}

// Serve runs srv on listen until ctx is done, then shuts it down gracefully,
// waiting at most grace for in-flight requests.
func Serve(ctx context.Context, logger *slog.Logger, listen string, h http.Handler, grace time.Duration) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", listen, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// Health answers GET /healthz with {"status":"ok"} when check passes and 503 otherwise.
func Health(check func(context.Context) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if check != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := check(ctx); err != nil {
				WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy", "error": err.Error()})
				return
			}
		}
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}

// Tracer returns a tracer of the configured provider, or of the global one.
func (in Instrumentation) Tracer(scope string) trace.Tracer {
	if in.TracerProvider != nil {
		return in.TracerProvider.Tracer(scope)
	}
	return otel.Tracer(scope)
}

// Meter returns a meter of the configured provider, or of the global one.
func (in Instrumentation) Meter(scope string) metric.Meter {
	if in.MeterProvider != nil {
		return in.MeterProvider.Meter(scope)
	}
	return otel.Meter(scope)
}
