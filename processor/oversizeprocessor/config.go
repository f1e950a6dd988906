package oversizeprocessor // import "github.com/otelcol-rca/otelcol-rca/processor/oversizeprocessor"

import (
	"errors"

	"go.opentelemetry.io/collector/component"
)

// Config is the oversize processor's configuration.
type Config struct {
	// MaxBytes is the largest OTLP request one span or log record may make
	// alone, with its resource and scope, in protobuf bytes (as an
	// exporter's sending_queue::batch with sizer bytes measures requests).
	// Set it to the smallest max_size of the exporters that follow: an item
	// larger cannot be split under it, and is dropped here, counted.
	MaxBytes int `mapstructure:"max_bytes"`
}

var _ component.Config = (*Config)(nil)

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.MaxBytes <= 0 {
		return errors.New("max_bytes must be positive: the smallest sending_queue::batch::max_size (bytes) of the exporters that follow")
	}
	return nil
}
