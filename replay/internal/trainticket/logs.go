package trainticket

import (
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
)

// logRec is one loaded container log line.
type logRec struct {
	time      int64 // Unix ns
	traceID   [16]byte
	spanID    [8]byte
	pod       uint32 // index into Reader.pods
	container uint32 // index into Reader.strs
	stream    uint32 // index into Reader.strs
	sevText   uint32 // index into Reader.strs
	sev       plog.SeverityNumber
	body      string
	// codeClass (index into Reader.strs) and codeLine are where the line
	// says it was written; codeLine is 0 when it does not say.
	codeClass uint32
	codeLine  int64
}

// dockerLog is the container runtime's JSON record in the Log column.
type dockerLog struct {
	Log    string `json:"log"`
	Stream string `json:"stream"`
}

// maxClockSkew is how far TimeUnixNano may be from Timestamp and still be
// trusted: some ERROR rows carry a large negative TimeUnixNano.
const maxClockSkew = int64(time.Minute)

func (fd *fileData) readLogs(path string) error {
	c, hdr, err := openCSV(path)
	if err != nil {
		return err
	}
	if hdr == nil {
		fd.stats.FilesSkipped++
		return nil
	}
	defer c.close()
	col, err := columns(path, hdr, "PodName", "Log", "Timestamp")
	if err != nil {
		return err
	}
	iPod, iLog, iTS := col[0], col[1], col[2]
	iNano, iContainer := colIndex(hdr, "TimeUnixNano"), colIndex(hdr, "Container")
	iTrace, iSpan := colIndex(hdr, "TraceID"), colIndex(hdr, "SpanID")
	st := &fd.stats
	err = c.each(&st.LogRowsSkipped, func(rec []string) bool {
		// A row spliced with another's tail has the wrong field count or a
		// Log column that is not one JSON object.
		var d dockerLog
		if len(rec) != len(hdr) || rec[iPod] == "" || json.Unmarshal([]byte(rec[iLog]), &d) != nil {
			return false
		}
		nano := ""
		if iNano >= 0 {
			nano = rec[iNano]
		}
		t, repaired, ok := logTime(rec[iTS], nano)
		if !ok {
			return false
		}
		if repaired {
			st.LogTimesRepaired++
		}
		l := logRec{time: t, pod: fd.pods.intern(rec[iPod])}
		if iTrace >= 0 && !parseHex(l.traceID[:], rec[iTrace]) {
			l.traceID = [16]byte{}
		}
		if iSpan >= 0 && !parseHex(l.spanID[:], rec[iSpan]) {
			l.spanID = [8]byte{}
		}
		container := ""
		if iContainer >= 0 {
			container = rec[iContainer]
		}
		l.container = fd.strs.intern(container)
		l.stream = fd.strs.intern(d.Stream)
		var word string
		l.sev, word, l.body = parseLine(d.Log)
		l.sevText = fd.strs.intern(word)
		if class, line, ok := codeLocation(l.body); ok {
			l.codeClass, l.codeLine = fd.strs.intern(class), line
		}
		fd.logs = append(fd.logs, l)
		return true
	})
	if err != nil {
		return err
	}
	st.Files++
	return nil
}

// codeLocation reads where a Java line says it was written: a message that
// starts with logback's %logger#%line ("t.s.TravelServiceImpl#372 ...", a
// logger's name may hold brackets: "o.a.c.c.C.[.[.[.[dispatcherServlet]#175"),
// what the OpenTelemetry logback appender sends as code.namespace and
// code.lineno when it captures code attributes.
func codeLocation(body string) (class string, line int64, ok bool) {
	field, _, _ := strings.Cut(body, " ")
	class, num, found := strings.Cut(field, "#")
	if !found || class == "" {
		return "", 0, false
	}
	line, err := strconv.ParseInt(num, 10, 32)
	if err != nil || line <= 0 {
		return "", 0, false
	}
	return class, line, true
}

