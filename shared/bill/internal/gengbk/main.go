// Command gengbk writes shared/bill's GBK table from golang.org/x/text, so
// that package bill reads GBK exactly as simplifiedchinese.GBK does without
// linking x/text's encoding (about 100 KB more in every binary). Run it
// through go generate in shared/bill.
//
// The table holds one big-endian uint16 per two-byte sequence: lead bytes
// 0x81–0xFE, and for each the trail bytes 0x40–0x7E then 0x80–0xFE (190),
// the rune the pair decodes to, or 0 when x/text refuses the pair. GBK's
// runes are all in the Basic Multilingual Plane, and none is U+0000.
package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"log"
	"os"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

func main() {
	out := flag.String("o", "gbk.table", "the file to write")
	flag.Parse()
	dec := simplifiedchinese.GBK.NewDecoder()
	var table []byte
	for lead := 0x81; lead <= 0xfe; lead++ {
		for trail := 0x40; trail <= 0xfe; trail++ {
			if trail == 0x7f {
				continue
			}
			text, err := dec.Bytes([]byte{byte(lead), byte(trail)})
			if err != nil {
				log.Fatalf("% x: %v", []byte{byte(lead), byte(trail)}, err)
			}
			r, size := utf8.DecodeRune(text)
			switch {
			case size != len(text):
				log.Fatalf("% x decodes to %q, not one rune", []byte{byte(lead), byte(trail)}, text)
			case r == utf8.RuneError:
				r = 0 // refused
			case r == 0 || r > 0xffff:
				log.Fatalf("% x decodes to %U, which the table cannot hold", []byte{byte(lead), byte(trail)}, r)
			}
			table = binary.BigEndian.AppendUint16(table, uint16(r))
		}
	}
	if old, err := os.ReadFile(*out); err == nil && bytes.Equal(old, table) {
		return
	}
	if err := os.WriteFile(*out, table, 0o644); err != nil {
		log.Fatal(err)
	}
}
