package model // import "github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/model"

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// RandomOptions shape a random scenario.
type RandomOptions struct {
	// Services is the number of instrumented services, at least 2.
	Services int
	// Faults is the number of faults, each with its own window. Default: 1.
	Faults int
	// Window is the window of the first fault; the next ones are shifted by
	// their length so that windows never overlap. Default: "every 10m for 2m from 5m".
	Window string
	// Rate is the base rate in requests per second. Default: 20.
	Rate float64
}

// Random builds a valid scenario from a seed: a layered call graph (no cycles)
// of services with HTTP calls, database pools and uninstrumented dependencies,
// and faults of every kind aimed at random targets.
func Random(seed uint64, o RandomOptions) (*Scenario, error) {
	r := rand.New(rand.NewPCG(seed, 0x7a3d))
	if o.Services < 2 {
		o.Services = 2
	}
	if o.Faults <= 0 {
		o.Faults = 1
	}
	if o.Window == "" {
		o.Window = "every 10m for 2m from 5m"
	}
	if o.Rate <= 0 {
		o.Rate = 20
	}
	ms := func(lo, hi int) time.Duration { return time.Duration(lo+r.IntN(hi-lo+1)) * time.Millisecond }
	lat := func(lo, hi int) Latency {
		p50 := ms(lo, hi)
		return Latency{P50: p50, P99: p50 * time.Duration(2+r.IntN(4))}
	}
	sc := &Scenario{Name: fmt.Sprintf("random_%d_%d", seed, o.Services), Environment: "benchmark"}
	nDeps := 1 + o.Services/5
	for i := range nDeps {
		sc.Dependencies = append(sc.Dependencies, Dependency{
			Name: fmt.Sprintf("ext-%d", i), Address: fmt.Sprintf("api.ext%d.example.com", i), Latency: lat(20, 200), ErrorRate: 0.001,
		})
	}
	methods := []string{"GET", "POST", "PUT"}
	for i := range o.Services {
		s := Service{Name: fmt.Sprintf("svc-%02d", i), Version: fmt.Sprintf("1.%d.0", r.IntN(10))}
		if r.IntN(2) == 0 || i == o.Services-1 {
			s.Pools = append(s.Pools, Pool{Name: s.Name + "-db", System: "postgresql", Address: s.Name + "-db.internal", Size: 10 + r.IntN(20), WaitTimeout: 2 * time.Second})
		}
		for j := range 1 + r.IntN(2) {
			s.Operations = append(s.Operations, Operation{
				Name: fmt.Sprintf("%s /api/%s/v%d", methods[r.IntN(len(methods))], s.Name, j), Latency: lat(1, 20), ErrorRate: 0.001,
			})
		}
		sc.Services = append(sc.Services, s)
	}
	// The call graph is a random tree rooted at the entry service, so every
	// service sees traffic and a request makes one span path per service.
	children := make([][]int, len(sc.Services))
	for i := 1; i < len(sc.Services); i++ {
		p := max(0, i-1-r.IntN(3))
		children[p] = append(children[p], i)
	}
	// called is the operation each service's caller calls: a fault aimed at
	// an operation nobody calls would never show.
	called := map[string]string{sc.Services[0].Name: sc.Services[0].Operations[0].Name}
	// liveDeps are the dependencies called by operations that get traffic.
	var liveDeps []string
	for i := range sc.Services {
		s := &sc.Services[i]
		var calls []Step
		for _, ci := range children[i] {
			c := sc.Services[ci]
			called[c.Name] = c.Operations[r.IntN(len(c.Operations))].Name
			calls = append(calls, Step{
				Call:    &Call{Service: c.Name, Operation: called[c.Name]},
				Timeout: time.Duration(3+r.IntN(8)) * time.Second, Retries: r.IntN(3) / 2, Backoff: 100 * time.Millisecond,
			})
		}
		parallel := len(calls) > 1 && r.IntN(2) == 0
		for j := range s.Operations {
			op := &s.Operations[j]
			if len(s.Pools) > 0 {
				op.Steps = append(op.Steps, Step{DB: &DB{
					Pool: s.Pools[0].Name, Operation: "SELECT", Collection: fmt.Sprintf("table_%d", j),
					Query: fmt.Sprintf("SELECT * FROM table_%d WHERE id = $1", j), Latency: lat(1, 10),
				}})
			}
			if r.IntN(4) == 0 {
				d := sc.Dependencies[r.IntN(nDeps)]
				if op.Name == called[s.Name] && !slices.Contains(liveDeps, d.Name) {
					liveDeps = append(liveDeps, d.Name)
				}
				op.Steps = append(op.Steps, Step{Call: &Call{Dependency: d.Name, Operation: "POST /v1/call"}, Timeout: 2 * time.Second, Retries: r.IntN(2), Backoff: 50 * time.Millisecond})
			}
			if parallel {
				op.Steps = append(op.Steps, Step{Parallel: calls})
			} else {
				op.Steps = append(op.Steps, calls...)
			}
			op.Logs.Error = []Log{{Severity: "ERROR", Body: "Request failed with status {status}."}}
			// A request built from a wrong value (a bad_response upstream)
			// is refused now and then, and takes a little longer.
			op.BadInput = &BadInput{
				Latency: lat(1, 5), ErrorRate: 0.3, Status: 422, Message: "invalid request",
				Logs: Logs{Error: []Log{{Severity: "WARN", Body: "Rejected invalid request: {status}."}}},
			}
		}
	}
	sc.Traffic = Traffic{Rate: o.Rate, Entrypoints: []Entrypoint{{Service: sc.Services[0].Name, Operation: sc.Services[0].Operations[0].Name, Weight: 1}}}

	base, err := ParseWindow(o.Window)
	if err != nil {
		return nil, err
	}
	for k := range o.Faults {
		w := base
		w.offset += time.Duration(k) * w.length
		w.text = shiftedText(base, w)
		f := Fault{Name: fmt.Sprintf("fault_%d", k), Windows: []string{w.text}}
		s := sc.Services[1+r.IntN(len(sc.Services)-1)]
		switch kind := r.IntN(7); {
		case kind == 0 && len(s.Pools) > 0:
			f.Kind, f.Target, f.Hold = KindPoolExhaustion, Target{Service: s.Name, Pool: s.Pools[0].Name}, 5*time.Second
		case kind == 1:
			f.Kind, f.Target, f.ErrorRate, f.Status = KindError, Target{Service: s.Name, Operation: called[s.Name]}, 0.5, 503
		case kind == 2 && len(liveDeps) > 0:
			f.Kind, f.Target = KindDependencyDown, Target{Dependency: liveDeps[r.IntN(len(liveDeps))]}
		case kind == 5:
			f.Kind, f.Target, f.ExceptionType = KindException, Target{Service: s.Name, Operation: called[s.Name]}, "IllegalStateException"
			f.ErrorRate, f.Message = 0.5, "order state is null"
		case kind == 6:
			f.Kind, f.Target, f.Message = KindBadResponse, Target{Service: s.Name, Operation: called[s.Name]}, "price is negative"
		case kind == 3:
			// Slower than any caller's timeout (3-10 s): callers time out and
			// retry, and the timeouts cascade up the call graph.
			f.Kind, f.Target, f.Latency = KindLatency, Target{Service: s.Name, Operation: called[s.Name]}, Latency{P50: 12 * time.Second, P99: 15 * time.Second}
			f.Truth = Truth{Kind: KindCascadingTimeout}
		default:
			f.Kind, f.Target, f.Latency = KindLatency, Target{Service: s.Name, Operation: called[s.Name]}, lat(500, 2000)
		}
		sc.Faults = append(sc.Faults, f)
	}
	sc.applyDefaults()
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("random scenario %d: %w", seed, err)
	}
	return sc, nil
}

func shiftedText(base, w Window) string {
	switch {
	case base.daily:
		a, b := w.offset%day, (w.offset+w.length)%day
		return fmt.Sprintf("daily %02d:%02d-%02d:%02d", int(a.Hours()), int(a.Minutes())%60, int(b.Hours()), int(b.Minutes())%60)
	case base.period > 0:
		return fmt.Sprintf("every %v for %v from %v", w.period, w.length, w.offset)
	default:
		return fmt.Sprintf("at %v for %v", w.offset, w.length)
	}
}
