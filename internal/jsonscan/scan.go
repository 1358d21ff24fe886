package jsonscan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

var (
	// ErrSyntax is a document that is not valid JSON.
	ErrSyntax = errors.New("jsonscan: invalid JSON")
	// ErrType is a valid value of another type than the caller asked for.
	ErrType = errors.New("jsonscan: unexpected JSON type")
)

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// Decoder reads one JSON document. The zero value is not usable: call New.
type Decoder struct {
	b     []byte
	i     int
	depth int
	buf   []byte // unquoted strings with escapes or invalid UTF-8
	stack []bool // Skip's open containers
}

// New returns a Decoder reading b. b must not change while it is read.
func New(b []byte) *Decoder { return &Decoder{b: b} }

// Offset is the position of the next byte to read.
func (d *Decoder) Offset() int { return d.i }

// Bytes is the document from start (an Offset, white space skipped) to the current offset:
// the raw JSON of the values read in between.
func (d *Decoder) Bytes(start int) []byte {
	for start < d.i && (d.b[start] == ' ' || d.b[start] == '\t' || d.b[start] == '\r' || d.b[start] == '\n') {
		start++
	}
	return d.b[start:d.i:d.i]
}

// Rewind goes back to an offset returned by Offset (to skip a value a typed read refused).
func (d *Decoder) Rewind(off, depth int) { d.i, d.depth = off, depth }

// Depth is the nesting depth at the current position, for Rewind.
func (d *Decoder) Depth() int { return d.depth }

func (d *Decoder) syntax(what string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrSyntax, what, d.i)
}

func (d *Decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\r', '\n':
			d.i++
		default:
			return
		}
	}
}

// Peek returns the first byte of the next value ('{', '[', '"', 't', 'f', 'n', '-' or a
// digit), or 0 at the end of the document.
func (d *Decoder) Peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

var kinds = map[byte]string{'{': "an object", '[': "an array", '"': "a string", 't': "a boolean", 'f': "a boolean", 'n': "null"}

// typeErr is ErrType when c starts a value, ErrSyntax when it does not.
func (d *Decoder) typeErr(want string, c byte) error {
	got, ok := kinds[c]
	if c == '-' || c >= '0' && c <= '9' {
		got, ok = "a number", true
	}
	if !ok {
		return d.syntax("want a value")
	}
	return fmt.Errorf("%w: want %s, got %s at offset %d", ErrType, want, got, d.i)
}

// End checks that nothing but white space follows the value read.
func (d *Decoder) End() error {
	if d.ws(); d.i < len(d.b) {
		return d.syntax("data after the document")
	}
	return nil
}

// Null consumes the next value if it is null.
func (d *Decoder) Null() (bool, error) {
	if d.Peek() != 'n' {
		return false, nil
	}
	return true, d.literal("null")
}

func (d *Decoder) literal(lit string) error {
	if len(d.b)-d.i < len(lit) || string(d.b[d.i:d.i+len(lit)]) != lit {
		return d.syntax("invalid literal")
	}
	d.i += len(lit)
	return nil
}

// Object consumes the '{' of the next value, an ErrType if it is not an object.
func (d *Decoder) Object() error {
	if c := d.Peek(); c != '{' {
		return d.typeErr("an object", c)
	}
	if d.depth++; d.depth > maxDepth {
		return d.syntax("nesting too deep")
	}
	d.i++
	return nil
}

// Key reads the name of the object's next member and its colon; n is how many members were
// read before. ok is false once the closing '}' is consumed. The name is unquoted and valid
// until the next read.
func (d *Decoder) Key(n int) (name []byte, ok bool, err error) {
	c := d.Peek()
	if c == '}' {
		d.i++
		d.depth--
		return nil, false, nil
	}
	if n > 0 {
		if c != ',' {
			return nil, false, d.syntax("want , or } after an object member")
		}
		d.i++
		c = d.Peek()
	}
	if c != '"' {
		return nil, false, d.syntax("want a member name")
	}
	if name, err = d.str(); err != nil {
		return nil, false, err
	}
	if d.Peek() != ':' {
		return nil, false, d.syntax("want : after a member name")
	}
	d.i++
	return name, true, nil
}

