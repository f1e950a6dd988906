package trainticket

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// csvFile reads one (optionally gzip-compressed) CSV file leniently: rows of
// any field count, stray quotes kept as text. Callers check field counts.
type csvFile struct {
	path string
	f    *os.File
	gz   *gzip.Reader
	cr   *csv.Reader
	line int // line of the last record read, for error messages

	// plain files (traces, metrics) have no quoted fields: their lines are
	// split on commas, several times faster than encoding/csv; a line with
	// a quote still goes through encoding/csv.
	plain  *bufio.Reader
	fields []string
}

// openCSV opens path and reads its header. An empty file has a nil header.
func openCSV(path string) (*csvFile, []string, error) { return open(path, false) }

// openPlainCSV opens a file without quoted fields (see csvFile.plain).
func openPlainCSV(path string) (*csvFile, []string, error) { return open(path, true) }

func open(path string, plain bool) (*csvFile, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err // already names the file
	}
	c := &csvFile{path: path, f: f}
	var src io.Reader = bufio.NewReaderSize(f, 1<<16)
	if strings.HasSuffix(path, ".gz") {
		c.gz, err = gzip.NewReader(src)
		if errors.Is(err, io.EOF) { // zero-byte file
			f.Close()
			return c, nil, nil
		}
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("read %s: %w", path, err)
		}
		src = c.gz
	}
	if plain {
		c.plain = bufio.NewReaderSize(src, 1<<16)
	} else {
		c.cr = newCSVReader(src)
	}
	hdr, err := c.read()
	if errors.Is(err, io.EOF) {
		return c, nil, nil
	}
	if err != nil {
		c.close()
		return nil, nil, err
	}
	hdr = append([]string(nil), hdr...) // the record is reused
	for i, h := range hdr {
		hdr[i] = strings.TrimSpace(h)
	}
	hdr[0] = strings.TrimPrefix(hdr[0], "\ufeff")
	return c, hdr, nil
}

func newCSVReader(r io.Reader) *csv.Reader {
	cr := csv.NewReader(r)
	cr.LazyQuotes = true
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	return cr
}

// each calls keep with every row in order, and counts in skipped the rows
// that do not parse and those keep refuses; it stops at the end of the file
// or at the first error that is not a row's.
func (c *csvFile) each(skipped *int, keep func(rec []string) bool) error {
	for {
		rec, err := c.read()
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case isParseError(err):
			*skipped++
		case err != nil:
			return err
		case !keep(rec):
			*skipped++
		}
	}
}

// read returns the next record (valid until the next call), io.EOF at the
// end, a *csv.ParseError for a row that does not parse (reading may go on),
// or an error naming the file and line that ends the file.
func (c *csvFile) read() ([]string, error) {
	if c.plain != nil {
		return c.readPlain()
	}
	rec, err := c.cr.Read()
	if err == nil {
		c.line, _ = c.cr.FieldPos(0)
		return rec, nil
	}
	var perr *csv.ParseError
	if errors.Is(err, io.EOF) || errors.As(err, &perr) {
		return nil, err
	}
	return nil, fmt.Errorf("read %s: line %d: %w", c.path, c.line+1, err)
}

// readPlain splits the next line on commas; a line with a quote is parsed
// by encoding/csv instead.
func (c *csvFile) readPlain() ([]string, error) {
	line, err := c.plain.ReadSlice('\n')
	for errors.Is(err, bufio.ErrBufferFull) {
		// A line longer than the buffer: keep reading it.
		more, merr := c.plain.ReadSlice('\n')
		line, err = append(slices.Clone(line), more...), merr
	}
	if len(line) == 0 {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("read %s: line %d: %w", c.path, c.line+1, err)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: line %d: %w", c.path, c.line+1, err)
	}
	c.line++
	text := strings.TrimRight(string(line), "\r\n")
	if strings.IndexByte(text, '"') >= 0 {
		rec, err := newCSVReader(strings.NewReader(text)).Read()
		if err != nil {
			return nil, &csv.ParseError{StartLine: c.line, Line: c.line, Err: err}
		}
		return rec, nil
	}
	c.fields = c.fields[:0]
	for {
		i := strings.IndexByte(text, ',')
		if i < 0 {
			c.fields = append(c.fields, text)
			return c.fields, nil
		}
		c.fields = append(c.fields, text[:i])
		text = text[i+1:]
	}
}

func isParseError(err error) bool {
	var perr *csv.ParseError
	return errors.As(err, &perr)
}

func (c *csvFile) close() {
	// Read-only: a close error loses nothing.
	if c.gz != nil {
		_ = c.gz.Close()
	}
	_ = c.f.Close()
}

// columns finds the named columns in a header; a missing one is an error.
func columns(path string, hdr []string, names ...string) ([]int, error) {
	idx := make([]int, len(names))
	for i, n := range names {
		idx[i] = colIndex(hdr, n)
		if idx[i] < 0 {
			return nil, fmt.Errorf("read %s: line 1: no %s column", path, n)
		}
	}
	return idx, nil
}

func colIndex(hdr []string, name string) int {
	for i, h := range hdr {
		if h == name {
			return i
		}
	}
	return -1
}

// strtab interns strings, so that loaded rows hold small indexes instead of
// copies of the same names.
type strtab struct {
	idx  map[string]uint32
	s    []string
	last uint32 // rows often repeat the previous row's name
}

func (t *strtab) intern(s string) uint32 {
	if len(t.s) > 0 && t.s[t.last] == s {
		return t.last
	}
	if i, ok := t.idx[s]; ok {
		t.last = i
		return i
	}
	if t.idx == nil {
		t.idx = make(map[string]uint32)
	}
	i := uint32(len(t.s))
	s = strings.Clone(s) // s points into a whole CSV row
	t.idx[s] = i
	t.s = append(t.s, s)
	t.last = i
	return i
}

var unhexTab = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
	}
	for c := 'A'; c <= 'F'; c++ {
		t[c] = byte(c - 'A' + 10)
	}
	return t
}()

// parseHex decodes s into dst; s must be exactly 2*len(dst) hex digits and
// not all zeros (an all-zero ID is invalid in OTLP).
func parseHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	var or byte
	for i := range dst {
		hi, lo := unhexTab[s[2*i]], unhexTab[s[2*i+1]]
		if hi > 15 || lo > 15 {
			return false
		}
		dst[i] = hi<<4 | lo
		or |= dst[i]
	}
	return or != 0
}
