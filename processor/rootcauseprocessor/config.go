package rootcauseprocessor // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor"

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/confmap/xconfmap"
)

// Config defines the configuration of the rootcause processor.
type Config struct {
	// DecisionWait is how long after the last span of a trace the processor waits
	// before it diagnoses the trace. Default: 5s.
	DecisionWait time.Duration `mapstructure:"decision_wait"`

	// MaxTraces is the maximum number of traces buffered while they wait for their
	// decision. The oldest trace is evicted (diagnosed early) when it is reached.
	// Default: 50000.
	MaxTraces int `mapstructure:"max_traces"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ xconfmap.Validator = (*Config)(nil)

// Validate checks that the configuration is usable.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.DecisionWait <= 0 {
		errs = append(errs, fmt.Errorf("decision_wait: must be positive, got %v", cfg.DecisionWait))
	}
	if cfg.MaxTraces <= 0 {
		errs = append(errs, fmt.Errorf("max_traces: must be positive, got %d", cfg.MaxTraces))
	}
	return errors.Join(errs...)
}
