package rootcauseprocessor

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// FuzzConsumeTraces feeds arbitrary OTLP: the processor never panics and
// forwards every span it received.
func FuzzConsumeTraces(f *testing.F) {
	m := &ptrace.ProtoMarshaler{}
	r := rand.New(rand.NewPCG(7, 8))
	for i, build := range []func(uint64, *traceBuilderArgs) *traceBuilder{wrap(checkout), wrap(login), wrap(catalog)} {
		for _, faulty := range []bool{false, true} {
			b := build(uint64(i+1), &traceBuilderArgs{r: r, faulty: faulty})
			data, err := m.MarshalTraces(b.td)
			require.NoError(f, err)
			f.Add(data)
		}
	}
	for _, td := range []ptrace.Traces{batch(row{1, 1, 0, 0, 10}, row{1, 2, 3, 1, 5}, row{1, 3, 2, 1, 5}), batch(row{0, 0, 0, 5, 1})} {
		data, err := m.MarshalTraces(td)
		require.NoError(f, err)
		f.Add(data)
	}
	u := &ptrace.ProtoUnmarshaler{}
	f.Fuzz(func(t *testing.T, data []byte) {
		td, err := u.UnmarshalTraces(data)
		if err != nil {
			return
		}
		cfg := testConfig()
		cfg.MaxTraces = 4
		cfg.MaxSpansPerTrace = 16
		h := newHarness(t, cfg)
		want := td.SpanCount()
		require.NoError(t, h.traces.ConsumeTraces(context.Background(), td))
		h.advance(cfg.DecisionWait + h.shared.tickInterval())
		require.Equal(t, want, h.tsink.SpanCount())
	})
}

type traceBuilderArgs struct {
	r      *rand.Rand
	faulty bool
}

func wrap(build func(uint64, time.Time, *rand.Rand, bool) *traceBuilder) func(uint64, *traceBuilderArgs) *traceBuilder {
	return func(n uint64, a *traceBuilderArgs) *traceBuilder { return build(n, epoch, a.r, a.faulty) }
}
