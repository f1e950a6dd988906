// Package validutf8 makes the strings of OTLP data valid UTF-8 in place:
// protobuf carries invalid bytes in a string field unchecked, and JSON
// encoders downstream write them raw, so that a file exporter's line is no
// longer valid JSON. Each run of invalid bytes becomes U+FFFD.
//
// Every string is read once, ASCII eight bytes at a time, and only an
// invalid one is copied.
package validutf8 // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/validutf8"

import (
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Traces repairs the strings of td: resource and scope attributes, span
// names, trace states, status messages, attributes, events and links. It
// returns the number of strings repaired.
func Traces(td ptrace.Traces) int64 {
	var r repairer
	for _, rs := range td.ResourceSpans().All() {
		r.resource(rs.Resource())
		if s := rs.SchemaUrl(); !valid(s) {
			rs.SetSchemaUrl(r.fix(s))
		}
		for _, ss := range rs.ScopeSpans().All() {
			r.scope(ss.Scope())
			if s := ss.SchemaUrl(); !valid(s) {
				ss.SetSchemaUrl(r.fix(s))
			}
			for _, span := range ss.Spans().All() {
				r.span(span)
			}
		}
	}
	return r.repaired
}

// Logs repairs the strings of ld: resource and scope attributes, severity
// texts, event names, bodies and attributes. It returns the number of
// strings repaired.
func Logs(ld plog.Logs) int64 {
	var r repairer
	for _, rl := range ld.ResourceLogs().All() {
		r.resource(rl.Resource())
		if s := rl.SchemaUrl(); !valid(s) {
			rl.SetSchemaUrl(r.fix(s))
		}
		for _, sl := range rl.ScopeLogs().All() {
			r.scope(sl.Scope())
			if s := sl.SchemaUrl(); !valid(s) {
				sl.SetSchemaUrl(r.fix(s))
			}
			for _, lr := range sl.LogRecords().All() {
				if s := lr.SeverityText(); !valid(s) {
					lr.SetSeverityText(r.fix(s))
				}
				if s := lr.EventName(); !valid(s) {
					lr.SetEventName(r.fix(s))
				}
				r.value(lr.Body())
				r.attributes(lr.Attributes())
			}
		}
	}
	return r.repaired
}

// Metrics repairs the strings of md: resource and scope attributes, metric
// names, descriptions, units and metadata, and the attributes of data
// points and exemplars. It returns the number of strings repaired.
func Metrics(md pmetric.Metrics) int64 {
	var r repairer
	for _, rm := range md.ResourceMetrics().All() {
		r.resource(rm.Resource())
		if s := rm.SchemaUrl(); !valid(s) {
			rm.SetSchemaUrl(r.fix(s))
		}
		for _, sm := range rm.ScopeMetrics().All() {
			r.scope(sm.Scope())
			if s := sm.SchemaUrl(); !valid(s) {
				sm.SetSchemaUrl(r.fix(s))
			}
			for _, m := range sm.Metrics().All() {
				r.metric(m)
			}
		}
	}
	return r.repaired
}

// repairer counts the strings it repaired.
type repairer struct {
	repaired int64
}

func (r *repairer) fix(s string) string {
	r.repaired++
	return strings.ToValidUTF8(s, "\uFFFD")
}

func (r *repairer) resource(res pcommon.Resource) {
	r.attributes(res.Attributes())
}

func (r *repairer) scope(sc pcommon.InstrumentationScope) {
	if s := sc.Name(); !valid(s) {
		sc.SetName(r.fix(s))
	}
	if s := sc.Version(); !valid(s) {
		sc.SetVersion(r.fix(s))
	}
	r.attributes(sc.Attributes())
}

func (r *repairer) span(span ptrace.Span) {
	if s := span.Name(); !valid(s) {
		span.SetName(r.fix(s))
	}
	r.traceState(span.TraceState())
	if s := span.Status().Message(); !valid(s) {
		span.Status().SetMessage(r.fix(s))
	}
	r.attributes(span.Attributes())
	for _, e := range span.Events().All() {
		if s := e.Name(); !valid(s) {
			e.SetName(r.fix(s))
		}
		r.attributes(e.Attributes())
	}
	for _, l := range span.Links().All() {
		r.traceState(l.TraceState())
		r.attributes(l.Attributes())
	}
}

func (r *repairer) traceState(ts pcommon.TraceState) {
	if s := ts.AsRaw(); !valid(s) {
		ts.FromRaw(r.fix(s))
	}
}

func (r *repairer) metric(m pmetric.Metric) {
	if s := m.Name(); !valid(s) {
		m.SetName(r.fix(s))
	}
	if s := m.Description(); !valid(s) {
		m.SetDescription(r.fix(s))
	}
	if s := m.Unit(); !valid(s) {
		m.SetUnit(r.fix(s))
	}
	r.attributes(m.Metadata())
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		r.numberPoints(m.Gauge().DataPoints())
	case pmetric.MetricTypeSum:
		r.numberPoints(m.Sum().DataPoints())
	case pmetric.MetricTypeHistogram:
		for _, dp := range m.Histogram().DataPoints().All() {
			r.attributes(dp.Attributes())
			r.exemplars(dp.Exemplars())
		}
	case pmetric.MetricTypeExponentialHistogram:
		for _, dp := range m.ExponentialHistogram().DataPoints().All() {
			r.attributes(dp.Attributes())
			r.exemplars(dp.Exemplars())
		}
	case pmetric.MetricTypeSummary:
		for _, dp := range m.Summary().DataPoints().All() {
			r.attributes(dp.Attributes())
		}
	}
}

