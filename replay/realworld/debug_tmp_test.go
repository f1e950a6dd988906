package realworld

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	replay "github.com/otelcol-rca/otelcol-rca/replay"
	"github.com/otelcol-rca/otelcol-rca/replay/internal/trainticket"
)

func TestDebugCase(t *testing.T) {
	cs := os.Getenv("RCA_CASE")
	if cs == "" {
		t.Skip()
	}
	d, err := Open(datasetDir(t))
	require.NoError(t, err)
	for _, s := range strings.Split(cs, ",") {
		i, _ := strconv.Atoi(s)
		c := d.Cases[i]
		from := c.Inject.Truncate(60e9)
		r, err := trainticket.Open(trainticket.Options{
			Parts: []trainticket.Part{
				{Dir: d.NezhaConstruct, From: d.Reference, To: d.Reference.Add(60e9)},
				{Dir: d.NezhaRCA, From: from, To: from.Add(3 * 60e9)},
			},
			Traces: true, Logs: true, Metrics: true,
		})
		require.NoError(t, err)
		lg := zap.NewNop()
		if os.Getenv("RCA_LOG") != "" {
			lg, _ = zap.NewDevelopment()
		}
		res, err := replay.Run(context.Background(), replay.DefaultConfig(), lg, r.Next, nil)
		require.NoError(t, err)
		fmt.Printf("### case %d %s %s %s\n", i, c.Inject.Format("15:04:05"), c.Type, c.Service)
		for _, in := range res.Incidents {
			fmt.Printf("%s %s %-8s %s %s/%s n=%d win=%s-%s cands=%v %v\n   reason=%s\n   affected=%v\n", in.At.Format("15:04:05"), in.ID[:8], in.Status, in.Kind, in.CulpritService, in.CulpritOperation, in.TraceCount, in.WindowStart.Format("15:04:05"), in.WindowEnd.Format("15:04:05"), in.Candidates, in.Scores, in.Reason, in.Affected)
		}
	}
}
