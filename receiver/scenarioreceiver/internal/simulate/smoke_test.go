package simulate

import (
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

func TestSmoke(t *testing.T) {
	e, err := New(builtinScenario(t, "checkout_payment_timeout"), Options{Seed: 1, Start: t0, StartAt: 13*time.Hour + 59*time.Minute, TimeScale: 60})
	if err != nil {
		t.Fatal(err)
	}
	c := run(t, e, 3*time.Minute, 200*time.Millisecond)
	fmt.Printf("%+v\n", c.stats)
	for _, g := range c.truth {
		fmt.Println(g.Start, g.End, len(g.SampleTraceIDs))
	}
	type agg struct{ n, errs int; sum float64 }
	per := map[string]map[int]*agg{}
	for _, tr := range c.traces {
		for i := 0; i < tr.ResourceSpans().Len(); i++ {
			rs := tr.ResourceSpans().At(i)
			svc, _ := rs.Resource().Attributes().Get("service.name")
			ss := rs.ScopeSpans().At(0).Spans()
			for j := 0; j < ss.Len(); j++ {
				s := ss.At(j)
				if s.Kind() != ptrace.SpanKindServer {
					continue
				}
				sec := int(s.StartTimestamp().AsTime().Sub(t0).Seconds()) / 10
				k := svc.Str()
				if per[k] == nil {
					per[k] = map[int]*agg{}
				}
				a := per[k][sec]
				if a == nil {
					a = &agg{}
					per[k][sec] = a
				}
				a.n++
				a.sum += s.EndTimestamp().AsTime().Sub(s.StartTimestamp().AsTime()).Seconds()
				if s.Status().Code() == ptrace.StatusCodeError {
					a.errs++
				}
			}
		}
	}
	for _, svc := range []string{"order", "payment", "inventory"} {
		for sec := 0; sec < 18; sec++ {
			if a := per[svc][sec]; a != nil {
				fmt.Printf("%s %3ds n=%4d err=%4d avg=%.3f\n", svc, sec*10, a.n, a.errs, a.sum/float64(a.n))
			}
		}
	}
}