// logTime is a row's time: TimeUnixNano when it agrees with Timestamp (it has
// the precision), else Timestamp (repaired). When Timestamp does not parse, a
// positive TimeUnixNano is all there is.
func logTime(ts, nano string) (t int64, repaired, ok bool) {
	n, err := strconv.ParseInt(nano, 10, 64)
	nanoOK := err == nil && n > 0
	tt, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		// Some rows have no zone ("2023-01-30T12:01:02.090"); the dataset is UTC.
		tt, err = time.Parse("2006-01-02T15:04:05.999999999", ts)
	}
	if err != nil {
		return n, false, nanoOK
	}
	tsNano := tt.UnixNano()
	if nanoOK && n-tsNano <= maxClockSkew && tsNano-n <= maxClockSkew {
		return n, false, true
	}
	return tsNano, true, true
}

// parseLine splits an application log line into its severity, the level
// word and the rest. It reads the shapes container logs take: a structured
// (JSON) record with a level field ({"severity":"error","message":...}, as
// Go, Node and Python services log); a line whose level word follows its date
// and time, with a [thread] or a separator between them ("20:00:36.278 INFO
// c.t.c.X#34 ...", "10:00:01.123 [main] ERROR ...", as Java's logback and
// log4j write; "2022-08-22 05:18:42,123 - ERROR - ..."); and a line that
// starts with its level ("[error] ...", "ERROR ...", "ERROR:root:...", as
// Python's logging does by default). A level word without brackets is in
// capitals. Any other line is kept whole, with no severity: a stack trace's
// continuation lines, a sentence that starts with "Error rate", for two.
func parseLine(line string) (plog.SeverityNumber, string, string) {
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "{") {
		if sev, word, body, ok := parseJSONLine(line); ok {
			return sev, word, body
		}
	}
	if line == "" || line[0] == ' ' || line[0] == '\t' {
		return plog.SeverityNumberUnspecified, "", line // a continuation line
	}
	rest, dated, thread := line, false, false
	for {
		field, after, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
		switch {
		case field == "":
			return plog.SeverityNumberUnspecified, "", line
		case isDateOrTime(field):
			rest, dated = after, true
			continue
		case dated && (field == "-" || field == "|"):
			rest = after
			continue
		}
		word, tail := levelWord(field)
		if word == "" && dated && !thread && len(field) > 2 && field[0] == '[' && field[len(field)-1] == ']' {
			rest, thread = after, true // logback's [thread]
			continue
		}
		if word == "" {
			return plog.SeverityNumberUnspecified, "", line
		}
		after = strings.TrimLeft(after, " ")
		if strings.HasPrefix(after, "- ") || strings.HasPrefix(after, "| ") {
			after = after[2:] // one separator between the level and the message
		}
		return severity(word), word, strings.TrimSpace(tail + " " + after)
	}
}

// isDateOrTime recognises a date or time field: "20:00:36.278",
// "2022-08-22", "2022/08/22", "2022-08-22T05:18:42.9Z", "05:18:42,123".
func isDateOrTime(field string) bool {
	if len(field) < 5 || field[0] < '0' || field[0] > '9' || !strings.ContainsAny(field, ":-/") {
		return false
	}
	for _, c := range field {
		if (c < '0' || c > '9') && !strings.ContainsRune(":-/.,T+Z", c) {
			return false
		}
	}
	return true
}

// levelWord reads a level from a field: "[ERROR]" or "[error]", "ERROR",
// "ERROR:" and "ERROR:root:..." (tail is what follows the colon). It is
// "" when the field names no level.
func levelWord(field string) (word, tail string) {
	if len(field) > 2 && field[0] == '[' && field[len(field)-1] == ']' {
		if w := field[1 : len(field)-1]; severity(w) != plog.SeverityNumberUnspecified {
			return w, ""
		}
		return "", ""
	}
	word, tail, _ = strings.Cut(field, ":")
	if word != strings.ToUpper(word) || severity(word) == plog.SeverityNumberUnspecified {
		return "", ""
	}
	return word, tail
}

