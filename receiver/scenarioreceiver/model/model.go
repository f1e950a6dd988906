// Package model is the scenario description language: the YAML types, their
// parsing with strict keys, and their validation.
package model // import "github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/model"

import (
	"time"
)

// Scenario is one simulated system: services, their call graph, traffic and faults.
type Scenario struct {
	// Name identifies the scenario in the ground truth.
	Name        string `mapstructure:"name"`
	Description string `mapstructure:"description"`
	// Environment is the deployment.environment.name of every service. Default: production.
	Environment  string       `mapstructure:"environment"`
	Traffic      Traffic      `mapstructure:"traffic"`
	Dependencies []Dependency `mapstructure:"dependencies"`
	Services     []Service    `mapstructure:"services"`
	Faults       []Fault      `mapstructure:"faults"`
}

// Traffic is the arrival of user requests, in real seconds, shaped on the scenario clock.
type Traffic struct {
	// Rate is the base rate in requests per real second.
	Rate        float64      `mapstructure:"rate"`
	Entrypoints []Entrypoint `mapstructure:"entrypoints"`
	// Diurnal, when set, multiplies the rate by 1 + amplitude*cos(2π(t-peak)/24h).
	Diurnal *Diurnal `mapstructure:"diurnal"`
	// Peaks multiply the rate inside their windows.
	Peaks []Peak `mapstructure:"peaks"`
}

// Entrypoint is an operation that receives user requests.
type Entrypoint struct {
	Service   string `mapstructure:"service"`
	Operation string `mapstructure:"operation"`
	// Weight is the relative share of requests. Default: 1.
	Weight float64 `mapstructure:"weight"`
}

// Diurnal is a daily traffic shape.
type Diurnal struct {
	// Amplitude in [0,1]: 0.5 means the rate swings between 0.5x and 1.5x.
	Amplitude float64 `mapstructure:"amplitude"`
	// Peak is the time of day of the highest rate, "HH:MM". Default: 14:00.
	Peak string `mapstructure:"peak"`
}

// Peak multiplies the traffic inside a window.
type Peak struct {
	Window string  `mapstructure:"window"`
	Factor float64 `mapstructure:"factor"`
}

// Latency is a log-normal distribution given by its median and 99th percentile.
// With only p50 set, the latency is constant.
type Latency struct {
	P50 time.Duration `mapstructure:"p50"`
	P99 time.Duration `mapstructure:"p99"`
}

// Dependency is a system that is called but not instrumented (a SaaS API, a
// payment gateway): it only appears as its callers' client spans.
type Dependency struct {
	Name string `mapstructure:"name"`
	// Address is the server.address of the callers' client spans. Default: name.
	Address   string  `mapstructure:"address"`
	Latency   Latency `mapstructure:"latency"`
	ErrorRate float64 `mapstructure:"error_rate"`
}

// Service is an instrumented service: one resource.
type Service struct {
	Name       string      `mapstructure:"name"`
	Version    string      `mapstructure:"version"`
	Pools      []Pool      `mapstructure:"pools"`
	Operations []Operation `mapstructure:"operations"`
}

// Pool is a database connection pool of a service.
type Pool struct {
	Name string `mapstructure:"name"`
	// System is db.system.name, e.g. postgresql. Default: postgresql.
	System string `mapstructure:"system"`
	// Address is the database server.address. Default: <name>.
	Address string `mapstructure:"address"`
	// Size is the maximum number of connections. Default: 10.
	Size int `mapstructure:"size"`
	// WaitTimeout is how long a query waits for a free connection. Default: 5s.
	WaitTimeout time.Duration `mapstructure:"wait_timeout"`
}

// Operation is a server operation of a service, named "METHOD /route".
type Operation struct {
	Name string `mapstructure:"name"`
	// Latency is the operation's own processing time, outside its steps.
	Latency   Latency `mapstructure:"latency"`
	ErrorRate float64 `mapstructure:"error_rate"`
	// ErrorStatus is the HTTP status of a failed request. Default: 500, or 504
	// when a step timed out.
	ErrorStatus int `mapstructure:"error_status"`
	// ErrorMessage is the span status message of a failed request. Default:
	// the failed step's error.
	ErrorMessage string `mapstructure:"error_message"`
	// Deadline bounds the whole operation, as a client's request timeout would:
	// steps get what is left of it. Default: none.
	Deadline time.Duration `mapstructure:"deadline"`
	Steps    []Step        `mapstructure:"steps"`
	Logs     Logs          `mapstructure:"logs"`
	Metrics  []Metric      `mapstructure:"metrics"`
	// BadInput is the behaviour when a caller sends the request after one of
	// its own earlier steps failed (its data is incomplete).
	BadInput *BadInput `mapstructure:"bad_input"`
}

// BadInput describes how an operation handles incomplete input.
type BadInput struct {
	// Latency is added to the operation's own time.
	Latency Latency `mapstructure:"latency"`
	// ErrorRate is the share of such requests that fail. Default: 0.
	ErrorRate float64 `mapstructure:"error_rate"`
	// Status is the HTTP status of a failure. Default: 422.
	Status  int    `mapstructure:"status"`
	Message string `mapstructure:"message"`
	Logs    Logs   `mapstructure:"logs"`
}

