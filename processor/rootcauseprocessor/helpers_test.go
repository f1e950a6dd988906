package rootcauseprocessor

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/metadatatest"
)

// fakeClock is the injectable clock of the tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// harness drives one shared processor with traces, metrics and logs
// pipelines, a fake clock and manual ticks.
type harness struct {
	t       testing.TB
	clock   *fakeClock
	shared  *sharedProcessor
	traces  *tracesProcessor
	metrics *metricsProcessor
	logs    *logsProcessor
	tsink   *consumertest.TracesSink
	msink   *consumertest.MetricsSink
	lsink   *consumertest.LogsSink
	tel     *componenttest.Telemetry
}

var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newHarness(t testing.TB, cfg *Config) *harness {
	t.Helper()
	return newHarnessOn(t, cfg, componenttest.NewNopHost())
}

// newHarnessOn starts the harness's pipelines on host (its extensions).
func newHarnessOn(t testing.TB, cfg *Config, host component.Host) *harness {
	t.Helper()
	tel := componenttest.NewTelemetry()
	set := metadatatest.NewSettings(tel)
	h := &harness{
		t: t, clock: &fakeClock{now: epoch}, tel: tel,
		tsink: new(consumertest.TracesSink), msink: new(consumertest.MetricsSink), lsink: new(consumertest.LogsSink),
	}
	f := &factory{instances: map[component.ID]*sharedProcessor{}}
	p, err := f.instance(set, cfg)
	require.NoError(t, err)
	p.now, p.manualTicks = h.clock.Now, true
	h.shared = p
	h.traces = p.tracesProcessor(h.tsink)
	h.metrics = p.metricsProcessor(h.msink)
	h.logs = p.logsProcessor(h.lsink)
	for _, c := range []component.Component{h.traces, h.metrics, h.logs} {
		require.NoError(t, c.Start(context.Background(), host))
	}
	t.Cleanup(func() {
		for _, c := range []component.Component{h.traces, h.metrics, h.logs} {
			require.NoError(t, c.Shutdown(context.Background()))
		}
		require.NoError(t, tel.Shutdown(context.Background()))
	})
	return h
}

func testConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Baseline.Warmup = 20
	cfg.IncidentWindow = 30 * time.Second
	cfg.ResolveAfter = 20 * time.Second
	cfg.UpdateInterval = 5 * time.Second
	// Most tests look at one mechanism with single-trace incidents; the
	// publication gate has tests of its own.
	cfg.MinTraces, cfg.MinShare = 1, 0
	return cfg
}

// advance moves the clock in steps of at most a tick, ticking after each.
func (h *harness) advance(d time.Duration) {
	step := h.shared.tickInterval()
	for d > 0 {
		s := min(step, d)
		h.clock.Advance(s)
		h.shared.tick(context.Background())
		d -= s
	}
}

func (h *harness) consume(td ptrace.Traces, ld plog.Logs) {
	if ld.LogRecordCount() > 0 {
		require.NoError(h.t, h.logs.ConsumeLogs(context.Background(), ld))
	}
	require.NoError(h.t, h.traces.ConsumeTraces(context.Background(), td))
}

// incidentRecords returns the rca.incident records received so far.
func (h *harness) incidentRecords() []plog.LogRecord {
	var out []plog.LogRecord
	for _, ld := range h.lsink.AllLogs() {
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					if lr.EventName() == IncidentEventName {
						out = append(out, lr)
					}
				}
			}
		}
	}
	return out
}

// traceBuilder writes one realistic trace: a ResourceSpans per service, as
// the services' SDKs would export them, and the trace-linked logs.
type traceBuilder struct {
	id    pcommon.TraceID
	start time.Time
	td    ptrace.Traces
	ld    plog.Logs
	rs    map[string]ptrace.SpanSlice
	rl    map[string]plog.LogRecordSlice
	seq   uint64
	seed  uint64
}

func newTrace(n uint64, start time.Time) *traceBuilder {
	b := &traceBuilder{
		start: start, td: ptrace.NewTraces(), ld: plog.NewLogs(),
		rs: map[string]ptrace.SpanSlice{}, rl: map[string]plog.LogRecordSlice{}, seed: n,
	}
	binary.BigEndian.PutUint64(b.id[:8], 0x5eed)
	binary.BigEndian.PutUint64(b.id[8:], n)
	return b
}

type spanOpt func(ptrace.Span)

func errorStatus(msg string) spanOpt {
	return func(s ptrace.Span) { s.Status().SetCode(ptrace.StatusCodeError); s.Status().SetMessage(msg) }
}

