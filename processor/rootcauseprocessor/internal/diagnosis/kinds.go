package diagnosis

import "go.opentelemetry.io/collector/pdata/ptrace"

// inferKinds gives a kind to every span that came without one, from the
// service boundaries of the trace: some instrumentations send no kinds
// (Zipkin spans without one, hand-made spans, traces converted from
// other formats), and the diagnosis reads a service's entry and exit points
// by kind. A span entered from another service, or from outside the trace,
// is SERVER; a span that calls another service directly is CLIENT, unless
// it is an entry point itself; any other is INTERNAL. Spans that have a
// kind keep it. It needs the parents of build.
func (d *Diagnoser) inferKinds(spans []Span) {
	for i := range spans {
		s := &spans[i]
		if d.ignored[i] || s.Kind != ptrace.SpanKindUnspecified {
			continue
		}
		if p := d.parent[i]; p < 0 || spans[p].Service != s.Service {
			d.inferred[i] = ptrace.SpanKindServer
		} else {
			d.inferred[i] = ptrace.SpanKindInternal
		}
	}
	for i := range spans {
		if d.ignored[i] || spans[i].Kind != ptrace.SpanKindUnspecified || d.inferred[i] == ptrace.SpanKindServer {
			continue
		}
		for _, c := range d.children(int32(i)) {
			if spans[c].Service != spans[i].Service {
				d.inferred[i] = ptrace.SpanKindClient
				break
			}
		}
	}
	for i := range spans {
		if spans[i].Kind == ptrace.SpanKindUnspecified && !d.ignored[i] {
			spans[i].Kind = d.inferred[i]
		}
	}
}
