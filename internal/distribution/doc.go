// Package distribution holds the tests of the otelcol-rca distribution as a
// whole: the ocb manifest against the component folders, the version pins of
// every module, and the built binary against the shipped configuration.
package distribution
