package bill

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
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
		checkGBKReader(t, data)
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

// chunkReader reads at most n bytes at a time.
type chunkReader struct {
	r io.Reader
	n int
}

func (c chunkReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

// checkGBKReader: gbkReader decodes data as decodeGBK does, and finds the
// same first bad sequence, whether data comes whole, a byte at a time (every
// pair then straddles two reads), 7 bytes at a time, or is read out a byte
// at a time.
func checkGBKReader(t *testing.T, data []byte) {
	t.Helper()
	want, wantBad := decodeGBK(data)
	wantLine := 0
	if wantBad >= 0 {
		wantLine = 1 + bytes.Count(data[:wantBad], []byte("\n"))
	}
	for name, r := range map[string]func() io.Reader{
		"whole":    func() io.Reader { return bytes.NewReader(data) },
		"1 byte":   func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) },
		"7 bytes":  func() io.Reader { return chunkReader{bytes.NewReader(data), 7} },
		"with EOF": func() io.Reader { return iotest.DataErrReader(chunkReader{bytes.NewReader(data), 7}) },
	} {
		for _, out := range []string{"whole", "1 byte"} {
			d := newGBKReader(r())
			var got []byte
			var err error
			if out == "whole" {
				got, err = io.ReadAll(d)
			} else {
				got, err = io.ReadAll(iotest.OneByteReader(d))
			}
			if err != nil || !bytes.Equal(got, want) || d.bad != int64(wantBad) || d.badLine != wantLine {
				t.Fatalf("% x read %s, out %s: %q (bad %d on line %d, %v); decodeGBK: %q (bad %d on line %d)",
					data, name, out, got, d.bad, d.badLine, err, want, wantBad, wantLine)
			}
		}
	}
	if err := iotest.TestReader(newGBKReader(chunkReader{bytes.NewReader(data), 7}), want); err != nil {
		t.Fatalf("% x: %v", data, err)
	}
}

// gbkReader decodes as decodeGBK does however its input is split: random
// bytes (mostly lead and trail bytes, with LF, 0x80 and 0xFF), and the
// cases at the end of a read.
func TestGBKReaderAsDecodeGBK(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	some := []byte{'\n', 'a', 0x80, 0xff, 0x81, 0xfe, 0x40, 0x7e, 0x7f, 0xa1, 0xd2, 0xb5}
	for range 200 {
		data := make([]byte, rng.IntN(3*gbkChunk))
		for i := range data {
			if rng.IntN(4) == 0 {
				data[i] = some[rng.IntN(len(some))]
			} else {
				data[i] = byte(0x81 + rng.IntN(0x7e))
			}
		}
		checkGBKReader(t, data)
	}
	for _, s := range []string{"", "\xd2", "\xd2\xb5", "a\xd2", "\xd2\n", "\xd2\xd2\xb5", "\n\n\xff", "\x80\xa1"} {
		checkGBKReader(t, []byte(s))
	}
	// A lead byte last in the reader's buffer, its trail byte in the next read.
	pair := append(bytes.Repeat([]byte("a"), gbkChunk-1), 0xd2, 0xb5, 0xd2, '\n', 0xd2)
	checkGBKReader(t, pair)
	got, err := io.ReadAll(newGBKReader(bytes.NewReader(pair)))
	if want := strings.Repeat("a", gbkChunk-1) + "业\ufffd\n\ufffd"; err != nil || string(got) != want {
		t.Fatalf("got %q, %v", got[gbkChunk-1:], err)
	}
}

// A read error comes after the text before it, and stays.
func TestGBKReaderError(t *testing.T) {
	t.Parallel()
	d := newGBKReader(io.MultiReader(strings.NewReader("a\xd2\xb5"), iotest.ErrReader(io.ErrUnexpectedEOF)))
	got, err := io.ReadAll(d)
	if string(got) != "a业" || err != io.ErrUnexpectedEOF {
		t.Fatalf("got %q, %v", got, err)
	}
	if n, err := d.Read(make([]byte, 8)); n != 0 || err != io.ErrUnexpectedEOF {
		t.Fatalf("then %d, %v", n, err)
	}
	// A read that gives nothing is passed on, not retried without end.
	d = newGBKReader(&nothingFirst{r: strings.NewReader("\xd2\xb5")})
	if n, err := d.Read(make([]byte, 8)); n != 0 || err != nil {
		t.Fatalf("first read %d, %v; want 0, nil", n, err)
	}
	if got, err := io.ReadAll(d); string(got) != "业" || err != nil {
		t.Fatalf("then %q, %v", got, err)
	}
}

// nothingFirst gives nothing on its first read.
type nothingFirst struct {
	r    io.Reader
	done bool
}

func (n *nothingFirst) Read(p []byte) (int, error) {
	if !n.done {
		n.done = true
		return 0, nil
	}
	return n.r.Read(p)
}
