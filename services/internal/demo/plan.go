// Package demo is rca-demo, the program behind `make run`: it starts the
// collector and the services on loopback ports, drives load, switches faults on
// a schedule that reproduces the seed incidents, prints each incident the
// collector reports, and ends with a summary of expected versus detected culprits.
package demo

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Scenario is one reproducible incident: faults switched on one service, and the
// culprit the collector should name.
type Scenario struct {
	Name    string
	Title   string
	Service string   // the service whose faults are switched
	Faults  []string // fault names on that service
	Culprit string   // expected rca.culprit.service (or rca.culprit.dependency)
	// Mechanism says what the faults really do.
	Mechanism string
}

// Scenarios are the incidents rca-demo can reproduce, the seed's three first.
var Scenarios = []Scenario{
	{
		Name: "checkout", Title: "Payment service timeout (checkout stuck in processing)",
		Service: "payment", Faults: []string{"db_pool_throttle"}, Culprit: "payment",
		Mechanism: "payment's pool shrinks to 1 connection and a settlement batch holds it, so the gateway credentials lookup times out",
	},
	{
		Name: "login", Title: "Intermittent 500s on login",
		Service: "database", Faults: []string{"small_pool", "slow_queries"}, Culprit: "database",
		Mechanism: "the database service's pool shrinks to 2 connections and every query takes 250ms more, so logins wait and time out",
	},
	{
		Name: "catalog", Title: "Slow catalog page",
		Service: "catalog", Faults: []string{"missing_index"}, Culprit: "catalog",
		Mechanism: "the products index is dropped, so the product query scans the whole 200k-row table",
	},
	{
		Name: "gateway", Title: "Slow third-party payment gateway",
		Service: "payment-gateway", Faults: []string{"latency"}, Culprit: "payment-gateway",
		Mechanism: "the external gateway answers 1.5s later; it exports no telemetry, only payment's client spans show it",
	},
}

// DefaultIncidents are the seed's three incidents.
var DefaultIncidents = []string{"checkout", "login", "catalog"}

// lookNext says where to look after an incident names a culprit.
var lookNext = map[string]string{
	"payment": `payment's logs "Database connection timeout during payment gateway authentication." in the sample traces; ` +
		`its pool metrics db.sql.connection.* (wait count and duration vs max open); the gateway.authenticate spans`,
	"database": `database's logs "Database connection pool reached max connections, waiting."; its pool metrics ` +
		`db.sql.connection.* (waits, in use vs max open); the duration of its SELECT spans`,
	"catalog": `catalog's "SELECT products" span durations and its "Product query finished." logs (duration_ms); ` +
		`EXPLAIN the product query: a missing index makes it a full scan`,
	"token": `token's 422s come from incomplete user data: look upstream in the same traces, at the database ` +
		`service's "User profile unavailable; returning partial user data." logs and its pool`,
	"user":  `the user service's calls to database and token in the sample traces; its logs carry the same trace IDs`,
	"order": `the order service's calls to payment and inventory in the sample traces; "Payment service timeout, retrying." logs`,
	"payment-gateway": `payment's client spans to payment-gateway (peer.service) and its "Payment gateway request timed out." logs; ` +
		`the provider's status page: it is a third party`,
}

// LookNext is the hint printed with an incident whose culprit is service.
func LookNext(service string) string {
	if h, ok := lookNext[service]; ok {
		return h
	}
	return "the culprit's spans in the sample traces, and its logs carrying the same trace IDs"
}

// ScenarioByName finds a scenario.
func ScenarioByName(name string) (Scenario, bool) {
	i := slices.IndexFunc(Scenarios, func(s Scenario) bool { return s.Name == name })
	if i < 0 {
		return Scenario{}, false
	}
	return Scenarios[i], true
}

// Window is when one scenario's faults are on, as offsets from the start of the load.
type Window struct {
	Scenario Scenario
	On, Off  time.Duration
}

// Plan is the fault schedule of a run.
type Plan struct {
	Warmup  time.Duration
	Windows []Window
	// End is when the load stops.
	End time.Duration
}

// MinFault is the shortest fault window the plan accepts: the collector needs
// traces to accumulate and its decision wait to pass.
const MinFault = 10 * time.Second

// NewPlan lays the scenarios out in total. Zero warmup, fault or gap are derived:
// the warm-up takes a quarter of the run (20s to 60s), and each scenario gets an
// equal slot of the rest, two thirds with its faults on and one third off.
func NewPlan(names []string, total, warmup, fault, gap time.Duration) (Plan, error) {
	if len(names) == 0 {
		return Plan{}, fmt.Errorf("--incidents: choose at least one of %s", known())
	}
	var scs []Scenario
	seen := map[string]bool{}
	for _, n := range names {
		sc, ok := ScenarioByName(n)
		if !ok {
			return Plan{}, fmt.Errorf("--incidents: unknown incident %q (known: %s)", n, known())
		}
		if seen[n] {
			return Plan{}, fmt.Errorf("--incidents: %q listed twice", n)
		}
		seen[n] = true
		scs = append(scs, sc)
	}
	if total <= 0 {
		return Plan{}, fmt.Errorf("--duration: must be positive, got %v", total)
	}
	if warmup < 0 || fault < 0 || gap < 0 {
		return Plan{}, fmt.Errorf("--warmup, --fault-duration, --gap: must not be negative")
	}
	if warmup == 0 {
		warmup = min(max(total/4, 20*time.Second), 60*time.Second)
	}
	slot := (total - warmup) / time.Duration(len(scs))
	if fault == 0 {
		fault = (slot * 2 / 3).Truncate(time.Second)
	}
	if gap == 0 {
		gap = (slot - fault).Truncate(time.Second)
	}
	if fault < MinFault {
		return Plan{}, fmt.Errorf("--duration %v is too short for %d incidents after a %v warm-up: each fault would last %v, need at least %v",
			total, len(scs), warmup, fault, MinFault)
	}
	need := warmup + time.Duration(len(scs))*(fault+gap)
	if need > total {
		return Plan{}, fmt.Errorf("--duration %v is shorter than warm-up %v + %d × (fault %v + gap %v) = %v",
			total, warmup, len(scs), fault, gap, need)
	}
	p := Plan{Warmup: warmup, End: total}
	at := warmup
	for _, sc := range scs {
		p.Windows = append(p.Windows, Window{Scenario: sc, On: at, Off: at + fault})
		at += fault + gap
	}
	return p, nil
}

func known() string {
	names := make([]string, 0, len(Scenarios))
	for _, s := range Scenarios {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}
