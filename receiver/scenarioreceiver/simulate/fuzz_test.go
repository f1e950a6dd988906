package simulate

import (
	"os"
	"testing"
	"time"

	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/builtin"
	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/model"
)

// FuzzScenario checks that any scenario that validates also runs.
func FuzzScenario(f *testing.F) {
	for _, name := range builtin.Names() {
		data, err := builtin.YAML(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	if data, err := os.ReadFile("../examples/shop.yaml"); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := model.Parse(data)
		if err != nil {
			return
		}
		e, err := New(sc, Options{Seed: 1, Start: t0, TimeScale: 600, Rate: 20})
		if err != nil {
			return
		}
		for now := t0; now.Before(t0.Add(3 * time.Second)); now = now.Add(500 * time.Millisecond) {
			e.Advance(now)
		}
		e.Flush(t0.Add(3 * time.Second))
	})
}