// Step is one thing an operation does, in order: exactly one of call, db,
// work and parallel is set.
type Step struct {
	// Name is the span name. Defaults: "METHOD /route" for calls, "OP collection"
	// for db steps, required for work.
	Name     string        `mapstructure:"name"`
	Call     *Call         `mapstructure:"call"`
	DB       *DB           `mapstructure:"db"`
	Work     *Latency      `mapstructure:"work"`
	Parallel []Step        `mapstructure:"parallel"`
	Timeout  time.Duration `mapstructure:"timeout"`
	// Retries is the number of extra attempts after a failure.
	Retries int           `mapstructure:"retries"`
	Backoff time.Duration `mapstructure:"backoff"`
	// OnError is fail (the operation stops and fails), continue (the
	// operation goes on; later calls carry incomplete input) or fail_later
	// (goes on like continue, then fails). Default: fail.
	OnError string `mapstructure:"on_error"`
	Logs    Logs   `mapstructure:"logs"`
}

// Call is an HTTP call to an operation of a service or to a dependency.
type Call struct {
	Service    string `mapstructure:"service"`
	Dependency string `mapstructure:"dependency"`
	// Operation is "METHOD /route".
	Operation string `mapstructure:"operation"`
}

// DB is a database query through one of the service's pools.
type DB struct {
	Pool string `mapstructure:"pool"`
	// Operation is db.operation.name, e.g. SELECT.
	Operation  string  `mapstructure:"operation"`
	Collection string  `mapstructure:"collection"`
	Query      string  `mapstructure:"query"`
	Latency    Latency `mapstructure:"latency"`
	ErrorRate  float64 `mapstructure:"error_rate"`
}

// Logs are log records emitted on events, inside the current server span.
type Logs struct {
	Start []Log `mapstructure:"start"`
	End   []Log `mapstructure:"end"`
	// Error: the step or operation failed (after its retries).
	Error []Log `mapstructure:"error"`
	// Timeout: the step timed out.
	Timeout []Log `mapstructure:"timeout"`
	// Retry: an attempt failed and another follows.
	Retry []Log `mapstructure:"retry"`
	// Wait: a db step waited for a pool connection.
	Wait []Log `mapstructure:"wait"`
}

// Log is one record. Body may use {duration_ms}, {attempt}, {status}.
type Log struct {
	// Severity is TRACE, DEBUG, INFO, WARN, ERROR or FATAL. Default: INFO.
	Severity string `mapstructure:"severity"`
	Body     string `mapstructure:"body"`
}

// Metric is a service-specific instrument recorded by an operation.
type Metric struct {
	Name        string `mapstructure:"name"`
	Description string `mapstructure:"description"`
	// Type is counter (adds 1) or histogram (records the operation's duration in seconds).
	Type string `mapstructure:"type"`
	Unit string `mapstructure:"unit"`
	// On is request, success, error, timeout or retry. Default: request.
	On string `mapstructure:"on"`
	// Attributes may use the value {outcome} (success or failure).
	Attributes map[string]string `mapstructure:"attributes"`
}

// What a step's failure does to its operation (Step.OnError).
const (
	OnErrorFail      = "fail"
	OnErrorContinue  = "continue"
	OnErrorFailLater = "fail_later"
)

// Fault kinds.
const (
	KindLatency          = "latency"
	KindError            = "error"
	KindPoolExhaustion   = "pool_exhaustion"
	KindDependencyDown   = "dependency_down"
	KindCascadingTimeout = "cascading_timeout"
	// KindException: the operation throws before doing its work: its span
	// fails at once with an exception event, the service logs the
	// exception at ERROR, and its callers fail or go on as their steps say.
	KindException = "exception"
	// KindBadResponse: the operation succeeds with a wrong value. Its own
	// telemetry is normal; each caller logs a warning about the answer, its
	// later calls carry incomplete input (the callee's bad_input), and a
	// share error_rate of its requests fail at their end.
	KindBadResponse = "bad_response"
)

// Fault changes the behaviour of a target inside its windows.
type Fault struct {
	Name string `mapstructure:"name"`
	// Kind is latency, error, exception, bad_response, pool_exhaustion or
	// dependency_down.
	Kind   string `mapstructure:"kind"`
	Target Target `mapstructure:"target"`
	// Windows on the scenario clock: "daily 14:00-15:00", "every 30m for 5m
	// [from 10m]", "at 10m for 5m".
	Windows []string `mapstructure:"windows"`
	// Latency is added (latency faults).
	Latency Latency `mapstructure:"latency"`
	// ErrorRate is the share of failures (error and exception faults;
	// default 1), or of the callers' requests that fail after a bad
	// response (bad_response; default 0.5).
	ErrorRate float64 `mapstructure:"error_rate"`
	// ExceptionType is the exception thrown (exception faults). Default:
	// RuntimeException.
	ExceptionType string `mapstructure:"exception_type"`
	Status        int    `mapstructure:"status"`
	Message       string `mapstructure:"message"`
	// Hold is how long each pool connection stays busy after it is taken
	// (pool_exhaustion), as when connections are held across slow work.
	Hold time.Duration `mapstructure:"hold"`
	// Hang makes a down dependency hang until the caller's timeout instead of
	// refusing connections (dependency_down).
	Hang bool `mapstructure:"hang"`
	// Truth overrides the ground truth record derived from the target.
	Truth Truth `mapstructure:"truth"`
}

// Target is what a fault hits: a service's operation or named step, a
// service's pool, or a dependency.
type Target struct {
	Service string `mapstructure:"service"`
	// Operation is a server operation or a step span name of the service.
	Operation  string `mapstructure:"operation"`
	Pool       string `mapstructure:"pool"`
	Dependency string `mapstructure:"dependency"`
}

// Truth is the ground truth of a fault, when it differs from its target.
type Truth struct {
	Kind       string `mapstructure:"kind"`
	Service    string `mapstructure:"service"`
	Operation  string `mapstructure:"operation"`
	Dependency string `mapstructure:"dependency"`
}
