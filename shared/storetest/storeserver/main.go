// Command storeserver serves the embedded store (FerretDB on SQLite) for a
// test binary, in a process of its own: tests run under the race detector,
// and FerretDB and the pure-Go SQLite under it cost ten times the CPU of
// the code under test. Package storetest builds and starts it; nothing
// else should.
//
// It prints the store's URI on stdout, then reads commands from stdin, one
// per line, and answers each with "ok" or "error: …":
//
//	index DATABASE   make _id lookups in DATABASE's collections use an index
//
// It stops when stdin closes, so it never outlives the test binary.
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/cloudpay/cloudpay/shared/embeddedmongo"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: storeserver DIR")
		os.Exit(2)
	}
	// FerretDB's SQLite backend filters on nothing but _id, so most queries
	// decode every document of their collection: the store allocates fast,
	// and a fifth of its CPU went to garbage collection. Four times the
	// default heap goal cut its CPU by a quarter (the concurrency tests)
	// for some 50 MB more memory. GOGC, if set, wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	srv, err := embeddedmongo.Start(os.Args[1], nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer srv.Stop()
	fmt.Println(srv.URI())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "index":
			if err := srv.IndexIDs(context.Background(), arg); err != nil {
				fmt.Println("error:", strings.ReplaceAll(err.Error(), "\n", " "))
				continue
			}
			fmt.Println("ok")
		default:
			fmt.Printf("error: unknown command %q\n", cmd)
		}
	}
}
