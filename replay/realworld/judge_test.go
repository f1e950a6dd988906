package realworld

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/otelcol-rca/otelcol-rca/replay"
)

func TestJudgeCreditsAnIncidentOpenBeforeTheFaultOnlyForWhatItGathersAfter(t *testing.T) {
	inject := time.Date(2023, 1, 30, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return inject.Add(time.Duration(s) * time.Second) }
	c := Case{Inject: inject, Service: "food", Type: "cpu_contention"}
	rec := func(s int, id, status, culprit string, traces int64) replay.Incident {
		return replay.Incident{At: at(s), ID: id, Status: status, CulpritService: culprit, TraceCount: traces}
	}

	// food's incident opened 5 s before the injection with 3 traces and
	// gathered 9 more after it; seat's opened after it with 6.
	grown := []replay.Incident{
		rec(-5, "food", "open", "food", 3),
		rec(10, "seat", "open", "seat", 6),
		rec(20, "food", "update", "food", 12),
	}
	o := Judge(c, grown)
	assert.Equal(t, []string{"food", "seat"}, o.Ranking)
	assert.Equal(t, 1, o.Rank)
	assert.Equal(t, 0, o.NewRank, "the new-only reading does not credit an incident opened before the fault")
	assert.Equal(t, 2, o.FirstRank, "seat's record comes first in the window")
	assert.Equal(t, 10*time.Second, o.Delay)

	// The same incident gathering nothing after the injection explains
	// nothing of the fault, whatever its size.
	stale := []replay.Incident{
		rec(-5, "food", "open", "food", 30),
		rec(10, "seat", "open", "seat", 6),
		rec(20, "food", "update", "food", 30),
	}
	o = Judge(c, stale)
	assert.Equal(t, []string{"seat"}, o.Ranking)
	assert.Equal(t, 0, o.Rank)

	// An incident resolved before the fault and updated after it explains
	// nothing of it; reopened after it, it counts by what it gathered since.
	resolved := []replay.Incident{
		rec(-60, "food", "open", "food", 3),
		rec(-5, "food", "resolved", "food", 3),
		rec(10, "food", "update", "food", 9),
	}
	o = Judge(c, resolved)
	assert.Empty(t, o.Ranking)
	assert.Equal(t, time.Duration(-1), o.Delay)
	reopened := []replay.Incident{
		rec(-60, "food", "open", "food", 30),
		rec(-5, "food", "resolved", "food", 30),
		rec(10, "seat", "open", "seat", 6),
		rec(20, "food", "open", "food", 33),
	}
	o = Judge(c, reopened)
	assert.Equal(t, []string{"seat", "food"}, o.Ranking, "food gathered 3 traces since the injection, seat 6")
	assert.Equal(t, 2, o.NewRank, "a reopened incident is new to the fault")

	// An incident open before the fault, resolved and reopened in the case
	// window counts in both readings; a record after the window in none.
	again := []replay.Incident{
		rec(-5, "food", "open", "food", 3),
		rec(30, "food", "update", "food", 5),
		rec(60, "food", "resolved", "food", 5),
		rec(90, "food", "open", "food", 8),
		rec(int(caseWindow/time.Second)+1, "later", "open", "travel", 50),
	}
	o = Judge(c, again)
	assert.Equal(t, []string{"food"}, o.Ranking)
	assert.Equal(t, 1, o.NewRank)
	assert.Equal(t, 90*time.Second, o.Delay, "detection: the first incident opened after the injection")

	// A low-rate culprit all of whose requests fail ranks before a busy
	// service whose usual tail made more traces; the count breaks ties.
	withShare := func(in replay.Incident, share float64) replay.Incident { in.Share = share; return in }
	busy := []replay.Incident{
		withShare(rec(10, "seat", "open", "seat", 20), 0.2),
		withShare(rec(20, "food", "open", "food", 6), 0.9),
		withShare(rec(30, "travel", "open", "travel", 7), 0.9),
	}
	o = Judge(c, busy)
	assert.Equal(t, []string{"travel", "food", "seat"}, o.Ranking)
	assert.Equal(t, 2, o.Rank)
	assert.Equal(t, 3, o.SizeRank, "by traces alone the busy service's tail comes first")

	// An incident open since before the fault keeps the share it reached
	// then; that share says nothing of the fault. Reached within a record
	// of the injection, it may be the fault's.
	early := []replay.Incident{
		withShare(rec(-90, "basic", "open", "basic", 10), 1),
		withShare(rec(20, "basic", "update", "basic", 17), 1),
		withShare(rec(30, "food", "open", "food", 5), 0.9),
	}
	o = Judge(c, early)
	assert.Equal(t, []string{"food", "basic"}, o.Ranking)
	justBefore := []replay.Incident{
		withShare(rec(-5, "food", "open", "food", 3), 1),
		withShare(rec(20, "food", "update", "food", 9), 1),
		withShare(rec(30, "seat", "open", "seat", 20), 0.9),
	}
	o = Judge(c, justBefore)
	assert.Equal(t, []string{"food", "seat"}, o.Ranking)
}
