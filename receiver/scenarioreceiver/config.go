package scenarioreceiver // import "github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver"

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/confmap/xconfmap"

	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/builtin"
	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/model"
	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/simulate"
)

// Config defines the configuration of the scenario receiver.
type Config struct {
	// Scenario is the name of a built-in scenario: checkout_payment_timeout,
	// login_db_pool_exhaustion or catalog_slow_query. Exactly one of Scenario
	// and ScenarioFile may be set. Default: empty, which means
	// checkout_payment_timeout unless scenario_file is set.
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

	// Rate, in requests per real second, replaces the scenario's base rate;
	// the traffic profile still shapes it. Default: 0 (the scenario's rate).
	Rate float64 `mapstructure:"rate"`

	// StartAt is the scenario clock's time of day when the receiver starts,
	// "HH:MM" or "HH:MM:SS". Default: empty (the local wall-clock time).
	StartAt string `mapstructure:"start_at"`

	// FaultSchedule, when set, replaces the windows of every fault in the
	// scenario, e.g. ["at 30s for 1m"] or ["every 10m for 2m"]. Offsets are on
	// the scenario clock. Default: empty (the scenario's windows).
	FaultSchedule []string `mapstructure:"fault_schedule"`

	// Duration stops new requests after this real time. Default: 0 (never).
	Duration time.Duration `mapstructure:"duration"`

	// BatchInterval is the real time between two exports of the spans and logs
	// that became due. Default: 200ms.
	BatchInterval time.Duration `mapstructure:"batch_interval"`

	// MetricsInterval is the real time between two exports of the services'
	// cumulative metrics. Default: 10s.
	MetricsInterval time.Duration `mapstructure:"metrics_interval"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ xconfmap.Validator = (*Config)(nil)

const defaultScenario = "checkout_payment_timeout"

// maxTimeScale is the fastest simulated clock: a day a real second.
const maxTimeScale = 86400

// Validate checks that the configuration is usable, including the scenario itself.
func (cfg *Config) Validate() error {
	var errs []error
	switch {
	case cfg.Scenario != "" && cfg.ScenarioFile != "":
		errs = append(errs, errors.New("scenario and scenario_file: set one, not both"))
	default:
		if _, err := cfg.loadScenario(); err != nil {
			errs = append(errs, err)
		}
	}
	if cfg.TimeScale <= 0 || cfg.TimeScale > maxTimeScale {
		errs = append(errs, fmt.Errorf("time_scale: must be positive and at most %v (a simulated day a second), got %v", float64(maxTimeScale), cfg.TimeScale))
	}
	if cfg.Rate < 0 || cfg.Rate > model.MaxRate {
		errs = append(errs, fmt.Errorf("rate: must be within [0, %v] requests a second, got %v", model.MaxRate, cfg.Rate))
	}
	if cfg.StartAt != "" {
		if _, err := model.ParseTimeOfDay(cfg.StartAt); err != nil {
			errs = append(errs, fmt.Errorf("start_at: %w", err))
		}
	}
	for i, w := range cfg.FaultSchedule {
		if _, err := model.ParseWindow(w); err != nil {
			errs = append(errs, fmt.Errorf("fault_schedule[%d]: %w", i, err))
		}
	}
	if cfg.Duration < 0 {
		errs = append(errs, fmt.Errorf("duration: must not be negative, got %v", cfg.Duration))
	}
	// A bare number is nanoseconds: an interval below a millisecond is a
	// forgotten unit, and would spin a core.
	for key, v := range map[string]time.Duration{"batch_interval": cfg.BatchInterval, "metrics_interval": cfg.MetricsInterval} {
		if v < time.Millisecond {
			errs = append(errs, fmt.Errorf("%s: must be at least 1ms, got %v; a number without a unit is nanoseconds: write the unit (e.g. 1s)", key, v))
		}
	}
	return errors.Join(errs...)
}

func (cfg *Config) loadScenario() (*model.Scenario, error) {
	if cfg.ScenarioFile != "" {
		sc, err := model.Load(cfg.ScenarioFile)
		if err != nil {
			return nil, fmt.Errorf("scenario_file %q: %w", cfg.ScenarioFile, err)
		}
		return sc, nil
	}
	name := cfg.Scenario
	if name == "" {
		name = defaultScenario
	}
	data, err := builtin.YAML(name)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	sc, err := model.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("scenario %q: %w", name, err)
	}
	return sc, nil
}

// engineOptions turns the configuration into engine options for a start at now.
func (cfg *Config) engineOptions(now time.Time) (simulate.Options, error) {
	opts := simulate.Options{
		Seed:            cfg.Seed,
		Start:           now,
		TimeScale:       cfg.TimeScale,
		Rate:            cfg.Rate,
		MetricsInterval: cfg.MetricsInterval,
		Duration:        cfg.Duration,
		MaxCatchUp:      10 * time.Second,
	}
	if cfg.StartAt != "" {
		d, err := model.ParseTimeOfDay(cfg.StartAt)
		if err != nil {
			return opts, fmt.Errorf("start_at: %w", err)
		}
		opts.StartAt = d
	} else {
		l := now.Local()
		opts.StartAt = l.Sub(time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, time.Local))
	}
	for _, s := range cfg.FaultSchedule {
		w, err := model.ParseWindow(strings.TrimSpace(s))
		if err != nil {
			return opts, err
		}
		opts.FaultSchedule = append(opts.FaultSchedule, w)
	}
	return opts, nil
}