func (r *repairer) numberPoints(dps pmetric.NumberDataPointSlice) {
	for _, dp := range dps.All() {
		r.attributes(dp.Attributes())
		r.exemplars(dp.Exemplars())
	}
}

func (r *repairer) exemplars(es pmetric.ExemplarSlice) {
	for _, e := range es.All() {
		r.attributes(e.FilteredAttributes())
	}
}

// attributes repairs the keys and values of m. A key that repairs to one
// m already has is dropped: the valid key keeps its value.
func (r *repairer) attributes(m pcommon.Map) {
	var invalidKeys []string
	for k, v := range m.All() {
		if !valid(k) {
			invalidKeys = append(invalidKeys, k)
		}
		// The common case inline: value recurses, so it is a call.
		switch v.Type() {
		case pcommon.ValueTypeStr:
			if s := v.Str(); !valid(s) {
				v.SetStr(r.fix(s))
			}
		case pcommon.ValueTypeMap, pcommon.ValueTypeSlice:
			r.value(v)
		}
	}
	for _, k := range invalidKeys {
		v, _ := m.Get(k)
		moved := pcommon.NewValueEmpty()
		v.MoveTo(moved)
		m.Remove(k)
		if fixed := r.fix(k); !has(m, fixed) {
			moved.MoveTo(m.PutEmpty(fixed))
		}
	}
}

func has(m pcommon.Map, k string) bool {
	_, ok := m.Get(k)
	return ok
}

// valid reports whether s is valid UTF-8. Telemetry strings are short and
// nearly always ASCII: the OR of their bytes, read a word at a time, decides
// most at once. utf8.ValidString alone, which reads what is left after its
// eight-byte steps one byte at a time, took three times as long on the
// benchmark's attribute keys and values (about 10 bytes each).
func valid(s string) bool {
	var or uint64
	rest := s
	for len(rest) >= 8 {
		or |= uint64(rest[0]) | uint64(rest[1])<<8 | uint64(rest[2])<<16 | uint64(rest[3])<<24 |
			uint64(rest[4])<<32 | uint64(rest[5])<<40 | uint64(rest[6])<<48 | uint64(rest[7])<<56
		rest = rest[8:]
	}
	if len(rest) >= 4 {
		or |= uint64(rest[0]) | uint64(rest[1])<<8 | uint64(rest[2])<<16 | uint64(rest[3])<<24
		rest = rest[4:]
	}
	if len(rest) >= 2 {
		or |= uint64(rest[0]) | uint64(rest[1])<<8
		rest = rest[2:]
	}
	if len(rest) == 1 {
		or |= uint64(rest[0])
	}
	return or&0x8080808080808080 == 0 || utf8.ValidString(s)
}

// value repairs a string value, or the strings inside a map or a list.
// Bytes are not text: JSON writes them in base64.
func (r *repairer) value(v pcommon.Value) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		if s := v.Str(); !valid(s) {
			v.SetStr(r.fix(s))
		}
	case pcommon.ValueTypeMap:
		r.attributes(v.Map())
	case pcommon.ValueTypeSlice:
		for _, e := range v.Slice().All() {
			r.value(e)
		}
	}
}
