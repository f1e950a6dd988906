package validutf8

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// bad is Latin-1 "café" and a truncated two-byte sequence: two runs of
// invalid bytes, each repaired to one U+FFFD.
const (
	bad      = "caf\xe9 \xc3"
	repaired = "caf\uFFFD \uFFFD"
)

func TestEveryStringOfASpanIsRepaired(t *testing.T) {
	for _, tt := range []struct {
		name string
		set  func(rs ptrace.ResourceSpans, span ptrace.Span)
		get  func(rs ptrace.ResourceSpans, span ptrace.Span) string
	}{
		{
			"service.name",
			func(rs ptrace.ResourceSpans, _ ptrace.Span) { rs.Resource().Attributes().PutStr("service.name", bad) },
			func(rs ptrace.ResourceSpans, _ ptrace.Span) string {
				v, _ := rs.Resource().Attributes().Get("service.name")
				return v.Str()
			},
		},
		{
			"scope name",
			func(rs ptrace.ResourceSpans, _ ptrace.Span) { rs.ScopeSpans().At(0).Scope().SetName(bad) },
			func(rs ptrace.ResourceSpans, _ ptrace.Span) string { return rs.ScopeSpans().At(0).Scope().Name() },
		},
		{
			"span name",
			func(_ ptrace.ResourceSpans, span ptrace.Span) { span.SetName(bad) },
			func(_ ptrace.ResourceSpans, span ptrace.Span) string { return span.Name() },
		},
		{
			"status message",
			func(_ ptrace.ResourceSpans, span ptrace.Span) { span.Status().SetMessage(bad) },
			func(_ ptrace.ResourceSpans, span ptrace.Span) string { return span.Status().Message() },
		},
		{
			"trace state",
			func(_ ptrace.ResourceSpans, span ptrace.Span) { span.TraceState().FromRaw(bad) },
			func(_ ptrace.ResourceSpans, span ptrace.Span) string { return span.TraceState().AsRaw() },
		},
		{
			"attribute value",
			func(_ ptrace.ResourceSpans, span ptrace.Span) { span.Attributes().PutStr("db.statement", bad) },
			func(_ ptrace.ResourceSpans, span ptrace.Span) string {
				v, _ := span.Attributes().Get("db.statement")
				return v.Str()
			},
		},
		{
			"attribute key",
			func(_ ptrace.ResourceSpans, span ptrace.Span) { span.Attributes().PutInt(bad, 1) },
			func(_ ptrace.ResourceSpans, span ptrace.Span) string {
				for k, v := range span.Attributes().All() {
					if v.Int() == 1 {
						return k
					}
				}
				return "(gone)"
			},
		},
		{
			"inside a list in a map",
			func(_ ptrace.ResourceSpans, span ptrace.Span) {
				span.Attributes().PutEmptyMap("m").PutEmptySlice("l").AppendEmpty().SetStr(bad)
			},
			func(_ ptrace.ResourceSpans, span ptrace.Span) string {
				m, _ := span.Attributes().Get("m")
				l, _ := m.Map().Get("l")
				return l.Slice().At(0).Str()
			},
		},
		{
			"event",
			func(_ ptrace.ResourceSpans, span ptrace.Span) {
				e := span.Events().AppendEmpty()
				e.SetName("exception")
				e.Attributes().PutStr("exception.message", bad)
			},
			func(_ ptrace.ResourceSpans, span ptrace.Span) string {
				v, _ := span.Events().At(0).Attributes().Get("exception.message")
				return v.Str()
			},
		},
		{
			"link",
			func(_ ptrace.ResourceSpans, span ptrace.Span) {
				span.Links().AppendEmpty().Attributes().PutStr("k", bad)
			},
			func(_ ptrace.ResourceSpans, span ptrace.Span) string {
				v, _ := span.Links().At(0).Attributes().Get("k")
				return v.Str()
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			td := ptrace.NewTraces()
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("host.name", "h")
			span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			span.SetName("GET /")
			tt.set(rs, span)
			assert.False(t, validJSON(t, td), "the case is invalid JSON before")

			assert.Equal(t, int64(1), Traces(td))
			assert.Equal(t, repaired, tt.get(rs, span))
			assert.True(t, validJSON(t, td))
			assert.Zero(t, Traces(td), "repaired once")
		})
	}
}

func TestValidDataIsLeftAlone(t *testing.T) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "café ☕")
	span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetName("GET /crème")
	span.Attributes().PutEmptyBytes("raw").FromRaw([]byte{0xff, 0xfe})
	want := ptrace.NewTraces()
	td.CopyTo(want)

	assert.Zero(t, Traces(td))
	assert.Equal(t, want, td, "bytes are not text")
}