// levelFields, messageFields and timeFields are the keys structured loggers
// use for a record's level, its message and its time (zap, logrus, winston,
// structlog, python-json-logger, ECS).
var (
	levelFields   = []string{"severity", "level", "levelname", "log.level", "lvl"}
	messageFields = []string{"message", "msg", "event", "log"}
	timeFields    = []string{"timestamp", "time", "ts", "@timestamp", "asctime"}
)

// parseJSONLine reads a structured record: its level field and its message.
// A message that is not a string is written as JSON; without a message, the
// body is the record less its level and time (which would make every record
// look new to a template miner). ok is false when the line is not one JSON
// object or names no level by a word.
func parseJSONLine(line string) (sev plog.SeverityNumber, word, body string, ok bool) {
	var rec map[string]any
	if json.Unmarshal([]byte(line), &rec) != nil {
		return 0, "", "", false
	}
	for _, k := range levelFields {
		if v, isStr := rec[k].(string); isStr {
			word = v
			break
		}
	}
	if sev = severity(word); sev == plog.SeverityNumberUnspecified {
		return 0, "", "", false
	}
	for _, k := range messageFields {
		switch v := rec[k].(type) {
		case nil:
			continue
		case string:
			if v == "" {
				continue
			}
			return sev, word, v, true
		default:
			b, _ := json.Marshal(v) // it was just decoded from JSON
			return sev, word, string(b), true
		}
	}
	for _, k := range levelFields {
		delete(rec, k)
	}
	for _, k := range timeFields {
		delete(rec, k)
	}
	b, _ := json.Marshal(rec) // keys sorted: the same fields give the same body
	return sev, word, string(b), true
}

func severity(word string) plog.SeverityNumber {
	switch strings.ToUpper(word) {
	case "TRACE":
		return plog.SeverityNumberTrace
	case "DEBUG":
		return plog.SeverityNumberDebug
	case "INFO":
		return plog.SeverityNumberInfo
	case "WARN", "WARNING":
		return plog.SeverityNumberWarn
	case "ERROR", "ERR", "SEVERE":
		return plog.SeverityNumberError
	case "FATAL", "CRITICAL", "PANIC":
		return plog.SeverityNumberFatal
	}
	return plog.SeverityNumberUnspecified
}

// finishLogs drops lines read twice (the minute files overlap like the trace
// files) and puts the rest in time order.
func (r *Reader) finishLogs() {
	// Stable, so that the first read of a duplicate is kept.
	slices.SortStableFunc(r.logs, func(a, b logRec) int { return cmpLog(&a, &b) })
	w := 0
	for i := range r.logs {
		if w > 0 && cmpLog(&r.logs[i], &r.logs[w-1]) == 0 {
			r.stats.LogDuplicates++
			continue
		}
		r.logs[w] = r.logs[i]
		w++
	}
	r.logs = r.logs[:w]
	r.stats.Logs = w
}

// cmpLog orders log records by time and compares everything that makes two
// records the same line.
func cmpLog(a, b *logRec) int {
	if c := cmp.Compare(a.time, b.time); c != 0 {
		return c
	}
	if c := cmp.Compare(a.pod, b.pod); c != 0 {
		return c
	}
	if c := slices.Compare(a.traceID[:], b.traceID[:]); c != 0 {
		return c
	}
	if c := slices.Compare(a.spanID[:], b.spanID[:]); c != 0 {
		return c
	}
	if c := cmp.Compare(a.stream, b.stream); c != 0 {
		return c
	}
	if c := cmp.Compare(a.container, b.container); c != 0 {
		return c
	}
	if c := cmp.Compare(a.sevText, b.sevText); c != 0 {
		return c
	}
	return strings.Compare(a.body, b.body)
}
