package scenarioreceiver // import "github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver"

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/confmap/xconfmap"
)

// Config defines the configuration of the scenario receiver.
type Config struct {
	// Scenario is the name of a built-in scenario: checkout_payment_timeout,
	// login_db_pool_exhaustion or catalog_slow_query. Exactly one of Scenario
	// and ScenarioFile must be set. Default: checkout_payment_timeout.
	Scenario string `mapstructure:"scenario"`

	// ScenarioFile is the path of a scenario described in YAML. Default: empty.
	ScenarioFile string `mapstructure:"scenario_file"`

	// Seed makes the generated telemetry deterministic. Default: 1.
	Seed int64 `mapstructure:"seed"`

	// TimeScale compresses the scenario clock: 720 plays a day in two minutes.
	// Request rates stay in real seconds. Default: 1 (real time).
	TimeScale float64 `mapstructure:"time_scale"`

	// GroundTruthPath, when set, is a JSON-lines file that receives one record
	// per fault window. Default: empty (no file).
	GroundTruthPath string `mapstructure:"ground_truth_path"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ xconfmap.Validator = (*Config)(nil)

var builtinScenarios = []string{"checkout_payment_timeout", "login_db_pool_exhaustion", "catalog_slow_query"}

// Validate checks that the configuration is usable.
func (cfg *Config) Validate() error {
	var errs []error
	switch {
	case cfg.Scenario != "" && cfg.ScenarioFile != "":
		errs = append(errs, errors.New("scenario and scenario_file: set one, not both"))
	case cfg.Scenario == "" && cfg.ScenarioFile == "":
		errs = append(errs, errors.New("scenario: set a built-in scenario name or scenario_file"))
	case cfg.Scenario != "" && !isBuiltin(cfg.Scenario):
		errs = append(errs, fmt.Errorf("scenario: unknown scenario %q (built-in: %v)", cfg.Scenario, builtinScenarios))
	}
	if cfg.TimeScale <= 0 {
		errs = append(errs, fmt.Errorf("time_scale: must be positive, got %v", cfg.TimeScale))
	}
	return errors.Join(errs...)
}

func isBuiltin(name string) bool {
	for _, b := range builtinScenarios {
		if b == name {
			return true
		}
	}
	return false
}
