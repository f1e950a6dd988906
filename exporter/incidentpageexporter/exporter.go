package incidentpageexporter // import "github.com/otelcol-rca/otelcol-rca/exporter/incidentpageexporter"

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/otelcol-rca/otelcol-rca/exporter/incidentpageexporter/internal/metadata"
)

// page owns the store and the HTTP server of one configured exporter; its
// traces and logs exporters start and stop it together (the first start
// listens, the last shutdown closes).
type page struct {
	cfg       *Config
	set       exporter.Settings
	store     *store
	handler   *handler
	telemetry *metadata.TelemetryBuilder
	mu        sync.Mutex
	starts    int
	server    *http.Server
	listener  net.Listener
	done      chan struct{}
}

func newPage(cfg *Config, set exporter.Settings) (*page, error) {
	s := newStore(cfg)
	h, err := newHandler(s, cfg)
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &page{cfg: cfg, set: set, store: s, handler: h, telemetry: tb}, nil
}

func (p *page) start(ctx context.Context, host component.Host) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starts++
	if p.starts > 1 {
		return nil
	}
	ln, err := p.cfg.ToListener(ctx)
	if err != nil {
		return err
	}
	srv, err := p.cfg.ToServer(ctx, host.GetExtensions(), p.set.TelemetrySettings, p.handler)
	if err != nil {
		_ = ln.Close()
		return err
	}
	p.server, p.listener, p.done = srv, ln, make(chan struct{})
	p.set.Logger.Info("incident page serving", zap.String("url", "http://"+ln.Addr().String()+"/"))
	go func() {
		defer close(p.done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.set.Logger.Error("incident page stopped", zap.Error(err))
		}
	}()
	return nil
}

func (p *page) shutdown(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.starts == 0 {
		return nil
	}
	p.starts--
	if p.starts > 0 || p.server == nil {
		return nil
	}
	err := p.server.Shutdown(ctx)
	<-p.done
	p.server = nil
	p.telemetry.Shutdown()
	pagesMu.Lock()
	delete(pages, p.set.ID)
	pagesMu.Unlock()
	return err
}

// addr is where the page listens, once started.
func (p *page) addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.listener == nil {
		return ""
	}
	return p.listener.Addr().String()
}

func (p *page) consumeLogs(ctx context.Context, ld plog.Logs) error {
	if n := p.store.addRecords(ld); n > 0 {
		p.telemetry.ExporterIncidentpageRecordsDropped.Add(ctx, int64(n))
		p.set.Logger.Warn("incident records without an incident ID skipped", zap.Int("records", n))
	}
	return nil
}

func (p *page) consumeTraces(_ context.Context, td ptrace.Traces) error {
	p.store.addTraces(td)
	return nil
}