// TestARepairedKeyDoesNotReplaceAValidOne: "a\xff" repairs to "a\uFFFD";
// when the map already has that key, its value stays and the invalid key goes.
func TestARepairedKeyDoesNotReplaceAValidOne(t *testing.T) {
	m := pcommon.NewMap()
	m.PutStr("a\uFFFD", "valid")
	m.PutStr("a\xff", "invalid")
	var r repairer
	r.attributes(m)
	assert.Equal(t, int64(1), r.repaired)
	assert.Equal(t, map[string]any{"a\uFFFD": "valid"}, m.AsRaw())
}

func TestEveryStringOfALogRecordIsRepaired(t *testing.T) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", bad)
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Body().SetStr(bad)
	lr.SetSeverityText(bad)
	lr.SetEventName(bad)
	lr.Attributes().PutStr("user", bad)
	structured := plog.NewLogs()
	ld.CopyTo(structured)
	structured.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().SetEmptyMap().PutStr("msg", bad)

	before, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	assert.False(t, utf8.Valid(before), "the case is invalid JSON before")

	assert.Equal(t, int64(5), Logs(ld))
	assert.Equal(t, int64(5), Logs(structured), "a structured body")
	for _, l := range []plog.Logs{ld, structured} {
		out, err := (&plog.JSONMarshaler{}).MarshalLogs(l)
		require.NoError(t, err)
		assert.True(t, json.Valid(out) && utf8.Valid(out))
	}
	assert.Equal(t, repaired, lr.Body().Str())
	assert.Equal(t, repaired, lr.SeverityText())
}

func TestEveryStringOfAMetricIsRepaired(t *testing.T) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", bad)
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	g := ms.AppendEmpty()
	g.SetName(bad)
	g.SetUnit(bad)
	dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.Attributes().PutStr("route", bad)
	dp.Exemplars().AppendEmpty().FilteredAttributes().PutStr("user", bad)
	h := ms.AppendEmpty()
	h.SetName("latency")
	h.SetEmptyHistogram().DataPoints().AppendEmpty().Attributes().PutStr("route", bad)
	e := ms.AppendEmpty()
	e.SetName("latency.exp")
	e.SetEmptyExponentialHistogram().DataPoints().AppendEmpty().Attributes().PutStr("route", bad)
	s := ms.AppendEmpty()
	s.SetName("latency.summary")
	s.SetEmptySummary().DataPoints().AppendEmpty().Attributes().PutStr("route", bad)

	assert.Equal(t, int64(8), Metrics(md))
	out, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(md)
	require.NoError(t, err)
	assert.True(t, json.Valid(out) && utf8.Valid(out))
	assert.Equal(t, repaired, g.Name())
}

// FuzzTraces: whatever OTLP arrives, its JSON is valid once repaired, and
// a second pass repairs nothing.
func FuzzTraces(f *testing.F) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", bad)
	span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetName("GET /")
	span.Attributes().PutEmptySlice("l").AppendEmpty().SetStr("x")
	seed, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	require.NoError(f, err)
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(data)
		if err != nil {
			return
		}
		Traces(td)
		assert.True(t, validJSON(t, td))
		assert.Zero(t, Traces(td))
	})
}

// validJSON reports whether td's OTLP/JSON is a valid JSON text, which is
// UTF-8 (RFC 8259; json.Valid alone takes any byte inside a string).
func validJSON(t *testing.T, td ptrace.Traces) bool {
	out, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	require.NoError(t, err)
	return json.Valid(out) && utf8.Valid(out)
}

// TestValidAgreesWithTheStandardLibrary: the ASCII fast path decides only
// what utf8.ValidString would, at every length around its word steps.
func TestValidAgreesWithTheStandardLibrary(t *testing.T) {
	for n := range 20 {
		ascii := strings.Repeat("a", n)
		for _, s := range []string{ascii, ascii + "é", ascii + "\xe9", "é" + ascii, "\xe9" + ascii, ascii + "\xc3", ascii + "☕" + ascii} {
			assert.Equal(t, utf8.ValidString(s), valid(s), "%q", s)
		}
	}
}

func FuzzValid(f *testing.F) {
	f.Add("GET /product")
	f.Add("caf\xe9")
	f.Fuzz(func(t *testing.T, s string) {
		assert.Equal(t, utf8.ValidString(s), valid(s))
	})
}