// Array consumes the '[' of the next value, an ErrType if it is not an array.
func (d *Decoder) Array() error {
	if c := d.Peek(); c != '[' {
		return d.typeErr("an array", c)
	}
	if d.depth++; d.depth > maxDepth {
		return d.syntax("nesting too deep")
	}
	d.i++
	return nil
}

// Elem reports whether the array has another element (then read it); n is how many elements
// were read before. It consumes the closing ']'.
func (d *Decoder) Elem(n int) (bool, error) {
	c := d.Peek()
	if c == ']' {
		d.i++
		d.depth--
		return false, nil
	}
	if n > 0 {
		if c != ',' {
			return false, d.syntax("want , or ] after an array element")
		}
		d.i++
		if d.Peek() == ']' {
			return false, d.syntax("want a value after ,")
		}
	}
	return true, nil
}

// String reads a string value, unquoted as encoding/json does.
func (d *Decoder) String() (string, error) {
	if c := d.Peek(); c != '"' {
		return "", d.typeErr("a string", c)
	}
	s, err := d.str()
	return string(s), err
}

// Bool reads true or false.
func (d *Decoder) Bool() (bool, error) {
	switch c := d.Peek(); c {
	case 't':
		return true, d.literal("true")
	case 'f':
		return false, d.literal("false")
	default:
		return false, d.typeErr("a boolean", c)
	}
}

