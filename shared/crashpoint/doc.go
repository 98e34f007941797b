// Package crashpoint lets the crash tests kill a function at a named point
// of a money flow, as a power cut or an OOM kill would: right after a write
// and before the next one.
//
// The use cases call Here("refund.after-reserve") and the like after the
// writes that matter. In every build without the crashpoints build tag —
// the deployables, the local stack, the ordinary tests — Here is an empty
// function that the compiler inlines away: the binaries carry neither the
// point names nor the code that reads the environment (the crash suite
// checks this on the shipped binaries).
//
// Built with -tags crashpoints, Here reads the environment once:
//
//	CLOUDPAY_CRASH_AT=name[,name...]  the points to crash at
//	CLOUDPAY_CRASH_AFTER=n            crash at the n-th hit of any of them (default 1)
//
// and at that hit writes "crashpoint: <name>" to stderr and sends SIGKILL
// to its own process: no deferred function runs, nothing is flushed or
// closed, the process is gone, as after a real crash.
package crashpoint
