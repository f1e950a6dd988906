package diagnosis

import "go.opentelemetry.io/collector/pdata/ptrace"

// inferKinds gives a kind to every span that came without one, from the
// service boundaries of the trace: some instrumentations send no kinds
// (Zipkin spans without one, hand-made spans, traces converted from
// other formats), and the diagnosis reads a service's entry and exit points
// by kind. A span entered from another service, or from outside the trace,
// is SERVER; a span that calls another service directly is CLIENT, unless
// it is an entry point itself; any other is INTERNAL. Spans that have a
// kind keep it. The kinds follow from parents and services alone, so a span
// given one changes no other span's. It needs the parents of build.
func (d *Diagnoser) inferKinds(spans []Span) {
	for i := range spans {
		s := &spans[i]
		if d.ignored[i] || s.Kind != ptrace.SpanKindUnspecified {
			continue
		}
		switch p := d.parent[i]; {
		case p < 0 || spans[p].Service != s.Service:
			s.Kind = ptrace.SpanKindServer
		case d.callsOut(spans, int32(i)):
			s.Kind = ptrace.SpanKindClient
		default:
			s.Kind = ptrace.SpanKindInternal
		}
	}
}

// callsOut tells whether span i has a child in another service.
func (d *Diagnoser) callsOut(spans []Span, i int32) bool {
	for _, c := range d.children(i) {
		if spans[c].Service != spans[i].Service {
			return true
		}
	}
	return false
}
