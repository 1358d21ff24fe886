package jsonscan

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzSkip: the Decoder accepts exactly the documents encoding/json accepts, and reads
// strings, booleans and integers as encoding/json does.
func FuzzSkip(f *testing.F) {
	for _, s := range []string{
		`{"a":[1,-2.5e+3,true,false,null,{"b":"c\u00e9\ud83d\ude00\n"}],"":{}}`, `[]`, ` "x" `, `0`, `-0.1E1`,
		`{"a":1,}`, `[1,]`, `{"a" 1}`, `01`, `1.`, `"\x"`, "\"\x01\"", `"\ud800"`, "\"\xff\xfe\"", `"\udc00\u0041"`,
		`nul`, `{"a":1}}`, `[[[`, `9223372036854775808`, `"\/\b\f\r\t\\\""`, `tru`, `{"a":1 "b":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		d := New(doc)
		err := d.Skip()
		if err == nil {
			err = d.End()
		}
		if valid := json.Valid(doc); valid != (err == nil) {
			t.Fatalf("Skip(%q): %v; encoding/json says valid=%v", doc, err, valid)
		}
		if err != nil && !errors.Is(err, ErrSyntax) {
			t.Fatalf("Skip(%q): %v, want an ErrSyntax", doc, err)
		}
		var want string
		if json.Unmarshal(doc, &want) == nil && strings.TrimSpace(string(doc)) != "null" {
			if got, err := New(doc).String(); err != nil || got != want {
				t.Fatalf("String(%q) = %q, %v; want %q", doc, got, err, want)
			}
		}
		var wantB bool
		if json.Unmarshal(doc, &wantB) == nil && strings.TrimSpace(string(doc)) != "null" {
			if got, err := New(doc).Bool(); err != nil || got != wantB {
				t.Fatalf("Bool(%q) = %v, %v; want %v", doc, got, err, wantB)
			}
		}
		var wantI int64
		errI := json.Unmarshal(doc, &wantI)
		if json.Valid(doc) && strings.TrimSpace(string(doc)) != "null" {
			got, err := New(doc).Int64()
			if (err == nil) != (errI == nil) || got != wantI {
				t.Fatalf("Int64(%q) = %d, %v; encoding/json %d, %v", doc, got, err, wantI, errI)
			}
		}
	})
}

// TestKeysAndTypes: member names are unquoted, a value of another type is an ErrType naming
// what was wanted, and invalid JSON an ErrSyntax naming the offset.
func TestKeysAndTypes(t *testing.T) {
	d := New([]byte(`{"a\u0062":"x","c":[1]}`))
	if err := d.Object(); err != nil {
		t.Fatal(err)
	}
	k, ok, err := d.Key(0)
	if string(k) != "ab" || !ok || err != nil {
		t.Fatalf("Key = %q, %v, %v; want ab", k, ok, err)
	}
	if _, err := d.Bool(); !errors.Is(err, ErrType) || !strings.Contains(err.Error(), "want a boolean, got a string") {
		t.Errorf("Bool on a string: %v, want ErrType", err)
	}
	for name, doc := range map[string]string{"trailing comma": `{"a":1,}`, "missing colon": `{"a" 1}`, "garbage": `{"a":1} x`} {
		d := New([]byte(doc))
		err := d.Skip()
		if err == nil {
			err = d.End()
		}
		if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "offset") {
			t.Errorf("%s: %v, want ErrSyntax with an offset", name, err)
		}
	}
	deep := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	if err := New([]byte(deep)).Skip(); !errors.Is(err, ErrSyntax) {
		t.Errorf("nesting %d deep: %v, want ErrSyntax", maxDepth+1, err)
	}
}
