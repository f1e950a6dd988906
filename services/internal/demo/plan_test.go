package demo

import (
	"strings"
	"testing"
	"time"

	"github.com/otelcol-rca/otelcol-rca/services/internal/incidents"
	"github.com/otelcol-rca/otelcol-rca/services/internal/loadgen"
)

func TestNewPlan(t *testing.T) {
	p, err := NewPlan(DefaultIncidents, 3*time.Minute, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.Warmup != 45*time.Second || len(p.Windows) != 3 {
		t.Fatalf("plan = %+v", p)
	}
	w := p.Windows[0]
	if w.On != 45*time.Second || w.Off != 75*time.Second || p.Windows[2].Off > p.End {
		t.Errorf("windows = %+v", p.Windows)
	}
	if _, err := NewPlan(DefaultIncidents, 2*time.Minute, 0, 0, 0); err != nil {
		t.Errorf("2m for three incidents: %v", err)
	}
	for name, tc := range map[string]struct {
		names []string
		total time.Duration
		want  string
	}{
		"unknown":   {[]string{"nope"}, time.Minute, "unknown incident"},
		"twice":     {[]string{"login", "login"}, 2 * time.Minute, "twice"},
		"none":      {nil, time.Minute, "at least one"},
		"too short": {DefaultIncidents, 50 * time.Second, "too short"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewPlan(tc.names, tc.total, 0, 0, 0); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestResultAttribution(t *testing.T) {
	p, err := NewPlan([]string{"checkout", "catalog"}, 100*time.Second, 20*time.Second, 20*time.Second, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	r := &run{plan: p, t0: t0, incidents: map[string]*seen{}}
	r.events()
	r.ran[0], r.ran[1] = true, true
	add := func(id, culprit string, start time.Duration) {
		r.onIncidentAt(incidents.Record{ID: id, Status: "open", Service: culprit, WindowStart: t0.Add(start)}, t0.Add(start+5*time.Second))
	}
	r.out = &strings.Builder{}
	add("warm", "order", 5*time.Second)
	add("pay", "payment", 25*time.Second)
	add("wrong", "catalog", 30*time.Second)
	add("cat", "catalog", 65*time.Second)
	add("late", "order", 50*time.Second)
	res := r.result(Result{}, loadgen.Summary{})
	if len(res.Warmup) != 1 || res.Warmup[0].ID != "warm" {
		t.Errorf("warm-up incidents = %+v", res.Warmup)
	}
	if len(res.Between) != 1 || res.Between[0].ID != "late" {
		t.Errorf("between-faults incidents = %+v", res.Between)
	}
	if f := res.Faults[0]; !f.Detected || len(f.IncidentIDs) != 2 || f.DelayS != 10 {
		t.Errorf("checkout = %+v", f)
	}
	if f := res.Faults[1]; !f.Detected || f.Culprits[0] != "catalog" {
		t.Errorf("catalog = %+v", f)
	}
}

// TestResultOneCulpritPerIncident: an incident whose named operation (and so
// its dependency) changes between records is still one detected culprit, its
// latest.
func TestResultOneCulpritPerIncident(t *testing.T) {
	p, err := NewPlan([]string{"login"}, 100*time.Second, 20*time.Second, 20*time.Second, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	r := &run{plan: p, t0: t0, incidents: map[string]*seen{}}
	r.events()
	r.ran[0] = true
	r.out = &strings.Builder{}
	start := t0.Add(25 * time.Second)
	r.onIncidentAt(incidents.Record{ID: "db", Status: "open", Service: "database", WindowStart: start}, start.Add(5*time.Second))
	r.onIncidentAt(incidents.Record{ID: "db", Status: "update", Service: "database", Dependency: "sqlite", WindowStart: start}, start.Add(30*time.Second))
	res := r.result(Result{}, loadgen.Summary{})
	if f := res.Faults[0]; !f.Detected || len(f.Culprits) != 1 || f.Culprits[0] != "database → sqlite" {
		t.Errorf("login = %+v, want one culprit, database → sqlite", f)
	}
}
