// Package trainticket replays telemetry recorded in the layout of the Nezha
// and TraStrainer datasets (Train Ticket on 2023-01-30 and other days; CSV
// files of traces, container logs and pod metrics, one a minute, plain or
// gzip-compressed) as recording.Batches in event-time order, the way a live
// OTLP collector would have received it.
//
// The files carry no span kinds or statuses, and no OTLP resources: the spans
// go out as recorded (the processor reads the service boundaries), the
// resource comes from the pod name and a log line's severity from its level
// word. The files overlap: a span or log line near a minute boundary is in two
// minute files, and a trace's spans can be spread over several. Open
// therefore loads and indexes every selected file first (compactly), drops
// what was read twice over the whole data, and Next builds the pdata of one
// step at a time.
package trainticket // import "github.com/otelcol-rca/otelcol-rca/replay/internal/trainticket"

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Part is one dataset folder (holding trace/, log/, metric/ subfolders, any of
// them may be missing) and the minutes to read from it.
type Part struct {
	Dir string
	// From, To select minute files by their HH_MM name: minutes m with
	// From <= m < To, compared as time of day (UTC hour and minute of From/To).
	// Zero From and To: every file. A To at or before From (as time of day)
	// wraps around midnight, so a zero To with a non-zero From means "from
	// From to the end of the day".
	// Metric rows are selected by their TimeStamp column in the same way (time
	// of day), so a part reads only its minutes.
	From, To time.Time
}

// Options say what to read.
type Options struct {
	Parts []Part
	// Step is the event-time width of one batch; 0 means 1s. Steps are
	// aligned to multiples of Step since the Unix epoch.
	Step time.Duration
	// Which signals to read.
	Traces, Logs, Metrics bool
}

// Stats count what was read, dropped and repaired. Rows that are read twice
// (minute files overlap, parts may share files) are counted once as data and
// once as a duplicate.
type Stats struct {
	Files        int // files read
	FilesSkipped int // files not recognised as data (front_service.csv.gz, other names, empty files)

	Spans           int // spans kept: the number Next emits
	SpanDuplicates  int // span rows dropped because their (TraceID, SpanID) was already read
	SpanRowsSkipped int // span rows with bad IDs, times or pod names

	Logs             int // log records kept
	LogDuplicates    int // log rows identical to one already read (overlapping minute files)
	LogRowsSkipped   int // log rows that do not parse (field count, JSON, no pod, no time)
	LogTimesRepaired int // log records whose time came from Timestamp, not TimeUnixNano

	MetricPoints        int // data points kept
	MetricDuplicates    int // data points of a (pod, metric, time) already read
	MetricRowsSkipped   int // metric rows without a usable TimeStamp
	MetricPointsSkipped int // single values missing, non-numeric or NaN
}

// Reader emits the loaded telemetry batch by batch. It is not safe for
// concurrent use.
type Reader struct {
	step     int64
	pods     []podInfo
	ops      strtab // operation names
	strs     strtab // severity words, streams, containers
	traceIDs [][16]byte
	stats    Stats

	spans   []span
	logs    []logRec
	points  []point
	si, li  int // next span, log record
	mi      int // next data point
	podSlot []int32
}

type podInfo struct {
	name, service string
	svc           uint32 // service number, cheaper to compare
}

// ServiceOf is the service of a Kubernetes pod: the pod name without its last
// two "-" parts (the ReplicaSet hash and the pod suffix), so
// "ts-contacts-service-866bd68c97-dzqgd" is "ts-contacts-service". A name of
// fewer than three parts is returned as it is.
func ServiceOf(pod string) string {
	i := strings.LastIndexByte(pod, '-')
	if i < 0 {
		return pod
	}
	j := strings.LastIndexByte(pod[:i], '-')
	if j <= 0 {
		return pod
	}
	return pod[:j]
}

// Open reads and indexes every selected file of opts.Parts. A missing part
// folder is an error; a missing trace/, log/ or metric/ subfolder is not.
func Open(opts Options) (*Reader, error) {
	step := opts.Step
	if step == 0 {
		step = time.Second
	}
	if step < 0 {
		return nil, fmt.Errorf("negative step %v", step)
	}
	r := &Reader{step: int64(step)}
	var jobs []job
	for i, p := range opts.Parts {
		fi, err := os.Stat(p.Dir)
		if err != nil {
			return nil, fmt.Errorf("part %d: %w", i, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("part %d: %s is not a directory", i, p.Dir)
		}
		if jobs, err = r.plan(jobs, p.Dir, newSelector(p.From, p.To), opts); err != nil {
			return nil, err
		}
	}
	if err := r.load(jobs); err != nil {
		return nil, err
	}
	r.finishLogs()
	r.finishPoints()
	r.podSlot = make([]int32, len(r.pods))
	for i := range r.podSlot {
		r.podSlot[i] = -1
	}
	return r, nil
}

// Stats returns what Open read, dropped and repaired.
func (r *Reader) Stats() Stats { return r.stats }

// Spans is the number of spans Next emits in all.
func (r *Reader) Spans() int { return len(r.spans) }

// selector picks minutes of the day.
type selector struct {
	all      bool
	from, to int // minutes of the day
}

func newSelector(from, to time.Time) selector {
	if from.IsZero() && to.IsZero() {
		return selector{all: true}
	}
	return selector{from: minuteOfDay(from), to: minuteOfDay(to)}
}

func minuteOfDay(t time.Time) int {
	t = t.UTC()
	return t.Hour()*60 + t.Minute()
}

func (s selector) contains(m int) bool {
	switch {
	case s.all:
		return true
	case s.from < s.to:
		return s.from <= m && m < s.to
	case s.from > s.to: // wraps around midnight
		return m >= s.from || m < s.to
	default:
		return false
	}
}

// containsUnix says whether the minute of the Unix time sec is selected.
func (s selector) containsUnix(sec int64) bool {
	if s.all {
		return true
	}
	m := sec / 60 % (24 * 60)
	if m < 0 {
		m += 24 * 60
	}
	return s.contains(int(m))
}

// minuteFile parses the "HH_MM" that starts a minute file's name.
func minuteFile(name string) (int, bool) {
	if len(name) < 5 || name[2] != '_' {
		return 0, false
	}
	h, ok1 := twoDigits(name[0:2])
	m, ok2 := twoDigits(name[3:5])
	if !ok1 || !ok2 || h > 23 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

func twoDigits(s string) (int, bool) {
	if s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

// listDir lists a signal's subfolder; a missing one is empty.
func listDir(dir string) ([]os.DirEntry, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	return ents, nil
}
