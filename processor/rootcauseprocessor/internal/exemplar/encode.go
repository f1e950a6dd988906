package exemplar // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/exemplar"

import (
	"encoding/hex"
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/attrvalue"
)

// Encode appends p to dst, one map per span, in the attribute values an OTLP
// log record carries.
func (p Path) Encode(dst pcommon.Slice) {
	for svc, list := range p {
		for _, e := range list {
			m := dst.AppendEmpty().SetEmptyMap()
			m.PutStr("service", svc)
			m.PutStr("span_id", hex.EncodeToString(e.id[:]))
			m.PutInt("end", e.end)
			m.PutInt("duration", e.dur)
			m.PutInt("role", int64(e.role))
			m.PutBool("top", e.top)
			m.PutStr("a1", e.a1)
			m.PutStr("a2", e.a2)
			m.PutInt("status", e.status)
		}
	}
}

// DecodePath reads a Path that Encode wrote for the trace traceID.
func DecodePath(traceID pcommon.TraceID, src pcommon.Slice) (Path, error) {
	p := Path{}
	for i := 0; i < src.Len(); i++ {
		v := src.At(i)
		if v.Type() != pcommon.ValueTypeMap {
			return nil, fmt.Errorf("path span %d: a map expected, got %s", i, v.Type())
		}
		m := v.Map()
		e := exSpan{trace: traceID}
		svc := attrvalue.Str(m, "service")
		if svc == "" {
			return nil, fmt.Errorf("path span %d: no service", i)
		}
		id := attrvalue.Str(m, "span_id")
		// hex.Decode writes past dst for a longer input: check the length first.
		if len(id) != 2*len(e.id) {
			return nil, fmt.Errorf("path span %d: span_id %q is not 16 hex digits", i, id)
		}
		if _, err := hex.Decode(e.id[:], []byte(id)); err != nil || e.id.IsEmpty() {
			return nil, fmt.Errorf("path span %d: span_id %q is not 16 hex digits", i, attrvalue.Str(m, "span_id"))
		}
		role := attrvalue.IntOf(m, "role")
		if role < 0 || role >= int64(numRoles) {
			return nil, fmt.Errorf("path span %d: unknown role %d", i, role)
		}
		e.role = spanRole(role)
		e.end, e.dur, e.status = attrvalue.IntOf(m, "end"), max(0, attrvalue.IntOf(m, "duration")), attrvalue.IntOf(m, "status")
		if v, ok := m.Get("top"); ok {
			e.top = v.Bool()
		}
		e.a1, e.a2 = attrvalue.Str(m, "a1"), attrvalue.Str(m, "a2")
		p[svc] = append(p[svc], e)
	}
	return p, nil
}
