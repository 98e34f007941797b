package bill

import (
	_ "embed"
	"io"
	"sync"
	"unicode/utf8"
)

// GBK is Code Page 936 as golang.org/x/text's simplifiedchinese.GBK (and
// WHATWG) reads it: bytes below 0x80 are ASCII, 0x80 is €, and a lead byte
// 0x81–0xFE with a trail byte 0x40–0x7E or 0x80–0xFE is one rune of
// gbkTable. The table is our own, generated from x/text and checked against
// it pair by pair (gbk_test.go): importing x/text's encoding put about
// 100 KB more in every binary, bills or not, than this table does.

//go:generate go run ./internal/gengbk -o gbk.table

// gbkTable holds a big-endian rune per pair: for each lead byte 0x81–0xFE,
// its 190 trail bytes 0x40–0x7E then 0x80–0xFE; 0 where the pair is not GBK.
//
//go:embed gbk.table
var gbkTable string

// gbkPair is the rune of a lead byte (0x81–0xFE) and a trail byte
// (isGBKTrail), utf8.RuneError when GBK maps no rune there.
func gbkPair(lead, trail byte) rune {
	t := int(trail) - 0x40
	if trail > 0x7f {
		t--
	}
	i := 2 * ((int(lead)-0x81)*190 + t)
	if r := rune(gbkTable[i])<<8 | rune(gbkTable[i+1]); r != 0 {
		return r
	}
	return utf8.RuneError
}

func isGBKTrail(b byte) bool { return 0x40 <= b && b <= 0xfe && b != 0x7f }

// decodeGBK decodes GBK to UTF-8, writing U+FFFD (a rune GBK lacks) for
// each sequence that is not GBK, as x/text does: 0xFF, a lead byte without
// a trail byte (the lead byte alone: the next byte is read afresh) and a
// pair mapped to nothing (both bytes). bad is the offset of the first, -1
// when there is none.
func decodeGBK(b []byte) (text []byte, bad int) {
	text = make([]byte, 0, len(b)+len(b)/2)
	bad = -1
	for i := 0; i < len(b); {
		r, size := gbkRune(b[i:], false)
		if r == utf8.RuneError && bad < 0 {
			bad = i
		}
		text = utf8.AppendRune(text, r)
		i += size
	}
	return text, bad
}

// gbkRune decodes the sequence b starts with (b not empty): its rune,
// utf8.RuneError when it is not GBK, and its size. more says bytes may
// follow b: a lead byte ending b is then undecided (size 0).
func gbkRune(b []byte, more bool) (r rune, size int) {
	switch c := b[0]; {
	case c < utf8.RuneSelf:
		return rune(c), 1
	case c == 0x80:
		return '€', 1
	case c == 0xff:
		return utf8.RuneError, 1
	case len(b) > 1 && isGBKTrail(b[1]):
		return gbkPair(c, b[1]), 2
	case len(b) == 1 && more:
		return 0, 0
	}
	return utf8.RuneError, 1
}

// gbkReader decodes the GBK read from r to UTF-8 exactly as decodeGBK
// decodes the whole input, however r splits it (a pair may straddle two
// reads), in constant memory. bad is the input offset of the first sequence
// that is not GBK, -1 while there is none, and badLine the line it is on
// (a trail byte is never '\n').
type gbkReader struct {
	r       io.Reader
	in      [gbkChunk]byte
	lo, hi  int                // in[lo:hi] is read and not yet decoded
	err     error              // r's, returned once all before it is
	out     [3 * gbkChunk]byte // a byte decodes to at most 3 (U+FFFD, €)
	text    []byte             // decoded, not yet returned: a tail of out
	off     int64              // input bytes decoded
	lines   int                // '\n' among them
	bad     int64
	badLine int
}

// gbkChunk is how many bytes a gbkReader reads at a time.
const gbkChunk = 4096

func newGBKReader(r io.Reader) *gbkReader { return &gbkReader{r: r, bad: -1} }

func (d *gbkReader) Read(p []byte) (int, error) {
	for len(d.text) == 0 {
		if d.lo == d.hi && d.err != nil {
			return 0, d.err
		}
		if !d.fill() {
			return 0, nil // r gave nothing: let the caller decide how often to retry
		}
	}
	n := copy(p, d.text)
	d.text = d.text[n:]
	return n, nil
}

// fill reads more of r and decodes all it can; false when r gave neither
// a byte nor an error.
func (d *gbkReader) fill() bool {
	d.hi = copy(d.in[:], d.in[d.lo:d.hi]) // at most a lead byte
	d.lo = 0
	if d.err == nil {
		n, err := d.r.Read(d.in[d.hi:])
		d.hi += n
		d.err = err
		if n == 0 && err == nil {
			return false
		}
	}
	text := d.out[:0]
	for d.lo < d.hi {
		r, size := gbkRune(d.in[d.lo:d.hi], d.err == nil)
		if size == 0 {
			break
		}
		if r == utf8.RuneError && d.bad < 0 {
			d.bad, d.badLine = d.off, d.lines+1
		}
		if d.in[d.lo] == '\n' {
			d.lines++
		}
		text = utf8.AppendRune(text, r)
		d.lo += size
		d.off += int64(size)
	}
	d.text = text
	return true
}

// gbkEncoding maps each rune of the Basic Multilingual Plane to its GBK
// bytes (lead<<8 | trail, or 0x80 for €), 0 where GBK lacks the rune. Only
// the formatter needs it, so it is built on first use.
var gbkEncoding = sync.OnceValue(func() *[0x10000]uint16 {
	enc := new([0x10000]uint16)
	enc['€'] = 0x80 // not its pair A2E3, as x/text writes it
	for lead := 0x81; lead <= 0xfe; lead++ {
		for trail := 0x40; trail <= 0xfe; trail++ {
			if !isGBKTrail(byte(trail)) {
				continue
			}
			// A rune two pairs decode to (U+3000: A1A1 and A3A0) is
			// written as the first, as x/text does.
			if r := gbkPair(byte(lead), byte(trail)); r != utf8.RuneError && enc[r] == 0 {
				enc[r] = uint16(lead)<<8 | uint16(trail)
			}
		}
	}
	return enc
})

// encodeGBK encodes UTF-8 text to GBK, writing "?" for each rune GBK lacks
// (and for invalid UTF-8).
func encodeGBK(text []byte) []byte {
	enc := gbkEncoding()
	out := make([]byte, 0, len(text))
	for len(text) > 0 {
		r, size := utf8.DecodeRune(text)
		text = text[size:]
		var g uint16
		if r < 0x10000 {
			g = enc[r]
		}
		switch {
		case r < utf8.RuneSelf:
			out = append(out, byte(r))
		case g > 0xff:
			out = append(out, byte(g>>8), byte(g))
		case g != 0:
			out = append(out, byte(g))
		default:
			out = append(out, '?')
		}
	}
	return out
}
