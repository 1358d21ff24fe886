package inject

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// patchWriter builds a JSON array of RFC 6902 operations in one buffer.
type patchWriter struct {
	buf   []byte
	start int // where the array starts in buf (MutateAppend's dst comes before it)
	n     int
}

// newPatchWriter starts the array after dst's bytes, growing dst to hold size more.
func newPatchWriter(dst []byte, size int) *patchWriter {
	w := &patchWriter{buf: slices.Grow(dst, size), start: len(dst)}
	w.buf = append(w.buf, '[')
	return w
}

// add appends {"op":"add","path":path,"value":value}; value is raw JSON.
func (w *patchWriter) add(path string, value []byte) {
	w.open(path)
	w.buf = append(w.buf, value...)
	w.close()
}

// open starts an add operation of path: the value is appended to w.buf, then close.
func (w *patchWriter) open(path string) {
	if w.n > 0 {
		w.buf = append(w.buf, ',')
	}
	w.n++
	w.buf = append(w.buf, `{"op":"add","path":`...)
	w.buf = appendString(w.buf, path)
	w.buf = append(w.buf, `,"value":`...)
}

func (w *patchWriter) close() { w.buf = append(w.buf, '}') }

// addAt is add with the path "/spec/<field>/<i><suffix>", written without building a string.
func (w *patchWriter) addAt(field string, i int, suffix string, value []byte) {
	w.openAt(field, i, suffix)
	w.buf = append(w.buf, value...)
	w.close()
}

// openAt is open with addAt's path.
func (w *patchWriter) openAt(field string, i int, suffix string) {
	if w.n > 0 {
		w.buf = append(w.buf, ',')
	}
	w.n++
	w.buf = append(w.buf, `{"op":"add","path":"/spec/`...)
	w.buf = append(w.buf, field...)
	w.buf = append(w.buf, '/')
	w.buf = strconv.AppendInt(w.buf, int64(i), 10)
	w.buf = append(w.buf, suffix...)
	w.buf = append(w.buf, `","value":`...)
}

// bytes ends the array and returns it (without dst's bytes).
func (w *patchWriter) bytes() []byte { w.buf = append(w.buf, ']'); return w.buf[w.start:] }

// pointerEscape escapes one JSON-pointer reference token (RFC 6901): "~" is "~0", "/" is "~1".
func pointerEscape(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return pointerEscaper.Replace(s)
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as encoding/json does.
func appendString(b []byte, s string) []byte {
	return append(appendStringBody(append(b, '"'), s), '"')
}

// appendStringBody is appendString without the quotes.
func appendStringBody(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\t':
				b = append(b, '\\', 't')
			case '\r':
				b = append(b, '\\', 'r')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// AppendJSONString appends s as a JSON string, as encoding/json writes it (HTML characters,
// U+2028, U+2029 escaped, invalid UTF-8 as U+FFFD): for hand-built answers.
func AppendJSONString(b []byte, s string) []byte { return appendString(b, s) }
