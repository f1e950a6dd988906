// Package attrvalue reads attribute values the way the diagnosis and the
// exemplars need them, whatever type the instrumentation gave them.
package attrvalue // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/attrvalue"

import "go.opentelemetry.io/collector/pdata/pcommon"

// Int is v as an integer: an int, a double truncated, or a string of
// digits (instrumentations disagree on the type of an HTTP status code);
// 0 otherwise.
func Int(v pcommon.Value) int64 {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int()
	case pcommon.ValueTypeDouble:
		return int64(v.Double())
	case pcommon.ValueTypeStr:
		var n int64
		for _, c := range v.Str() {
			if c < '0' || c > '9' {
				return 0
			}
			n = n*10 + int64(c-'0')
		}
		return n
	default:
		return 0
	}
}

// Str is the value of the first of keys that m holds, as a string; "" when
// it holds none (semantic conventions renamed some attributes: the current
// name comes first, then the older ones).
func Str(m pcommon.Map, keys ...string) string {
	for _, k := range keys {
		if v, ok := m.Get(k); ok {
			return v.AsString()
		}
	}
	return ""
}

// IntOf is Int of the value m holds at key; 0 when it holds none.
func IntOf(m pcommon.Map, key string) int64 {
	if v, ok := m.Get(key); ok {
		return Int(v)
	}
	return 0
}

// Strs is the slice m holds at key, each element as a string; nil when it
// holds none or holds no slice.
func Strs(m pcommon.Map, key string) []string {
	v, ok := m.Get(key)
	if !ok || v.Type() != pcommon.ValueTypeSlice {
		return nil
	}
	out := make([]string, 0, v.Slice().Len())
	for _, e := range v.Slice().All() {
		out = append(out, e.AsString())
	}
	return out
}

// AppendStrs appends values to s.
func AppendStrs(s pcommon.Slice, values []string) {
	s.EnsureCapacity(s.Len() + len(values))
	for _, v := range values {
		s.AppendEmpty().SetStr(v)
	}
}
