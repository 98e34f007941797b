// Package crashtest holds the crash suite (its tests only): the embedded
// store, the WeChat Pay simulator and the functions run as processes of
// their own; the functions, built with -tags crashpoints, are killed with
// SIGKILL at named points of every money flow (package crashpoint) and by a
// random kill -9 storm, restarted, and the store and the simulator are then
// read to check that no money was lost, made up or left stuck.
package crashtest