// Int64 reads a number that is an integer literal, as encoding/json reads one into an int64
// (1.0 and 1e3 are refused).
func (d *Decoder) Int64() (int64, error) {
	c := d.Peek()
	if c != '-' && (c < '0' || c > '9') {
		return 0, d.typeErr("a number", c)
	}
	start := d.i
	if err := d.number(); err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(string(d.b[start:d.i]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s is not an int64 at offset %d", ErrType, d.b[start:d.i], start)
	}
	return v, nil
}

// SkipArray skips an array, reporting whether it has an element.
func (d *Decoder) SkipArray() (nonEmpty bool, err error) {
	if c := d.Peek(); c != '[' {
		return false, d.typeErr("an array", c)
	}
	i := skipWS(d.b, d.i+1)
	return i < len(d.b) && d.b[i] != ']', d.Skip()
}

// Skip validates and consumes the next value. It is one loop over the bytes with a stack of
// the open containers, not a call per token: it is what reads most of a large review.
func (d *Decoder) Skip() error {
	b, i := d.b, d.i
	stack := d.stack[:0] // true: an object
	fail := func(at int, what string) error { d.i = at; d.stack = stack[:0]; return d.syntax(what) }
	for {
		// A value starts at i.
		i = skipWS(b, i)
		if i >= len(b) {
			return fail(i, "want a value")
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if d.depth+len(stack)+1 > maxDepth {
				return fail(i, "nesting too deep")
			}
			stack = append(stack, c == '{')
			if i = skipWS(b, i+1); i < len(b) && b[i] == c+2 { // {} or []
				stack = stack[:len(stack)-1]
				i++
				break
			}
			if c == '[' {
				continue
			}
			var err error
			if i, err = d.key(i); err != nil {
				return err
			}
			continue
		case c == '"':
			end, _, what := scanString(b, i+1)
			if what != "" {
				return fail(end, what)
			}
			i = end
		case c == 't' || c == 'f' || c == 'n':
			lit := "null"
			if c == 't' {
				lit = "true"
			} else if c == 'f' {
				lit = "false"
			}
			if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
				return fail(i, "invalid literal")
			}
			i += len(lit)
		case c == '-' || c >= '0' && c <= '9':
			d.i = i
			if err := d.number(); err != nil {
				return err
			}
			i = d.i
		default:
			return fail(i, "want a value")
		}
		// A value ended at i: close containers until one continues.
		for {
			if len(stack) == 0 {
				d.i, d.stack = i, stack[:0]
				return nil
			}
			obj := stack[len(stack)-1]
			i = skipWS(b, i)
			if i >= len(b) {
				return fail(i, "unterminated object or array")
			}
			if c := b[i]; c == ',' {
				if obj {
					var err error
					if i, err = d.key(skipWS(b, i+1)); err != nil {
						return err
					}
				} else {
					i++
				}
				break
			} else if obj && c == '}' || !obj && c == ']' {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			return fail(i, "want , or the end of the object or array")
		}
	}
}

// key consumes a member name at i and its colon, returning the offset after them.
func (d *Decoder) key(i int) (int, error) {
	if i >= len(d.b) || d.b[i] != '"' {
		d.i = i
		return 0, d.syntax("want a member name")
	}
	end, _, what := scanString(d.b, i+1)
	if what != "" {
		d.i = end
		return 0, d.syntax(what)
	}
	i = skipWS(d.b, end)
	if i >= len(d.b) || d.b[i] != ':' {
		d.i = i
		return 0, d.syntax("want : after a member name")
	}
	return i + 1, nil
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// number consumes -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *Decoder) number() error {
	b, i := d.b, d.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() bool {
		s := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > s
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		d.i = i
		return d.syntax("invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			d.i = i
			return d.syntax("invalid number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			d.i = i
			return d.syntax("invalid number")
		}
	}
	d.i = i
	return nil
}

// plain is the bytes a string holds as they are: not '"', '\\', a control byte or non-ASCII.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const lsb, msb = 0x0101010101010101, 0x8080808080808080

// skipString consumes the string at d.i and reports whether its content needs unquoting
// (escapes or non-ASCII bytes).
func (d *Decoder) skipString() (special bool, err error) {
	end, special, what := scanString(d.b, d.i+1)
	if what != "" {
		d.i = end
		return false, d.syntax(what)
	}
	d.i = end
	return special, nil
}

// scanString finds the end of the string whose content starts at i: the offset after its
// closing quote, whether it needs unquoting, or what is wrong with it.
func scanString(b []byte, i int) (end int, special bool, what string) {
	for {
		// Eight bytes at a time: the first that is '"', '\\', below 0x20 or above 0x7f.
		for ; i+8 <= len(b); i += 8 {
			x := binary.LittleEndian.Uint64(b[i : i+8])
			q, bs := x^(lsb*'"'), x^(lsb*'\\')
			if m := ((x-lsb*0x20)&^x | (q-lsb)&^q | (bs-lsb)&^bs | x) & msb; m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
		}
		for i < len(b) && plain[b[i]] {
			i++
		}
		if i >= len(b) {
			return i, false, "unterminated string"
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, special, ""
		case c == '\\':
			special = true
			if i+1 >= len(b) {
				return i, false, "unterminated string"
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if getu4(b[i:]) < 0 {
					return i, false, "invalid \\u escape"
				}
				i += 6
			default:
				return i, false, "invalid escape"
			}
		case c < 0x20:
			return i, false, "control character in a string"
		default: // non-ASCII: encoding/json takes any byte, and unquotes invalid UTF-8 as U+FFFD
			special = true
			i++
		}
	}
}

// str consumes the string at d.i and returns its unquoted bytes: a slice of the document when
// it needs no unquoting, else d.buf.
func (d *Decoder) str() ([]byte, error) {
	start := d.i + 1
	special, err := d.skipString()
	if err != nil {
		return nil, err
	}
	s := d.b[start : d.i-1]
	if !special {
		return s, nil
	}
	d.buf = unquote(d.buf[:0], s)
	return d.buf, nil
}

// unquote appends the validated string content s unquoted as encoding/json's unquoteBytes does.
func unquote(dst, s []byte) []byte {
	for r := 0; r < len(s); {
		switch c := s[r]; {
		case c == '\\':
			switch s[r+1] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				rr := getu4(s[r:])
				r += 6
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, getu4(s[r:])); dec != unicode.ReplacementChar {
						r += 6
						dst = utf8.AppendRune(dst, dec)
						continue
					}
					rr = unicode.ReplacementChar
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			default: // " \ /
				dst = append(dst, s[r+1])
			}
			r += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			dst = utf8.AppendRune(dst, rr)
		}
	}
	return dst
}

// getu4 decodes \uXXXX at the start of s, or returns -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}
