package bill

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// The table decodes every byte and every two-byte sequence as x/text does:
// the same runes, U+FFFD at the same places, refused exactly when x/text
// writes U+FFFD (GBK has no U+FFFD of its own), bad at the first of them.
func TestDecodeGBKAsXText(t *testing.T) {
	t.Parallel()
	dec := simplifiedchinese.GBK.NewDecoder()
	check := func(in []byte) {
		t.Helper()
		want, err := dec.Bytes(in)
		if err != nil {
			t.Fatalf("% x: x/text: %v", in, err)
		}
		wantBad := -1
		if i := bytes.IndexRune(want, utf8.RuneError); i == 0 {
			wantBad = 0
		} else if i > 0 {
			wantBad = len(in) - 1 // the first byte gave a rune of its own
		}
		got, bad := decodeGBK(in)
		if !bytes.Equal(got, want) || bad != wantBad {
			t.Fatalf("% x decodes to %q (bad %d), x/text to %q (bad %d)", in, got, bad, want, wantBad)
		}
	}
	for c0 := range 256 {
		check([]byte{byte(c0)})
		for c1 := range 256 {
			check([]byte{byte(c0), byte(c1)})
		}
	}
}

// xtextGBK is how the formatter wrote GBK with x/text: each rune as x/text
// encodes it, "?" for one it refuses.
func xtextGBK(t *testing.T, text []byte) []byte {
	t.Helper()
	enc := simplifiedchinese.GBK.NewEncoder()
	var out []byte
	for len(text) > 0 {
		_, size := utf8.DecodeRune(text)
		if b, err := enc.Bytes(text[:size]); err == nil {
			out = append(out, b...)
		} else {
			out = append(out, '?')
		}
		text = text[size:]
	}
	return out
}

// Every rune, and invalid UTF-8, encodes as x/text encodes it.
func TestEncodeGBKAsXText(t *testing.T) {
	t.Parallel()
	var all []byte
	for r := range rune(utf8.MaxRune + 1) {
		all = utf8.AppendRune(all, r)
	}
	for _, s := range [][]byte{all, []byte("\xff"), []byte("a\xe4\xb8"), []byte("\xed\xa0\x80z"), []byte("€€\x80")} {
		if got, want := encodeGBK(s), xtextGBK(t, s); !bytes.Equal(got, want) {
			i := 0
			for i < min(len(got), len(want)) && got[i] == want[i] {
				i++
			}
			t.Fatalf("output byte %d on: got % x, x/text % x", i, got[i:min(i+8, len(got))], want[i:min(i+8, len(want))])
		}
	}
}

// FuzzGBK: any bytes decode, and any text encodes, as x/text would.
func FuzzGBK(f *testing.F) {
	for _, s := range []string{"", "\x81", "\xd2\xff", "\x80\xa1\xa1\xa3\xa0\xfe\xfe", "a\xfe\x40\xff\n", "洗衣👕€"} {
		f.Add([]byte(s))
	}
	dec := simplifiedchinese.GBK.NewDecoder()
	f.Fuzz(func(t *testing.T, data []byte) {
		want, err := dec.Bytes(data)
		if err != nil {
			t.Fatal(err)
		}
		got, bad := decodeGBK(data)
		if !bytes.Equal(got, want) || (bad >= 0) != bytes.ContainsRune(want, utf8.RuneError) {
			t.Fatalf("% x decodes to %q (bad %d), x/text to %q", data, got, bad, want)
		}
		if bad >= 0 { // bad starts the first sequence x/text refuses
			before, _ := dec.Bytes(data[:bad])
			from, _ := dec.Bytes(data[bad:])
			if bytes.ContainsRune(before, utf8.RuneError) || !bytes.HasPrefix(from, []byte("\ufffd")) {
				t.Fatalf("% x: bad %d is not where x/text first writes U+FFFD", data, bad)
			}
		}
		if got, want := encodeGBK(data), xtextGBK(t, data); !bytes.Equal(got, want) {
			t.Fatalf("%q encodes to % x, x/text to % x", data, got, want)
		}
	})
}