func attr(k string, v any) spanOpt {
	return func(s ptrace.Span) {
		switch v := v.(type) {
		case string:
			s.Attributes().PutStr(k, v)
		case int:
			s.Attributes().PutInt(k, int64(v))
		}
	}
}

func exception(typ, msg string) spanOpt {
	return func(s ptrace.Span) {
		e := s.Events().AppendEmpty()
		e.SetName("exception")
		e.SetTimestamp(s.EndTimestamp())
		e.Attributes().PutStr("exception.type", typ)
		e.Attributes().PutStr("exception.message", msg)
	}
}

func dbAttrs(op, collection string) spanOpt {
	return func(s ptrace.Span) {
		s.Attributes().PutStr("db.system.name", "postgresql")
		s.Attributes().PutStr("db.operation.name", op)
		s.Attributes().PutStr("db.collection.name", collection)
		s.Attributes().PutStr("server.address", "postgres")
	}
}

// span adds a span of service from start to end milliseconds after the trace start.
func (b *traceBuilder) span(parent *ptrace.Span, service, name string, kind ptrace.SpanKind, startMs, endMs float64, opts ...spanOpt) ptrace.Span {
	ss, ok := b.rs[service]
	if !ok {
		rs := b.td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		rs.Resource().Attributes().PutStr("service.version", "1.4.2")
		rs.Resource().Attributes().PutStr("deployment.environment.name", "test")
		sc := rs.ScopeSpans().AppendEmpty()
		sc.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
		ss = sc.Spans()
		b.rs[service] = ss
	}
	s := ss.AppendEmpty()
	b.seq++
	var sid pcommon.SpanID
	binary.BigEndian.PutUint64(sid[:], b.seed<<16|b.seq)
	s.SetTraceID(b.id)
	s.SetSpanID(sid)
	if parent != nil {
		s.SetParentSpanID(parent.SpanID())
	}
	s.SetName(name)
	s.SetKind(kind)
	ms := func(v float64) pcommon.Timestamp {
		return pcommon.NewTimestampFromTime(b.start.Add(time.Duration(v * float64(time.Millisecond))))
	}
	s.SetStartTimestamp(ms(startMs))
	s.SetEndTimestamp(ms(endMs))
	switch kind {
	case ptrace.SpanKindServer:
		s.Attributes().PutStr("http.request.method", "POST")
		s.Attributes().PutStr("url.path", "/")
		s.Attributes().PutInt("http.response.status_code", 200)
	case ptrace.SpanKindClient:
		s.Attributes().PutStr("http.request.method", "POST")
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func (b *traceBuilder) log(service string, sev plog.SeverityNumber, body string, span ptrace.Span) {
	lrs, ok := b.rl[service]
	if !ok {
		rl := b.ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", service)
		lrs = rl.ScopeLogs().AppendEmpty().LogRecords()
		b.rl[service] = lrs
	}
	lr := lrs.AppendEmpty()
	lr.SetTimestamp(span.EndTimestamp())
	lr.SetSeverityNumber(sev)
	lr.SetSeverityText(sev.String())
	lr.Body().SetStr(body)
	lr.SetTraceID(b.id)
	lr.SetSpanID(span.SpanID())
}

// jitter returns v scaled by a deterministic factor in [0.8, 1.2).
func jitter(r *rand.Rand, v float64) float64 { return v * (0.8 + 0.4*r.Float64()) }

const (
	server = ptrace.SpanKindServer
	client = ptrace.SpanKindClient
)

func http500(msg string) spanOpt {
	return func(s ptrace.Span) {
		errorStatus(msg)(s)
		s.Attributes().PutInt("http.response.status_code", 500)
	}
}

// checkout builds seed S1: order → payment (database, payment gateway) → inventory.
func checkout(n uint64, start time.Time, r *rand.Rand, faulty bool) *traceBuilder {
	b := newTrace(n, start)
	if !faulty {
		db := jitter(r, 10)
		gw := jitter(r, 35)
		pay := 5 + db + gw
		inv := jitter(r, 30)
		total := 10 + pay + inv
		order := b.span(nil, "order", "POST /checkout", server, 0, total)
		c := b.span(&order, "order", "POST /pay", client, 3, 5+pay)
		p := b.span(&c, "payment", "POST /pay", server, 4, 4+pay)
		b.span(&p, "payment", "SELECT accounts", client, 5, 5+db, dbAttrs("SELECT", "accounts"))
		b.span(&p, "payment", "POST /authorize", client, 6+db, 6+db+gw, attr("peer.service", "payment-gateway"))
		ci := b.span(&order, "order", "POST /reserve", client, 7+pay, 7+pay+inv)
		i := b.span(&ci, "inventory", "POST /reserve", server, 8+pay, 6+pay+inv)
		b.span(&i, "inventory", "UPDATE stock", client, 9+pay, 4+pay+inv, dbAttrs("UPDATE", "stock"))
		return b
	}
	order := b.span(nil, "order", "POST /checkout", server, 0, 3200, http500("payment failed"))
	c := b.span(&order, "order", "POST /pay", client, 3, 2100, http500("500 Internal Server Error"))
	p := b.span(&c, "payment", "POST /pay", server, 4, 2095, http500("payment gateway authentication failed"))
	db := b.span(&p, "payment", "SELECT accounts", client, 5, 1010, dbAttrs("SELECT", "accounts"),
		errorStatus("connection timeout"), exception("*pq.Error", "connection timeout"))
	g1 := b.span(&p, "payment", "POST /authorize", client, 1012, 1540, attr("peer.service", "payment-gateway"),
		errorStatus("connection timeout"), attr("error.type", "timeout"))
	b.span(&p, "payment", "POST /authorize", client, 1545, 2090, attr("peer.service", "payment-gateway"),
		errorStatus("connection timeout"), attr("error.type", "timeout"))
	ci := b.span(&order, "order", "POST /reserve", client, 2102, 3195, errorStatus("context deadline exceeded"), attr("error.type", "timeout"))
	i := b.span(&ci, "inventory", "POST /reserve", server, 2104, 2600)
	b.span(&i, "inventory", "UPDATE stock", client, 2105, 2590, dbAttrs("UPDATE", "stock"))
	b.log("payment", plog.SeverityNumberError, "Database connection timeout during payment gateway authentication.", db)
	b.log("payment", plog.SeverityNumberInfo, "Retrying payment gateway request due to connection timeout.", g1)
	b.log("order", plog.SeverityNumberInfo, "Payment service timeout, retrying.", c)
	b.log("order", plog.SeverityNumberWarn, "Order processing delayed due to payment timeout.", order)
	return b
}

// login builds seed S2: user → database service (pool exhausted) → token.
func login(n uint64, start time.Time, r *rand.Rand, faulty bool) *traceBuilder {
	b := newTrace(n, start)
	if !faulty {
		q := jitter(r, 15)
		tok := jitter(r, 12)
		u := b.span(nil, "user", "POST /login", server, 0, 12+q+tok)
		c := b.span(&u, "user", "POST /credentials", client, 2, 6+q)
		d := b.span(&c, "database", "POST /credentials", server, 3, 5+q)
		b.span(&d, "database", "SELECT users", client, 4, 4+q, dbAttrs("SELECT", "users"))
		ct := b.span(&u, "user", "POST /token", client, 8+q, 10+q+tok)
		b.span(&ct, "token", "POST /token", server, 9+q, 9+q+tok)
		return b
	}
	u := b.span(nil, "user", "POST /login", server, 0, 2100, http500("something went wrong"))
	c := b.span(&u, "user", "POST /credentials", client, 2, 2060, http500("500 Internal Server Error"))
	d := b.span(&c, "database", "POST /credentials", server, 3, 2055, http500("query failed"))
	q := b.span(&d, "database", "SELECT users", client, 4, 2050, dbAttrs("SELECT", "users"),
		errorStatus("connection timeout"), exception("context.deadlineExceededError", "timeout waiting for a connection"))
	ct := b.span(&u, "user", "POST /token", client, 2065, 2095, http500("500 Internal Server Error"))
	tk := b.span(&ct, "token", "POST /token", server, 2066, 2093, http500("incomplete user data"))
	b.log("database", plog.SeverityNumberInfo, "Database connection pool reached max connections, waiting.", q)
	b.log("database", plog.SeverityNumberError, "Database connection timeout while querying user credentials.", q)
	b.log("user", plog.SeverityNumberError, "Database query timed out while validating user credentials.", c)
	b.log("token", plog.SeverityNumberError, "Token generation failed because user data was incomplete.", tk)
	return b
}

// catalog builds seed S3: the catalog's product query is slow.
func catalog(n uint64, start time.Time, r *rand.Rand, faulty bool) *traceBuilder {
	b := newTrace(n, start)
	q := jitter(r, 20)
	if faulty {
		q = jitter(r, 800)
	}
	root := b.span(nil, "catalog", "GET /", server, 0, 8+q)
	b.span(&root, "catalog", "SELECT products", client, 3, 3+q, dbAttrs("SELECT", "products"))
	return b
}
