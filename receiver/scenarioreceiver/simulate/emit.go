package simulate // import "github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/simulate"

import (
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

const scopeName = "github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver"

// emitter turns simulated requests into pdata, one resource per service per
// batch, and aggregates the services' metrics like an SDK would.
type emitter struct {
	e      *Engine
	env    string
	traces ptrace.Traces
	logs   plog.Logs
	spans  []ptrace.SpanSlice // per service, this batch
	recs   []plog.LogRecordSlice
	hasS   []bool
	hasL   []bool
	stats  Stats
}

func (m *emitter) init(e *Engine) {
	m.e = e
	m.env = e.c.sc.Environment
	n := len(e.c.services)
	m.spans = make([]ptrace.SpanSlice, n)
	m.recs = make([]plog.LogRecordSlice, n)
	m.hasS = make([]bool, n)
	m.hasL = make([]bool, n)
	for _, s := range e.c.services {
		s.met = newServiceMetrics(s)
	}
}

func (m *emitter) begin() {
	m.traces = ptrace.NewTraces()
	m.logs = plog.NewLogs()
	clear(m.hasS)
	clear(m.hasL)
	m.stats = Stats{}
}

func (m *emitter) finish() (ptrace.Traces, plog.Logs, Stats) {
	return m.traces, m.logs, m.stats
}

func (m *emitter) resource(res pcommon.Resource, s *service) {
	a := res.Attributes()
	a.EnsureCapacity(5)
	a.PutStr("service.name", s.name)
	a.PutStr("service.version", s.version)
	a.PutStr("deployment.environment.name", m.env)
	a.PutStr("telemetry.sdk.name", "opentelemetry")
	a.PutStr("telemetry.sdk.language", "go")
}

func (m *emitter) spanSlice(s *service) ptrace.SpanSlice {
	if !m.hasS[s.idx] {
		rs := m.traces.ResourceSpans().AppendEmpty()
		m.resource(rs.Resource(), s)
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName(scopeName)
		m.spans[s.idx] = ss.Spans()
		m.hasS[s.idx] = true
	}
	return m.spans[s.idx]
}

func (m *emitter) logSlice(s *service) plog.LogRecordSlice {
	if !m.hasL[s.idx] {
		rl := m.logs.ResourceLogs().AppendEmpty()
		m.resource(rl.Resource(), s)
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName(scopeName)
		m.recs[s.idx] = sl.LogRecords()
		m.hasL[s.idx] = true
	}
	return m.recs[s.idx]
}

var severityTexts = map[int]string{1: "TRACE", 5: "DEBUG", 9: "INFO", 13: "WARN", 17: "ERROR", 21: "FATAL"}

func (m *emitter) ts(t int64) pcommon.Timestamp { return pcommon.Timestamp(m.e.start + t) }

func (m *emitter) request(r *request) {
	m.stats.Requests++
	m.stats.Spans += len(r.spans)
	m.stats.LogRecords += len(r.logs)
	tid := pcommon.TraceID(r.traceID)
	for i := range r.spans {
		sp := &r.spans[i]
		s := m.spanSlice(sp.svc).AppendEmpty()
		s.SetTraceID(tid)
		s.SetSpanID(sp.id)
		if sp.parent >= 0 {
			s.SetParentSpanID(r.spans[sp.parent].id)
		}
		s.SetStartTimestamp(m.ts(sp.start))
		s.SetEndTimestamp(m.ts(sp.end))
		m.spanBody(s, sp)
		sp.svc.met.record(sp)
	}
	for i := range r.logs {
		l := &r.logs[i]
		lr := m.logSlice(l.svc).AppendEmpty()
		lr.SetTimestamp(m.ts(l.t))
		lr.SetObservedTimestamp(m.ts(l.t))
		lr.SetSeverityNumber(plog.SeverityNumber(l.sev))
		lr.SetSeverityText(severityTexts[l.sev])
		lr.Body().SetStr(l.body)
		lr.SetTraceID(tid)
		lr.SetSpanID(r.spans[l.span].id)
		lr.SetFlags(plog.DefaultLogRecordFlags.WithIsSampled(true))
	}
}

func (m *emitter) spanBody(s ptrace.Span, sp *span) {
	a := s.Attributes()
	switch sp.kind {
	case kindServer:
		o := sp.op
		s.SetName(o.name)
		s.SetKind(ptrace.SpanKindServer)
		a.EnsureCapacity(7)
		a.PutStr("http.request.method", o.method)
		a.PutStr("http.route", o.route)
		a.PutStr("url.path", o.route)
		a.PutStr("url.scheme", "http")
		a.PutStr("server.address", o.serverAddress)
		a.PutInt("server.port", 8080)
		a.PutInt("http.response.status_code", int64(sp.status))
		if sp.status >= 500 {
			a.PutStr("error.type", strconv.Itoa(sp.status))
		}
	case kindClient, kindDep:
		st := sp.st
		s.SetName(st.name)
		s.SetKind(ptrace.SpanKindClient)
		a.EnsureCapacity(7)
		a.PutStr("http.request.method", st.method)
		a.PutStr("server.address", st.address)
		a.PutInt("server.port", st.port)
		a.PutStr("url.full", st.url)
		if st.callee != nil {
			a.PutStr("peer.service", st.callee.svc.name)
		} else {
			a.PutStr("peer.service", st.dep.name)
		}
		if sp.status > 0 {
			a.PutInt("http.response.status_code", int64(sp.status))
		}
		if sp.failed {
			a.PutStr("error.type", sp.errType)
		}
	case kindDB:
		st := sp.st
		s.SetName(st.name)
		s.SetKind(ptrace.SpanKindClient)
		a.EnsureCapacity(8)
		a.PutStr("db.system.name", st.pool.system)
		a.PutStr("db.operation.name", st.db.Operation)
		if st.db.Collection != "" {
			a.PutStr("db.collection.name", st.db.Collection)
		}
		if st.db.Query != "" {
			a.PutStr("db.query.text", st.db.Query)
		}
		a.PutStr("server.address", st.address)
		a.PutInt("server.port", st.port)
		if sp.failed {
			a.PutStr("error.type", sp.errType)
		}
	default:
		s.SetName(sp.st.name)
		s.SetKind(ptrace.SpanKindInternal)
		if sp.failed {
			a.PutStr("error.type", sp.errType)
		}
	}
	if sp.failed {
		s.Status().SetCode(ptrace.StatusCodeError)
		s.Status().SetMessage(sp.msg)
	}
	if sp.exc {
		ev := s.Events().AppendEmpty()
		ev.SetName("exception")
		ev.SetTimestamp(m.ts(sp.end))
		ea := ev.Attributes()
		ea.EnsureCapacity(2)
		ea.PutStr("exception.type", sp.errType)
		ea.PutStr("exception.message", sp.msg)
	}
}
