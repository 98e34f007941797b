package bill

import (
	_ "embed"
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
	for i, size := 0, 1; i < len(b); i += size {
		c := b[i]
		r := rune(c)
		size = 1
		switch {
		case c < utf8.RuneSelf:
		case c == 0x80:
			r = '€'
		case c < 0xff && i+1 < len(b) && isGBKTrail(b[i+1]):
			r, size = gbkPair(c, b[i+1]), 2
		default:
			r = utf8.RuneError
		}
		if r == utf8.RuneError && bad < 0 {
			bad = i
		}
		text = utf8.AppendRune(text, r)
	}
	return text, bad
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
