// Package oversizeprocessor drops, and counts, the spans and log records
// too large for the exporters that follow it.
package oversizeprocessor // import "github.com/otelcol-rca/otelcol-rca/processor/oversizeprocessor"

//go:generate mdatagen metadata.yaml
