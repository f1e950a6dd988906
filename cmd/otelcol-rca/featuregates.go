//go:build otelcolrca

// This file is compiled into the distribution's main package only: `make
// build` (and the Dockerfile) copy it into ocb's output folder, _build, next
// to the main.go and components.go ocb generates there, and the manifest's
// build tag selects it. The repository's own module has no main package for
// it.

package main

import (
	"fmt"

	"go.opentelemetry.io/collector/featuregate"
)

// defaultGates are the feature gates otelcol-rca turns on by default, before
// the command line is read: `--feature-gates=-<id>` still turns one off.
//
// extension.healthcheck.useComponentStatus: the health check reports the
// components' own status (an exporter failing for recovery_duration makes it
// answer 500), which is what the shipped otelcol-config.yaml configures and
// what compose's health checks and the Kubernetes readiness probes rely on.
// Without the gate that configuration is refused, so the first command a
// collector user types, `otelcol-rca --config otelcol-config.yaml`, would
// fail. It is alpha upstream only while the extension moves to this
// implementation; a legacy health_check configuration still works with it on.
var defaultGates = []string{
	"extension.healthcheck.useComponentStatus",
}

// init runs after the init of every imported package, the components' among
// them, so the gates are registered; cobra parses --feature-gates later, in
// main.
func init() {
	for _, id := range defaultGates {
		if err := featuregate.GlobalRegistry().Set(id, true); err != nil {
			// A gate gone from the components this distribution is built
			// with: the build is wrong, and the shipped config may not start.
			panic(fmt.Sprintf("otelcol-rca: turn on feature gate %s by default: %v", id, err))
		}
	}
}
